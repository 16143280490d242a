"""Log-likelihoods of a Helmholtz machine: exact, importance-sampled, bounds.

- `exact_log_likelihood`: lesson eq. 3, `log p(x) = log sum_z p(x | z) p(z)`,
  summed over all `2**sum(latent_dims)` latent states in chunks.
- `chunked_log_weight_reduction`: the ELBO (eq. 9-10, mean of log-weights) and
  the importance-sampled log-likelihood `log mean_k w_k` (Burda et al. 2016),
  over K draws of q in chunks so that large K fits in memory.
- `exact_posterior_kl`: KL(q(z|x) || p(z|x)) by enumeration, the gap between
  the log-likelihood and the ELBO (eq. 8).

#### References

[1]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
"""

import math

import tensorflow as tf

from tfhm import objectives
from tfhm.layers import bernoulli_log_prob_all_pairs

__all__ = [
    "MAX_EXACT_LATENT_BITS",
    "check_enumerable",
    "chunked_log_weight_reduction",
    "enumerate_latents",
    "exact_log_likelihood",
    "exact_posterior_kl",
    "log_mean_exp",
]

# 2**24 = 16.8M latent states; 20 bits take seconds on a laptop CPU.
MAX_EXACT_LATENT_BITS = 24

# Elements of the largest [samples, batch, width] tensor of one chunk of the
# importance-sampled estimates: 2**24 float32 = 64 MB per tensor.
_ELEMENTS_PER_CHUNK = 2**24
_EXAMPLES_PER_CHUNK = 256
_STATES_PER_CHUNK = 2**14


def log_mean_exp(values, axis):
    """`log mean(exp(values))` along `axis`, computed stably."""
    count = tf.cast(tf.shape(values)[axis], values.dtype)
    return tf.reduce_logsumexp(values, axis=axis) - tf.math.log(count)


def check_enumerable(latent_dims):
    """Raises ValueError if `sum(latent_dims)` exceeds `MAX_EXACT_LATENT_BITS`."""
    bits = sum(latent_dims)
    if bits > MAX_EXACT_LATENT_BITS:
        raise ValueError(
            f"Exact enumeration of the latent space is limited to "
            f"MAX_EXACT_LATENT_BITS={MAX_EXACT_LATENT_BITS} latent bits "
            f"(2**{MAX_EXACT_LATENT_BITS} states). Received: latent_dims="
            f"{tuple(latent_dims)} with {bits} bits, 2**{bits} states. Use "
            "`log_likelihood(x, num_samples=...)`, the importance-sampled "
            "estimate, instead.")


def enumerate_latents(latent_dims, start, count):
    """Latent states `start .. start + count - 1` in binary, split per layer.

    State `s` sets bit `i` of the concatenated latents `[z_1, ..., z_L]` to
    `(s >> i) & 1`.

    Returns:
      A list of float32 `[count, d_l]`, bottom to top.
    """
    bits = sum(latent_dims)
    ids = tf.range(start, start + count, dtype=tf.int64)
    shifts = tf.range(bits, dtype=tf.int64)
    states = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(ids[:, tf.newaxis], shifts[tf.newaxis, :]), 1)
    return tf.split(tf.cast(states, tf.float32), list(latent_dims), axis=1)


@tf.function(reduce_retracing=True)
def _exact_log_joint_chunk(generator, x, start, count):
    """`log p(x_i, z_j)` for a chunk of latent states, float32 `[batch, count]`."""
    latents = enumerate_latents(generator.latent_dims, start, count)
    log_prior = generator.log_prob_latents(latents)  # [count]
    x_logits = generator.conditionals[0].compute_logits(latents[0])  # [count, D]
    return bernoulli_log_prob_all_pairs(x, x_logits) + log_prior[tf.newaxis, :]


