"""End-to-end smoke tests of the benchmark scripts on tiny synthetic data.

The scripts live in `benchmarks/` (not a package); each test imports one by
path and calls its `main(argv)` with `--synthetic`, a few steps, and a
RESULTS file under `tmp_path`, so the suite needs neither `../shared` nor
the network, and never touches `benchmarks/RESULTS.md`.
"""

import importlib.util
import json
import pathlib
import sys

import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def _section(path, name):
    text = path.read_text(encoding="utf-8")
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    assert text.count(begin) == 1 and text.count(end) == 1, text
    return text[text.index(begin):text.index(end)]


def test_write_section_replaces_only_its_own_block(tmp_path):
    common = _load("_common")
    path = tmp_path / "R.md"
    path.write_text("# Title\n\nkept\n", encoding="utf-8")
    common.write_section(str(path), "a", "first")
    common.write_section(str(path), "b", "other")
    common.write_section(str(path), "a", "second")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nkept\n")
    assert "second" in text and "first" not in text and "other" in text


def _weights(path):
    import keras
    return keras.models.load_model(path).get_weights()


def test_mnist_table_trains_resumes_and_evaluates(tmp_path):
    table = _load("mnist_table")
    results = tmp_path / "RESULTS.md"
    common = ["--synthetic", "--rows", "sbn200_ws", "--results", str(results),
              "--eval-samples", "8", "--eval-images", "40", "--no-jit",
              "--monitor-every", "1", "--monitor-samples", "4", "--monitor-images", "20"]
    folder = tmp_path / "runs" / "sbn200_ws"
    table.main(common + ["--run-dir", str(tmp_path / "runs"), "--epochs", "1"])
    first = table.load_state(folder)
    assert first["epochs"] == 1 and (folder / "model.keras").exists()
    # A second invocation resumes from model.keras: one more epoch, not two.
    table.main(common + ["--run-dir", str(tmp_path / "runs"), "--epochs", "2"])
    state = table.load_state(folder)
    assert state["epochs"] == 2 and len(state["epoch_seconds"]) == 2
    assert [(i["from_epoch"], i["to_epoch"]) for i in state["invocations"]] == [(0, 1), (1, 2)]
    ev = state["eval"]
    assert ev["images"] == 40 and ev["num_samples"] == 8
    # Importance sampling with K draws is a stochastic lower bound whose mean
    # is at most the ELBO's: the NLL sits below the negative ELBO, here by far
    # more than the estimates' noise on 40 images.
    assert 0 < ev["nll"] < ev["neg_elbo"]
    section = _section(results, "mnist_table")
    assert "| `sbn200_ws` | SBN 200 | wake-sleep | 2 |" in section
    assert "Mnih & Gregor 2014" in section and "Bornschein & Bengio 2015" in section
    # The resumed row is the row trained in one go: same weights, same random
    # stream (model.keras holds the seed generator's state), same estimates.
    table.main(common + ["--run-dir", str(tmp_path / "once"), "--epochs", "2"])
    once = tmp_path / "once" / "sbn200_ws"
    for got, want in zip(_weights(folder / "model.keras"), _weights(once / "model.keras")):
        np.testing.assert_array_equal(got, want)
    assert state["monitor"] and [(m["epoch"], m["val_ll"]) for m in state["monitor"]] == [
        (m["epoch"], m["val_ll"]) for m in table.load_state(once)["monitor"]]


def _schedule(table, run_dir, epochs):
    table.main(["--synthetic", "--rows", "sbn200_ws", "--run-dir", str(run_dir),
                "--results", "", "--no-eval", "--no-jit", "--epochs", str(epochs),
                "--monitor-every", "1", "--monitor-samples", "4", "--monitor-images", "20",
                "--patience", "1", "--min-delta", "1e9", "--max-decays", "2",
                "--learning-rate", "1e-3", "--lr-decay", "0.5"])
    return table.load_state(run_dir / "sbn200_ws")


