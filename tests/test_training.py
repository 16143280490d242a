"""Tests of tfhm.training: the custom loop against fit, data order, resume, policies."""

import io
import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm._interrupts import InterruptGuard
from tfhm.estimators import step as estimator_step
from tfhm.progress import ProgressBar
from tfhm.run_dir import RunDir
from tfhm.training import TrainConfig, Trainer

X_DIGITS, X_DIGITS_TEST = tfhm.datasets.load_digits()
X_BARS, _ = tfhm.datasets.make_bars(240, seed=0)


def _small_hm(seed=0, latent_dims=(6, 4), data_dim=64):
    return tfhm.HelmholtzMachine(data_dim=data_dim, latent_dims=latent_dims,
                                 hidden_units=(10,), seed=seed)


def _state(model):
    values = [v.numpy() for v in model.weights]
    values += [v.numpy() for v in model.wake_optimizer.variables]
    values += [v.numpy() for v in model.sleep_optimizer.variables]
    return values


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("algorithm", ["reweighted_wake_sleep", "wake_sleep"])
def test_custom_loop_matches_fit_bitwise(algorithm):
    # Acceptance 1: same seed, data order (no shuffling: batches in order)
    # and hyper-parameters give identical weights, optimizer slots and seed
    # state. Full batches only: fit traces its step for a partial last batch
    # with another input signature, and TF's CPU kernels then round a few
    # sums differently (~1e-7 after one step, which Adam's normalized first
    # steps carry into the weights), so bitwise equality is promised for
    # batches of equal size.
    x = X_DIGITS[:300]  # 6 batches of 50
    k = 3 if algorithm == "reweighted_wake_sleep" else 1
    by_fit = _small_hm()
    by_fit.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
                   sleep_optimizer=keras.optimizers.Adam(2e-2),
                   algorithm=algorithm, num_samples=k, jit_compile=False)
    by_fit.fit(x, batch_size=50, epochs=2, shuffle=False, verbose=0)
    by_loop = _small_hm()
    config = TrainConfig(algorithm=algorithm, num_samples=k, batch_size=50,
                         epochs=2, lr_wake=1e-2, lr_sleep=2e-2, shuffle=False,
                         eval_max_examples=0)
    history = Trainer(by_loop, config, verbose=0).fit(x)
    _assert_same(_state(by_fit), _state(by_loop))
    assert [row["epoch"] for row in history] == [1, 2]
    # A different model seed gives different weights (the test has power).
    other = _small_hm(seed=1)
    Trainer(other, config, verbose=0).fit(x)
    assert not np.array_equal(other.weights[0].numpy(), by_loop.weights[0].numpy())


def test_epoch_metrics_are_example_means():
    # The epoch's wake loss is the mean over examples of the per-step batch
    # means weighted by batch size; fit's tracker averages the batch means.
    hm = _small_hm()
    config = TrainConfig(batch_size=100, epochs=1, shuffle=False,
                         eval_max_examples=0, lr_wake=1e-9, lr_sleep=1e-9,
                         steps_per_execution=1)  # the spy watches single steps
    trainer = Trainer(hm, config, verbose=0)
    x = X_DIGITS[:250]
    logs = []
    step_fn = trainer._step_fn  # pylint: disable=protected-access

    def spy(shards, global_batch):
        out = step_fn(shards, global_batch)
        logs.append((out.numpy(), float(global_batch.numpy())))
        return out

    trainer._step_fn = spy  # pylint: disable=protected-access
    row = trainer.fit(x)[0]
    sizes = np.array([n for _, n in logs])
    np.testing.assert_array_equal(sizes, [100, 100, 50])
    values = np.array([v for v, _ in logs])  # [steps, 4]
    expected = (values * sizes[:, None]).sum(0) / sizes.sum()
    np.testing.assert_allclose(
        [row["wake_loss"], row["sleep_loss"], row["elbo"], row["ess"]],
        expected, rtol=1e-6)


@pytest.mark.parametrize("num_shards, start_step", [(1, 0), (3, 0), (3, 2)])
def test_data_order_visits_every_example_once_per_epoch(num_shards, start_step):
    # 23 examples, batch 5: 5 steps (the last of 3); each example is coded in
    # its row so that the pipeline's output can be traced back.
    n, batch = 23, 5
    ids = np.arange(n, dtype=np.uint8)[:, None]
    hm = tfhm.HelmholtzMachine(data_dim=1, latent_dims=(1,), seed=0)
    config = TrainConfig(batch_size=batch, num_shards=num_shards, seed=4,
                         eval_max_examples=0)
    trainer = Trainer(hm, config, verbose=0)
    orders = []
    for epoch in (0, 1):
        dataset_fn = trainer._dataset_fn(  # pylint: disable=protected-access
            tf.constant(ids), epoch, start_step)
        elements = list(dataset_fn(tf.distribute.InputContext()))
        assert len(elements) == 5 - start_step
        seen = []
        for step, (shards, global_batch) in enumerate(elements, start_step):
            size = min(batch, n - step * batch)
            assert float(global_batch) == size
            assert len(shards) == num_shards
            # Shard k holds rows [size*k//S, size*(k+1)//S) of the batch.
            assert [s.shape[0] for s in shards] == [
                size * (k + 1) // num_shards - size * k // num_shards
                for k in range(num_shards)]
            seen += [int(v) for s in shards for v in s.numpy()[:, 0]]
        orders.append(seen)
    expected = [tf.random.experimental.index_shuffle(
        tf.range(n, dtype=tf.int64), seed=tf.constant([4, e], tf.int64),
        max_index=tf.constant(n - 1, tf.int64)).numpy().tolist() for e in (0, 1)]
    for epoch in (0, 1):
        assert orders[epoch] == expected[epoch][start_step * batch:]
    assert sorted(expected[0]) == list(range(n))  # a permutation
    assert expected[0] != expected[1]  # reshuffled every epoch