def exact_log_likelihood(generator, x):
    """`log p(x)` by enumerating every latent state (lesson eq. 3).

    Args:
      generator: a `tfhm.Generator` with at most `MAX_EXACT_LATENT_BITS`
        latent bits.
      x: float32 `[batch, data_dim]` of zeros and ones.

    Returns:
      float32 `[batch]`, nats.
    """
    check_enumerable(generator.latent_dims)
    num_states = 2**sum(generator.latent_dims)
    count = min(num_states, _STATES_PER_CHUNK)
    results = []
    for row in range(0, int(x.shape[0]), _EXAMPLES_PER_CHUNK * 4):
        x_rows = x[row:row + _EXAMPLES_PER_CHUNK * 4]
        partial = [
            tf.reduce_logsumexp(_exact_log_joint_chunk(
                generator, x_rows, tf.constant(start, tf.int64),
                tf.constant(count, tf.int64)), axis=1)
            for start in range(0, num_states, count)]
        results.append(tf.reduce_logsumexp(tf.stack(partial), axis=0))
    return tf.concat(results, axis=0)


def exact_posterior_kl(generator, recognizer, x):
    """`KL(q(z|x) || p(z|x))` per example by enumeration (lesson eq. 7).

    Equals `log p(x) - ELBO(x)` (eq. 8). Holds all `2**bits` states at once:
    meant for small models (teaching, tests).

    Returns:
      float32 `[batch]`, nats.
    """
    check_enumerable(generator.latent_dims)
    num_states = 2**sum(generator.latent_dims)
    latents = [z[:, tf.newaxis, :] for z in
               enumerate_latents(generator.latent_dims, 0, num_states)]
    log_joint = generator.log_prob(x, latents)  # [states, batch]
    log_q = recognizer.log_prob(x, latents)  # [states, batch]
    log_posterior = log_joint - tf.reduce_logsumexp(log_joint, axis=0)
    return tf.reduce_sum(tf.exp(log_q) * (log_q - log_posterior), axis=0)


@tf.function(reduce_retracing=True)
def _log_weights_chunk(generator, recognizer, x, num_samples, seed):
    return objectives.log_importance_weights(
        generator, recognizer, x, num_samples, seed)[0]


def chunked_log_weight_reduction(model, x, num_samples, seed, reduction):
    """Reduces K log-weights per example without holding all K at once.

    Args:
      model: a `tfhm.HelmholtzMachine` (its generator and recognizer are used).
      x: float32 `[batch, data_dim]`.
      num_samples: K, a Python int.
      seed: int32 `[2]`; chunk i uses `fold_in(seed, i)`.
      reduction: "mean" (the ELBO estimate) or "log_mean_exp" (the
        importance-sampled log-likelihood).

    Returns:
      float32 `[batch]`.
    """
    width = max((model.data_dim,) + model.latent_dims + model.hidden_units)
    results = []
    for row in range(0, int(x.shape[0]), _EXAMPLES_PER_CHUNK):
        x_rows = x[row:row + _EXAMPLES_PER_CHUNK]
        per_chunk = max(1, _ELEMENTS_PER_CHUNK // (int(x_rows.shape[0]) * width))
        row_seed = tf.random.experimental.stateless_fold_in(seed, row)
        partial = []
        for i, start in enumerate(range(0, num_samples, per_chunk)):
            log_w = _log_weights_chunk(
                model.generator, model.recognizer, x_rows,
                min(per_chunk, num_samples - start),
                tf.random.experimental.stateless_fold_in(row_seed, i))
            if reduction == "mean":
                partial.append(tf.reduce_sum(log_w, axis=0))
            else:
                partial.append(tf.reduce_logsumexp(log_w, axis=0))
        partial = tf.stack(partial)
        if reduction == "mean":
            results.append(tf.reduce_sum(partial, axis=0) / num_samples)
        else:
            results.append(tf.reduce_logsumexp(partial, axis=0)
                           - math.log(num_samples))
    return tf.concat(results, axis=0)
