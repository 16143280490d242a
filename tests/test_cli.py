"""Tests of the `tfhm` command line: train, evaluate, sample, export, bad input."""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

import tfhm
from tfhm import cli, plotting

TINY = ["train", "--data", "bars", "--latent-dims", "4,2", "--hidden-units", "8",
        "--epochs", "2", "--batch-size", "100", "--eval-samples", "5", "--quiet"]


def _run(argv, capsys):
    """Runs `tfhm argv` in process; returns (exit status, stdout, stderr)."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def tiny_train(tmp_path_factory):
    """A finished tiny run: (folder, stdout, stderr) of its `tfhm train`."""
    run = tmp_path_factory.mktemp("cli") / "run"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main(TINY + ["--out", str(run)]) == 0
    return run, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_run(tiny_train):
    return tiny_train[0]


def test_train_writes_the_run_folder(tiny_run):
    # Acceptance 4: files, PNG sizes, one metrics row per epoch.
    for name in ("config.json", "model.keras", "metrics.csv", "metrics.json",
                 "samples.png", "reconstructions.png", "curves.png"):
        assert (tiny_run / name).exists(), name
    assert (tiny_run / "checkpoints" / "checkpoint").exists()
    # 64 samples of 4x4 bars in an 8x8 grid, 4 screen pixels per data pixel
    # and 1 pixel of border: 8 * (4 * 4 + 1) + 1 = 137.
    assert plotting.grid_size(64, 16, cols=8) == (137, 137)
    # Issue 11.13: the run folder's grids are upscaled to >= 400 pixels (13
    # screen pixels per data pixel: 8 * (4 * 13 + 1) + 1 = 425) under a
    # title band; the reconstructions have a label margin on the left.
    with Image.open(tiny_run / "samples.png") as image:
        assert image.width == 425 and image.height > 425 and image.mode == "L"
        assert "Bernoulli means" in image.text["Title"]
    with Image.open(tiny_run / "reconstructions.png") as image:
        assert image.width > 425 and image.height > 425  # 32 examples + 32 reconstructions
        assert "reconstructions" in image.text["Title"]
    with Image.open(tiny_run / "curves.png") as image:
        assert image.size == (800, 350)
    with open(tiny_run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for key in ("wake_loss", "sleep_loss", "elbo", "ess", "val_elbo",
                "val_log_likelihood", "val_ess", "kl_1", "kl_2", "entropy_1",
                "active_units_1", "active_units_2"):
        assert np.isfinite(float(rows[-1][key])), key
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epoch"] == 2
    # 6 latent bits: the exact log-likelihood is in the final metrics, and
    # it bounds the importance-sampled estimate (K=5, 500 examples: the
    # estimate's mean is below log p(x); 0.05 nats of Monte Carlo slack).
    assert metrics["val_log_likelihood"] < metrics["val_exact_log_likelihood"] + 0.05
    model = keras.models.load_model(tiny_run / "model.keras")
    assert model.latent_dims == (4, 2) and model.hidden_units == (8,)
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["data"] == "bars" and config["train"]["epochs"] == 2


def test_evaluate_prints_bounds(tiny_run, capsys):
    status, out, _ = _run(["evaluate", str(tiny_run), "--num-samples", "200",
                           "--quiet"], capsys)
    assert status == 0
    result = json.loads(out)
    assert result["num_examples"] == 500 and result["num_samples"] == 200
    # ELBO <= IS estimate <= exact (in expectation; 500 examples x 200 draws:
    # 0.02 nats of slack for the Monte Carlo error of the IS mean).
    assert result["elbo"] < result["log_likelihood"] < result["exact_log_likelihood"] + 0.02
    model = keras.models.load_model(tiny_run / "model.keras")
    x_valid, _ = tfhm.datasets.make_bars(500, seed=1)
    np.testing.assert_allclose(result["exact_log_likelihood"],
                               model.exact_log_likelihood(x_valid).numpy().mean(),
                               rtol=1e-6)


def test_sample_writes_a_grid(tiny_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    bare = ["--scale", "4", "--no-title"]  # the bare grid of plotting.grid_size
    status, stdout, _ = _run(["sample", str(tiny_run), "-n", "10", "--out",
                              str(out), "--seed", "3"] + bare, capsys)
    assert status == 0
    with Image.open(out) as image:
        # ceil(sqrt(10)) = 4 columns, 3 rows of 4x4 images at scale 4.
        assert image.size == (4 * 17 + 1, 3 * 17 + 1)
        first = np.asarray(image)
    assert json.loads(stdout)["width"] == 69
    _run(["sample", str(tiny_run), "-n", "10", "--out", str(out), "--seed", "3",
          "--overwrite"] + bare, capsys)
    with Image.open(out) as image:
        np.testing.assert_array_equal(np.asarray(image), first)  # same seed


def test_export_is_a_subcommand_of_the_same_parser(monkeypatch, capsys):
    # Issue 10: `tfhm export` is parsed by the one parser (an unknown option
    # is a one-line usage error, exit 2); an installation without the
    # exporter still says so in one line.
    status, _, err = _run(["export", "RUN", "--out", "x", "--format", "y"], capsys)
    assert status == 2 and "unrecognized arguments: --format y" in err
    assert "usage:" not in err
    monkeypatch.setitem(sys.modules, "tfhm.export", None)  # import fails
    status, _, err = _run(["export", "RUN", "--out", "x"], capsys)
    assert status == 2 and "tfhm.export" in err


@pytest.mark.parametrize("argv, match", [
    (["--latent-dims", "200,abc"], "comma-separated positive integers.*'200,abc'"),
    (["--latent-dims", "0"], "'0'"),
    (["--latent-dims", ""], "at least one latent layer"),
    (["--data", "cifar"], "digits, bars, mnist:PATH or npy:PATH.*'cifar'"),
    (["--data", "npy:/no/such/file.npy"], "no such file.*'/no/such/file.npy'"),
    (["--data", "mnist:/no/such/dir"], "no such file"),
    (["--lr-wake", "-1"], "positive float.*'-1'"),
    (["--epochs", "two"], "positive int.*'two'"),
    # A value of the right type but out of range says the range ("expected a
    # int. Received: '-5'" said neither).
    (["--seed", "-5"], r"--seed: expected an int\. Received: '-5' \(`seed` must be an "
                       r"integer in \[0, 2147483647\]"),
])
def test_bad_arguments_exit_2(argv, match, tmp_path, capsys):
    status, _, err = _run(["train", "--out", str(tmp_path / "r")] + argv, capsys)
    assert status == 2
    assert re.search(match, err), err
    assert not (tmp_path / "r").exists()  # nothing was started


@pytest.mark.parametrize("array, match", [
    (np.full((10, 16), 0.5), r"0 and 1.*x\[0, 0\]=.*0\.5"),
    (np.zeros((10, 4, 4)), r"shape \[batch, data_dim\].*\(10, 4, 4\)"),
    (np.zeros((1, 16)), r"at least 2 examples.*\(1, 16\)"),
])
def test_bad_npy_data_exit_2(array, match, tmp_path, capsys):
    path = tmp_path / "data.npy"
    np.save(path, array)
    status, _, err = _run(["train", "--data", f"npy:{path}", "--out",
                           str(tmp_path / "r")], capsys)
    assert status == 2 and re.search(match, err), err


def test_npy_data_trains(tmp_path, capsys):
    x, _ = tfhm.datasets.make_bars(300, seed=2)
    np.save(tmp_path / "bars.npy", x.astype(np.uint8))
    status, out, _ = _run(["train", "--data", f"npy:{tmp_path / 'bars.npy'}",
                           "--latent-dims", "3", "--epochs", "1", "--quiet",
                           "--out", str(tmp_path / "r")], capsys)
    assert status == 0
    assert json.loads(out)["epoch"] == 1
    with open(tmp_path / "r" / "metrics.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 1


def test_run_folder_guards(tiny_run, tmp_path, capsys):
    # Resume without a checkpoint.
    (tmp_path / "empty").mkdir()
    status, _, err = _run(["train", "--resume", "--out", str(tmp_path / "empty")], capsys)
    assert status == 2 and "holds no tfhm checkpoint" in err
    # Resume with another architecture: says which.
    status, _, err = _run(["train", "--resume", "--out", str(tiny_run),
                           "--latent-dims", "5,2"], capsys)
    assert status == 2
    assert "different architecture" in err, err
    assert "latent_dims: checkpoint (4, 2), this model (5, 2)" in err, err
    # A folder that holds another run, and one with the user's files.
    status, _, err = _run(["train", "--out", str(tiny_run)], capsys)
    assert status == 2 and "holds another tfhm run" in err and "--resume" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    status, _, err = _run(["train", "--out", str(mine)], capsys)
    assert status == 2 and "is not empty" in err and "thesis.tex" in err
    # --overwrite writes tfhm's files next to the user's and deletes nothing.
    status, _, _ = _run(TINY + ["--epochs", "1", "--out", str(mine), "--overwrite"], capsys)
    assert status == 0 and (mine / "thesis.tex").read_text() == "precious"
    status, _, _ = _run(TINY + ["--epochs", "1", "--out", str(mine), "--overwrite"], capsys)
    assert status == 0 and (mine / "checkpoints.replaced-1").is_dir()
    assert (mine / "thesis.tex").read_text() == "precious"


def _weights(run):
    model = keras.models.load_model(os.path.join(run, "model.keras"))
    return ([v.numpy() for v in model.weights]
            + [v.numpy() for v in model.wake_optimizer.variables]
            + [v.numpy() for v in model.sleep_optimizer.variables])


@pytest.mark.slow
def test_sigkill_after_second_checkpoint_then_resume_is_bitwise(tmp_path):
    # Acceptance 2: checkpoints every 7 steps (20 steps per epoch, so most
    # land mid-epoch); the run is SIGKILLed as soon as its second checkpoint
    # is on disk, then resumed with `--resume` alone.
    args = [sys.executable, "-m", "tfhm.cli", "train", "--data", "bars",
            "--latent-dims", "4,2", "--hidden-units", "8", "--epochs", "12",
            "--batch-size", "100", "--checkpoint-every", "7",
            "--eval-samples", "5", "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    killed = tmp_path / "killed"
    process = subprocess.Popen(args + ["--out", str(killed)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = killed / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and "ckpt-14" in state.read_text():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert not (killed / "metrics.json").exists()  # it did not finish
    resumed = subprocess.run(args[:4] + ["--resume", "--quiet", "--out", str(killed)],
                             env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    straight = tmp_path / "straight"
    done = subprocess.run(args + ["--out", str(straight)], env=env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    for a, b in zip(_weights(killed), _weights(straight)):
        np.testing.assert_array_equal(a, b)
    # The per-epoch metrics agree too (timings aside), one row per epoch.
    def rows(run):
        with open(run / "metrics.csv", newline="") as handle:
            return [{k: v for k, v in row.items() if "second" not in k}
                    for row in csv.DictReader(handle)]
    assert rows(killed) == rows(straight) and len(rows(straight)) == 12


# ------------------------------------------------ issue 11: what a user hits
def _files(folder):
    """Every file under `folder` with its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_ends_with_the_model_beside_the_mixture_baseline(tiny_train):
    # Issue 11.4: the last line of stderr compares the model's exact
    # validation log-likelihood with a 48-component mixture of Bernoullis
    # fitted to the same training data and scored on the same validation data.
    run, out, err = tiny_train
    result = json.loads(out)
    x_train, _ = tfhm.datasets.make_bars(2000, seed=0)
    x_valid, _ = tfhm.datasets.make_bars(500, seed=1)
    mixture = tfhm.baselines.fit_bernoulli_mixture(x_train, 48, seed=0)
    np.testing.assert_allclose(result["baseline_val_log_likelihood"],
                               mixture.log_prob(x_valid).mean(), rtol=1e-12)
    assert result["compared_model_val_log_likelihood"] == result["val_exact_log_likelihood"]
    assert result["compared_val_examples"] == 500
    line = err.strip().splitlines()[-1]
    assert re.search(r"on 500 examples: model -\d+\.\d{3} nats \(exact\) vs mixture of "
                     r"48 Bernoullis -\d+\.\d{3} nats", line), line
    assert f"{result['baseline_val_log_likelihood']:.3f}" in line
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["baseline_val_log_likelihood"] == result["baseline_val_log_likelihood"]