def test_resume_in_process_gives_identical_weights(tmp_path):
    # Acceptance 2 in one process: 2 epochs, then 2 more from the checkpoint,
    # equal 4 uninterrupted epochs (bitwise, on CPU without XLA), and so do
    # the metrics rows (the evaluation draws are seeded by epoch).
    config = TrainConfig(batch_size=32, epochs=4, lr_wake=1e-2, lr_sleep=1e-2,
                         eval_max_examples=40, eval_num_samples=5)
    straight = _small_hm(data_dim=16)
    history = Trainer(straight, config, run_dir=tmp_path / "a", verbose=0).fit(X_BARS)
    first = _small_hm(data_dim=16)
    Trainer(first, config.replace(epochs=2), run_dir=tmp_path / "b",
            verbose=0).fit(X_BARS)
    resumed = _small_hm(seed=5, data_dim=16)  # weights come from the checkpoint
    resumed_history = Trainer(resumed, config, run_dir=tmp_path / "b",
                              verbose=0).fit(X_BARS, resume=True)
    _assert_same(_state(straight), _state(resumed))
    assert len(resumed_history) == 4
    for a, b in zip(history, resumed_history):
        assert {k: v for k, v in a.items() if "second" not in k} == \
            {k: v for k, v in b.items() if "second" not in k}
    rows = RunDir(tmp_path / "b").read_metrics()
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    loaded = keras.models.load_model(tmp_path / "b" / "model.keras")
    _assert_same([v.numpy() for v in loaded.weights],
                 [v.numpy() for v in resumed.weights])


