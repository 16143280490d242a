"""The serving graphs of the exported SavedModels and their request checks.

Every function here runs inside a `tf.function` traced for export; the
checks are assertion ops that run before anything large is allocated, so a
bad request fails with an `InvalidArgumentError` saying what was wrong.

Every draw returns the seed it used (`seed` int32 `[2]`, or one `[2]` per
row for the batchable encoder), so a fresh draw can be replayed and audited.
"""

from __future__ import annotations

import tensorflow as tf

from tfhm import inpainting, objectives
from tfhm._math import log_mean_exp

_INT32_MAX = 2**31 - 1


def _check_num_samples(num_samples, max_num_samples, rows_per_sample=None,
                       name="num_samples"):
    """Assertion ops for `1 <= num_samples` and `num_samples * rows <= limit`."""
    requested = tf.cast(num_samples, tf.int64)
    if rows_per_sample is not None:
        requested *= tf.cast(rows_per_sample, tf.int64)
    what = (f"`{name}` * batch size" if rows_per_sample is not None
            else f"`{name}`")
    return [
        tf.debugging.Assert(
            num_samples >= 1,
            [f"`{name}` must be at least 1. Received: {name} =",
             num_samples]),
        tf.debugging.Assert(
            requested <= max_num_samples,
            [f"{what} must be at most max_num_samples = {max_num_samples} "
             "(the limit fixed at export). Received:", requested]),
    ]


def _check_rows(x, max_rows, name):
    """Assertion op: `x` (already of rank 2) has at most `max_rows` rows."""
    rows = tf.shape(x)[0]
    return [tf.debugging.Assert(
        rows <= max_rows,
        [f"`{name}` must have at most max_rows = {max_rows} rows (the limit "
         f"fixed at export). Received: {name} with", rows, "rows"])]


def _check_seed(seed):
    """Assertion op: `seed` is a vector of 2 (a stateless seed) or 0 values."""
    shape = tf.shape(seed)
    ok = tf.logical_and(tf.equal(tf.rank(seed), 1),
                        tf.reduce_any(tf.equal(tf.size(seed), [0, 2])))
    return [tf.debugging.Assert(
        ok, ["`seed` must be an int32 vector of shape [2] (a stateless seed) "
             "or [] (draw a fresh seed). Received: seed of shape", shape])]


def _check_binary(x, width, name):
    """Assertion ops: `x` is `[batch, width]` and holds only 0 and 1."""
    shape = tf.shape(x)
    shape_ok = tf.logical_and(tf.equal(tf.rank(x), 2),  # safe for any rank
                              tf.reduce_all(tf.equal(shape[1:], width)))
    check_shape = tf.debugging.Assert(
        shape_ok,
        [f"`{name}` must have shape [batch, {width}]. Received: {name} of "
         "shape", shape])
    with tf.control_dependencies([check_shape]):
        bad = tf.logical_not(tf.logical_or(tf.equal(x, 0.0), tf.equal(x, 1.0)))
        first = tf.where(bad)[:1]  # [0 or 1, 2]: where the first bad value is
        check_values = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            [f"`{name}` must contain only the values 0 and 1. Received",
             tf.math.count_nonzero(bad), "other values; the first at [row, "
             "column] =", first, "is", tf.gather_nd(x, first)])
    return [check_shape, check_values]


def _ranked(**inputs):
    """The request's tensors, each checked at run time against its spec's rank.

    A loaded signature does not check the shapes of its inputs, and the
    signature's static shape lets `tf.rank` fold to a constant: without this,
    a seed of shape [0, 2] passed every check as "no seed". `EnsureShape`
    fails with "Shape of tensor seed [0,2] is not compatible with expected
    shape [?]".
    """
    ranks = {"seed": [None], "num_samples": [], "num_proposals": []}
    return [tf.ensure_shape(t, ranks.get(name, [None, None]), name=name)
            for name, t in inputs.items()]


def _after(checks, *tensors):
    """`tensors`, passed on only once the assertion ops `checks` have passed.

    Everything computed from the returned tensors waits for the checks, so a
    bad request fails before any allocation that it sized.
    """
    with tf.control_dependencies(checks):
        return [tf.identity(t) for t in tensors]