def test_resume_of_a_finished_run_changes_nothing(tiny_run, tmp_path, capsys):
    # Issue 11.5: exit 0, "already complete", not one byte or mtime changed.
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = _files(run)
    status, out, err = _run(["train", "--resume", "--out", str(run)], capsys)
    assert status == 0 and out == ""
    assert "already complete (2/2 epochs); nothing was changed" in err
    assert _files(run) == before


def test_mnist_given_a_npy_file_says_what_it_expects(tmp_path, capsys):
    # Issue 11.6: a one-line error instead of a TypeError traceback; the
    # keys of the .npz archive are documented in --help.
    np.save(tmp_path / "x.npy", np.zeros((4, 784)))
    status, _, err = _run(["train", "--data", f"mnist:{tmp_path / 'x.npy'}",
                           "--out", str(tmp_path / "r")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "is not an .npz archive (numpy.savez) with the arrays x_train and x_valid" in err
    assert "single .npy array" in err and "npy:PATH" in err
    status, out, _ = _run(["train", "--help"], capsys)
    assert status == 0 and "x_train" in out and "x_valid" in out
    assert "x_train" in cli.__doc__ and "x_valid" in tfhm.datasets.DATA_SPEC_HELP


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, monkeypatch, capsys):
    # Issue 11.7: KeyboardInterrupt after a checkpoint was written (the real
    # fit runs, then the "user" presses Ctrl-C): one line, exit 130.
    from tfhm import training

    real_fit = training.Trainer.fit

    def interrupted_fit(self, *args, **kwargs):
        real_fit(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.Trainer, "fit", interrupted_fit)
    run = tmp_path / "run"
    status, out, err = _run(TINY + ["--epochs", "1", "--out", str(run)], capsys)
    assert status == 130 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "interrupted; the last checkpoint is" in err and "(epochs finished: 1)" in err
    assert f"tfhm train --resume --out {run}" in err and "Traceback" not in err


def test_unusable_out_folders_are_one_line_errors(tmp_path, capsys):
    # Issue 11.8: --out under a file, and where no folder can be made.
    (tmp_path / "README.md").write_text("notes")
    for out, match in [(tmp_path / "README.md" / "sub", "README.md' is a file"),
                       ("/proc/tfhm-no-such/run", "cannot create")]:
        status, _, err = _run(["train", "--data", "bars", "--out", str(out)], capsys)
        assert status == 2 and match in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_corrupt_files_are_named_and_described(tiny_run, tmp_path, capsys):
    # Issue 11.9: a corrupt model.keras is "corrupt", not "file not found";
    # a text file given as npy: says it is a text file.
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "model.keras").write_bytes(b"PK\x03garbage")
    status, _, err = _run(["evaluate", str(run), "--quiet"], capsys)
    assert status == 2 and "is corrupt: it is not a .keras (zip) file" in err, err
    (tmp_path / "notes.txt").write_text("hello, these are my notes\n")
    status, _, err = _run(["train", "--data", f"npy:{tmp_path / 'notes.txt'}",
                           "--out", str(tmp_path / "r")], capsys)
    assert status == 2, err
    assert "is not a .npy array file (numpy.save): it is a text file starting 'hello" in err


