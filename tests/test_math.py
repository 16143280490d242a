"""tfhm._math: the one log-mean-exp and the one effective sample size, against NumPy."""

import numpy as np
import tensorflow as tf
from scipy.special import logsumexp

from tfhm import _math, evaluation, objectives

RNG = np.random.default_rng(0)
# Log-weights far from 0 (as a real model's are, around -40 nats per digit):
# a naive log(mean(exp(.))) would underflow to -inf.
LOG_W = (RNG.normal(0.0, 3.0, (7, 5)) - 900.0).astype(np.float32)  # [K, batch]
# The references in float64 (float32 rounding of a log-sum-exp near -900 is
# 6e-5, above the tolerances below).
LOG_W64 = LOG_W.astype(np.float64)
W = np.exp(LOG_W64 - logsumexp(LOG_W64, axis=0))  # normalized per example


def test_log_mean_exp_matches_numpy_on_either_axis():
    for axis in (0, 1):
        expected = logsumexp(LOG_W64, axis=axis) - np.log(LOG_W.shape[axis])
        got = _math.log_mean_exp(tf.constant(LOG_W), axis=axis).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    # The public names are this function, not copies of it.
    assert evaluation.log_mean_exp is _math.log_mean_exp


def test_log_mean_exp_is_differentiable():
    values = tf.Variable(LOG_W)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(_math.log_mean_exp(values))
    # d/dv_k log mean_j exp(v_j) = the normalized weight of k.
    np.testing.assert_allclose(tape.gradient(total, values).numpy(), W, rtol=1e-5)


def test_effective_sample_size_matches_kish():
    np.testing.assert_allclose(_math.effective_sample_size(tf.constant(LOG_W)).numpy(),
                               1.0 / (W ** 2).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        _math.effective_sample_size(tf.constant(LOG_W.T), axis=1).numpy(),
        1.0 / (W ** 2).sum(axis=0), rtol=1e-5)
    equal = _math.effective_sample_size(tf.fill([7, 3], -5.0)).numpy()
    np.testing.assert_allclose(equal, 7.0, rtol=1e-6)  # equal weights: K
    one = _math.effective_sample_size(tf.constant([[0.0], [-200.0], [-300.0]])).numpy()
    np.testing.assert_allclose(one, 1.0, rtol=1e-6)  # one weight carries all: 1
    assert objectives.effective_sample_size is _math.effective_sample_size


def test_effective_sample_size_passes_no_gradient():
    values = tf.Variable(LOG_W)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(_math.effective_sample_size(values))
    assert tape.gradient(total, values) is None
