"""Tests of tfhm.layers against NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.special import expit

from tfhm import layers

tfd = tfp.distributions


def _np_log_bernoulli(y, logits):
    p = expit(logits)
    return np.sum(y * np.log(p) + (1 - y) * np.log1p(-p), axis=-1)


def test_dense_bernoulli_log_prob_matches_numpy():
    layer = layers.DenseBernoulli(5, hidden_units=(7,), seed=3)
    x = np.random.default_rng(0).integers(0, 2, (11, 4)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 2, (11, 5)).astype(np.float32)
    dist = layer(x)
    (w1, b1), (w2, b2) = [(l.kernel.numpy(), l.bias.numpy())
                          for l in layer.hidden_layers + [layer.logits_layer]]
    logits = np.tanh(x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(dist.log_prob(y).numpy(),
                               _np_log_bernoulli(y, logits), rtol=1e-5, atol=1e-5)
    assert dist.sample(seed=tf.constant([1, 2])).dtype == tf.float32


def test_prior_log_prob_and_batch_shape():
    prior = layers.BernoulliPrior(3, logits_initializer=keras.initializers.Constant(0.7))
    z = np.array([[1, 0, 1], [0, 0, 0]], np.float32)
    dist = prior(tf.zeros([2, 0]))
    assert dist.batch_shape == (2,)
    np.testing.assert_allclose(dist.log_prob(z).numpy(),
                               _np_log_bernoulli(z, np.full(3, 0.7)), rtol=1e-6)


def test_all_pairs_log_prob_matches_tfp():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (6, 9)).astype(np.float32)
    logits = rng.normal(size=(4, 9)).astype(np.float32) * 3
    table = layers.bernoulli_log_prob_all_pairs(x, logits).numpy()
    expected = _np_log_bernoulli(x[:, None, :], logits[None, :, :])
    np.testing.assert_allclose(table, expected, rtol=1e-5, atol=1e-5)


def test_sample_bernoulli_frequencies_and_determinism():
    logits = tf.constant([-2.0, 0.0, 1.5, 80.0, -80.0])
    dist = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), 1)
    n = 100_000
    seed = tf.constant([4, 2])
    samples = layers.sample_bernoulli(dist, seed, sample_shape=(n,)).numpy()
    assert samples.dtype == np.float32 and set(np.unique(samples)) <= {0.0, 1.0}
    p = expit(logits.numpy())
    # Standard error of a frequency is sqrt(p(1-p)/n) <= 0.0016; 5 s.e.
    np.testing.assert_allclose(samples.mean(0), p, atol=5 * 0.5 / np.sqrt(n))
    again = layers.sample_bernoulli(dist, seed, sample_shape=(n,)).numpy()
    np.testing.assert_array_equal(samples, again)
    other = layers.sample_bernoulli(dist, tf.constant([4, 3]), sample_shape=(n,))
    assert not np.array_equal(samples, other.numpy())


def test_layer_configs_round_trip():
    layer = layers.DenseBernoulli(5, hidden_units=(7, 3), activation="relu", seed=1)
    clone = layers.DenseBernoulli.from_config(layer.get_config())
    assert (clone.units, clone.hidden_units, clone.activation, clone.seed) == (5, (7, 3), "relu", 1)
    clone.build((None, 4))
    layer.build((None, 4))
    # Same seed, same initial weights.
    for a, b in zip(layer.weights, clone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    prior = layers.BernoulliPrior.from_config(layers.BernoulliPrior(4).get_config())
    assert prior.units == 4


def test_mixed_precision_keeps_log_densities_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = layers.DenseBernoulli(5, hidden_units=(8,), seed=0)
        dist = layer(tf.ones([3, 4]))
        assert dist.distribution.logits.dtype == tf.float32
        assert dist.log_prob(tf.zeros([3, 5])).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("kwargs, match", [
    ({"units": 0}, "units=0"),
    ({"units": 3, "hidden_units": (4, -1)}, "hidden_units"),
    ({"units": 2.5}, "units=2.5"),
])
def test_bad_layer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.DenseBernoulli(**kwargs)


def test_one_pass_log_prob_equals_tfp_including_extremes():
    logits = tf.constant([[-80.0, -5.0, 0.0, 3.0, 80.0]] * 4)
    dist = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), 1)
    value = tf.constant([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1],
                         [0, 1, 0, 1, 1], [1, 0, 1, 0, 0]], tf.float32)
    ours = layers.bernoulli_log_prob(dist, value).numpy()
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, dist.log_prob(value).numpy(), rtol=1e-6)
    # NumPy reference through log-sigmoids (expit(80) rounds to 1.0).
    l, y = logits.numpy().astype(np.float64), value.numpy()
    reference = np.sum(-y * np.logaddexp(0, -l) - (1 - y) * np.logaddexp(0, l), axis=-1)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