def test_mnist_table_schedule_cuts_the_rate_and_stops_when_converged(tmp_path):
    # With --min-delta huge no estimate counts as an improvement after the
    # first: every `patience` estimates cut the rate, and after `max-decays`
    # cuts the row stops long before --epochs.
    table = _load("mnist_table")
    folder = tmp_path / "runs" / "sbn200_ws"
    state = _schedule(table, tmp_path / "runs", 50)
    # Epoch 1 sets the best; epochs 2 and 3 each cut the rate; epoch 4 stops.
    assert state["converged"] and state["epochs"] == 4 and state["decays"] == 2
    assert [m["lr"] for m in state["monitor"]] == [1e-3, 1e-3, 5e-4, 2.5e-4]
    assert state["best"]["epoch"] == 1 and (folder / "best.keras").exists()
    # best.keras is the model of epoch 1, not a later one.
    assert not all(np.array_equal(a, b) for a, b in zip(
        _weights(folder / "best.keras"), _weights(folder / "model.keras")))
    import keras
    model = keras.models.load_model(folder / "model.keras")
    assert np.isclose(float(model.wake_optimizer.learning_rate.numpy()), 2.5e-4)
    # Resumed after each epoch, the row cuts and stops at the same epochs
    # (the callbacks' state is replayed from metrics.csv) with the same weights.
    for epochs in (1, 2, 3, 50):
        resumed = _schedule(table, tmp_path / "resumed", epochs)
    assert [m["lr"] for m in resumed["monitor"]] == [1e-3, 1e-3, 5e-4, 2.5e-4]
    assert resumed["converged"] and resumed["epochs"] == 4 and resumed["best"]["epoch"] == 1
    for name in ("model.keras", "best.keras"):
        for got, want in zip(_weights(tmp_path / "resumed" / "sbn200_ws" / name),
                             _weights(folder / name)):
            np.testing.assert_array_equal(got, want)
    # The validation curve goes to its own RESULTS section.
    results = tmp_path / "RESULTS.md"
    table.main(["--rows", "sbn200_ws", "--run-dir", str(tmp_path / "runs"),
                "--results", str(results), "--progress-only",
                "--monitor-samples", "4", "--monitor-images", "20"])
    section = _section(results, "mnist_convergence")
    assert "converged, 4 epochs" in section and section.count("| 0.001 |") == 2
    # A converged row is not trained again.
    table.main(["--synthetic", "--rows", "sbn200_ws", "--run-dir", str(tmp_path / "runs"),
                "--results", "", "--no-eval", "--no-jit", "--epochs", "50"])
    assert table.load_state(folder)["epochs"] == 4


def test_mnist_table_resumes_a_row_of_the_old_state_json_format(tmp_path, monkeypatch):
    # Rows trained before issue 26: state.json, and a model.keras without the
    # seed generator's state (written here as that code wrote it).
    import keras

    import tfhm

    table = _load("mnist_table")
    common = ["--synthetic", "--rows", "sbn200_ws", "--results", "", "--no-eval", "--no-jit",
              "--monitor-every", "1", "--monitor-samples", "4", "--monitor-images", "20"]
    table.main(common + ["--run-dir", str(tmp_path / "new"), "--epochs", "1"])
    new = tmp_path / "new" / "sbn200_ws"
    state = table.load_state(new)
    hm = keras.models.load_model(new / "model.keras")
    state["seed_state"] = [int(v) for v in hm.seed_generator.state.numpy()]
    state["since_best"], state["converged"] = 0, False
    old = tmp_path / "old" / "sbn200_ws"
    old.mkdir(parents=True)
    (old / "state.json").write_text(json.dumps(state))
    with monkeypatch.context() as patch:
        patch.setattr(tfhm.HelmholtzMachine, "save_own_variables",
                      keras.Model.save_own_variables)
        hm.save(old / "model.keras")
    assert keras.models.load_model(old / "model.keras").seed_generator.state.numpy()[1] == 0
    assert table.load_state(old)["epochs"] == 1  # read as it is
    for run_dir in ("new", "old"):
        table.main(common + ["--run-dir", str(tmp_path / run_dir), "--epochs", "3"])
    converted = table.load_state(old)
    assert converted["epochs"] == 3 and (old / "config.json").exists()
    assert [(i["from_epoch"], i["to_epoch"]) for i in converted["invocations"]] == [
        (0, 1), (1, 3)]
    for got, want in zip(_weights(old / "model.keras"), _weights(new / "model.keras")):
        np.testing.assert_array_equal(got, want)