def _snapshot(folder):
    """Every file under `folder`: its bytes and its modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_of_a_finished_run_changes_nothing(tmp_path, capsys):
    # Issue 11.5: resuming a finished run rewrote metrics.csv (0 -> 0.0) and
    # config.json. Now nothing on disk changes (bytes and modification
    # times of every file, TensorBoard events included), the caller learns
    # that the run is complete, and the model holds the run's final weights.
    config = TrainConfig(batch_size=60, epochs=2, eval_max_examples=40,
                         eval_num_samples=5)
    run = tmp_path / "run"
    trained = _small_hm(data_dim=16)
    history = Trainer(trained, config, run_dir=run, logdir=run / "tb",
                      verbose=0).fit(X_BARS)
    (run / "metrics.json").write_text('{"train_seconds": 16.87}')  # the CLI's
    assert RunDir(run).is_complete() and not RunDir(run).is_complete(3)
    before = _snapshot(run)
    assert "metrics.csv" in before and "config.json" in before
    for epochs in (2, 1):  # the run's epochs, or fewer
        resumed = _small_hm(seed=7, data_dim=16)
        trainer = Trainer(resumed, config.replace(epochs=epochs), run_dir=run,
                          logdir=run / "tb", verbose=1)
        got = trainer.fit(X_BARS, resume=True)
        assert trainer.already_complete
        assert _snapshot(run) == before
        assert got == history  # the saved rows, read back exactly
        _assert_same([v.numpy() for v in resumed.weights],
                     [v.numpy() for v in trained.weights])
        assert f"already complete (2/{epochs} epochs); nothing was changed" in \
            capsys.readouterr().err
    # More epochs asked: the run goes on, and is then complete again.
    longer = Trainer(_small_hm(data_dim=16), config.replace(epochs=3), run_dir=run,
                     verbose=0)
    assert len(longer.fit(X_BARS, resume=True)) == 3 and not longer.already_complete
    assert RunDir(run).is_complete() and RunDir(run).is_complete(3)
    # A corrupt newest checkpoint: not complete (resuming falls back and trains).
    latest = RunDir(run).latest_checkpoint()
    data_file = next((run / "checkpoints").glob(os.path.basename(latest) + ".data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])
    assert not RunDir(run).is_complete()


def test_trainer_takes_optimizers():
    # The optimizers given are the ones used: the same weights as fit with
    # the same optimizers; by default Adam with the config's rates.
    x = X_DIGITS[:200]
    by_fit = _small_hm()
    by_fit.compile(wake_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
                   sleep_optimizer=keras.optimizers.RMSprop(1e-3),
                   algorithm="wake_sleep", jit_compile=False)
    by_fit.fit(x, batch_size=50, epochs=1, shuffle=False, verbose=0)
    by_loop = _small_hm()
    wake = keras.optimizers.SGD(0.05, momentum=0.5)
    config = TrainConfig(algorithm="wake_sleep", batch_size=50, epochs=1,
                         shuffle=False, eval_max_examples=0)
    Trainer(by_loop, config, wake_optimizer=wake,
            sleep_optimizer=keras.optimizers.RMSprop(1e-3), verbose=0).fit(x)
    assert by_loop.wake_optimizer is wake
    _assert_same(_state(by_fit), _state(by_loop))
    default = _small_hm()
    Trainer(default, config.replace(lr_wake=0.02, lr_sleep=0.03), verbose=0)
    assert isinstance(default.wake_optimizer, keras.optimizers.Adam)
    assert np.isclose(float(default.wake_optimizer.learning_rate), 0.02)
    assert np.isclose(float(default.sleep_optimizer.learning_rate), 0.03)


def test_run_dir_guards(tmp_path):
    config = TrainConfig(batch_size=60, epochs=1, eval_max_examples=0, lr_wake=1e-3)
    run = tmp_path / "run"
    Trainer(_small_hm(data_dim=16), config, run_dir=run, verbose=0).fit(X_BARS)
    (run / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds a tfhm run"):
        Trainer(_small_hm(data_dim=16), config, run_dir=run, verbose=0).fit(X_BARS)
    with pytest.raises(ValueError, match=r"(?s)different architecture.*"
                       r"latent_dims: checkpoint \(6, 4\), this model \(5,\)"):
        Trainer(_small_hm(data_dim=16, latent_dims=(5,)), config, run_dir=run,
                verbose=0).fit(X_BARS, resume=True)
    with pytest.raises(ValueError, match=r"(?s)different training settings.*"
                       r"lr_wake: checkpoint 0.001, now 0.5"):
        Trainer(_small_hm(data_dim=16), config.replace(lr_wake=0.5), run_dir=run,
                verbose=0).fit(X_BARS, resume=True)
    with pytest.raises(ValueError, match="240 examples.*Received: 100"):
        Trainer(_small_hm(data_dim=16), config, run_dir=run,
                verbose=0).fit(X_BARS[:100], resume=True)
    with pytest.raises(ValueError, match="holds no tfhm checkpoint"):
        Trainer(_small_hm(data_dim=16), config, run_dir=tmp_path / "empty",
                verbose=0).fit(X_BARS, resume=True)
    # overwrite: the old checkpoints are moved aside, the user's file stays.
    Trainer(_small_hm(data_dim=16), config, run_dir=run, verbose=0).fit(
        X_BARS, overwrite=True)
    assert (run / "checkpoints.replaced-1" / "checkpoint").exists()
    assert (run / "notes.txt").read_text() == "mine"
    assert json.loads((run / "config.json").read_text())["format"] == "tfhm-run"


def test_checkpoint_of_other_shapes_is_refused(tmp_path):
    # config.json edited to look compatible: the restore itself must fail
    # with a clear message rather than train a half-restored model.
    config = TrainConfig(batch_size=60, epochs=1, eval_max_examples=0)
    run = tmp_path / "run"
    Trainer(_small_hm(data_dim=16), config, run_dir=run, verbose=0).fit(X_BARS)
    saved = json.loads((run / "config.json").read_text())
    saved["model"]["latent_dims"] = [7, 4]
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="does not fit this model"):
        Trainer(_small_hm(data_dim=16, latent_dims=(7, 4)), config, run_dir=run,
                verbose=0).fit(X_BARS, resume=True)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_log_densities_float32(policy):
    keras.config.set_dtype_policy(policy)
    try:
        hm = _small_hm(data_dim=16)
    finally:
        keras.config.set_dtype_policy("float32")
    compute = hm.generator.conditionals[0].hidden_layers[0].dtype_policy.compute_dtype
    assert compute == policy.split("_")[1]
    trainer = Trainer(hm, TrainConfig(batch_size=60, epochs=2, lr_wake=1e-2,
                                      lr_sleep=1e-2, eval_max_examples=60,
                                      eval_num_samples=5), verbose=0)
    scaled = isinstance(hm.wake_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    before = hm.exact_log_likelihood(X_BARS).numpy().mean()
    history = trainer.fit(X_BARS)
    after = hm.exact_log_likelihood(X_BARS).numpy().mean()
    assert all(np.isfinite(v) for row in history for v in row.values())
    assert after > before + 0.5, (before, after)  # it learns
    latents, log_q = hm.recognizer.sample(tf.constant(X_BARS[:5]), 2, tf.constant([1, 2]))
    assert log_q.dtype == tf.float32
    assert hm.generator.log_prob(tf.constant(X_BARS[:5]), latents).dtype == tf.float32
    # The loss scale stays a power of two > 1: no overflow made it collapse.
    if scaled:
        assert float(hm.wake_optimizer.dynamic_scale.numpy()) >= 1.0


def _digits_run(policy, seed):
    """The same digits model and steps under `policy`: exact held-out log p(x)."""
    x_train, x_valid = tfhm.datasets.load_digits()
    keras.config.set_dtype_policy(policy)
    try:
        hm = tfhm.HelmholtzMachine(64, (10,), hidden_units=(32,), seed=seed)
    finally:
        keras.config.set_dtype_policy("float32")
    hm.compile(wake_optimizer=keras.optimizers.Adam(3e-3),
               sleep_optimizer=keras.optimizers.Adam(3e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    hm.fit(x_train, batch_size=100, epochs=100, verbose=0)  # 1,500 steps
    return hm, float(hm.exact_log_likelihood(x_valid).numpy().mean())


@pytest.mark.slow
def test_mixed_bfloat16_training_reaches_float32s_log_likelihood():
    # Issue 14, acceptance 1. The two runs start from the same weights and
    # draw the same seeds, but bfloat16's 8-bit mantissa sends them along
    # different paths, so the difference is that of two training runs: with
    # this recipe float32 runs of seeds 0, 1, 2 ended at -19.09, -18.91 and
    # -18.95 nats (a spread of 0.18) and bfloat16 runs of the same seeds
    # 0.03, 0.10 and 0.07 nat away from them (measured 2026-11-28). 0.3 nat
    # is the margin, above that spread; a bfloat16 step that lost
    # precision in the log-densities (e.g. bfloat16 log-weights: about 2
    # significant digits of a number near -20) costs more than that.
    _, float32_ll = _digits_run("float32", seed=0)
    hm, bfloat16_ll = _digits_run("mixed_bfloat16", seed=0)
    assert hm.generator.conditionals[0].hidden_layers[0].compute_dtype == "bfloat16"
    assert bfloat16_ll == pytest.approx(float32_ll, abs=0.3)
    assert float32_ll > -19.6  # both learned: the untrained model is near -44


@pytest.mark.parametrize("algorithm", ["reweighted_wake_sleep", "vimco", "nvil"])
def test_log_weights_and_losses_are_float32_under_mixed_bfloat16(algorithm):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        hm = _small_hm(data_dim=16)
        hm.compile(algorithm=algorithm, num_samples=1 if algorithm == "nvil" else 3)
    finally:
        keras.config.set_dtype_policy("float32")
    x, seed = tf.constant(X_BARS[:8, :16]), tf.constant([3, 4])
    log_w, log_p, log_q, _ = tfhm.objectives.log_importance_weights(
        hm.generator, hm.recognizer, x, 3, seed)
    assert {log_w.dtype, log_p.dtype, log_q.dtype} == {tf.float32}
    estimate = hm.estimator(hm.generator, hm.recognizer, x, hm.num_samples, seed,
                            reduce=tf.reduce_mean)
    assert estimate.generator_loss.dtype == estimate.recognizer_loss.dtype == tf.float32
    assert all(value.dtype == tf.float32 for value in estimate.logs.values())
    g, r, logs = estimator_step.compute_gradients(
        hm.estimator, hm.generator, hm.recognizer, x, seed, hm.num_samples)
    assert all(value.dtype == tf.float32 for value in logs.values())
    # The variables (and so the optimizer's slots) stay float32.
    assert {v.dtype for v in hm.generator.trainable_variables} == {"float32"}


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_trainer_scales_losses_with_its_optimizers(policy, monkeypatch):
    # Issue 10: loss scaling in one place. The step hands the optimizers'
    # own `scale_loss` to compute_gradients under mixed_float16 (as fit's
    # train_step does) and nothing in float32 (the bitwise code path).
    keras.config.set_dtype_policy(policy)
    try:
        hm = _small_hm(data_dim=16)
    finally:
        keras.config.set_dtype_policy("float32")
    seen, original = [], estimator_step.compute_gradients

    def spy(*args, **kwargs):
        seen.append(kwargs.get("scale_losses"))
        return original(*args, **kwargs)

    monkeypatch.setattr(estimator_step, "compute_gradients", spy)
    Trainer(hm, TrainConfig(batch_size=60, epochs=1, eval_max_examples=0),
            verbose=0).fit(X_BARS)
    assert seen  # traced at least once
    if policy == "float32":
        assert seen == [None] * len(seen)
        return
    wake, sleep = hm.wake_optimizer, hm.sleep_optimizer
    assert isinstance(wake, keras.optimizers.LossScaleOptimizer)
    wake_scale, sleep_scale = seen[0]
    assert wake_scale == wake.scale_loss and sleep_scale == sleep.scale_loss
    scale = float(wake.dynamic_scale.numpy())
    assert scale > 1 and float(wake_scale(tf.constant(2.0))) == 2 * scale


def test_xla_step_trains():
    hm = _small_hm(data_dim=16)
    history = Trainer(hm, TrainConfig(batch_size=60, epochs=3, jit_compile=True,
                                      lr_wake=1e-2, lr_sleep=1e-2,
                                      eval_max_examples=0), verbose=0).fit(X_BARS)
    assert history[-1]["elbo"] > history[0]["elbo"]
    assert all(np.isfinite(row["wake_loss"]) for row in history)


def test_tensorboard_scalars_and_images(tmp_path):
    logdir = tmp_path / "tb"
    Trainer(_small_hm(data_dim=16), TrainConfig(batch_size=60, epochs=2,
                                                eval_max_examples=60,
                                                eval_num_samples=5),
            logdir=logdir, verbose=0).fit(X_BARS)
    tags = {}
    for name in os.listdir(logdir):
        for event in tf.compat.v1.train.summary_iterator(str(logdir / name)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    for tag in ("wake_loss", "sleep_loss", "elbo", "val_log_likelihood",
                "val_ess", "ess", "kl_1", "active_units_2", "samples",
                "reconstructions"):
        assert tags.get(tag) == [1, 2], (tag, sorted(tags))


def test_progress_bar_draws_eta_and_values():
    stream = io.StringIO()
    bar = ProgressBar(10, "epoch 1/3", enabled=True, stream=stream, min_interval=0)
    bar.update(4, lambda: {"wake": 1.5, "elbo": -3.25})
    text = stream.getvalue()
    assert "epoch 1/3" in text and " 40% " in text and "4/10" in text
    assert "wake 1.5" in text and "elbo -3.25" in text and "<" in text  # ETA
    bar.close()
    silent = io.StringIO()  # not a terminal: "auto" stays quiet
    ProgressBar(10, enabled="auto", stream=silent, min_interval=0).update(3, {"a": 1})
    assert silent.getvalue() == ""


def test_config_and_run_dir_import_without_tensorflow():
    # The command line builds its flags from TrainConfig and checks run
    # folders before it needs TensorFlow (issue 10, acceptance 4).
    code = ("import sys; import tfhm.training; from tfhm.training.config import TrainConfig; "
            "from tfhm.run_dir import RunDir; from tfhm.progress import ProgressBar; "
            "TrainConfig(epochs=3); RunDir('x').holds_run(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tensorflow_probability')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("changes, match", [
    ({"algorithm": "dreaming"}, "'dreaming'"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"num_samples": -1}, "num_samples=-1"),
    ({"lr_wake": -1e-3}, "lr_wake=-0.001"),
    ({"lr_sleep": float("nan")}, "lr_sleep=nan"),
    ({"seed": -1}, "seed=-1"),
    ({"recognizer_update": "dream"}, "'dream'"),
    ({"eval_max_examples": -5}, "eval_max_examples=-5"),
    ({"algorithm": "wake_sleep", "recognizer_update": "wake"},
     "must be 'sleep'.*recognizer_update='wake'"),
    ({"shuffle": "no"}, "shuffle='no'"),
])
def test_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_bad_trainer_arguments():
    with pytest.raises(ValueError, match="TrainConfig"):
        Trainer(_small_hm(), {"epochs": 3})
    with pytest.raises(ValueError, match="HelmholtzMachine"):
        Trainer(keras.Sequential(), TrainConfig())
    with pytest.raises(ValueError, match="batch_size.*shards.*Received: batch_size=2"):
        Trainer(_small_hm(), TrainConfig(batch_size=2, num_shards=3))
    with pytest.raises(ValueError, match="wake_sleep.*recognizer_update"):
        Trainer(_small_hm(), TrainConfig(algorithm="wake_sleep",
                                         recognizer_update="wake"))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with pytest.raises(ValueError, match="strategy.scope"):
        Trainer(_small_hm(), TrainConfig(), strategy=strategy)
    with pytest.raises(ValueError, match=r"only the values 0 and 1.*0\.5"):
        Trainer(_small_hm(), TrainConfig(), verbose=0).fit(np.full((5, 64), 0.5))


def test_gradient_variance_is_logged_per_epoch_when_asked(tmp_path):
    # Issue 13, item 3: TrainConfig(gradient_variance_seeds=N) adds each
    # network's gradient variance and SNR to every epoch's row, metrics.csv
    # and TensorBoard: the numbers of diagnostics.gradient_variance of the
    # model's own estimator with the epoch's named seed, and training itself
    # is untouched (its own seed stream is not used).
    from tfhm import _seeds, diagnostics

    def run(seeds, logdir=None):
        hm = _small_hm(data_dim=16)
        config = TrainConfig(algorithm="vimco", num_samples=3, batch_size=60, epochs=2,
                             eval_max_examples=60, eval_num_samples=5,
                             gradient_variance_seeds=seeds, shuffle=False)
        history = Trainer(hm, config, logdir=logdir, verbose=0).fit(X_BARS)
        return hm, history

    plain, _ = run(0)
    hm, history = run(8, logdir=tmp_path / "tb")
    for u, v in zip(plain.weights, hm.weights):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    expected = diagnostics.gradient_variance(
        hm, X_BARS[:60], num_seeds=8, seed=_seeds.stream(0, "gradient_variance", 1))
    last = history[-1]
    assert last["grad_variance_recognizer"] == pytest.approx(
        expected["recognizer"]["variance"], rel=1e-5)
    assert last["grad_snr_generator"] == pytest.approx(expected["generator"]["snr"], rel=1e-5)
    assert all(row["grad_variance_generator"] > 0 for row in history)
    tags = set()
    for name in os.listdir(tmp_path / "tb"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "tb" / name)):
            tags.update(value.tag for value in event.summary.value)
    assert {"grad_variance_generator", "grad_snr_recognizer"} <= tags
    with pytest.raises(ValueError, match="Received: gradient_variance_seeds=1"):
        TrainConfig(gradient_variance_seeds=1)


class _SigintInFinalizer:
    """Sends this process a SIGINT from `__del__`, where Python drops the interrupt."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)


