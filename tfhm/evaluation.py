"""Log-likelihoods of a Helmholtz machine: exact, importance-sampled, bounds.

- `exact_log_likelihood`: `log p(x) = log sum_z p(x | z) p(z)`,
  summed over all `2**sum(latent_dims)` latent states in chunks.
- `importance_sampled`: the ELBO (mean of the log-weights) and the
  importance-sampled log-likelihood `log mean_k w_k` (Burda et al. 2016)
  with the effective sample size, over K draws of q in blocks so that large
  K fits in memory: the one importance-sampling path of tfhm.
- `exact_posterior_kl`: KL(q(z|x) || p(z|x)) by enumeration, the gap between
  the log-likelihood and the ELBO (`log p(x) = ELBO(x) + KL`).
- `evaluate_examples`: a test-set evaluation with error bars: the
  per-example estimates of `importance_sampled`, their means and the
  standard errors of those means (`mean_and_standard_error`), with an
  optional progress bar. `tfhm evaluate` prints its numbers.

#### References

[1]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfhm import _checks, _graph, _seeds, objectives
from tfhm._math import log_mean_exp
from tfhm.layers import bernoulli_log_prob_all_pairs

__all__ = [
    "MAX_EXACT_LATENT_BITS",
    "ELEMENTS_PER_CHUNK",
    "block_estimates",
    "block_rows",
    "check_enumerable",
    "enumerate_latents",
    "evaluate_examples",
    "exact_log_likelihood",
    "exact_posterior_kl",
    "importance_sampled",
    "log_mean_exp",
    "mean_and_standard_error",
    "samples_per_chunk",
]

# 2**24 = 16.8M latent states; 20 bits take seconds on a laptop CPU.
MAX_EXACT_LATENT_BITS = 24

# The one memory budget of the importance-sampled estimates and diagnostics:
# elements of the largest [samples, rows, width] tensor of one chunk,
# 2**23 float32 = 32 MB per tensor.
ELEMENTS_PER_CHUNK = 2**23
_EXAMPLES_PER_CHUNK = 256
_STATES_PER_CHUNK = 2**14


def check_enumerable(latent_dims) -> None:
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


def enumerate_latents(latent_dims, start, count) -> list:
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


@_graph.function(reduce_retracing=True)
def _exact_log_joint_chunk(generator, x, start, count):
    """`log p(x_i, z_j)` for a chunk of latent states, float32 `[batch, count]`."""
    latents = enumerate_latents(generator.latent_dims, start, count)
    log_prior = generator.log_prob_latents(latents)  # [count]
    pixels = generator.conditionals[0]
    if pixels.factorized:  # one [batch, D] @ [D, count] product
        log_px = bernoulli_log_prob_all_pairs(x, pixels.compute_logits(latents[0]))
    else:  # p(x | z_1) scored for every pair: [batch, count]
        log_px = pixels.log_prob(latents[0][tf.newaxis], x[:, tf.newaxis])
    return log_px + log_prior[tf.newaxis, :]


def exact_log_likelihood(generator, x: tf.Tensor) -> tf.Tensor:
    """`log p(x)` by enumerating every latent state.

    Args:
      generator: a `tfhm.Generator` with at most `MAX_EXACT_LATENT_BITS`
        latent bits.
      x: float32 `[batch, data_dim]` of zeros and ones.

    Returns:
      float32 `[batch]`, nats.
    """
    check_enumerable(generator.latent_dims)
    num_states = 2**sum(generator.latent_dims)
    rows = _EXAMPLES_PER_CHUNK * 4
    count = min(num_states, _STATES_PER_CHUNK)
    if not generator.conditionals[0].factorized:
        # Scored pair by pair, [rows, count, D] per chunk: at most 2^23 values.
        count = min(count, max(1, 2**23 // (rows * generator.data_dim)))
    results = []
    for row in range(0, int(x.shape[0]), rows):
        x_rows = x[row:row + rows]
        partial = [
            tf.reduce_logsumexp(_exact_log_joint_chunk(
                generator, x_rows, tf.constant(start, tf.int64),
                tf.constant(count, tf.int64)), axis=1)
            for start in range(0, num_states, count)]
        results.append(tf.reduce_logsumexp(tf.stack(partial), axis=0))
    return tf.concat(results, axis=0)


def exact_posterior_kl(generator, recognizer, x: tf.Tensor) -> tf.Tensor:
    """`KL(q(z|x) || p(z|x))` per example by enumeration.

    Equals `log p(x) - ELBO(x)`. Holds all `2**bits` states at once:
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