def test_throughput_flop_count_by_hand():
    tp = _load("throughput")
    one = 2 * 100 * 784 * 200  # one [100, 784] x [784, 200] product
    # Wake-sleep, K=1: q forward (no gradient), p forward + dW, dream pass,
    # q of the dream forward + dW: six products of the same size.
    ws = tp.matmul_shapes((200,), 784, 100, 1, "wake_sleep", "sleep")
    assert tp.flops(ws) == 6 * one
    # RWS K=5, wake+sleep update of q: q(z1|x) on the batch only (fwd + dW),
    # p on 5 * 100 rows (fwd + dW), dream pass, q of the dream (fwd + dW).
    rws = tp.matmul_shapes((200,), 784, 100, 5, "reweighted_wake_sleep", "wake_sleep")
    assert tp.flops(rws) == (2 + 2 * 5 + 1 + 2) * one


def test_throughput_flop_count_with_hidden_layers_by_hand():
    tp = _load("throughput")
    up, down = 784 * 500 + 500 * 200, 200 * 500 + 500 * 784  # q and p, per row
    # Wake-sleep, K=1, batch 100, 500 hidden units per conditional: q of the
    # data forward; p forward, dW of both Denses and dh of the second (784
    # wide); the dream pass; q of the dream forward, dW of both, dh of the
    # second (200 wide).
    ws = tp.matmul_shapes((200,), 784, 100, 1, "wake_sleep", "sleep", (500,))
    by_hand = up + (2 * down + 500 * 784) + down + (2 * up + 500 * 200)
    assert tp.flops(ws) == 2 * 100 * by_hand


def test_throughput_times_dtype_policies_side_by_side(tmp_path):
    tp = _load("throughput")
    rows = tp.main(["--synthetic", "--models", "200", "--batch-sizes", "20", "--ks", "2",
                    "--seconds", "0.02", "--matmul-seconds", "0.01", "--rounds", "2",
                    "--peak-size", "64", "--xla", "off",
                    "--dtype-policies", "float32", "mixed_bfloat16",
                    "--results", str(tmp_path / "RESULTS.md")])
    assert [(r["algorithm"], r["policy"]) for r in rows] == [
        ("wake_sleep", "float32"), ("wake_sleep", "mixed_bfloat16"),
        ("reweighted_wake_sleep", "float32"), ("reweighted_wake_sleep", "mixed_bfloat16")]
    assert all(r["vs_float32"] > 0 for r in rows if r["policy"] != "float32")
    assert "| mixed_bfloat16 |" in _section(tmp_path / "RESULTS.md", "throughput")


def test_throughput_runs_and_reports_a_fraction(tmp_path):
    tp = _load("throughput")
    results = tmp_path / "RESULTS.md"
    rows = tp.main(["--synthetic", "--models", "200", "--batch-sizes", "20",
                    "--ks", "2", "--seconds", "0.02", "--matmul-seconds", "0.01",
                    "--rounds", "2", "--peak-size", "64",
                    "--results", str(results)])
    assert len(rows) == 4  # wake-sleep and RWS K=2, each with and without XLA
    for row in rows:
        assert row["ex_s"] > 0 and 0 < row["fraction"] < 10
    assert "fraction of limit" in _section(results, "throughput")