_NO_TENSORFLOW = """
import sys
from tfhm import cli
for argv in (["--help"], ["train", "--help"], ["train", "--epochs", "0"],
             ["export", "--help"], ["sample", "--out", "x.png"]):
    try:
        cli.main(argv)
    except SystemExit:
        pass
heavy = sorted(m for m in ("tensorflow", "keras", "tensorflow_probability") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_help_and_argument_errors_import_no_tensorflow():
    # Issue 10 / 11.10: --help and argument errors load no TensorFlow.
    result = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW],
                            capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "error: argument --epochs: expected a positive int. Received: '0'" in result.stderr


@pytest.mark.parametrize("error, status, text", [
    (ValueError("bad value"), 2, "tfhm sample: error: bad value"),
    (FileExistsError("x exists"), 2, "tfhm sample: error: x exists"),
    (OSError(28, "No space left on device"), 1,
     "tfhm sample: failed: OSError: [Errno 28] No space left on device"),
    (FloatingPointError("NaN at step 3"), 1, "tfhm sample: training stopped: NaN at step 3"),
    (KeyboardInterrupt(), 130, "tfhm sample: interrupted"),
])
def test_one_exit_status_per_kind_of_error(error, status, text, monkeypatch, capsys):
    # Issue 11.11: 2 bad input, 1 failure while running, 130 Ctrl-C; one line.
    from tfhm.cli import _commands

    def fail(args):
        raise error

    monkeypatch.setattr(_commands, "cmd_sample", fail)
    got, _, err = _run(["sample", "RUN", "--out", "x.png"], capsys)
    assert got == status and err.strip() == text


def test_run_is_positional_or_run_option_for_every_command(tiny_run, tmp_path, capsys):
    # Issue 11.11: evaluate, sample and export take RUN or --run RUN.
    outputs = []
    for how in ([str(tiny_run)], ["--run", str(tiny_run)]):
        status, out, _ = _run(["evaluate", *how, "--num-samples", "5", "--quiet"], capsys)
        assert status == 0
        outputs.append(json.loads(out)["log_likelihood"])
        png = tmp_path / f"{len(outputs)}.png"
        assert _run(["sample", *how, "--out", str(png)], capsys)[0] == 0
        status, out, _ = _run(["export", *how, "--out", str(tmp_path / "served"),
                               "--version", str(len(outputs))], capsys)
        assert status == 0 and f"generator/{len(outputs)}" in out
    assert outputs[0] == outputs[1]
    status, _, err = _run(["export", "--out", str(tmp_path / "served")], capsys)
    assert status == 2 and "the run folder is required" in err
    status, _, err = _run(["export", str(tiny_run), "--out", str(tmp_path / "served")],
                          capsys)  # version 1 exists: bad input, like an --out in use
    assert status == 2 and "already exists" in err


def test_sample_refuses_to_overwrite(tiny_run, tmp_path, capsys):
    # Issue 11.15: an existing --out is kept unless --overwrite.
    out = tmp_path / "mine.png"
    out.write_bytes(b"precious")
    status, _, err = _run(["sample", str(tiny_run), "--out", str(out)], capsys)
    assert status == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    assert _run(["sample", str(tiny_run), "--out", str(out), "--overwrite"], capsys)[0] == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_argument_errors_are_one_line_and_a_pointer_to_help(capsys):
    # Issue 11.15: no usage block before the message.
    status, _, err = _run(["train", "--epochs", "0"], capsys)
    assert status == 2
    assert err.splitlines() == [
        "tfhm train: error: argument --epochs: expected a positive int. Received: '0'",
        "see 'tfhm train --help'"]


def test_train_flags_and_defaults_come_from_train_config(capsys):
    # Issue 10: one source of defaults: every TrainConfig field marked `cli`
    # is a flag whose help shows the field's default.
    import dataclasses

    from tfhm.training import TrainConfig

    status, out, _ = _run(["train", "--help"], capsys)
    assert status == 0
    text = " ".join(out.split())
    for field in dataclasses.fields(TrainConfig):
        if not field.metadata.get("cli", True):
            continue
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        assert flag in text, flag
        if field.default not in (None, False):
            assert f"(default {field.default})" in text, field.name


def test_real_ctrl_c_and_quiet_tensorflow(tmp_path):
    # Issues 11.7 and 11.10 end to end: SIGINT to a real `tfhm train` after
    # its first checkpoint: exit 130 and one line on how to resume; none of
    # TensorFlow's start-up log lines on stderr.
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tfhm.cli", "train", "--data", "bars", "--latent-dims", "4",
         "--hidden-units", "", "--epochs", "100000", "--checkpoint-every", "5", "--quiet",
         "--out", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,  # with SIGINT as it would be in a terminal, whoever started pytest
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = run / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not state.exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and f"tfhm train --resume --out {run}" in err, err
    assert "absl::InitializeLog" not in err and "port.cc" not in err, err
    assert len(err.strip().splitlines()) == 1, err


_VERBOSE = """
import sys
from tfhm.cli import load_tensorflow
load_tensorflow(verbose=sys.argv[1] == "1")
"""


def test_verbose_shows_tensorflow_log_lines():
    # Issue 11.10: the lines hidden by default are there with --verbose.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    loud = subprocess.run([sys.executable, "-c", _VERBOSE, "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0 and "absl::InitializeLog" in loud.stderr, loud.stderr


def test_evaluate_seed_gives_the_number_of_hm_log_likelihood(tiny_run, capsys):
    # Issue 10 acceptance 2: `tfhm evaluate --seed S` is the one
    # importance-sampling path: the mean of hm.log_likelihood(x, K, seed=S).
    status, out, _ = _run(["evaluate", str(tiny_run), "--num-samples", "50",
                           "--seed", "7", "--quiet"], capsys)
    assert status == 0
    result = json.loads(out)
    model = tfhm.load_model(tiny_run / "model.keras")
    x_valid, _ = tfhm.datasets.make_bars(500, seed=1)
    expected = model.log_likelihood(x_valid, num_samples=50, seed=7).numpy()
    # float32 per-example values averaged in float64 on both sides.
    np.testing.assert_allclose(result["log_likelihood"], np.mean(expected), rtol=1e-6)
    assert result["seed"] == 7


_LAZY_PACKAGE = """
import sys
import tfhm
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "eager import"
model = tfhm.load_model(sys.argv[1])
assert type(model).__name__ == "HelmholtzMachine", type(model)
import keras
again = keras.models.load_model(sys.argv[1])  # registered by tfhm.load_model / tfhm.model
assert isinstance(again, tfhm.HelmholtzMachine)
assert set(tfhm.__all__) <= set(dir(tfhm))
missing = [name for name in tfhm.__all__ if getattr(tfhm, name, None) is None]
print("OK", missing)
"""


def test_lazy_package_loads_saved_models():
    # Issue 10: `import tfhm` loads no TensorFlow; tfhm.load_model (and
    # keras.models.load_model once a tfhm class was touched) load .keras files.
    fixture = os.path.join(os.path.dirname(__file__), "fixtures", "hm_v0_1_0.keras")
    result = subprocess.run([sys.executable, "-c", _LAZY_PACKAGE, fixture],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and "OK []" in result.stdout, result.stderr[-3000:]


# ------------------------------------------------------- shipped models (issue 12)
def test_pretrained_models_are_accepted_where_a_run_is(tmp_path):
    # sample, evaluate (on the digits the card names) and export take
    # pretrained:NAME like a run folder; evaluate's figure is the card's.
    from tfhm import pretrained

    name = "digits_rws_16"
    out = tmp_path / "grid.png"
    assert cli.main(["sample", f"pretrained:{name}", "-n", "8", "--out", str(out)]) == 0
    assert out.exists()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["evaluate", f"pretrained:{name}", "--num-samples", "10",
                         "--quiet"]) == 0
    result = json.loads(printed.getvalue())
    assert result["exact_log_likelihood"] == pytest.approx(
        -pretrained.card(name)["validation_nll"], abs=1e-3)
    assert cli.main(["export", f"pretrained:{name}", "--out", str(tmp_path / "served")]) == 0
    assert (tmp_path / "served" / "generator" / "1" / "saved_model.pb").exists()


def test_unknown_pretrained_name_is_a_one_line_error(capsys):
    assert cli.main(["sample", "pretrained:nope", "--out", "x.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "digits_rws_16" in err[0] and "nope" in err[0]


def test_runs_of_0_1_0_keep_their_npy_split(tmp_path, capsys, monkeypatch):
    # tfhm 0.1.0 held out the LAST 10% of npy: data; newer runs a seeded
    # random 10%. A run folder of 0.1.0 (its config.json has no "hold_out")
    # must be resumed and evaluated on the rows it was trained and validated
    # on, not silently on another split.
    x, _ = tfhm.datasets.make_bars(300, seed=2)
    np.save(tmp_path / "bars.npy", x.astype(np.uint8))
    run = tmp_path / "r"
    base = ["--data", f"npy:{tmp_path / 'bars.npy'}", "--latent-dims", "3", "--quiet",
            "--baseline-components", "0"]
    assert _run(["train", *base, "--epochs", "1", "--out", str(run)], capsys)[0] == 0
    config = json.loads((run / "config.json").read_text())
    assert config["hold_out"] == "random"
    del config["hold_out"]  # what a 0.1.0 run folder looks like
    (run / "config.json").write_text(json.dumps(config))
    schemes = []
    real = tfhm.datasets.load_spec

    def spy(spec, seed=0, hold_out_scheme="random"):
        schemes.append(hold_out_scheme)
        return real(spec, seed=seed, hold_out_scheme=hold_out_scheme)

    monkeypatch.setattr(tfhm.datasets, "load_spec", spy)
    assert _run(["evaluate", str(run), "--num-samples", "2", "--quiet"], capsys)[0] == 0
    assert _run(["train", "--resume", "--out", str(run), "--epochs", "2", "--quiet",
                 "--baseline-components", "0"], capsys)[0] == 0
    assert schemes == ["last", "last"]
    x_train, x_valid, _ = real(f"npy:{tmp_path / 'bars.npy'}", hold_out_scheme="last")
    np.testing.assert_array_equal(x_valid, x[-30:])
    np.testing.assert_array_equal(x_train, x[:-30])


# ------------------------------------------------------------ inpaint (issue 15)
def test_inpaint_writes_a_grid_and_the_conditional_log_likelihood(tmp_path, capsys):
    from tfhm import inpainting, pretrained

    out = tmp_path / "inpaint.png"
    argv = ["inpaint", "pretrained:digits_rws_16", "--mask", "bottom", "-n", "4",
            "--num-samples", "3", "--num-proposals", "20", "--seed", "5",
            "--scale", "4", "--out", str(out)]
    status, stdout, err = _run(argv, capsys)
    assert status == 0, err
    result = json.loads(stdout)
    assert result["missing_pixels"] == 4 * 32 and result["num_images"] == 4
    # The printed number is tfhm.inpainting's estimate with the same K and seed.
    hm = pretrained.load("digits_rws_16")
    x = tfhm.datasets.load_digits()[1][:4]
    mask = inpainting.region_mask("bottom", 4, 64)
    assert not mask[:, 32:].any() and mask[:, :32].all()
    expected = inpainting.conditional_log_likelihood_checked(hm, x, mask, 20, seed=5)
    assert result["conditional_log_likelihood_per_missing_pixel"] == pytest.approx(
        float(np.sum(expected.numpy())) / 128, rel=1e-6)
    with Image.open(out) as image:
        assert "completions" in image.text["Title"]
        # 4 rows of data | observed | 3 completions, 8x8 images at scale 4,
        # under a title band.
        assert image.size[0] == 5 * 33 + 1 and image.size[1] > 4 * 33 + 1
        grid = np.asarray(image)[-(4 * 33 + 1):]
    completions = hm.inpaint(x, mask, num_samples=3, num_proposals=20, seed=5).numpy()
    np.testing.assert_array_equal(grid, inpainting.inpainting_grid(x, mask, completions,
                                                                   scale=4))
    # Refuses to overwrite, as sample does.
    status, _, err = _run(argv, capsys)
    assert status == 2 and "already exists" in err and "--overwrite" in err


@pytest.mark.parametrize("extra, match", [
    (["--mask", "middle"], r"--mask: expected top, bottom, left, right or random:P.*'middle'"),
    (["--mask", "random:1.5"], r"--mask: .*Received: 'random:1.5'"),
    (["--mask", "bottom", "--num-proposals", "0"], r"--num-proposals: .*'0'"),
    (["--mask", "bottom", "--out", "grid.jpg"], r"--out must name a \.png file.*'grid.jpg'"),
    (["--mask", "left", "--data", "mnist:/no/such/dir"], "no such file"),
])
def test_inpaint_bad_arguments_exit_2_in_one_line(extra, match, tmp_path, capsys):
    argv = ["inpaint", "pretrained:digits_rws_16", "--out", str(tmp_path / "g.png"), *extra]
    if "--out" in extra:
        argv = ["inpaint", "pretrained:digits_rws_16", *extra]
    status, stdout, err = _run(argv, capsys)
    assert status == 2 and not stdout
    assert re.search(match, err.splitlines()[0]), err
    assert not (tmp_path / "g.png").exists()


def test_inpaint_help_and_mask_errors_import_no_tensorflow():
    code = _NO_TENSORFLOW.replace(
        '(["--help"], ["train", "--help"], ["train", "--epochs", "0"],\n'
        '             ["export", "--help"], ["sample", "--out", "x.png"])',
        '(["inpaint", "--help"], ["inpaint", "RUN", "--mask", "random:x", "--out", "x.png"])')
    assert "inpaint" in code
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "random:P (each pixel" in result.stdout  # the --mask help
    assert "Received: 'random:x'" in result.stderr


# ------------------------------------------------------------------ issue 25
@pytest.mark.parametrize("command", [
    ["evaluate", "pretrained:digits_rws_16"],
    ["sample", "pretrained:digits_rws_16", "--out", "x.png"],
    ["inpaint", "pretrained:digits_rws_16", "--mask", "bottom", "--out", "x.png"]])
@pytest.mark.parametrize("seed", ["99999999999", "4294967295", "-1", "2147483648"])
def test_seed_flags_refuse_seeds_out_of_range(command, seed, capsys):
    # Issue 25.1: `--seed 99999999999` gave the numbers of --seed 1215752191
    # and 4294967295 those of -1. Now one line, exit 2, nothing loaded.
    status, out, err = _run([*command, "--seed", seed], capsys)
    assert status == 2 and out == ""
    assert re.search(rf"--seed: expected an int in \[0, 2147483647\].*Received: '{seed}'",
                     err.splitlines()[0]), err
    assert not os.path.exists("x.png")


def _one_line_usage_error(status, out, err):
    assert status == 2 and out == "", (status, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_train_checks_logdir_before_it_makes_anything(tmp_path, capsys):
    # Issue 25.5: an unwritable --logdir failed with exit 1 after making the
    # run folder (config.json alone). As root no folder is read-only, so
    # /proc (where nothing can be created) and a path under a file stand in.
    run = tmp_path / "r"
    (tmp_path / "notes.txt").write_text("mine")
    for logdir, match in [("/proc/tfhm-no-such/tb", "--logdir '/proc/tfhm-no-such/tb': "
                           "cannot create anything in '/proc'"),
                          (str(tmp_path / "notes.txt" / "tb"), "notes.txt' is a file")]:
        status, out, err = _run(TINY + ["--out", str(run), "--logdir", logdir], capsys)
        _one_line_usage_error(status, out, err)
        assert match in err, err
        assert not run.exists()  # nothing was made
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path, capsys):
    # Issue 25.5: a run folder holding only config.json (a run that failed or
    # was stopped before its first checkpoint) was "already a tfhm run, use
    # --resume", and --resume said "holds no checkpoint". Now the same command
    # starts over there; a folder with a checkpoint is still protected.
    from tfhm.run_dir import RunDir

    run = RunDir(tmp_path / "r")
    run.write_config({"model": {}, "train": {"epochs": 2}})
    run.write_metrics([], append=False)
    status, out, err = _run(TINY + ["--epochs", "1", "--out", run.path], capsys)
    assert status == 0, err
    assert [row["epoch"] for row in run.read_metrics()] == [1]
    assert run.read_config()["train"]["epochs"] == 1  # the new run's config
    status, out, err = _run(TINY + ["--epochs", "1", "--out", run.path], capsys)
    _one_line_usage_error(status, out, err)
    assert "already holds a tfhm run" in err
    # The user's own files still make a folder "not empty".
    other = RunDir(tmp_path / "other")
    other.write_config({"model": {}})
    (tmp_path / "other" / "thesis.tex").write_text("precious")
    status, out, err = _run(TINY + ["--epochs", "1", "--out", other.path], capsys)
    _one_line_usage_error(status, out, err)
    assert "is not empty" in err and "thesis.tex" in err


@pytest.mark.parametrize("argv", [
    ["sample", "pretrained:digits_rws_16", "-n", "4", "--out", "/proc/grid.png"],
    ["inpaint", "pretrained:digits_rws_16", "--mask", "bottom", "-n", "2",
     "--num-proposals", "5", "--out", "/proc/grid.png"],
    ["export", "pretrained:digits_rws_16", "--out", "/proc/served"],
])
def test_outputs_where_nothing_can_be_written_are_refused_first(argv, capsys):
    # Issue 25.6: exit 1 and an OSError naming tfhm's own temporary file.
    status, out, err = _run(argv, capsys)
    _one_line_usage_error(status, out, err)
    assert re.search(r"--out '/proc/(grid.png|served)': cannot create anything in "
                     r"'/proc'", err), err
    assert ".tmp-" not in err


def test_inpaint_warns_when_n_exceeds_the_split(tmp_path, capsys):
    # Issue 25.10: -n 100000 silently became the 360 validation digits.
    status, out, err = _run(["inpaint", "pretrained:digits_rws_16", "--mask", "bottom",
                             "-n", "100000", "--num-samples", "1", "--num-proposals",
                             "2", "--out", str(tmp_path / "g.png")], capsys)
    assert status == 0, err
    assert json.loads(out)["num_images"] == 360
    assert ("tfhm inpaint: warning: -n 100000, but the valid split of digits (8x8, "
            "scikit-learn) has 360 images: inpainting all 360.") in err


def test_train_refuses_an_out_that_reads_as_a_shipped_model(tmp_path, monkeypatch, capsys):
    # Issue 25.10: `--out pretrained:NAME` made a folder that every later
    # command reads as the shipped model NAME.
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(TINY + ["--out", "pretrained:digits_rws_16"], capsys)
    _one_line_usage_error(status, out, err)
    assert "--out 'pretrained:digits_rws_16': pretrained:NAME names a model" in err
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def mnist_like(tmp_path_factory):
    """A 784-pixel model folder and .npz files with and without x_test."""
    folder = tmp_path_factory.mktemp("mnist_like")
    rng = np.random.default_rng(0)
    splits = {key: (rng.random((n, 784)) < 0.2).astype(np.uint8)
              for key, n in (("x_train", 40), ("x_valid", 20), ("x_test", 30))}
    np.savez(folder / "with_test.npz", **splits)
    np.savez(folder / "no_test.npz", x_train=splits["x_train"], x_valid=splits["x_valid"])
    hm = tfhm.HelmholtzMachine(data_dim=784, latent_dims=(5,), seed=0)
    hm.compile()
    (folder / "run").mkdir()
    hm.save(folder / "run" / "model.keras")
    return folder, splits["x_test"].astype(np.float32)


def test_evaluate_on_the_test_split_with_error_bars_and_per_example_values(
        mnist_like, tmp_path, capsys):
    # Issue 25.7: --split test, mean ± standard error, --per-example FILE.npy.
    folder, x_test = mnist_like
    per_example = tmp_path / "values.npy"
    argv = ["evaluate", str(folder / "run"), "--data", f"mnist:{folder / 'with_test.npz'}",
            "--split", "test", "--num-samples", "10", "--seed", "3",
            "--per-example", str(per_example)]
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result["split"] == "test" and result["num_examples"] == 30
    hm = keras.models.load_model(folder / "run" / "model.keras")
    expected = tfhm.evaluation.importance_sampled(hm, x_test, 10, seed=3)
    table = np.load(per_example)
    assert table.shape == (30,)
    for key in ("elbo", "log_likelihood", "ess"):
        np.testing.assert_array_equal(table[key], expected[key])
        values = expected[key].astype(np.float64)
        assert result[key] == pytest.approx(values.mean(), rel=1e-9)
        assert result[f"{key}_standard_error"] == pytest.approx(
            values.std(ddof=1) / np.sqrt(30), rel=1e-9)
    np.testing.assert_allclose(table["exact_log_likelihood"],
                               hm.exact_log_likelihood(x_test).numpy(), rtol=1e-6)
    line = (f"log-likelihood {result['log_likelihood']:.2f} ± "
            f"{result['log_likelihood_standard_error']:.2f} nats (K=10)")
    assert line in err and "over 30 examples of the test split" in err, err
    # The file is not replaced without --overwrite; with it, it is.
    status, out, err = _run(argv, capsys)
    _one_line_usage_error(status, out, err)
    assert "--per-example" in err and "already exists" in err
    assert _run(argv + ["--overwrite", "--quiet"], capsys)[0] == 0


@pytest.mark.parametrize("data, extra, match", [
    ("no_test.npz", [], r"--split test: '.*no_test.npz' holds no x_test \(it holds "
                        r"x_train, x_valid\)"),
    (None, [], r"--split test: --data digits has no test split"),
    ("with_test.npz", ["--per-example", "v.csv"],
     r"--per-example must name a \.npy file\. Received: 'v.csv'"),
])
def test_evaluate_test_split_and_per_example_errors(mnist_like, data, extra, match, capsys):
    folder, _ = mnist_like
    run = str(folder / "run") if data else "pretrained:digits_rws_16"
    argv = ["evaluate", run, "--split", "test", *extra]
    if data:
        argv += ["--data", f"mnist:{folder / data}"]
    status, out, err = _run(argv, capsys)
    _one_line_usage_error(status, out, err)
    assert re.search(match, err), err


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    """A folder with a 60-pixel model and a npy file of 60-pixel 0/1 rows."""
    folder = tmp_path_factory.mktemp("wide")
    hm = tfhm.HelmholtzMachine(data_dim=60, latent_dims=(3,), seed=0)
    hm.compile()
    (folder / "run").mkdir()
    hm.save(folder / "run" / "model.keras")
    rng = np.random.default_rng(1)
    np.save(folder / "rows.npy", (rng.random((50, 60)) < 0.3).astype(np.uint8))
    return folder


def test_sample_and_inpaint_take_an_image_shape(wide_run, tmp_path, capsys):
    # Issue 25.8: --image-shape H,W; the default for 60 pixels is 6 x 10 (it
    # was a 1 x 60 strip); a shape of another size is a one-line error.
    run = str(wide_run / "run")
    bare = ["--scale", "1", "--no-title", "--cols", "2", "-n", "4"]
    for extra, size in [([], (2 * 11 + 1, 2 * 7 + 1)),
                        (["--image-shape", "3,20"], (2 * 21 + 1, 2 * 4 + 1))]:
        out = tmp_path / f"s{len(extra)}.png"
        status, stdout, err = _run(["sample", run, "--out", str(out), *bare, *extra], capsys)
        assert status == 0, err
        with Image.open(out) as image:
            assert image.size == size
    data = ["--data", f"npy:{wide_run / 'rows.npy'}", "--mask", "bottom", "-n", "3",
            "--num-samples", "1", "--num-proposals", "3"]
    for extra, missing in [([], 3 * 30), (["--image-shape", "3,20"], 3 * 40)]:
        out = tmp_path / f"i{len(extra)}.png"
        status, stdout, err = _run(["inpaint", run, "--out", str(out), *data, *extra],
                                   capsys)
        assert status == 0, err
        assert json.loads(stdout)["missing_pixels"] == missing  # rows 3-5 of 6, 1-2 of 3
    for command in (["sample", run], ["inpaint", run, *data]):
        status, out, err = _run([*command, "--out", str(tmp_path / "x.png"),
                                 "--image-shape", "7,9"], capsys)
        _one_line_usage_error(status, out, err)
        assert "--image-shape 7,9: 7 x 9 = 63 pixels, but the model of" in err
        assert "data_dim=60" in err
    status, _, err = _run(["sample", run, "--out", "x.png", "--image-shape", "7"], capsys)
    assert status == 2 and "expected HEIGHT,WIDTH" in err


def test_train_says_it_fits_the_baseline_and_how_to_skip_it(tmp_path, capsys):
    # Issue 25.9: the baseline's EM (minutes on MNIST) ran with no output.
    argv = [a for a in TINY if a != "--quiet"]
    status, out, err = _run(argv + ["--epochs", "1", "--baseline-components", "3",
                                    "--out", str(tmp_path / "r")], capsys)
    assert status == 0, err
    assert ("tfhm train: fitting the baseline, a mixture of 3 Bernoullis, to 2000 "
            "training examples by EM (--baseline-components 0 skips it) ...") in err
    status, out, err = _run(TINY + ["--epochs", "1", "--baseline-components", "0",
                                    "--out", str(tmp_path / "s")], capsys)
    assert status == 0 and "baseline" not in err and "baseline" not in out


def test_train_takes_the_conditionals_and_resume_keeps_them(tmp_path, capsys):
    # Issue 23: --generator-conditional / --recognizer-conditional build the
    # model, config.json records them, and a resumed run rebuilds the same one.
    args = ["train", "--data", "bars", "--latent-dims", "4,2", "--hidden-units", "8",
            "--batch-size", "100", "--eval-samples", "5", "--quiet",
            "--generator-conditional", "darn", "--recognizer-conditional", "nade",
            "--out", str(tmp_path / "r")]
    assert _run(args + ["--epochs", "1"], capsys)[0] == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["model"]["generator_conditional"],
            config["model"]["recognizer_conditional"]) == ("darn", "nade")
    status, out, _ = _run(["train", "--resume", "--epochs", "2", "--quiet",
                           "--out", str(tmp_path / "r")], capsys)
    assert status == 0 and json.loads(out)["epoch"] == 2
    model = tfhm.run_dir.RunDir(tmp_path / "r").load_model()
    assert type(model.generator.prior).__name__ == "DARN"
    assert type(model.recognizer.conditionals[1]).__name__ == "NADE"
    status, _, err = _run(TINY + ["--recognizer-conditional", "made",
                                  "--out", str(tmp_path / "bad")], capsys)
    assert status == 2 and "invalid choice: 'made'" in err
