"""SIGKILL at random moments: during steps, checkpoint writes and exports.

Each killed training run is resumed (`tfhm train --resume`, or started again
when it died before its first checkpoint) and must end with weights bitwise
identical to an uninterrupted run; after every kill each checkpoint the run
lists must still be readable. Killed exports must leave no numeric (visible)
version folder that is not a complete, loadable SavedModel.
"""

import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm  # noqa: F401  (registers the classes for load_model)

import reliability_support as support

pytestmark = pytest.mark.reliability

KILLS = support.scaled(3, 20)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
TRAIN = [sys.executable, "-m", "tfhm.cli", "train", "--data", "bars",
         "--latent-dims", "4,2", "--hidden-units", "8", "--epochs", "6",
         "--batch-size", "100", "--checkpoint-every", "3", "--eval-samples", "3",
         "--seed", "3", "--quiet"]


def _weights(run):
    model = keras.models.load_model(run / "model.keras")
    return ([v.numpy() for v in model.weights]
            + [v.numpy() for v in model.wake_optimizer.variables]
            + [v.numpy() for v in model.sleep_optimizer.variables])


KEEP = 3  # TrainConfig.keep_checkpoints, the default of the command line


def _checkpoints_readable(run):
    """The checkpoints the run keeps (latest and older ones) read back completely.

    tf.train.CheckpointManager lists a new checkpoint before it deletes the
    one rotated out, then lists the kept ones again: a kill in between leaves
    the rotated-out (oldest, beyond `keep_checkpoints`) one listed while its
    files are being deleted. That one is skipped; all the others must read.
    """
    directory = run / "checkpoints"
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None:
        return 0
    paths = list(state.all_model_checkpoint_paths)[-KEEP:]
    assert paths[-1] == state.model_checkpoint_path
    for path in paths:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    return len(paths)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    started = time.monotonic()
    done = subprocess.run(TRAIN + ["--out", str(run)], env=ENV, capture_output=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return run, time.monotonic() - started


@pytest.mark.parametrize("kill", range(KILLS))
def test_killed_training_resumes_bitwise(kill, reference, tmp_path):
    reference_run, seconds = reference
    rng = random.Random(1000 + kill)
    run = tmp_path / "run"
    process = subprocess.Popen(TRAIN + ["--out", str(run)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Wait until training has started (the run's config is written), then
    # kill at a random moment of the remaining (estimated) training time.
    deadline = time.monotonic() + 300
    while not (run / "config.json").exists() and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.6 * seconds))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    finished = process.returncode == 0  # it may have won the race
    assert finished or process.returncode == -signal.SIGKILL, process.stderr.read()
    checkpoints = _checkpoints_readable(run)
    if (run / "model.keras").exists():
        keras.models.load_model(run / "model.keras")  # never half a file
    if not finished:
        if checkpoints:
            argv = TRAIN[:4] + ["--resume", "--quiet", "--out", str(run)]
        else:  # died before its first checkpoint: start it again
            argv = TRAIN + ["--overwrite", "--out", str(run)]
        resumed = subprocess.run(argv, env=ENV, capture_output=True, timeout=400)
        assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    for a, b in zip(_weights(run), _weights(reference_run), strict=True):
        np.testing.assert_array_equal(a, b)
    support.record("interruption", training_kills_tried=1,
                   training_kills_survived=1,
                   killed_mid_run=int(not finished),
                   resumed_from_checkpoint=int(not finished and checkpoints > 0))


_EXPORT = """
import sys, keras, tfhm
from tfhm import export
export.export_model(keras.models.load_model(sys.argv[1]), sys.argv[2], version=int(sys.argv[3]))
print("done", flush=True)
"""


@pytest.mark.parametrize("kill", range(support.scaled(1, 4)))
def test_killed_export_shows_no_half_version(kill, reference, tmp_path):
    reference_run, _ = reference
    rng = random.Random(2000 + kill)
    script = tmp_path / "export.py"
    script.write_text(_EXPORT)
    base = tmp_path / "served"
    # Version 1 is complete; version 2 is killed at a random moment.
    subprocess.run([sys.executable, str(script), str(reference_run / "model.keras"),
                    str(base), "1"], env=ENV, check=True, capture_output=True, timeout=300)
    process = subprocess.Popen([sys.executable, str(script),
                                str(reference_run / "model.keras"), str(base), "2"],
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline and not any(
            p.name.startswith(".tmp-2-") for p in base.glob("*/.*")):
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 1.5))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    for folder in base.glob("*/[0-9]*"):  # every visible version is whole
        loaded = tf.saved_model.load(str(folder))
        assert "serving_default" in loaded.signatures
    assert sorted(p.name for p in base.glob("generator/[0-9]*"))[0] == "1"
    support.record("interruption", export_kills_tried=1, export_kills_survived=1)