@pytest.mark.usefixtures("default_sigint")
def test_a_ctrl_c_that_a_finalizer_swallows_still_stops_the_trainer(monkeypatch):
    # A KeyboardInterrupt raised inside `__del__` is dropped by Python (an
    # "Exception ignored" report) and the loop would train on: without the
    # guard this fit ran all 30 steps. The Trainer's InterruptGuard raises it
    # again before the next step, so the run stops after exactly the step in
    # which the Ctrl-C came (3, not 2: the interrupt did not escape the step
    # directly), reports nothing for the dropped one, and the default handler
    # and hook are back afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    config = TrainConfig(epochs=3, batch_size=24, eval_max_examples=24,
                         eval_num_samples=2, seed=0, steps_per_execution=1)
    trainer = Trainer(_small_hm(data_dim=16), config, verbose=0)
    step_fn, calls = trainer._step_fn, []

    def step_then_ctrl_c(*args):
        step_fn(*args)
        calls.append(None)
        if len(calls) == 3:
            _SigintInFinalizer()  # released at once

    trainer._step_fn = step_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X_BARS)
    assert int(trainer._global_step.numpy()) == 3  # of 10 steps per epoch
    assert reports == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert sys.unraisablehook == reports.append
    # Outside a fit, the report of such an interrupt reaches the hook again.
    _SigintInFinalizer()
    assert len(reports) == 1 and isinstance(reports[0].exc_value, KeyboardInterrupt)