def _fresh_seeds(shape):
    """int32 seeds from the operating system's entropy, `shape + [2]`.

    `RandomUniformInt` with `seed = seed2 = 0` is seeded from the operating
    system's entropy when its kernel is created and then advances under a
    lock at every call: two calls, two concurrent requests and two freshly
    loaded servers all get different seeds. The raw op is used on purpose:
    `tf.random.uniform` would take its seed from `tf.random.set_seed` of the
    exporting process (Keras' `set_random_seed` sets it), baking one fixed
    stream into the graph; a `tf.random.Generator` restores the same state
    at every load; and the time (`tf.timestamp`) repeats for requests that
    arrive together.
    """
    return tf.raw_ops.RandomUniformInt(
        shape=tf.concat([tf.cast(shape, tf.int32), [2]], 0),
        minval=tf.constant(-_INT32_MAX - 1), maxval=tf.constant(_INT32_MAX),
        seed=0, seed2=0)


def _stateless_seed(seed):
    """The int32 `[2]` stateless seed of a request: `seed`, or a fresh one.

    A fresh seed (`seed = []`) comes from `_fresh_seeds`; the seed used is
    returned to the caller as the output `seed`.
    """
    seed = tf.cond(tf.equal(tf.size(seed), 0),
                   lambda: _fresh_seeds(tf.zeros([0], tf.int32)), lambda: seed)
    return tf.ensure_shape(seed, [2])


def _seed_spec():
    return tf.TensorSpec([None], tf.int32, name="seed")


def _x_spec():
    return tf.TensorSpec([None, None], tf.float32, name="x")


def _num_samples_spec():
    return tf.TensorSpec([], tf.int32, name="num_samples")


# --------------------------------------------------------- serving graphs
def _sample(generator, num_samples, seed, max_num_samples):
    """Ancestral samples `z_L ~ p(z_L), ..., x ~ p(x | z_1)` of a request.

    Args:
      generator: a `tfhm.Generator`.
      num_samples: int32 scalar n, `1 <= n <= max_num_samples`.
      seed: int32 `[2]` for a reproducible draw, `[]` for a fresh one.
      max_num_samples: Python int, the limit fixed at export.

    Returns:
      A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` `[n, data_dim]`,
      `z1` .. `zL` float32 0/1 `[n, d_l]` (bottom to top): exactly
      `generator.sample(n, seed)`; `seed` int32 `[2]`, the seed used (the
      fresh one when `seed` was `[]`).
    """
    num_samples, seed = _ranked(num_samples=num_samples, seed=seed)
    checks = _check_num_samples(num_samples, max_num_samples) + _check_seed(seed)
    num_samples, seed = _after(checks, num_samples, seed)
    seed = _stateless_seed(seed)
    out = generator.sample(num_samples, seed)
    result = {"x": out["x"], "x_probs": out["x_probs"], "seed": seed}
    result.update({f"z{l + 1}": z for l, z in enumerate(out["z"])})
    return result


def _decode(generator, latents, max_rows):
    """Top-down Bernoulli means of given latents, one layer at a time.

    Args:
      generator: a `tfhm.Generator`.
      latents: list of float32 0/1 `[batch, d_l]`, z_1 .. z_L,
        `batch <= max_rows`.
      max_rows: Python int, the limit fixed at export.

    Returns:
      A dict: `x_probs` `[batch, data_dim]` = `p(x = 1 | z_1)` (as
      `Generator.call`), and for l = 1 .. L-1 `zl_probs` `[batch, d_l]` =
      `p(z_l = 1 | z_(l+1))`. Each layer's means depend only on the given
      layer above it, so `decode` of a `sample` output gives back its
      `x_probs`.
    """
    latents = _ranked(**{f"z{l + 1}": z for l, z in enumerate(latents)})
    checks = []
    for l, (z, width) in enumerate(zip(latents, generator.latent_dims)):
        checks += _check_rows(z, max_rows, f"z{l + 1}")
        checks += _check_binary(z, width, f"z{l + 1}")
    latents = _after(checks, *latents)
    return generator.decode(latents)  # x_probs [batch, data_dim], zl_probs [batch, d_l]


