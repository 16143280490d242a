"""The serving graphs of the exported SavedModels and their request checks.

Every function here runs inside a `tf.function` traced for export; the
checks are assertion ops that run before anything large is allocated, so a
bad request fails with an `InvalidArgumentError` saying what was wrong.
"""

from __future__ import annotations

import tensorflow as tf

from tfhm import evaluation, objectives

_INT32_MAX = 2**31 - 1


def _check_num_samples(num_samples, max_num_samples, rows_per_sample=None):
    """Assertion ops for `1 <= num_samples` and `num_samples * rows <= limit`."""
    requested = tf.cast(num_samples, tf.int64)
    if rows_per_sample is not None:
        requested *= tf.cast(rows_per_sample, tf.int64)
    what = ("`num_samples` * batch size" if rows_per_sample is not None
            else "`num_samples`")
    return [
        tf.debugging.Assert(
            num_samples >= 1,
            ["`num_samples` must be at least 1. Received: num_samples =",
             num_samples]),
        tf.debugging.Assert(
            requested <= max_num_samples,
            [f"{what} must be at most max_num_samples = {max_num_samples} "
             "(the limit fixed at export). Received:", requested]),
    ]


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
    ranks = {"seed": [None], "num_samples": [], "x": [None, None]}
    return [tf.ensure_shape(t, ranks.get(name, [None, None]), name=name)
            for name, t in inputs.items()]


def _after(checks, *tensors):
    """`tensors`, passed on only once the assertion ops `checks` have passed.

    Everything computed from the returned tensors waits for the checks, so a
    bad request fails before any allocation that it sized.
    """
    with tf.control_dependencies(checks):
        return [tf.identity(t) for t in tensors]


def _stateless_seed(seed):
    """The int32 `[2]` stateless seed of a request: `seed`, or a fresh one.

    A fresh seed comes from `RandomUniformInt` with `seed = seed2 = 0`, which
    TensorFlow seeds from the operating system's entropy when the kernel is
    created and then advances under a lock at every call: two calls, two
    concurrent requests and two freshly loaded servers all get different
    seeds. The raw op is used on purpose: `tf.random.uniform` would take its
    seed from `tf.random.set_seed` of the exporting process (Keras'
    `set_random_seed` sets it), baking one fixed stream into the graph; a
    `tf.random.Generator` restores the same state at every load; and the time
    (`tf.timestamp`) repeats for requests that arrive together.
    """
    def fresh():
        return tf.raw_ops.RandomUniformInt(
            shape=tf.constant([2]), minval=tf.constant(-_INT32_MAX - 1),
            maxval=tf.constant(_INT32_MAX), seed=0, seed2=0)

    seed = tf.cond(tf.equal(tf.size(seed), 0), fresh, lambda: seed)
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
      `z1` .. `zL` float32 0/1 `[n, d_l]` (bottom to top): with a seed,
      exactly `generator.sample(n, seed)`.
    """
    num_samples, seed = _ranked(num_samples=num_samples, seed=seed)
    checks = _check_num_samples(num_samples, max_num_samples) + _check_seed(seed)
    num_samples, seed = _after(checks, num_samples, seed)
    out = generator.sample(num_samples, _stateless_seed(seed))
    result = {"x": out["x"], "x_probs": out["x_probs"]}
    result.update({f"z{l + 1}": z for l, z in enumerate(out["z"])})
    return result


def _decode(generator, latents):
    """Top-down Bernoulli means of given latents, one layer at a time.

    Args:
      generator: a `tfhm.Generator`.
      latents: list of float32 0/1 `[batch, d_l]`, z_1 .. z_L.

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
        checks += _check_binary(z, width, f"z{l + 1}")
    latents = _after(checks, *latents)
    result = {"x_probs": generator(latents[0])}  # [batch, data_dim]
    for l in range(1, len(latents)):
        result[f"z{l}_probs"] = tf.sigmoid(  # [batch, d_l]
            generator.conditionals[l].compute_logits(latents[l]))
    return result


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
      `{"log_likelihood": float32 [batch]}`, nats.
    """
    x, num_samples, seed = _ranked(x=x, num_samples=num_samples, seed=seed)
    checks = (_check_binary(x, generator.data_dim, "x") + _check_seed(seed)
              + _check_num_samples(num_samples, max_num_samples,
                                   rows_per_sample=tf.shape(x)[0]))
    x, num_samples, seed = _after(checks, x, num_samples, seed)
    log_w = objectives.log_importance_weights(  # [K, batch]
        generator, recognizer, x, num_samples, _stateless_seed(seed))[0]
    return {"log_likelihood": evaluation.log_mean_exp(log_w, axis=0)}


def _encode(recognizer, x, seed):
    """Posterior means of every latent layer and one posterior sample.

    `zl_probs` are the means of `Recognizer.call`: a deterministic bottom-up
    pass in which each layer is fed the means of the layer below (exactly
    `q(z_1 = 1 | x)` for the first layer; above it, a mean-field summary that
    does not depend on the draw). `zl` is one ancestral draw of q, `z_1 ~
    q(z_1 | x)`, `z_l ~ q(z_l | z_(l-1))`: with a seed, exactly
    `recognizer.sample(x, 1, seed)`.

    Args:
      recognizer: a `tfhm.Recognizer`.
      x: float32 0/1 `[batch, data_dim]`.
      seed: int32 `[2]` or `[]` (fresh).

    Returns:
      A dict: `z1_probs` .. `zL_probs` float32 `[batch, d_l]` and `z1` ..
      `zL` float32 0/1 `[batch, d_l]`.
    """
    x, seed = _ranked(x=x, seed=seed)
    checks = _check_binary(x, recognizer.data_dim, "x") + _check_seed(seed)
    x, seed = _after(checks, x, seed)
    means = recognizer(x)  # list of [batch, d_l]
    latents, _ = recognizer.sample(x, 1, _stateless_seed(seed))  # [1, batch, d_l]
    result = {f"z{l + 1}_probs": m for l, m in enumerate(means)}
    result.update({f"z{l + 1}": z[0] for l, z in enumerate(latents)})
    return result