# ------------------------------------------------- importance sampling
@_graph.function(reduce_retracing=True)
def _chunk_sums(generator, recognizer, x, num_samples, seed):
    """Sufficient statistics of K draws: `sum log w`, `lse log w`, `lse 2 log w`."""
    log_w = objectives.log_importance_weights(
        generator, recognizer, x, num_samples, seed)[0]  # [K, rows]
    return (tf.reduce_sum(log_w, axis=0), tf.reduce_logsumexp(log_w, axis=0),
            tf.reduce_logsumexp(2.0 * log_w, axis=0))


def _width(model) -> int:
    return max((model.data_dim,) + model.latent_dims + model.hidden_units)


def samples_per_chunk(model, num_samples: int) -> int:
    """Draws of q per example taken at once: all K if one example's K fit.

    A function of the model and K only (never of the batch), so that a block
    is drawn the same way wherever it is evaluated.
    """
    return max(1, min(num_samples, ELEMENTS_PER_CHUNK // _width(model)))


def block_rows(model, num_samples: int) -> int:
    """Examples per block of `importance_sampled` (the one memory budget).

    The largest tensor of a block, `[K, rows, width]` with `width` the widest
    layer, stays within `ELEMENTS_PER_CHUNK` floats; at least one row.
    """
    return max(1, ELEMENTS_PER_CHUNK // (num_samples * _width(model)))


def block_estimates(model, x: tf.Tensor, num_samples: int,
                    seed: tf.Tensor) -> dict:
    """ELBO, importance-sampled log-likelihood and ESS of one block of examples.

    The K draws are taken `samples_per_chunk(model, K)` at a time: with one
    chunk, with `seed` itself; with several, chunk c with
    `stateless_fold_in(seed, c)` (`_seeds.part(seed, c, chunks)`).
    Graph-safe (`test_step` calls it).

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: float32 `[rows, data_dim]` of zeros and ones.
      num_samples: K, a Python int.
      seed: int32 `[2]`, the block's stateless seed.

    Returns:
      A dict of float32 `[rows]` tensors: `elbo` (`mean_k log w_k`),
      `log_likelihood` (`log mean_k w_k`) and `ess` (Kish's
      `(sum_k w_k)**2 / sum_k w_k**2`).
    """
    per_chunk = samples_per_chunk(model, num_samples)
    starts = range(0, num_samples, per_chunk)
    sums = [_chunk_sums(model.generator, model.recognizer, x,
                        min(per_chunk, num_samples - start),
                        _seeds.part(seed, c, len(starts)))
            for c, start in enumerate(starts)]
    total, lse, lse2 = (tf.stack(parts) for parts in zip(*sums))  # [chunks, rows]
    lse = tf.reduce_logsumexp(lse, axis=0)
    return {"elbo": tf.reduce_sum(total, axis=0) / num_samples,
            "log_likelihood": lse - math.log(num_samples),
            "ess": tf.exp(2.0 * lse - tf.reduce_logsumexp(lse2, axis=0))}


def importance_sampled(model, x, num_samples: int, seed=None, *,
                       rows_per_block: int | None = None,
                       on_block: Callable[[int, int, dict], None] | None = None
                       ) -> dict:
    """THE importance-sampled estimates of tfhm, per example, in blocks.

    Every importance-sampled number of tfhm comes from here (or, inside
    `HelmholtzMachine.test_step`, from `block_estimates` with the same
    seeds): `hm.log_likelihood`, `hm.elbo`, `hm.evaluate(..., seed=s)`,
    `tfhm.diagnostics.importance_summary` and `tfhm evaluate --seed s`.

    Seeding: `seed` becomes an int32 `[2]` stateless seed `S` as every
    `seed=` of tfhm does (`tfhm._seeds.to_stateless`: None draws the model's
    seed generator, an int `s` is `[s, 0]`). The examples are cut into
    consecutive blocks of `block_rows(model, K)` rows (the memory budget);
    block j is drawn with `_seeds.block(S, j)` (`stateless_fold_in(S, j)`)
    by `block_estimates`, as `evaluate(x, seed=...)` draws it.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[n, data_dim]` of 0/1 values (array-like or tensor).
      num_samples: K, draws of q per example.
      seed: None, an int, or an int tensor `[2]`.
      rows_per_block: overrides `block_rows` (tests, memory experiments);
        other values give other (equally valid) draws.
      on_block: called after each block as `on_block(done, total, parts)`
        (blocks done, blocks in all, the dict of per-block NumPy arrays so
        far), e.g. to update a progress bar.

    Returns:
      A dict of float32 NumPy arrays `[n]`: `elbo`, `log_likelihood`, `ess`.

    Raises:
      ValueError: bad data (not 0/1, wrong shape), K < 1, a bad seed.

    #### Examples

    ```python
    import tfhm
    from tfhm import evaluation
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    out = evaluation.importance_sampled(hm, x[:20], num_samples=50, seed=3)
    assert out["log_likelihood"].shape == (20,)
    assert (out["log_likelihood"] >= out["elbo"]).all()
    ```
    """
    x = _checks.binary_array(x, model.data_dim)
    num_samples = _checks.positive_int("num_samples", num_samples,
                                       upper=_checks.INT32_MAX)
    seed = _seeds.to_stateless(seed, model.seed_generator)
    rows = (block_rows(model, num_samples) if rows_per_block is None
            else _checks.positive_int("rows_per_block", rows_per_block))
    parts = {"elbo": [], "log_likelihood": [], "ess": []}
    starts = range(0, len(x), rows)
    for j, start in enumerate(starts):
        block = block_estimates(
            model, tf.constant(x[start:start + rows]), num_samples,
            _seeds.block(seed, j))
        for key in parts:
            parts[key].append(block[key].numpy())
        if on_block is not None:
            on_block(j + 1, len(starts), parts)
    return {key: np.concatenate(value).astype(np.float32)
            for key, value in parts.items()}


# ------------------------------------------------ test-set evaluation
ESTIMATES = ("elbo", "log_likelihood", "ess")


def mean_and_standard_error(values) -> tuple[float, float]:
    """The mean of per-example values and the standard error of that mean.

    `standard_error = std(values, ddof=1) / sqrt(n)`: the spread that the
    mean of n examples drawn from the same data distribution would have
    (for Monte Carlo estimates, the per-example draws' noise included). With
    one example the standard error is NaN.

    Args:
      values: array-like `[n]`, n >= 1.

    Returns:
      `(mean, standard_error)` as Python floats.

    Raises:
      ValueError: an empty or non-1-D `values`.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("`values` must be a non-empty 1-D array of per-example "
                         f"values. Received: values.shape={values.shape}")
    if values.size == 1:
        return float(values[0]), float("nan")
    return (float(values.mean()),
            float(values.std(ddof=1) / math.sqrt(values.size)))


def evaluate_examples(model, x, num_samples: int = 1000, seed=None, *,
                      progress: bool | str = False,
                      rows_per_block: int | None = None) -> dict:
    """A test-set evaluation with error bars: per-example estimates and their means.

    The per-example numbers are those of `importance_sampled(model, x, K,
    seed)` (the same seed, the same draws as `hm.log_likelihood` and
    `tfhm evaluate --seed`); each mean comes with its standard error over
    the examples (`mean_and_standard_error`), as papers report
    "-92.16 +- 0.54 nats".

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[n, data_dim]` of 0/1 values, e.g. the test split.
      num_samples: K, draws of q per example (1000 by default).
      seed: None, an int in [0, 2**31), or an int tensor `[2]`.
      progress: True, False, or "auto" (only when stderr is a terminal): a
        progress bar on stderr, one step per block of examples, with the
        running means (`tfhm.progress.ProgressBar`).
      rows_per_block: as `importance_sampled`.

    Returns:
      A dict:
        `per_example`: `{"elbo", "log_likelihood", "ess"}` float32 `[n]`;
        `mean`, `standard_error`: the same keys, Python floats;
        `num_examples` (n) and `num_samples` (K).

    Raises:
      ValueError: as `importance_sampled`, or a `progress` other than True,
        False and "auto".

    #### Examples

    ```python
    import tfhm
    from tfhm import evaluation
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    result = evaluation.evaluate_examples(hm, x[:50], num_samples=20, seed=0)
    mean, error = result["mean"]["log_likelihood"], result["standard_error"]["log_likelihood"]
    print(f"{mean:.2f} +- {error:.2f} nats")
    assert result["per_example"]["log_likelihood"].shape == (50,)
    ```
    """
    from tfhm.progress import ProgressBar

    if progress not in (True, False, "auto"):
        raise ValueError("`progress` must be True, False or \"auto\". "
                         f"Received: progress={progress!r}")
    bar: list = []  # made once the number of blocks is known

    def on_block(done: int, total: int, parts: dict) -> None:
        if not bar:
            bar.append(ProgressBar(total, f"evaluate K={num_samples}",
                                   enabled=progress))
        bar[0].update(done, lambda: {key: float(np.concatenate(parts[key]).mean())
                                     for key in ("elbo", "log_likelihood")})

    try:
        per_example = importance_sampled(model, x, num_samples, seed,
                                         rows_per_block=rows_per_block,
                                         on_block=on_block)
    finally:
        if bar:
            bar[0].close()
    summary = {key: mean_and_standard_error(per_example[key]) for key in ESTIMATES}
    return {"per_example": per_example,
            "mean": {key: value[0] for key, value in summary.items()},
            "standard_error": {key: value[1] for key, value in summary.items()},
            "num_examples": len(per_example["elbo"]), "num_samples": int(num_samples)}