def _log_likelihood(generator, recognizer, x, num_samples, seed,
                    max_num_samples):
    """Importance-sampled `log p(x) ~ log mean_k p(x, z_k) / q(z_k | x)`.

    The estimate of `HelmholtzMachine.log_likelihood` (Burda et al. 2016),
    with the K draws of q taken at once rather than in chunks: with a seed,
    `log_mean_exp(objectives.log_importance_weights(..., K, seed)[0])`.

    Args:
      generator, recognizer: the two networks (q is the proposal).
      x: float32 0/1 `[batch, data_dim]`.
      num_samples: int32 scalar K, `K * batch <= max_num_samples`.
      seed: int32 `[2]` or `[]` (fresh).
      max_num_samples: Python int, the limit fixed at export.

    Returns:
      `{"log_likelihood": float32 [batch] nats, "seed": int32 [2] used}`.
    """
    x, num_samples, seed = _ranked(x=x, num_samples=num_samples, seed=seed)
    checks = (_check_binary(x, generator.data_dim, "x") + _check_seed(seed)
              + _check_num_samples(num_samples, max_num_samples,
                                   rows_per_sample=tf.shape(x)[0]))
    x, num_samples, seed = _after(checks, x, num_samples, seed)
    seed = _stateless_seed(seed)
    log_w = objectives.log_importance_weights(  # [K, batch]
        generator, recognizer, x, num_samples, seed)[0]
    return {"log_likelihood": log_mean_exp(log_w, axis=0),
            "seed": seed}


def _checked_x(recognizer, x, max_rows):
    """`x` of a request, passed on once its row cap, shape and values pass."""
    (x,) = _ranked(x=x)
    checks = (_check_rows(x, max_rows, "x")
              + _check_binary(x, recognizer.data_dim, "x"))
    return _after(checks, x)[0]


def _encode(recognizer, x, seed, max_rows):
    """Posterior means of every latent layer and one posterior sample.

    `zl_probs` are the means of `Recognizer.call`: a deterministic bottom-up
    pass in which each layer is fed the means of the layer below (exactly
    `q(z_1 = 1 | x)` for the first layer; above it, a mean-field summary that
    does not depend on the draw). `zl` is one ancestral draw of q, `z_1 ~
    q(z_1 | x)`, `z_l ~ q(z_l | z_(l-1))`: with a seed, exactly
    `recognizer.sample(x, 1, seed)`.

    Args:
      recognizer: a `tfhm.Recognizer`.
      x: float32 0/1 `[batch, data_dim]`, `batch <= max_rows`.
      seed: int32 `[2]` or `[]` (fresh).
      max_rows: Python int, the limit fixed at export.

    Returns:
      A dict: `z1_probs` .. `zL_probs` float32 `[batch, d_l]`, `z1` ..
      `zL` float32 0/1 `[batch, d_l]` and `seed` int32 `[2]`, the seed used.
    """
    x = _checked_x(recognizer, x, max_rows)
    (seed,) = _ranked(seed=seed)
    seed = _stateless_seed(_after(_check_seed(seed), seed)[0])
    means = recognizer(x)  # list of [batch, d_l]
    latents, _ = recognizer.sample(x, 1, seed)  # [1, batch, d_l]
    result = {f"z{l + 1}_probs": m for l, m in enumerate(means)}
    result.update({f"z{l + 1}": z[0] for l, z in enumerate(latents)})
    result["seed"] = seed
    return result


