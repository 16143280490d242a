"""Tests of tfhm.layers against NumPy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import stats
from scipy.special import expit

from tfhm import _bernoulli, layers

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


# Issue 28: the draw of a unit far in a logit's tail. The old draw compared
# a float32 uniform (grid 2^-23) with sigmoid(logit): a unit at logit -30 came
# on at rate 2^-23 = 1.2e-7 instead of e^-30, and one at +17 never went off.
SATURATED = np.r_[np.full(20, -17.0), np.full(20, 17.0),
                  np.linspace(-30.0, -40.0, 6), np.linspace(30.0, 40.0, 6)]


def _assert_poisson(count, mean, what):
    # Two-sided: a correct sampler fails with probability below 2e-7.
    lo, hi = stats.poisson.ppf(1e-7, mean), stats.poisson.isf(1e-7, mean)
    assert lo <= count <= hi, (what, count, mean, (lo, hi))


@pytest.mark.parametrize("antithetic", [False, True])
def test_sample_bernoulli_is_exact_in_the_tails(antithetic):
    n, chunk = 25_000_000, 1_000_000
    draw = tf.function(lambda seed: tf.reduce_sum(tf.cast(layers.sample_bernoulli_logits(
        SATURATED.astype(np.float32), seed, (chunk,), antithetic=antithetic), tf.int64),
        axis=0))
    ones = sum(draw(tf.constant([i, 7])).numpy() for i in range(n // chunk))  # int64
    rare = np.where(SATURATED < 0, ones, n - ones)
    rate = expit(-np.abs(SATURATED))
    # 20 units at -17 and 20 at +17: 20.7 rare outcomes expected each (the old
    # draw: 59.6 and 0).
    for side in (SATURATED == -17, SATURATED == 17):
        _assert_poisson(rare[side].sum(), n * rate[side].sum(), SATURATED[side][0])
    # |logit| >= 30: n * sum(rate) = 6e-5 expected, so exactly none (the old
    # draw: 18 ones per negative unit).
    far = np.abs(SATURATED) >= 30
    assert n * rate[far].sum() < 1e-4
    np.testing.assert_array_equal(rare[far], 0)


def test_sample_bernoulli_matches_numpy_on_the_same_philox_words():
    # Digit 0 of U is the uint32 Philox word of the seed: z = 1[U < sigmoid(l)]
    # with U in [w / 2^32, (w + 1) / 2^32), decided by w unless the interval
    # straddles sigmoid(l) (probability 2^-32 a unit; none here).
    logits = np.linspace(-12, 12, 97).astype(np.float32)
    seed = tf.constant([3, 9])
    for antithetic in (False, True):
        z = layers.sample_bernoulli_logits(logits, seed, (2000,), antithetic).numpy()
        words = tf.random.stateless_uniform(
            [2000, 97], seed, minval=None, maxval=None, dtype=tf.uint32,
            alg="philox").numpy().astype(np.float64)
        u = (words + 0.5) / 2.0**32
        u = 1.0 - u if antithetic else u
        np.testing.assert_array_equal(z, (u < expit(logits.astype(np.float64))))


@pytest.mark.parametrize("logit", [-25.0, -5.0, 0.0, 5.0, 25.0])
def test_sample_bernoulli_ties_are_decided_by_the_next_digit(logit, monkeypatch):
    # Force U's first digit to equal the threshold, i.e. to the first 32 bits
    # of s = sigmoid(-|l|) (of 1 - s where l >= 0): the rare outcome then has
    # probability frac(2^32 s), decided by the next digits alone.
    s = np.float32(expit(-abs(logit)))
    scaled = np.float64(s) * 2.0**32
    head, rest = np.floor(scaled), scaled - np.floor(scaled)
    threshold = np.uint32(head) if logit < 0 else ~np.uint32(head)
    real = _bernoulli._uniform_digit

    def digit(seed, shape, level):
        if isinstance(level, int) and level == 0:
            return tf.fill(shape, tf.constant(threshold, tf.uint32))
        return real(seed, shape, level)

    monkeypatch.setattr(_bernoulli, "_uniform_digit", digit)
    n = 400_000
    z = layers.sample_bernoulli_logits(tf.constant([logit]), tf.constant([1, 2]),
                                       (n,)).numpy()
    rare = (z == 1) if logit < 0 else (z == 0)
    # s.e. of the frequency sqrt(r(1 - r)/n) <= 7.9e-4; 5 s.e.
    np.testing.assert_allclose(rare.mean(), rest, atol=5 * np.sqrt(rest * (1 - rest) / n)
                               + 1e-12)


@pytest.mark.parametrize("forced_tie", [False, True])
def test_sample_bernoulli_under_vectorized_map_is_the_per_seed_draw(forced_tie,
                                                                      monkeypatch):
    # gradient_estimates vectorizes training steps over seeds with
    # tf.vectorized_map; each seed's draw must be the one a step seeded with it
    # makes, whether no seed ties (the usual case) or some seeds do.
    logits = tf.constant(np.linspace(-30, 30, 11), tf.float32)
    seeds = tf.random.split(tf.constant([5, 6]), 6)
    if forced_tie:  # seed 2's first digits all tie: it alone refines
        real = _bernoulli._uniform_digit

        def digit(seed, shape, level):
            word = real(seed, shape, level)
            if isinstance(level, int) and level == 0:
                s = tf.sigmoid(-tf.abs(logits))
                head = tf.cast(tf.floor(s * 2.0**32), tf.uint32)
                limit = tf.where(logits >= 0, tf.bitwise.invert(head), head)
                hit = tf.reduce_all(tf.equal(seed, seeds[2]))
                return tf.where(hit, tf.broadcast_to(limit, shape), word)
            return word

        monkeypatch.setattr(_bernoulli, "_uniform_digit", digit)

    @tf.function(autograph=False)
    def vectorized(seeds):
        return tf.vectorized_map(
            lambda seed: layers.sample_bernoulli_logits(logits, seed, (3,)), seeds,
            fallback_to_while_loop=True, warn=False)

    looped = np.stack([layers.sample_bernoulli_logits(logits, seed, (3,)).numpy()
                       for seed in seeds])
    np.testing.assert_array_equal(vectorized(seeds).numpy(), looped)


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
