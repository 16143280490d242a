"""Tests of the `tfhm` command line: train, evaluate, sample, export, bad input."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import types

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
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main(TINY + ["--out", str(run)]) == 0
    return run


def test_train_writes_the_run_folder(tiny_run):
    # Acceptance 4: files, PNG sizes, one metrics row per epoch.
    for name in ("config.json", "model.keras", "metrics.csv", "metrics.json",
                 "samples.png", "reconstructions.png", "curves.png"):
        assert (tiny_run / name).exists(), name
    assert (tiny_run / "checkpoints" / "checkpoint").exists()
    # 64 samples of 4x4 bars in an 8x8 grid, 4 screen pixels per data pixel
    # and 1 pixel of border: 8 * (4 * 4 + 1) + 1 = 137.
    assert plotting.grid_size(64, 16, cols=8) == (137, 137)
    with Image.open(tiny_run / "samples.png") as image:
        assert image.size == (137, 137) and image.mode == "L"
    with Image.open(tiny_run / "reconstructions.png") as image:
        assert image.size == (137, 137)  # 32 examples + 32 reconstructions
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
    status, stdout, _ = _run(["sample", str(tiny_run), "-n", "10", "--out",
                              str(out), "--seed", "3"], capsys)
    assert status == 0
    with Image.open(out) as image:
        # ceil(sqrt(10)) = 4 columns, 3 rows of 4x4 images at scale 4.
        assert image.size == (4 * 17 + 1, 3 * 17 + 1)
        first = np.asarray(image)
    assert json.loads(stdout)["width"] == 69
    _run(["sample", str(tiny_run), "-n", "10", "--out", str(out), "--seed", "3"], capsys)
    with Image.open(out) as image:
        np.testing.assert_array_equal(np.asarray(image), first)  # same seed


def test_export_is_delegated(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("tfhm.export")
    fake.export_cli = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "tfhm.export", fake)
    assert cli.main(["export", "RUN", "--format", "x"]) == 0
    assert calls == [["RUN", "--format", "x"]]
    monkeypatch.setitem(sys.modules, "tfhm.export", None)  # import fails
    status, _, err = _run(["export", "RUN"], capsys)
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
    assert "different architecture" in err and "latent_dims: checkpoint (4, 2), this model (5, 2)" in err
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
