"""The two reductions of importance weights that tfhm uses everywhere (private).

With K draws and log-weights `log w_k` along one axis:

  log_mean_exp(log w)          = log (1/K) sum_k w_k
                               = logsumexp_k(log w_k) - log K
  effective_sample_size(log w) = 1 / sum_k w~_k**2,   w~_k = w_k / sum_j w_j

the importance-sampled log-likelihood (Burda et al. 2016) and Kish's
effective sample size. Every caller (the estimators, the evaluation, the
inpainting, the exported graphs) uses these two functions; both are built
of core TensorFlow ops only, so a served graph that calls them needs nothing
but TensorFlow.

`evaluation.block_estimates` combines the same two quantities from sums
over chunks of draws (`logsumexp` of the chunks' `logsumexp`s), since its
draws are never in memory at once; tests/test_evaluation.py checks it
against NumPy.

#### References

[1]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
[2]: Kish, L. Survey sampling. Wiley (1965).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["effective_sample_size", "log_mean_exp"]


def log_mean_exp(values: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """`log mean(exp(values))` along `axis`, computed stably.

    Args:
      values: float tensor, e.g. log-weights `[K, batch]`.
      axis: the axis of the draws.

    Returns:
      `values` without `axis`, e.g. `[batch]`; differentiable.
    """
    count = tf.cast(tf.shape(values)[axis], values.dtype)
    return tf.reduce_logsumexp(values, axis=axis) - tf.math.log(count)


def effective_sample_size(log_weights: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """Kish's effective sample size `1 / sum_k w~_k**2` along `axis`, no gradient.

    Args:
      log_weights: float tensor, e.g. `[K, batch]`; the weights are
        normalized along `axis` (per example, never over the batch).

    Returns:
      `log_weights` without `axis`, e.g. `[batch]`, in [1, K].
    """
    weights = tf.nn.softmax(tf.stop_gradient(log_weights), axis=axis)
    return 1.0 / tf.reduce_sum(tf.square(weights), axis=axis)
