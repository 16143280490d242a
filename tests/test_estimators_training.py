"""Every estimator of the registry through compile/fit, the Trainer, the CLI and saving.

Issue 13, acceptance 3: each registered estimator trains end to end through
`fit`, the Trainer (bitwise equal to `fit` on equal batches) and the command
line; a seeded run is reproducible; a `.keras` round trip keeps the
estimator; an unknown name lists the valid ones. NVIL's training-only state
rides in the Trainer's checkpoint, not in the model.
"""

import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm import cli, estimators
from tfhm.run_dir import RunDir
from tfhm.training import TrainConfig, Trainer

X_DIGITS, _ = tfhm.datasets.load_digits()
X = X_DIGITS[:100]  # 2 full batches of 50


def _small_hm(seed=0):
    return tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6, 4), hidden_units=(10,),
                                 seed=seed)


def _state(model):
    values = [v.numpy() for v in model.weights]
    values += [v.numpy() for v in model.wake_optimizer.variables]
    values += [v.numpy() for v in model.sleep_optimizer.variables]
    values += [v.numpy() for v in model.estimator.checkpoint_items.get(
        "nvil_state", keras.layers.Layer()).weights]
    return values


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# Without XLA, seeded DisARM fits can differ in their last bits from run to
# run when the cores are busy (oneDNN's kernels; never seen with
# TF_ENABLE_ONEDNN_OPTS=0 or with XLA: 2-3 of 6-8 repeats vs 0 of 6, measured
# 2026-11-28), and a CI run failed on it. Its bitwise checks run under XLA,
# where fit and the Trainer agree bitwise too; the defect is in the notes.
_XLA_ONLY = ("disarm",)


def _by_fit(name, seed=0):
    hm = _small_hm(seed)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
               sleep_optimizer=keras.optimizers.Adam(2e-2), algorithm=name,
               jit_compile=name in _XLA_ONLY)
    history = hm.fit(X, batch_size=50, epochs=1, shuffle=False, verbose=0)
    return hm, history.history


@pytest.mark.parametrize("name", estimators.names())
def test_every_estimator_fits_and_the_trainer_matches_fit_bitwise(name):
    by_fit, history = _by_fit(name)
    assert np.isfinite(history["elbo"]).all() and by_fit.estimator.name == name
    # Seeded: the same run again gives the same weights and state.
    _assert_same(_state(by_fit), _state(_by_fit(name)[0]))
    config = TrainConfig(algorithm=name, batch_size=50, epochs=1, lr_wake=1e-2,
                         lr_sleep=2e-2, shuffle=False, eval_max_examples=0,
                         jit_compile=name in _XLA_ONLY)
    by_loop = _small_hm()
    Trainer(by_loop, config, verbose=0).fit(X)
    _assert_same(_state(by_fit), _state(by_loop))


def test_the_algorithm_enum_names_every_builtin_estimator():
    assert [member.value for member in tfhm.Algorithm] == estimators.names()


def test_compile_takes_insomnia_and_estimator_instances():
    hm = _small_hm()
    hm.compile(algorithm="reweighted_wake_sleep", insomnia=0.25)
    assert hm.estimator.insomnia == 0.25 and hm.num_samples == 5
    assert hm.recognizer_update is None
    hm.compile(algorithm="reweighted_wake_sleep", recognizer_update="wake")
    assert hm.estimator.insomnia == 1.0
    assert hm.recognizer_update == tfhm.RecognizerUpdate.WAKE
    hm.compile(algorithm=estimators.NVIL(hidden_units=(5,)), num_samples=2)
    assert hm.algorithm == tfhm.Algorithm.NVIL and hm.num_samples == 2
    assert len(hm.estimator.trainable_variables) == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"algorithm": "vimcoo"},
     "'wake_sleep', 'reweighted_wake_sleep', 'vimco', 'reinforce', 'nvil', "
     "'reinforce_loo', 'disarm'. Received: 'vimcoo'"),
    ({"algorithm": "vimco", "num_samples": 1}, "num_samples=1"),
    ({"algorithm": "disarm", "num_samples": 3}, "even.*num_samples=3"),
    ({"algorithm": "vimco", "insomnia": 0.5}, "insomnia=0.5"),
    ({"algorithm": "reweighted_wake_sleep", "insomnia": 2.0}, "insomnia=2.0"),
])
def test_bad_estimator_choices_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _small_hm().compile(**kwargs)
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("algorithm", [
    "vimco", estimators.NVIL(hidden_units=(5,), decay=0.5),
    estimators.ReweightedWakeSleep(insomnia=0.25)])
def test_keras_round_trip_keeps_the_estimator(algorithm, tmp_path):
    hm = _small_hm()
    hm.compile(algorithm=algorithm, num_samples=4)
    hm.save(tmp_path / "hm.keras")
    loaded = tfhm.load_model(tmp_path / "hm.keras")
    assert loaded.estimator.name == hm.estimator.name
    assert loaded.estimator.get_config() == hm.estimator.get_config()
    assert loaded.num_samples == 4 and loaded.algorithm == hm.algorithm
    loaded.fit(X, batch_size=50, epochs=1, verbose=0)  # and it trains


def test_compile_configs_saved_before_estimators_still_load():
    hm = _small_hm()
    hm.compile_from_config({
        "wake_optimizer": keras.optimizers.serialize(keras.optimizers.Adam(1e-3)),
        "sleep_optimizer": keras.optimizers.serialize(keras.optimizers.Adam(1e-3)),
        "algorithm": "reweighted_wake_sleep", "num_samples": 3,
        "recognizer_update": "wake", "eval_num_samples": 10})
    assert hm.estimator.insomnia == 1.0 and hm.num_samples == 3


def test_nvil_state_is_checkpointed_not_saved(tmp_path):
    config = TrainConfig(algorithm="nvil", batch_size=50, epochs=1,
                         eval_max_examples=0)
    hm = _small_hm()
    trainer = Trainer(hm, config, verbose=0, run_dir=tmp_path / "run")
    trainer.fit(X)
    state = [v.numpy() for v in hm.estimator.state.weights]
    assert float(hm.estimator.state.signal_mean.numpy()) != 0.0  # it moved
    names = [name for name, _ in tf.train.list_variables(trainer.run.latest_checkpoint())]
    assert any(name.startswith("nvil_state/") for name in names)
    # Not in the model: the .keras file holds the networks' weights only.
    assert len(tfhm.load_model(trainer.run.model_keras).weights) == len(hm.weights)
    # A resumed run restores it (here: a finished run, restored and left alone).
    again = _small_hm(seed=5)
    resumed = Trainer(again, config, verbose=0, run_dir=tmp_path / "run")
    resumed.fit(X, resume=True)
    assert resumed.already_complete
    _assert_same(state, [v.numpy() for v in again.estimator.state.weights])


@pytest.mark.parametrize("name", ["vimco", "disarm"])
def test_cli_trains_with_any_estimator(name, tmp_path):
    argv = ["train", "--data", "bars", "--latent-dims", "4,2", "--hidden-units", "8",
            "--epochs", "1", "--batch-size", "100", "--eval-samples", "5", "--quiet",
            "--algorithm", name, "--out", str(tmp_path / "run")]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main(argv) == 0, err.getvalue()
    loaded = tfhm.load_model(RunDir(tmp_path / "run").model_keras)
    assert loaded.estimator.name == name


def test_cli_refuses_unknown_estimators(capsys):
    try:
        status = cli.main(["train", "--algorithm", "vimcoo", "--quiet"])
    except SystemExit as exit_:
        status = exit_.code
    assert status == 2
    assert "vimco" in capsys.readouterr().err