def _encode_rows(recognizer, x, max_rows):
    """`_encode` with a fresh seed per row: the batchable encoder.

    Every output has the batch as its first dimension, so TF Serving's
    server-side batching (which concatenates requests along dimension 0 and
    splits the outputs the same way) and the row format (`instances`) both
    work. Row i draws its latents from its own fresh seed `seed[i]` with
    exactly the ops of `_encode` on that row alone: `encode` of the one-row
    batch `x[i:i+1]` with `seed[i]` gives the same `z`, bit for bit, however
    the row was batched.

    The per-row draws run in a `tf.map_fn` over (row, seed): a `StatelessWhile`
    that TF Serving's session runs like any graph. `tf.vectorized_map` has no
    converter for `StatelessRandomUniformV2` or `StatelessRandomUniformFullIntV2`
    with a per-row seed (TF 2.21 falls back to a while loop and warns) and was
    3x slower here; one counter-based draw cannot give every row the stream
    of its own seed. The means are one batched pass.

    Args:
      recognizer: a `tfhm.Recognizer`.
      x: float32 0/1 `[batch, data_dim]`, `batch <= max_rows`.
      max_rows: Python int, the limit fixed at export.

    Returns:
      As `_encode`, with `seed` int32 `[batch, 2]`: row i's seed.
    """
    x = _checked_x(recognizer, x, max_rows)
    seeds = _fresh_seeds(tf.shape(x)[:1])  # [batch, 2]

    def one_row(args):
        row, seed = args
        latents, _ = recognizer.sample(row[tf.newaxis], 1, seed)
        return tuple(z[0, 0] for z in latents)  # each [d_l]

    latents = tf.map_fn(one_row, (x, seeds), fn_output_signature=tuple(
        tf.TensorSpec([d], tf.float32) for d in recognizer.latent_dims))
    result = {f"z{l + 1}_probs": m for l, m in enumerate(recognizer(x))}
    result.update({f"z{l + 1}": z for l, z in enumerate(latents)})
    result["seed"] = seeds
    return result


def _check_mask(mask, x, width):
    """Assertion ops: `mask` is 0/1 of the shape of `x`."""
    checks = _check_binary(mask, width, "mask")
    with tf.control_dependencies(checks[:1]):
        rows = tf.shape(mask)[0]
        checks.append(tf.debugging.Assert(
            tf.equal(rows, tf.shape(x)[0]),
            ["`mask` must have the shape of `x`, one row per row of `x`. "
             "Received: mask with", rows, "rows and x with", tf.shape(x)[0],
             "rows"]))
    return checks


def _inpaint(generator, recognizer, inputs, max_num_samples, max_rows):
    """Completions of the missing pixels and `log p(x_observed)`.

    `tfhm.inpainting.inpaint_and_log_likelihood`: exactly what
    `tfhm.inpainting.inpaint` and `tfhm.inpainting.log_likelihood_observed`
    give with the same seed (importance resampling over the latents with
    the recognizer as proposal; that module states the method and its
    bias), from one set of `num_proposals` draws.

    Args:
      generator, recognizer: the two networks.
      inputs: a dict of the request: `x` float32 0/1 `[batch, data_dim]`
        (values at missing pixels are ignored but must be 0 or 1), `mask`
        float32 0/1 of the same shape (1 = observed), `num_samples` S and
        `num_proposals` K int32 scalars (`S * batch` and `K * batch` at most
        `max_num_samples`), `seed` int32 `[2]` or `[]` (fresh).
      max_num_samples, max_rows: Python ints, the limits fixed at export.

    Returns:
      A dict: `x` float32 0/1 `[S, batch, data_dim]` (equal to the request's
      `x` where `mask` is 1), `log_likelihood_observed` float32 `[batch]`
      nats, `seed` int32 `[2]`, the seed used.
    """
    names = ("x", "mask", "num_samples", "num_proposals", "seed")
    x, mask, num_samples, num_proposals, seed = _ranked(
        **{name: inputs[name] for name in names})
    width, rows = generator.data_dim, tf.shape(x)[0]
    checks = (_check_rows(x, max_rows, "x") + _check_binary(x, width, "x")
              + _check_mask(mask, x, width) + _check_seed(seed)
              + _check_num_samples(num_samples, max_num_samples, rows)
              + _check_num_samples(num_proposals, max_num_samples, rows,
                                   name="num_proposals"))
    x, mask, num_samples, num_proposals, seed = _after(
        checks, x, mask, num_samples, num_proposals, seed)
    seed = _stateless_seed(seed)
    out = inpainting.inpaint_and_log_likelihood(  # one set of K proposals
        generator, recognizer, x, mask, num_samples, num_proposals, seed)
    return {"x": out["x"], "log_likelihood_observed": out["log_likelihood_observed"],
            "seed": seed}
