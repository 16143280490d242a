"""Training objectives of wake-sleep and reweighted wake-sleep, as plain functions.

The estimators "wake_sleep" and "reweighted_wake_sleep"
(`tfhm.estimators.wake_sleep`) build their losses from `wake_losses` and
`sleep_loss`; `fit`, `train_step` and the Trainer call
`tfhm.estimators.step.compute_gradients`, the one training step of every
estimator. The math of each phase is written once, here.

Notation: x `[batch, data_dim]` data, z = (z_1, ..., z_L) latents from the
layer next to the data up to the top, K = `num_samples` draws of q per
example, `log w_k = log p(x, z_k) - log q(z_k | x)` (Bornschein & Bengio 2015, Section 2).

Wake phase (generator and prior):
  loss_p = - sum_k w~_k log p(x, z_k),  z_k ~ q(z | x)
Recognizer, wake update (reweighted wake-sleep only):
  loss_q_wake = - sum_k w~_k log q(z_k | x)
Recognizer, sleep update ("dreams" z, x ~ p(z, x)):
  loss_q_sleep = - log q(z | x)

For reweighted wake-sleep `w~_k = w_k / sum_j w_j` are the self-normalized
importance weights of ONE example (normalized over its K samples, never over
the batch); for wake-sleep `w~_k = 1 / K` (K = 1 is the classic algorithm).

#### References

[1]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268, 1158-1161 (1995).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
     arXiv:1406.2751.
"""

from __future__ import annotations

import tensorflow as tf

from tfhm import _lazy, _seeds
from tfhm._math import effective_sample_size
from tfhm.algorithms import Algorithm, RecognizerUpdate

__all__ = [
    "Algorithm",
    "RecognizerUpdate",
    "effective_sample_size",
    "importance_weights",
    "log_importance_weights",
    "sleep_loss",
    "split_seed",
    "wake_losses",
]


def split_seed(seed: tf.Tensor, num: int) -> tf.Tensor:
    """`num` independent stateless seeds `[num, 2]` int32 from one seed `[2]`.

    Kept for compatibility: `tfhm._seeds.split`.
    """
    return _seeds.split(seed, num)


def log_importance_weights(generator, recognizer, x: tf.Tensor, num_samples,
                           seed: tf.Tensor) -> tuple:
    """Draws K latents per example from q and returns their log-weights.

    Args:
      generator: a `tfhm.Generator`.
      recognizer: a `tfhm.Recognizer`.
      x: float32 `[batch, data_dim]` of zeros and ones.
      num_samples: K, a Python int.
      seed: int32 `[2]` stateless seed.

    Returns:
      A tuple `(log_w, log_p, log_q, latents)`: `log_w = log_p - log_q`,
      each float32 `[K, batch]`; `latents` the list of samples
      `[K, batch, latent_dims[l]]`, bottom to top. Gradients flow into
      `log_p` (generator) and `log_q` (recognizer), never through samples.
    """
    latents, log_q = recognizer.sample(x, num_samples, seed)
    log_p = generator.log_prob(x, latents)  # [K, batch]
    return log_p - log_q, log_p, log_q, latents


def importance_weights(log_weights: tf.Tensor) -> tf.Tensor:
    """Self-normalized importance weights, per example, without gradient.

    Args:
      log_weights: float32 `[K, batch]`.

    Returns:
      float32 `[K, batch]`; every column (one example's K weights) sums to 1.
      Example j's weights depend on example j alone.
    """
    return tf.stop_gradient(tf.nn.softmax(log_weights, axis=0))


def wake_losses(generator, recognizer, x: tf.Tensor, num_samples: int,
                seed: tf.Tensor, algorithm: Algorithm) -> dict:
    """Per-example wake-phase losses of the generator and the recognizer.

    Args:
      generator, recognizer: the two networks.
      x: float32 `[batch, data_dim]`.
      num_samples: K, a Python int.
      seed: int32 `[2]`.
      algorithm: an `Algorithm`.

    Returns:
      A dict of float32 `[batch]` tensors: `generator` (`-sum_k w~_k log
      p(x, z_k)`), `recognizer` (`-sum_k w~_k log q(z_k|x)`), and the
      diagnostics `elbo` (mean_k log w_k), `ess`.
    """
    log_w, log_p, log_q, _ = log_importance_weights(
        generator, recognizer, x, num_samples, seed)
    if algorithm == Algorithm.REWEIGHTED_WAKE_SLEEP:
        weights = importance_weights(log_w)  # [K, batch]
    else:
        weights = tf.fill(tf.shape(log_w), 1.0 / num_samples)
    return {
        "generator": -tf.reduce_sum(weights * log_p, axis=0),
        "recognizer": -tf.reduce_sum(weights * log_q, axis=0),
        "elbo": tf.reduce_mean(tf.stop_gradient(log_w), axis=0),
        "ess": effective_sample_size(log_w),
    }


def sleep_loss(generator, recognizer, num_dreams, seed: tf.Tensor) -> tf.Tensor:
    """Per-dream sleep-phase loss `-log q(z | x)`, (z, x) ~ p.

    Args:
      num_dreams: how many dreams, a scalar int (usually the batch size).
      seed: int32 `[2]`.

    Returns:
      float32 `[num_dreams]`; gradients reach only the recognizer.
    """
    dream = generator.sample(num_dreams, seed)
    x = tf.stop_gradient(dream["x"])
    latents = [tf.stop_gradient(z) for z in dream["z"]]
    return -recognizer.log_prob(x, latents)


# Names this module no longer has, and what replaces them.
_REMOVED = {
    "compute_gradients": (
        "tfhm.objectives.compute_gradients was removed (a second implementation "
        "of the training step, kept only as the tests' oracle): use "
        "tfhm.estimators.step.compute_gradients(estimator, generator, recognizer, "
        "x, seed, num_samples, ...) with `estimator, num_samples = "
        "tfhm.estimators.step.make(algorithm, num_samples, recognizer_update)`, "
        "the step that fit and the Trainer run."),
}
__getattr__ = _lazy.removed(__name__, _REMOVED)