@pytest.mark.parametrize("seed", [0, None])  # tfhm's seeded loop, and Keras' own
@pytest.mark.usefixtures("default_sigint")
def test_a_ctrl_c_that_a_finalizer_swallows_still_stops_keras_fit(seed, monkeypatch):
    # The same for `hm.fit`: the callback tfhm adds raises the dropped
    # interrupt before the 4th batch, so exactly 3 steps ran (of 2 x 10).
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)

    class CtrlCAfterThirdBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                _SigintInFinalizer()

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(4,), seed=seed)
    hm.compile(num_samples=2)
    mine = [CtrlCAfterThirdBatch()]
    with pytest.raises(KeyboardInterrupt):
        hm.fit(X_BARS[:200], batch_size=20, epochs=2, verbose=0, callbacks=mine)
    assert int(hm.wake_optimizer.iterations.numpy()) == 3
    assert reports == [] and len(mine) == 1  # the user's list is not changed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("kind", ["tuple", "single", "CallbackList"])
@pytest.mark.usefixtures("default_sigint")
def test_keras_fit_raises_a_swallowed_ctrl_c_whatever_form_the_callbacks_take(kind):
    # Keras takes a tuple, a single callback or a CallbackList as well as a
    # list; each gets the callback that raises the dropped interrupt.
    class CtrlCAfterThirdBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                _SigintInFinalizer()

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(4,), seed=0)
    hm.compile(num_samples=2)
    mine = CtrlCAfterThirdBatch()
    callbacks = {"tuple": (mine,), "single": mine,
                 "CallbackList": keras.callbacks.CallbackList([mine], model=hm)}[kind]
    with pytest.raises(KeyboardInterrupt):
        hm.fit(X_BARS[:200], batch_size=20, epochs=2, verbose=0, callbacks=callbacks)
    assert int(hm.wake_optimizer.iterations.numpy()) == 3
    if kind == "CallbackList":  # the callback was there for this call only
        assert callbacks.callbacks == [mine]


