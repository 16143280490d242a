"""Gradient variance and signal-to-noise ratio of an estimator, at the current weights.

For one batch x, an estimator's gradient estimate g (of the batch-mean loss,
one vector per network) is a random vector over the draws. This module
draws many estimates at once and summarizes them per network:

  variance = sum_i Var[g_i]            (= E ||g - E g||^2, trace of Cov g)
  snr      = mean_i |E g_i| / sd(g_i)  (Rainforth et al. 2018, per weight)

`tfhm.diagnostics` re-exports `gradient_variance`.

#### References

[1]: Rainforth, T., Kosiorek, A. R., Le, T. A., Maddison, C. J., Igl, M.,
     Wood, F. & Teh, Y. W. Tighter variational bounds are not necessarily
     better. ICML (2018).
[2]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
     objectives. ICML (2016).
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from tfhm import _checks, _graph, _seeds
from tfhm.estimators.base import Estimator, get

__all__ = ["gradient_estimates", "gradient_variance"]

# Values (float32) a block of vectorized estimates may hold at once.
_MAX_BLOCK_VALUES = 2**24  # 64 MB


def _networks(model_or_networks) -> tuple:
    if isinstance(model_or_networks, (tuple, list)) and len(model_or_networks) == 2:
        return tuple(model_or_networks)
    if hasattr(model_or_networks, "generator") and hasattr(model_or_networks,
                                                           "recognizer"):
        return model_or_networks.generator, model_or_networks.recognizer
    raise ValueError("Expected a HelmholtzMachine or a (generator, recognizer) "
                     f"pair. Received: {model_or_networks!r}")


def _flat(gradients, variables):
    return tf.concat([tf.zeros([int(np.prod(v.shape))]) if g is None
                      else tf.reshape(g, [-1]) for g, v in zip(gradients, variables)],
                     axis=0)


# The traced estimate functions, per estimator instance, then per networks and
# K: a Trainer that logs the variance every epoch (always `hm.estimator`)
# traces once per batch shape, not once per epoch. A function holds its
# networks, so their ids stay valid as long as the entry lives, and the entry
# lives as long as the estimator.
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _estimates_fn(generator, recognizer, estimator, num_samples):
    """A `tf.function` `(x, seeds [n, 2])` -> n flat estimates per network."""
    cache = _FUNCTIONS.setdefault(estimator, {})
    key = (id(generator), id(recognizer), int(num_samples))
    if key not in cache:
        cache[key] = _trace_estimates(generator, recognizer, estimator, num_samples)
    return cache[key]


def _trace_estimates(generator, recognizer, estimator, num_samples):
    def one(x, seed):
        with tf.GradientTape(persistent=True) as tape:
            estimate = estimator(generator, recognizer, x, num_samples, seed,
                                 update_state=False)
        result = (_flat(tape.gradient(estimate.generator_loss,
                                      generator.trainable_variables),
                        generator.trainable_variables),
                  _flat(tape.gradient(estimate.recognizer_loss,
                                      recognizer.trainable_variables),
                        recognizer.trainable_variables))
        del tape
        return result

    @_graph.function(reduce_retracing=True)
    def estimates(x, seeds):
        # Stateless draws from per-seed keys have no vectorized kernel:
        # pfor runs those few ops in a loop and vectorizes the rest.
        return tf.vectorized_map(lambda seed: one(x, seed), seeds,
                                 fallback_to_while_loop=True, warn=False)

    return estimates


def gradient_estimates(model_or_networks, x, estimator: Estimator,
                       num_samples: int, num_seeds: int, seed) -> dict:
    """`num_seeds` gradient estimates of the batch-mean losses, one per seed.

    Vectorized over the seeds `tfhm._seeds.split(seed, num_seeds)` by
    `tf.vectorized_map`: estimate i is what a training step seeded with
    seed i would use. The estimator's state is not updated.

    Args:
      model_or_networks: a `HelmholtzMachine` or `(generator, recognizer)`.
      x: float32 `[batch, data_dim]` of zeros and ones.
      estimator: an `Estimator` instance (built if it has state).
      num_samples: K.
      num_seeds: how many estimates.
      seed: int32 `[2]` stateless seed.

    Returns:
      A dict `generator`, `recognizer` of float32 NumPy arrays
      `[num_seeds, num_weights]`: the estimates of the gradient of each
      network's loss (the NEGATED objective), the weights flattened in the
      order of `trainable_variables`.
    """
    generator, recognizer = _networks(model_or_networks)
    fn = _estimates_fn(generator, recognizer, estimator, num_samples)
    gen, rec = fn(tf.convert_to_tensor(x, tf.float32), _seeds.split(seed, num_seeds))
    return {"generator": gen.numpy(), "recognizer": rec.numpy()}


def gradient_variance(model_or_networks, x, estimator: str | Estimator | None = None,
                      num_samples: int | None = None, num_seeds: int = 100,
                      seed=0) -> dict:
    """Per-network variance and signal-to-noise ratio of an estimator's gradients.

    At the current weights, on one batch x, from `num_seeds` independent
    estimates (as `gradient_estimates` draws them, in blocks of ~64 MB).

    Args:
      model_or_networks: a `HelmholtzMachine` or `(generator, recognizer)`.
      x: `[batch, data_dim]` of 0/1 values.
      estimator: a registered name (a fresh instance with default options;
        a fresh NVIL baseline is untrained), an `Estimator` instance, or None
        for a compiled model's own (`hm.estimator`, its state included).
      num_samples: K; default the compiled model's K when `estimator` is
        None, else the estimator's default.
      num_seeds: how many estimates, >= 2.
      seed: an int or an int32 `[2]` stateless seed; seeds the draws.

    Returns:
      A dict `generator`, `recognizer`, each a dict of floats: `variance`
      (sum over weights of the estimates' variance), `snr` (mean over the
      weights with nonzero variance of |mean| / standard deviation),
      `mean_norm` (norm of the mean estimate) and `num_weights`.

    Raises:
      ValueError: an unknown estimator name, a bad K, num_seeds < 2, or no
        estimator with an uncompiled model or a pair of networks.

    #### Examples

    ```python
    import tfhm
    from tfhm import estimators
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    stats = estimators.gradient_variance(hm, x[:20], "vimco", num_samples=4,
                                         num_seeds=50)
    assert stats["recognizer"]["variance"] > 0
    ```
    """
    if estimator is None:
        estimator = getattr(model_or_networks, "estimator", None)
        if estimator is None:
            raise ValueError("gradient_variance needs an estimator: a compiled "
                             "HelmholtzMachine or `estimator=NAME`. Received: "
                             f"estimator=None with {model_or_networks!r}")
        if num_samples is None:
            num_samples = model_or_networks.num_samples
    elif isinstance(estimator, str):
        estimator = get(estimator)()
    num_samples = estimator.check_num_samples(num_samples)
    num_seeds = _checks.positive_int("num_seeds", num_seeds)
    if num_seeds < 2:
        raise ValueError(f"`num_seeds` must be >= 2 for a variance. "
                         f"Received: num_seeds={num_seeds!r}")
    generator, recognizer = _networks(model_or_networks)
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    estimator.build(generator.data_dim, seed=None)
    weights = sum(int(np.prod(v.shape)) for v in
                  generator.trainable_variables + recognizer.trainable_variables)
    # Per seed: its gradients and (roughly) its activations and their
    # gradients, [K, batch, units] for every layer of both networks.
    per_seed = weights + 4 * num_samples * int(x.shape[0]) * (
        generator.data_dim + sum(generator.latent_dims))
    block = max(1, min(num_seeds, _MAX_BLOCK_VALUES // per_seed))
    fn = _estimates_fn(generator, recognizer, estimator, num_samples)
    seeds = _seeds.split(_seeds.to_stateless(seed, seed_generator=None),
                         -(-num_seeds // block) * block)
    sums, squares = {}, {}
    for start in range(0, num_seeds, block):
        count = min(block, num_seeds - start)
        block_estimates = fn(x, seeds[start:start + block])  # same shapes: one trace
        for name, g in zip(("generator", "recognizer"), block_estimates):
            g = g.numpy()[:count].astype(np.float64)
            sums[name] = sums.get(name, 0.0) + g.sum(axis=0)
            squares[name] = squares.get(name, 0.0) + np.square(g).sum(axis=0)
    return {name: _summary(sums[name], squares[name], num_seeds) for name in sums}


def _summary(total, total_sq, n) -> dict:
    mean = total / n
    var = np.maximum(total_sq / n - np.square(mean), 0.0) * n / (n - 1)
    moving = var > 0
    snr = np.abs(mean[moving]) / np.sqrt(var[moving])
    return {"variance": float(var.sum()),
            "snr": float(snr.mean()) if snr.size else float("nan"),
            "mean_norm": float(np.linalg.norm(mean)),
            "num_weights": int(mean.size)}