def _markdown_rows(text):
    """The rows of the first Markdown table in `text`, as dicts by column."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [dict(zip(split[0], cells)) for cells in split[2:]]


@pytest.mark.parametrize("loop", ["trainer", "fit"])
def test_throughput_loop_reports_examples_per_second_per_setting(loop, tmp_path, capsys):
    tp = _load("throughput")
    results = tmp_path / "RESULTS.md"
    rows = tp.main(["--loop", loop, "--synthetic", "--models", "200", "--batch-sizes", "20",
                    "--ks", "2", "--xla", "off", "--examples", "60", "--epochs", "2",
                    "--steps-per-execution", "1", "3", "--results", str(results)])
    table = _markdown_rows(capsys.readouterr().out)
    settings = ["model", "batch", "algorithm", "K", "XLA", "policy", "steps/call"]
    assert [[r[c] for c in settings] for r in table] == [
        ["SBN 200", "20", "wake-sleep", "1", "off", "float32", "1"],
        ["SBN 200", "20", "wake-sleep", "1", "off", "float32", "3"],
        ["SBN 200", "20", "RWS", "2", "off", "float32", "1"],
        ["SBN 200", "20", "RWS", "2", "off", "float32", "3"]]
    assert all(float(r["examples/s"]) > 0 for r in table)
    # Epoch 2's examples over its wall time, the first epoch left out.
    assert [len(r["epoch_ex_s"]) for r in rows] == [1, 1, 1, 1]
    assert [f"{r['ex_s']:.0f}" for r in rows] == [r["examples/s"] for r in table]
    assert _markdown_rows(_section(results, f"throughput_{loop}")) == table


@pytest.mark.parametrize("argv, wrong", [
    (["--loop", "trainer", "--seconds", "1"], "--seconds does not apply to --loop trainer"),
    (["--quick"], "--quick does not apply to --loop step"),
    (["--steps-per-execution", "10"], "--steps-per-execution does not apply to --loop step"),
    (["--loop", "fit", "--epochs", "1"], "--epochs must be at least 2"),
    (["--loop", "fit", "--quick", "--examples", "10"], "--quick or --examples"),
    (["--loop", "fit", "--examples", "50", "--batch-sizes", "100"], "hold a batch"),
])
def test_throughput_refuses_bad_loop_options(argv, wrong, capsys):
    tp = _load("throughput")
    with pytest.raises(SystemExit):
        tp.parse_args(argv)
    assert wrong in capsys.readouterr().err


def test_throughput_loop_defaults_are_the_trainer_grid():
    tp = _load("throughput")
    args = tp.parse_args(["--loop", "trainer", "--quick"])
    assert (args.examples, args.epochs) == (5000, 3)
    assert len(list(tp.configs(args))) == 16  # 2 models, 2 algorithms, 2 batches, 2 XLA
    step = tp.parse_args([])
    assert step.ks == [1, 5, 10] and step.models.split(",") == list(tp.MODELS)


def test_vs_pyro_tfhm_half_without_pyro(tmp_path):
    vs = _load("vs_pyro")
    results = tmp_path / "RESULTS.md"
    out, ratio = vs.main(["--synthetic", "--skip-pyro", "--epochs", "1",
                          "--train-examples", "300", "--steps-per-execution", "3",
                          "--eval-images", "20",
                          "--eval-samples", "10", "--results", str(results)])
    assert ratio is None and set(out) == {"tfhm"}
    assert out["tfhm"]["ll"] < 0
    assert "Pyro skipped" in _section(results, "vs_pyro")


@pytest.mark.slow
def test_vs_pyro_both_libraries(tmp_path):
    pytest.importorskip("pyro")
    vs = _load("vs_pyro")
    results = tmp_path / "RESULTS.md"
    out, ratio = vs.main(["--synthetic", "--epochs", "1", "--train-examples", "300",
                          "--steps-per-execution", "3",
                          "--eval-images", "20", "--eval-samples", "10",
                          "--threads", "0", "--results", str(results)])
    assert set(out) == {"tfhm", "pyro"} and ratio > 0
    # Both estimates are log-likelihoods of 784 binary pixels after little
    # training: negative, and above the uniform model's 784 log(1/2).
    for r in out.values():
        assert 784 * -0.6932 < r["ll"] < 0
    assert "minibatch" in _section(results, "vs_pyro")


def test_profile_step_attributes_op_time(tmp_path):
    prof = _load("profile_step")
    try:
        prof._xplane_pb2()  # pylint: disable=protected-access
    except ImportError:
        pytest.skip("this TensorFlow build does not ship the XSpace protobuf")
    results = tmp_path / "RESULTS.md"
    out = prof.main(["--batch-size", "20", "--k", "2", "--steps", "3",
                     "--ablate-log-prob", "--rounds", "1",
                     "--results", str(results)])
    seconds = out["op_seconds"]
    # The step multiplies matrices and evaluates Bernoulli log-densities.
    assert seconds["matmul"] > 0
    assert seconds["Bernoulli log_prob, forward"] > 0
    # tfhm's, TFP's and the fused log-density, each without and with XLA.
    assert len(out["ablation_ex_s"]) == 6 and min(out["ablation_ex_s"].values()) > 0
    assert any(name.startswith("fused") for name in out["ablation_ex_s"])
    assert "where the step's time goes" in _section(results, "profile_step")


def test_fused_log_prob_matches_the_library_in_value_and_gradient():
    # The ablation's hand-written gradient must be the true one, including
    # where one row of logits serves K draws (q(z_1 | x) in the wake phase).
    import tensorflow as tf

    from tfhm import layers

    prof = _load("profile_step")
    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(4, 50)) * 5, dtype=tf.float32)
    value = tf.constant((rng.random((3, 4, 50)) < 0.4).astype(np.float32))
    results = []
    for fn in (layers.log_prob_logits, prof.fused_log_prob):
        with tf.GradientTape() as tape:
            out = fn(logits, value)
            weighted = tf.reduce_sum(out * tf.range(4.0))
        results.append((out.numpy(), tape.gradient(weighted, logits).numpy()))
    assert results[1][0].shape == (3, 4) and results[1][1].shape == (4, 50)
    # float32 rounding of sums of 50 terms of size up to ~15 nats.
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-5)


def test_vs_pyro_budget_race_stops_each_library_at_its_budget(tmp_path):
    vs = _load("vs_pyro")
    results = tmp_path / "RESULTS.md"
    out, _ = vs.main(["--synthetic", "--skip-pyro", "--budget-seconds", "2",
                      "--train-examples", "2000", "--eval-images", "20",
                      "--eval-samples", "10", "--results", str(results)])
    r = out["tfhm"]
    # It trained until its budget was used up, stopping after the compiled
    # call (10 steps of batch 100 here, well under a second) that crossed it.
    assert 2 <= r["train_s"] < 2 + 5
    assert r["epochs"] > 0 and r["ex_s"] > 0
    assert abs(r["ex_s"] - r["epochs"] * 2000 / r["train_s"]) < 1e-6 * r["ex_s"]
    assert "a budget of 2 s" in _section(results, "vs_pyro")


@pytest.mark.parametrize("name, title, label, conditionals, insomnia", [
    # Issue 13's row: VIMCO K=5 on SBN 200-200-200, beside the RWS row.
    ("sbn200x3_vimco5", "SBN 200-200-200", "VIMCO, K=5", ("sbn", "sbn"), None),
    # Issue 24's row: DARN layers in p, RWS with the recognizer's wake update only.
    ("darn500_sbnq_rws5", "DARN 500, SBN q", "RWS, K=5, insomnia=wake", ("darn", "sbn"), 1.0),
    # One conditional a layer: DARN over the pixels under the deep SBN.
    ("sbn_deep_darnx_rws5", "SBN 10-100-200-300-400, DARN pixel layer",
     "RWS, K=5, insomnia=wake", (("darn",) + ("sbn",) * 5, "sbn"), 1.0),
])
def test_mnist_table_row_trains_with_its_estimator_and_conditionals(
        tmp_path, name, title, label, conditionals, insomnia):
    import keras

    table = _load("mnist_table")
    results = tmp_path / "RESULTS.md"
    table.main(["--synthetic", "--rows", name, "--run-dir",
                str(tmp_path / "runs"), "--results", str(results), "--no-eval",
                "--no-jit", "--epochs", "1"])
    model = keras.models.load_model(tmp_path / "runs" / name / "model.keras")
    row = table.ROWS[name]
    assert model.algorithm.value == row.algorithm and model.num_samples == 5
    assert (model.generator_conditional, model.recognizer_conditional) == conditionals
    if insomnia is not None:  # the option reached the estimator and survived the file
        assert model.estimator.insomnia == insomnia
    assert f"| `{name}` | {title} | {label} | 1 |" in _section(results, "mnist_table")


def test_mnist_table_equal_budget_reads_each_curve_at_the_same_minutes(tmp_path):
    # Two rows' states written by hand: RWS estimates at 4, 9, 14 and 15.2
    # minutes of training (15.5 in all), VIMCO at 6 and 11 (and one at 16,
    # past the shorter budget). At minute t a row shows its newest estimate made by t.
    table = _load("mnist_table")

    def state(monitor, wall_minutes, ev=None):
        return {"epochs": monitor[-1][0], "train_wall_s": 60 * wall_minutes,
                "epoch_seconds": [3.0, 5.0, 4.0], "examples_per_epoch": 50000,
                "monitor": [{"epoch": e, "val_ll": v, "train_wall_s": 60 * t}
                            for e, v, t in monitor],
                "best": {"epoch": monitor[-1][0], "val_ll": monitor[-1][1]},
                "invocations": [{"command": "python mnist_table.py", "from_epoch": 0,
                                 "to_epoch": monitor[-1][0], "date": "d", "commit": "c"}],
                **({"eval": ev} if ev else {})}

    rows = {"sbn200x3_rws5": state([(10, -110.0, 4), (20, -105.0, 9), (30, -101.5, 14),
                                    (40, -100.5, 15.2)], 15.5,
                                   {"nll": 99.5, "nll_stderr": 0.25, "neg_elbo": 108.0,
                                    "num_samples": 1000, "images": 10000, "seconds": 90,
                                    "model": "best.keras (epoch 40)", "command": "ev",
                                    "date": "d"}),
            "sbn200x3_vimco5": state([(10, -112.0, 6), (20, -104.0, 11), (30, -100.0, 16)], 17)}
    for name, content in rows.items():
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "state.json").write_text(json.dumps(content))
    results = tmp_path / "RESULTS.md"
    table.main(["--rows", "sbn200x3_rws5,sbn200x3_vimco5", "--run-dir", str(tmp_path / "runs"),
                "--results", str(results), "--equal-budget-only"])
    section = _section(results, "mnist_equal_budget")
    # The grid stops at the shorter budget (15.5 minutes): 5, 10, 15, 15.5.
    assert "| 5 | -110.00 (10) | — |" in section
    assert "| 10 | -105.00 (20) | -112.00 (10) |" in section
    assert "| 15 | -101.50 (30) | -104.00 (20) |" in section
    assert "| 15.5 | -100.50 (40) | -104.00 (20) |" in section
    assert "| 20 |" not in section
    # examples/s over the median epoch (4 s): 12,500.
    assert ("| `sbn200x3_rws5` | RWS, K=5 | 40 | 15.5 | 12500 | -100.50 (epoch 40) | "
            "99.50 ± 0.25 | 108.00 | K=1000, 10000 images, best.keras (epoch 40) |") in section
    assert "| `sbn200x3_vimco5` | VIMCO, K=5 | 30 | 17.0 |" in section
    assert "not evaluated" in section
    # A row with no estimates cannot be compared, and says so.
    (tmp_path / "runs" / "sbn200x3_ws").mkdir()
    with pytest.raises(SystemExit, match=r"\[sbn200x3_ws\] has no validation estimates"):
        table.main(["--rows", "sbn200x3_ws,sbn200x3_rws5", "--run-dir",
                    str(tmp_path / "runs"), "--results", "", "--equal-budget-only"])


def test_mnist_table_refuses_to_resume_under_another_dtype_policy(tmp_path):
    import keras

    table = _load("mnist_table")
    common = ["--synthetic", "--rows", "sbn200_ws", "--run-dir", str(tmp_path / "runs"),
              "--results", "", "--no-eval", "--no-jit", "--epochs", "1"]
    previous = keras.config.dtype_policy()
    try:
        table.main(common)
        assert table.load_state(tmp_path / "runs" / "sbn200_ws")["dtype_policy"] == "float32"
        with pytest.raises(SystemExit, match="trained with --dtype-policy float32; "
                                             "received --dtype-policy mixed_bfloat16"):
            table.main(common[:-1] + ["2", "--dtype-policy", "mixed_bfloat16"])
    finally:
        keras.config.set_dtype_policy(previous)
    assert table.load_state(tmp_path / "runs" / "sbn200_ws")["epochs"] == 1


def test_mnist_table_refuses_to_resume_under_another_batch_size(tmp_path):
    table = _load("mnist_table")
    common = ["--synthetic", "--rows", "sbn200_ws", "--run-dir", str(tmp_path / "runs"),
              "--results", "", "--no-eval", "--no-jit", "--batch-size", "50"]
    table.main(common + ["--epochs", "1"])
    path = tmp_path / "runs" / "sbn200_ws"
    assert table.load_state(path)["batch_size"] == 50
    with pytest.raises(SystemExit, match="trained with --batch-size 50; "
                                         "received --batch-size 100"):
        table.main(common[:-1] + ["100", "--epochs", "2"])
    assert table.load_state(path)["epochs"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--grid-minutes", "0"], "--grid-minutes must be positive; received 0.0"),
    (["--progress-only"], "received both"),
])
def test_mnist_table_equal_budget_refuses_bad_flags(argv, message, capsys):
    table = _load("mnist_table")
    with pytest.raises(SystemExit):
        table.main(["--equal-budget-only", "--results", ""] + argv)
    assert message in capsys.readouterr().err


def test_conditionals_digits_reports_every_recognizer(tmp_path):
    # Issue 23: the recognizers' race on the real digits, shortened (one seed,
    # two rounds of 0.1 s each); a convolutional and an autoregressive q.
    cd = _load("conditionals_digits")
    results = tmp_path / "RESULTS.md"
    rows = cd.main(["--budget-seconds", "0.2", "--rounds", "2", "--seeds", "1",
                    "--recognizers", "darn,conv", "--results", str(results)])
    assert [row["kind"] for row in rows] == ["darn", "conv"]
    for row in rows:
        # Exact log-likelihoods of 64 pixels, above the uniform model's -44.36
        # nats after some tens of Adam steps; at equal epochs each run's point
        # is at or past the slowest run's epochs.
        assert -44.37 < row["final"] < 0 and -44.37 < row["equal"] < 0
        assert row["ex_s"] > 0 and row["weights"] > 0
    assert "| `conv` |" in _section(results, "conditionals_digits")
    with pytest.raises(SystemExit):
        cd.parse_args(["--recognizers", "sbn,made"])


def test_estimators_digits_interleaves_and_reports_every_row(tmp_path, capsys):
    # Two estimators, one seed, two rounds of 0.1 s: the digits are bundled,
    # so this is the real script on the real data, only shorter.
    ed = _load("estimators_digits")
    results = tmp_path / "RESULTS.md"
    rows = ed.main(["--budget-seconds", "0.2", "--rounds", "2", "--seeds", "1",
                    "--estimators", "vimco,wake_sleep", "--results", str(results)])
    printed = [line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| `")]
    assert sorted(line.split("`")[1] for line in printed) == ["vimco", "wake_sleep"]
    for line in printed:
        cells = line.replace("[", " ").replace("]", " ").replace(",", " ").split("|")
        numbers = [float(v) for c in cells[4:] for v in c.replace(" s", "").split()]
        assert numbers and all(np.isfinite(numbers))
    for row in rows:
        # An exact log-likelihood of 64 binary pixels: negative, and above the
        # uniform model's 64 log(1/2) = -44.36 nats: a tenth of a second of
        # Adam at 6e-3 is some tens of steps, and one epoch (15 steps) already
        # reaches about -26 nats on these digits.
        assert -44.37 < row["final"]["median"] < 0 and row["epochs"] > 0
        assert row["k"] == {"vimco": 4, "wake_sleep": 1}[row["name"]]
        assert len(row["curve"]) == 2 and row["ex_s"] > 0
    section = _section(results, "estimators_digits")
    assert "interleaved" in section and "| `vimco` | 4 | K-sample bound |" in section
    # A bad name is a one-line usage error (exit 2) that lists the valid ones.
    with pytest.raises(SystemExit) as exit_info:
        ed.parse_args(["--estimators", "vimco,no_such"])
    assert exit_info.value.code == 2
    assert "reinforce_loo" in capsys.readouterr().err