@pytest.mark.usefixtures("default_sigint")
def test_a_ctrl_c_swallowed_after_the_last_check_is_raised_when_the_guard_exits():
    with pytest.raises(KeyboardInterrupt):
        with InterruptGuard():
            _SigintInFinalizer()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with InterruptGuard():  # the record went with the block that had it
        pass


def test_the_interrupt_guard_leaves_a_handler_of_yours_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with InterruptGuard() as guard:
            signal.raise_signal(signal.SIGINT)
            guard.check()  # your handler had the signal: nothing to raise
        assert seen == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# ----------------------------------------------------------------- issue 25
_TINY_CONFIG = dict(batch_size=60, eval_max_examples=40, eval_num_samples=5,
                    diagnostics_num_samples=2)


def test_config_json_records_the_k_actually_used_and_old_runs_still_resume(tmp_path):
    # Issue 25.15: config.json said "num_samples": null for the estimator's
    # default; it now records the K trained with (5 for reweighted
    # wake-sleep), resumes with the same TrainConfig, and a run folder
    # written before (null) resumes too.
    run = RunDir(tmp_path / "run")
    config = TrainConfig(epochs=1, **_TINY_CONFIG)
    Trainer(_small_hm(data_dim=16, latent_dims=(3,)), config, run_dir=run.path,
            verbose=0).fit(X_BARS)
    saved = run.read_config()
    assert saved["train"]["num_samples"] == 5 and config.num_samples is None
    assert saved["train"]["algorithm"] == "reweighted_wake_sleep"
    history = Trainer(_small_hm(data_dim=16, latent_dims=(3,)), config.replace(epochs=2),
                      run_dir=run.path, verbose=0).fit(X_BARS, resume=True)
    assert [row["epoch"] for row in history] == [1, 2]
    saved = run.read_config()
    saved["train"]["num_samples"] = None  # as tfhm wrote it before issue 25
    run.write_config({k: v for k, v in saved.items() if k != "format"})
    history = Trainer(_small_hm(data_dim=16, latent_dims=(3,)), config.replace(epochs=3),
                      run_dir=run.path, verbose=0).fit(X_BARS, resume=True)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert run.read_config()["train"]["num_samples"] == 5  # rewritten with the K
    with pytest.raises(ValueError, match="num_samples: checkpoint 5, now 3"):
        Trainer(_small_hm(data_dim=16, latent_dims=(3,)),
                config.replace(epochs=4, num_samples=3), run_dir=run.path,
                verbose=0).fit(X_BARS, resume=True)


