"""Users' files survive an upgrade, and seeded training keeps its bits.

`tests/fixtures/make_fixtures_v0_1_0.py` made the `.keras` fixture with
tfhm 0.1.0 (commit f9ff692), before the restructuring of the package (issue
10): a compiled model with the exact log-likelihoods it gave then.
`tests/fixtures/make_seeded_training.py` records the weights and optimizer
slots of short seeded runs of `fit` and `Trainer` (made by 0.1.0 first;
renewed for issue 28, whose exact Bernoulli draw changed every sample).
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm.training import TrainConfig, Trainer

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def test_keras_file_of_v0_1_0_loads_with_the_same_exact_log_likelihood():
    expected = np.load(os.path.join(FIXTURES, "hm_v0_1_0_expected.npz"))
    model = keras.models.load_model(os.path.join(FIXTURES, "hm_v0_1_0.keras"))
    assert isinstance(model, tfhm.HelmholtzMachine)
    assert model.latent_dims == (5, 3) and model.hidden_units == (8,)
    assert model.num_samples == 4  # the compile config came back too
    got = model.exact_log_likelihood(expected["x"]).numpy()
    # Same weights, same enumeration: equal up to float32 summation order.
    np.testing.assert_allclose(got, expected["exact_log_likelihood"], rtol=0, atol=1e-5)


def _state(model):
    values = [v.numpy() for v in model.weights]
    values += [v.numpy() for v in model.wake_optimizer.variables]
    values += [v.numpy() for v in model.sleep_optimizer.variables]
    return values


def _expected(prefix):
    saved = np.load(os.path.join(FIXTURES, "seeded_training.npz"))
    keys = sorted((k for k in saved.files if k.startswith(prefix + "__")),
                  key=lambda k: int(k.rsplit("__", 1)[1]))
    return [saved[k] for k in keys]


@pytest.mark.skipif(tf.__version__ != "2.21.0",
                    reason="bitwise results are recorded for TensorFlow 2.21.0")
@pytest.mark.parametrize("algorithm", ["reweighted_wake_sleep", "wake_sleep"])
def test_seeded_training_is_bitwise_as_recorded(algorithm):
    x_train, _ = tfhm.datasets.load_digits()
    k = 3 if algorithm != "wake_sleep" else 1
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6, 4), hidden_units=(10,), seed=3)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
               sleep_optimizer=keras.optimizers.Adam(2e-2),
               algorithm=algorithm, num_samples=k)
    hm.fit(x_train[:300], batch_size=50, epochs=2, shuffle=False, verbose=0)
    by_loop = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6, 4), hidden_units=(10,), seed=3)
    config = TrainConfig(algorithm=algorithm, num_samples=k, batch_size=50, epochs=2,
                         lr_wake=1e-2, lr_sleep=2e-2, shuffle=True,
                         eval_max_examples=0, seed=5)
    Trainer(by_loop, config, verbose=0).fit(x_train[:300])
    for name, model in (("fit", hm), ("trainer", by_loop)):
        expected = _expected(f"{name}_{algorithm}")
        got = _state(model)
        assert len(got) == len(expected)
        for u, v in zip(got, expected):
            np.testing.assert_array_equal(u, v)
