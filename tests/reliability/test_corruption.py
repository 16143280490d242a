"""Corrupted files: truncated or bit-flipped checkpoints and SavedModels.

Loading one must fail with an error that names the file (never load silently
wrong weights).
"""

import os
import pathlib
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm import export
from tfhm.training import TrainConfig, Trainer

import reliability_support as support

pytestmark = pytest.mark.reliability

X, _ = tfhm.datasets.make_bars(200, seed=0)
CONFIG = TrainConfig(epochs=2, batch_size=50, checkpoint_every_steps=2,
                     eval_max_examples=0, keep_checkpoints=3)


def _model():
    return tfhm.HelmholtzMachine(data_dim=X.shape[1], latent_dims=(4, 2),
                                 hidden_units=(6,), seed=0)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    Trainer(_model(), CONFIG, run_dir=run, verbose=0).fit(X)
    return run


def _corrupt(path, how, rng):
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[:len(data) // 2]
    elif how == "empty":
        data = bytearray()
    else:  # flip one bit per 64 bytes, at random places
        for i in rng.choice(len(data), size=max(1, len(data) // 64), replace=False):
            data[i] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


HOWS = ["truncate", "bitflip", "empty"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("part", ["data", "index"])
def test_corrupt_checkpoint_is_refused_naming_the_file(trained_run, tmp_path, how, part):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    # Every checkpoint of the run is corrupted the same way (with one intact
    # older checkpoint, resuming falls back to it: the test below).
    latest = pathlib.Path(tf.train.latest_checkpoint(str(run / "checkpoints")))
    state = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    for prefix in map(pathlib.Path, state.all_model_checkpoint_paths):
        target = (prefix.with_name(prefix.name + ".index") if part == "index" else
                  next(prefix.parent.glob(prefix.name + ".data-*")))
        _corrupt(target, how, np.random.default_rng(len(how) + len(part)))
    with pytest.raises(ValueError, match="cannot be restored") as error:
        Trainer(_model(), CONFIG, run_dir=run, verbose=0).fit(X, resume=True)
    assert latest.name in str(error.value), str(error.value)
    support.record("corruption", checkpoint_files_tried=len(state.all_model_checkpoint_paths),
                   checkpoint_files_detected=len(state.all_model_checkpoint_paths))


@pytest.mark.parametrize("how", HOWS)
def test_resume_falls_back_to_newest_intact_checkpoint(trained_run, tmp_path, capsys, how):
    # The newest checkpoint (ckpt-8, the end of the run) is corrupt: resuming
    # says so, continues from ckpt-6 and ends with the very weights of the
    # uninterrupted run.
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    latest = pathlib.Path(tf.train.latest_checkpoint(str(run / "checkpoints")))
    _corrupt(next(latest.parent.glob(latest.name + ".data-*")), how,
             np.random.default_rng(3))
    model = _model()
    Trainer(model, CONFIG, run_dir=run, verbose=0).fit(X, resume=True)
    err = capsys.readouterr().err
    assert f"checkpoint {str(latest)!r} cannot be restored" in err, err
    assert "resuming from the newest intact checkpoint" in err and "ckpt-6" in err, err
    reference = keras.models.load_model(trained_run / "model.keras")
    for a, b in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    support.record("corruption", resume_fallbacks_tried=1, resume_fallbacks_survived=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _model()
    return export.export_model(model, tmp_path_factory.mktemp("served"))


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("part", ["saved_model.pb", "variables/variables.index",
                                  "variables/variables.data-00000-of-00001"])
def test_corrupt_saved_model_is_refused(exported, tmp_path, how, part):
    folder = tmp_path / "generator"
    shutil.copytree(exported["generator"], folder)
    _corrupt(folder / part, how, np.random.default_rng(7))
    with pytest.raises(Exception) as error:  # noqa: B017 (TF's own loader errors)
        tf.saved_model.load(str(folder))
    message = str(error.value)
    named = str(folder) in message or os.path.basename(part) in message
    support.record("corruption", saved_model_files_tried=1,
                   saved_model_files_detected=1,
                   saved_model_errors_naming_file=int(named))