def test_trainer_fit_returns_rows_with_the_keras_history_view():
    # Issue 25.15: Trainer.fit returned a list of dicts where hm.fit returns
    # a keras.callbacks.History. It is still that list, and also has
    # History's `history` (name -> per-epoch values) and `epoch` (0-based).
    config = TrainConfig(epochs=2, **_TINY_CONFIG)
    hm = _small_hm(data_dim=16, latent_dims=(3,))
    history = Trainer(hm, config, verbose=0).fit(X_BARS, validation_data=X_BARS[:40])
    assert isinstance(history, list) and len(history) == 2
    assert history.epoch == [0, 1]
    for name in ("wake_loss", "sleep_loss", "elbo", "ess", "val_elbo",
                 "val_log_likelihood"):
        assert history.history[name] == [row[name] for row in history], name
    assert "epoch" not in history.history
    keras_history = hm.fit(X_BARS, batch_size=60, epochs=2, verbose=0,
                           validation_data=(X_BARS[:40],))
    assert isinstance(keras_history, keras.callbacks.History)
    assert keras_history.epoch == history.epoch
    # The names both log per epoch: the same keys of the same kind.
    common = {"wake_loss", "sleep_loss", "elbo", "ess", "val_elbo", "val_log_likelihood"}
    assert common <= set(keras_history.history) and common <= set(history.history)


def test_compile_and_train_config_defaults_are_stated_where_users_look():
    # Issue 25.15: compile() defaults to wake-sleep (kept: code that calls
    # compile() trains as before) while TrainConfig, the Trainer and tfhm
    # train default to reweighted wake-sleep; each place now says so.
    import inspect

    compile_default = inspect.signature(
        tfhm.HelmholtzMachine.compile).parameters["algorithm"].default
    assert (compile_default, TrainConfig().algorithm) == (
        "wake_sleep", "reweighted_wake_sleep")
    hm = _small_hm(data_dim=16, latent_dims=(3,))
    hm.compile()
    assert hm.algorithm.value == "wake_sleep" and hm.num_samples == 1
    Trainer(hm, TrainConfig(epochs=1), verbose=0)
    assert hm.algorithm.value == "reweighted_wake_sleep" and hm.num_samples == 5
    compile_doc = " ".join(tfhm.HelmholtzMachine.compile.__doc__.split())
    assert ('Default "wake_sleep"; `TrainConfig`, the `Trainer` and `tfhm train` '
            'default to "reweighted_wake_sleep"') in compile_doc
    config_doc = " ".join(TrainConfig.__doc__.split())
    assert "`HelmholtzMachine.compile` defaults to wake-sleep instead" in config_doc
    readme = " ".join((pathlib.Path(tfhm.__file__).parents[1] / "README.md").read_text(
        encoding="utf-8").split())
    assert ("`hm.compile()` without `algorithm` trains by wake-sleep; `TrainConfig`, "
            "the `Trainer` and `tfhm train` default to reweighted wake-sleep") in readme


@pytest.mark.parametrize("seed", [0, None])
@pytest.mark.usefixtures("default_sigint")
def test_a_ctrl_c_stops_keras_fit_within_one_group_of_steps(seed):
    # Issue 27.4: with steps_per_execution=5 a callback's on_train_batch_end
    # runs once per compiled call (Keras passes the call's last batch, 4),
    # and the interrupt raised there stops fit after exactly that call's 5
    # steps, not at the end of the epoch (10 steps) or of the run (20).
    class CtrlCAfterFirstCall(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert batch == 4
            _SigintInFinalizer()

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(4,), seed=seed)
    hm.compile(num_samples=2, steps_per_execution=5)
    with pytest.raises(KeyboardInterrupt):
        hm.fit(X_BARS[:200], batch_size=20, epochs=2, verbose=0,
               callbacks=[CtrlCAfterFirstCall()])
    assert int(hm.wake_optimizer.iterations.numpy()) == 5


