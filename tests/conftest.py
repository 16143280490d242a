"""Shared test setup: quiet TensorFlow, and a small trained model to export."""

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # Under pytest-xdist (`-n N`, as .ci/run runs the suite) each worker's
    # TensorFlow, and every process it starts, computes on its share of the
    # cores: N processes of all-core thread pools would fight over them.
    _CORES = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count() or 1)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(
        1, _CORES // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

import keras  # pylint: disable=g-import-not-at-top
import pytest

import tfhm


@pytest.fixture(scope="module")
def hm():
    """A deep model (64 -> 5 -> 3, one hidden layer) trained for 2 epochs.

    The model the export and serving-abuse tests export (their DATA_DIM,
    LATENT_DIMS).
    """
    x, _ = tfhm.datasets.load_digits()
    model = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(5, 3),
                                  hidden_units=(8,), seed=0)
    model.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
                  sleep_optimizer=keras.optimizers.Adam(1e-2),
                  algorithm="reweighted_wake_sleep", num_samples=3)
    model.fit(x[:200], batch_size=50, epochs=2, verbose=0)
    return model


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler for the test, whatever started the suite.

    A shell without job control starts background jobs with SIGINT ignored,
    and Python then keeps SIG_IGN: tfhm's interrupt guard rightly leaves that
    alone, and the Ctrl-C tests would test nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
