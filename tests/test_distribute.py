"""The training loop under tf.distribute: Mirrored and MultiWorkerMirrored on CPU.

Each run happens in a fresh process (logical devices and the collective
runtime must be configured before TensorFlow starts). Every run uses
`num_shards=2`: shard k of every global batch draws its random numbers from
`fold_in(step_seed, k)` whichever device runs it, so one device computing
both shards and two replicas computing one each perform the same arithmetic
and differ only in the order of floating-point sums inside the all-reduce.

Stated tolerance: weights agree to rtol=1e-5, atol=1e-6 after 3 epochs of
Adam (measured on a 2-core CPU: largest difference 1.5e-7, float32
rounding of the same sums traced into different graphs); the epoch metrics
(reduced across replicas) to rtol=1e-6.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = r'''
import json, os, sys
import numpy as np
mode, out = sys.argv[1], sys.argv[2]
import tensorflow as tf
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
elif mode == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
else:
    strategy = None
import tfhm
x, _ = tfhm.datasets.make_bars(300, seed=0)
x_valid, _ = tfhm.datasets.make_bars(60, seed=1)
import contextlib
scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
with scope:
    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(5, 3), hidden_units=(8,), seed=0)
config = tfhm.TrainConfig(batch_size=40, epochs=3, num_shards=2, lr_wake=1e-2,
                          lr_sleep=1e-2, eval_num_samples=5, eval_max_examples=60)
run_dir = sys.argv[3] if len(sys.argv) > 3 else None
trainer = tfhm.Trainer(hm, config, strategy=strategy, run_dir=run_dir, verbose=0)
history = trainer.fit(x, x_valid)
if trainer.is_chief:
    np.savez(out, *[v.numpy() for v in hm.weights])
    with open(out + ".json", "w") as f:
        json.dump({"replicas": trainer.strategy.num_replicas_in_sync,
                   "history": history}, f)
'''


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(script, mode, out, env_extra=None, run_dir=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **(env_extra or {}))
    args = [sys.executable, str(script), mode, str(out)]
    if run_dir is not None:
        args.append(str(run_dir))
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _finish(process, timeout=400):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err.decode()[-3000:]


def _load(out):
    with np.load(f"{out}.npz") as arrays:
        weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    with open(f"{out}.json") as handle:
        return weights, json.load(handle)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("distribute")
    (path / "worker.py").write_text(WORKER)
    return path


@pytest.fixture(scope="module")
def single(workdir):
    process = _launch(workdir / "worker.py", "single", workdir / "single")
    _finish(process)
    return _load(workdir / "single")


def _assert_matches(run, reference, replicas):
    weights, info = run
    ref_weights, ref_info = reference
    assert info["replicas"] == replicas and ref_info["replicas"] == 1
    assert len(weights) == len(ref_weights)
    for a, b in zip(weights, ref_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for row, ref_row in zip(info["history"], ref_info["history"]):
        for key in ("wake_loss", "sleep_loss", "elbo", "ess", "val_elbo",
                    "val_log_likelihood"):
            np.testing.assert_allclose(row[key], ref_row[key], rtol=1e-6)
    # Training moved the weights: the comparison is not between two copies
    # of the initial state.
    assert ref_info["history"][-1]["elbo"] > ref_info["history"][0]["elbo"]


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(workdir, single):
    process = _launch(workdir / "worker.py", "mirrored", workdir / "mirrored")
    _finish(process)
    _assert_matches(_load(workdir / "mirrored"), single, replicas=2)


@pytest.mark.slow
def test_multiworker_two_processes_matches_one_device(workdir, single):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster,
                                "task": {"type": "worker", "index": index}})
        processes.append(_launch(workdir / "worker.py", "multiworker",
                                 workdir / f"worker{index}",
                                 env_extra={"TF_CONFIG": tf_config},
                                 run_dir=workdir / "mw_run"))
    for process in processes:
        _finish(process)
    _assert_matches(_load(workdir / "worker0"), single, replicas=2)
    # Only the chief wrote the run folder and the weights file.
    assert not os.path.exists(workdir / "worker1.npz")
    assert (workdir / "mw_run" / "model.keras").exists()
    assert (workdir / "mw_run" / "checkpoints" / "checkpoint").exists()