def _rows_without_times(history):
    return [{k: v for k, v in row.items() if "second" not in k} for row in history]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_trainer_steps_per_execution_gives_the_same_run(tmp_path, jit_compile):
    # Issue 27.1: several steps per compiled call change nothing but the
    # host's work between steps: the same weights, optimizer slots and seed
    # state (bitwise), the same metrics rows, and checkpoints on the same
    # steps (a call stops at each multiple of checkpoint_every_steps: 8
    # steps an epoch, calls of 4 would otherwise straddle steps 3, 6, 9, 12).
    config = TrainConfig(batch_size=30, epochs=2, lr_wake=1e-2, lr_sleep=1e-2,
                         eval_max_examples=40, eval_num_samples=5,
                         checkpoint_every_steps=3, keep_checkpoints=10,
                         jit_compile=jit_compile)
    runs = {}
    for spe in (1, 4, 16):
        model = _small_hm(data_dim=16)
        history = Trainer(model, config.replace(steps_per_execution=spe),
                          run_dir=tmp_path / str(spe), verbose=0).fit(X_BARS)
        saved = sorted(p.name for p in (tmp_path / str(spe) / "checkpoints").glob("*.index"))
        runs[spe] = _state(model), _rows_without_times(history), saved
    assert runs[1][2] == [f"ckpt-{n}.index" for n in (12, 15, 16, 3, 6, 9)]
    for spe in (4, 16):
        _assert_same(runs[1][0], runs[spe][0])
        assert runs[spe][1] == runs[1][1] and runs[spe][2] == runs[1][2]


def test_trainer_resumes_a_grouped_run_bitwise(tmp_path):
    # Issue 27.4: a run of calls of 5 steps, stopped after its first epoch
    # and resumed (with calls of 3), ends as one uninterrupted run of single
    # steps does.
    config = TrainConfig(batch_size=32, epochs=3, lr_wake=1e-2, lr_sleep=1e-2,
                         eval_max_examples=40, eval_num_samples=5)
    straight = _small_hm(data_dim=16)
    history = Trainer(straight, config, verbose=0).fit(X_BARS)
    Trainer(_small_hm(data_dim=16), config.replace(epochs=1, steps_per_execution=5),
            run_dir=tmp_path, verbose=0).fit(X_BARS)
    resumed = _small_hm(seed=5, data_dim=16)
    resumed_history = Trainer(resumed, config.replace(steps_per_execution=3),
                              run_dir=tmp_path, verbose=0).fit(X_BARS, resume=True)
    _assert_same(_state(straight), _state(resumed))
    assert _rows_without_times(resumed_history) == _rows_without_times(history)


@pytest.mark.parametrize("poisoned_step", [2, 7])
def test_nan_guard_names_the_bad_step_inside_a_call(poisoned_step):
    # With calls of 3 steps (4 steps an epoch: calls of 3 and 1), a weight
    # poisoned before step `poisoned_step` is still named exactly, and
    # training stops at the check after that call.
    from tfhm.training import step as step_lib

    x, _ = tfhm.datasets.make_bars(200, seed=0)
    model = tfhm.HelmholtzMachine(data_dim=x.shape[1], latent_dims=(4,), seed=0)
    config = TrainConfig(epochs=3, batch_size=50, eval_max_examples=0,
                         check_finite_every_steps=1, steps_per_execution=3)
    trainer = Trainer(model, config, verbose=0)
    poisoned, count = model.generator.trainable_variables[0], tf.Variable(0)
    step_fn = trainer._step_fn

    def poisoning_step(shards, global_batch):
        count.assign_add(1)
        poisoned.assign(tf.where(count == poisoned_step,
                                 tf.fill(poisoned.shape, float("nan")), poisoned))
        return step_fn(shards, global_batch)

    trainer._steps_fn = step_lib.make_steps_fn(poisoning_step)
    epoch, step = (poisoned_step - 1) // 4 + 1, (poisoned_step - 1) % 4 + 1
    with pytest.raises(FloatingPointError,
                       match=rf"at step {poisoned_step} \(epoch {epoch}, step {step} "):
        trainer.fit(x)
    assert int(count.numpy()) == {2: 3, 7: 7}[poisoned_step]  # the end of its call


@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_steps_per_execution_refuses_non_positive_ints(value):
    with pytest.raises(ValueError, match=r"`steps_per_execution` must be a positive int"):
        TrainConfig(steps_per_execution=value)


@pytest.mark.usefixtures("default_sigint")
def test_a_ctrl_c_stops_the_trainer_after_the_call_it_came_in():
    # Issue 27.4: with calls of 4 steps (10 steps an epoch: calls of 4, 4,
    # 2), a Ctrl-C that a finalizer swallows during the second call stops the
    # run after that call: 8 steps, not the epoch's 10 or the run's 30.
    config = TrainConfig(epochs=3, batch_size=24, eval_max_examples=0, seed=0,
                         steps_per_execution=4)
    trainer = Trainer(_small_hm(data_dim=16), config, verbose=0)
    steps_fn, calls = trainer._steps_fn, []

    def call_then_ctrl_c(iterator, count):
        steps_fn(iterator, count)
        calls.append(int(count))
        if len(calls) == 2:
            _SigintInFinalizer()

    trainer._steps_fn = call_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X_BARS)
    assert calls == [4, 4] and int(trainer._global_step.numpy()) == 8
