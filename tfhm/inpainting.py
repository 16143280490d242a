"""Inpainting: samples of missing pixels given observed ones, and log p(x_obs).

A mask is 1 (True) where a pixel is observed and 0 where it is missing (the
Keras sense of a mask). For a generator `p(x, z)` the target is

  p(x_mis | x_obs) = sum_z p(z | x_obs) p(x_mis | z_1),
  p(z | x_obs) propto p(z) p(x_obs | z_1) = p(z) prod_(d observed) p(x_d | z_1)

(pixels are independent given z_1: the missing ones just drop out).

Method: sampling importance resampling (SIR; Rubin 1988, Smith & Gelfand
1992) over the latents, with proposals built from the recognizer, the
importance sampler of reweighted wake-sleep (Bornschein & Bengio 2015), made
adaptive by a few rounds of population Monte Carlo (PMC; Cappe et al. 2004):

1. Fill. q(z | x) needs a full x. The missing pixels start at 1/2 and get,
   `FILL_ROUNDS` times, the mean-field reconstruction of the current image:
   recognizer means bottom-up to z_L, generator means top-down to x
   (observed pixels stay x). Any fill made from x_obs alone keeps the
   weights exact (any proposal with full support will do); this one feeds q
   an image like those it was trained on. On binarized MNIST, bottom half
   missing (SBN 200-200-200, one round, K = 100), the log p(x_obs) estimate
   was -56.8 nats; -213 with the grey fill, -187 with z_1 means only, -55.3
   with the true bottom half as the fill (an oracle).
2. Propose z_k ~ q(z | x_fill), k = 1..K, with log-weights
   `log w_k = log p(z_k) + log p(x_obs | z_k1) - log q(z_k | x_fill)`
   (for deep nets `log p(z) = log p(z_L) + ... + log p(z_1 | z_2)`).
3. PMC, `ROUNDS - 1` times: resample `COMPONENTS - 1` latents by their
   weights, complete the image with each one's generator means `p(x = 1 |
   z_1)`, and propose the next K from the mixture of q over these images and
   x_fill (a defensive component, Hesterberg 1995), weighted by the
   mixture's density. q(z | one image) is as sharp as the posterior of a
   complete image, while p(z | x_obs) spreads over every completion; the
   mixture covers several. On the digits (`digits_rws_16`, bottom half
   missing, 100 images, exact log p(x_obs) = -9.436 nats by enumeration) the
   mean estimate at K = 1000 was -11.59 with one round and -9.70 with 4.
4. Resample: each of the `num_samples` completions draws an index from
   Categorical(w~) of the last round (self-normalized weights of its row),
   then `x_mis ~ p(x | z_1)` of that latent; observed pixels are copied.

Cost: `ROUNDS` x K proposals per row. Bias: for finite K the resampled z
follow the SIR law of the last round's proposal, between that proposal and
the posterior p(z | x_obs); it converges to p(z | x_obs) as K grows, with an
O(1/K) bias (Smith & Gelfand 1992). Given the earlier rounds, `mean_k w_k`
of the last round is an unbiased estimate of p(x_obs), so `log mean_k w_k`
is a stochastic lower bound of `log p(x_obs)` (Jensen) whose gap vanishes as
K grows (Burda et al. 2016), as `hm.log_likelihood`'s.
`conditional_log_likelihood` scores given missing pixels, `log p(x_mis |
x_obs)`.

Edge cases are exact: a row with nothing missing comes back as x; a row with
nothing observed gets ancestral samples and `log p(x_obs) = 0`.

Both functions are graph-safe: x and mask float32 `[batch, data_dim]`, the
counts Python ints or int32 scalar tensors, seed int32 `[2]`; they check no
values (the `HelmholtzMachine` methods and the serving graph do).
`inpaint` and `log_likelihood_observed` with the same seed use the same K
proposals.

#### References

[1]: Rubin, D. B. Using the SIR algorithm to simulate posterior
     distributions. Bayesian Statistics 3, 395-402 (1988).
[2]: Smith, A. F. M. & Gelfand, A. E. Bayesian statistics without tears: a
     sampling-resampling perspective. The American Statistician 46(2),
     84-88 (1992).
[3]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
[4]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
[5]: Bornschein, J., Shabanian, S., Fischer, A. & Bengio, Y. Bidirectional
     Helmholtz machines. ICML (2016). (Inpainting with a Helmholtz machine.)
[6]: Cappe, O., Guillin, A., Marin, J.-M. & Robert, C. P. Population Monte
     Carlo. Journal of Computational and Graphical Statistics 13(4),
     907-929 (2004).
[7]: Owen, A. & Zhou, Y. Safe and effective importance sampling. Journal of
     the American Statistical Association 95(449), 135-143 (2000).
[8]: Hesterberg, T. Weighted average importance sampling and defensive
     mixture distributions. Technometrics 37(2), 185-194 (1995).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfhm import _checks, _graph, _seeds, evaluation, objectives
from tfhm._math import log_mean_exp
from tfhm.conditionals.base import require_factorized
from tfhm.layers import sample_bernoulli_logits

__all__ = ["COMPONENTS", "FILL_ROUNDS", "ROUNDS", "check_inpaintable", "check_mask",
           "conditional_log_likelihood", "conditional_log_likelihood_checked",
           "fill_missing", "inpaint", "inpaint_and_log_likelihood",
           "inpaint_checked", "inpainting_grid", "log_likelihood_observed",
           "log_likelihood_observed_checked", "observed_log_prob", "region_mask"]

# The missing pixels' value before the first round trip: 1/2, no preference.
_FIRST_FILL = 0.5
# Mean-field round trips of the fill; on MNIST (module doc) 1, 2, 3, 5 and
# 10 rounds gave -61.2, -57.6, -56.8, -57.0 and -57.0 nats at K = 100.
FILL_ROUNDS = 3
# Population Monte Carlo rounds and mixture components (module doc).
ROUNDS = 4
COMPONENTS = 25


def _seeds_of(seed):
    """Named sub-seeds of one call: proposals, resampling, pixels, ancestral, full."""
    names = ("proposals", "resample", "pixels", "ancestral", "full")
    return dict(zip(names, tf.unstack(_seeds.split(seed, len(names)))))


def fill_missing(generator, recognizer, x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The full image fed to the proposal q: x where observed, a fill elsewhere.

    Args:
      generator, recognizer: the two networks.
      x: float32 `[batch, data_dim]`; values at missing pixels are ignored.
      mask: float32 0/1 `[batch, data_dim]`, 1 = observed.

    Returns:
      float32 `[batch, data_dim]` in [0, 1]: x at observed pixels; at missing
      ones `p(x = 1)` of the last of `FILL_ROUNDS` mean-field round trips.
    """
    observed = tf.cast(mask, tf.bool)
    filled = tf.where(observed, x, _FIRST_FILL)  # [batch, D]
    for _ in range(FILL_ROUNDS):
        means = recognizer(filled)[-1]  # [batch, d_L]
        for conditional in reversed(generator.conditionals[1:]):
            means = conditional.mean_field(means)
        filled = tf.where(observed, x, generator(means))
    return filled


def observed_log_prob(generator, x: tf.Tensor, mask: tf.Tensor,
                      z1: tf.Tensor) -> tf.Tensor:
    """`log p(x_obs | z_1)` `[..., batch]` nats, the pixels `mask` marks only.

    x and mask float32 `[batch, data_dim]`, z1 `[..., batch, d_1]`.
    """
    logits = generator.conditionals[0].compute_logits(z1)  # [..., batch, D]
    per_pixel = x * logits - tf.math.softplus(logits)  # log Bernoulli(x; logits)
    return tf.reduce_sum(tf.cast(mask, tf.float32) * per_pixel, axis=-1)


def check_inpaintable(generator, recognizer) -> None:
    """Refuses networks whose pixel or first recognition layer is not factorized.

    Inpainting leaves the missing pixels out of `p(x_obs | z_1)`, which is a
    product over pixels only for a factorized `p(x | z_1)`, and mixes
    proposals `q(z_1 | fill_j)` by their logits. The layers above may be any
    conditional.

    Raises:
      TypeError: naming the layer.
    """
    instead = ("Inpainting works with any layers of p and q above them; "
               "`log_likelihood` and `sample` work with every conditional.")
    require_factorized(generator.conditionals[0], "Inpainting (p(x_obs | z_1))", instead)
    require_factorized(recognizer.conditionals[0], "Inpainting (its mixture of "
                       "q(z_1 | x) proposals)", instead)


def _resample(log_w, z1, count, seed):
    """`count` z_1 per row drawn from Categorical(softmax(log_w)): `[count, batch, d_1]`."""
    picks = tf.random.stateless_categorical(  # [batch, count]
        tf.transpose(log_w), count, seed, dtype=tf.int32)
    z1 = tf.gather(tf.transpose(z1, [1, 0, 2]), picks, batch_dims=1)
    return tf.transpose(z1, [1, 0, 2])


def _mixture_draws(generator, recognizer, x, mask, fills, num_proposals, seed):
    """K draws of `q_mix(z) = sum_j (n_j / K) q(z | fills_j)` and their log-weights.

    Draw k comes from component `k mod m` (n_j draws from component j;
    stratified, the deterministic mixture of Owen & Zhou 2000) and is
    weighted by the mixture's density,
    `log w = log p(z) + log p(x_obs | z_1) - log q_mix(z)`. Only q's first
    layer sees the image, so the mixture is over `q(z_1 | fills_j)`.

    Returns:
      `(log_w [K, batch], z_1 [K, batch, d_1])`.
    """
    seeds = tf.unstack(_seeds.split(seed, len(recognizer.conditionals)))
    logits = recognizer.conditionals[0].compute_logits(fills)  # [m, batch, d_1]
    m = tf.shape(logits)[0]
    draws = tf.gather(logits, tf.range(num_proposals) % m)  # [K, batch, d_1]
    latents = [sample_bernoulli_logits(draws, seeds[0])]
    log_q = 0.0
    for conditional, layer_seed in zip(recognizer.conditionals[1:], seeds[1:]):
        z, layer_log_q = conditional.sample_with_log_prob(latents[-1], layer_seed)
        latents.append(z)
        log_q += layer_log_q
    # log q(z_1k | fills_j) for every pair, by bernoulli_log_prob's identity
    # sum_d z_d l_d - softplus(l_d) as one product: [K, m, batch].
    products = tf.matmul(tf.transpose(latents[0], [1, 0, 2]),  # [batch, K, m]
                         tf.transpose(logits, [1, 0, 2]), transpose_b=True)
    pairs = (tf.transpose(products, [1, 2, 0])  # [K, m, batch]
             - tf.reduce_sum(tf.math.softplus(logits), axis=-1))
    # Component j drew n_j = K // m (+1 for j < K mod m) of the K: its weight
    # in q_mix is n_j / K, which keeps the estimate unbiased for any K
    # (log 0 = -inf for an unused component).
    count = num_proposals // m + tf.cast(tf.range(m) < num_proposals % m, tf.int32)
    share = tf.cast(count, tf.float32) / tf.cast(num_proposals, tf.float32)
    log_q += tf.reduce_logsumexp(
        pairs + tf.math.log(share)[tf.newaxis, :, tf.newaxis], axis=1)
    log_w = (generator.log_prob_latents(latents)  # [K, batch]
             + observed_log_prob(generator, x, mask, latents[0]) - log_q)
    return log_w, latents[0]


def _proposals(generator, recognizer, x, mask, num_proposals, seed, rounds):
    """The last of `rounds` population Monte Carlo rounds: log-weights and z_1.

    Round 1 proposes from `q(z | x_fill)` (`fill_missing`); round r + 1 from
    the mixture over `x_fill` and `COMPONENTS - 1` images completed with the
    generator's means `p(x = 1 | z_1)` of latents resampled from round r.
    """
    check_inpaintable(generator, recognizer)  # at trace time: a clear TypeError
    observed = tf.cast(mask, tf.bool)
    first = fill_missing(generator, recognizer, x, mask)[tf.newaxis]  # [1, batch, D]
    fills, seeds = first, tf.unstack(_seeds.split(seed, 2 * rounds))
    for r in range(rounds):
        log_w, z1 = _mixture_draws(generator, recognizer, x, mask, fills,
                                   num_proposals, seeds[2 * r])
        if r + 1 < rounds:
            count = tf.maximum(tf.minimum(num_proposals, COMPONENTS) - 1, 1)
            picked = _resample(log_w, z1, count, seeds[2 * r + 1])
            fills = tf.concat(  # [count + 1, batch, D]
                [first, tf.where(observed, x, generator(picked))], axis=0)
    return log_w, z1


def _any_observed(mask):
    return tf.reduce_any(tf.cast(mask, tf.bool), axis=-1)  # [batch]


def _log_mean_observed(log_w, mask):
    """`log mean_k w_k` per row `[batch]`; exactly 0 with nothing observed."""
    return tf.where(_any_observed(mask), log_mean_exp(log_w, axis=0), 0.0)


def log_likelihood_observed(generator, recognizer, x: tf.Tensor,
                            mask: tf.Tensor, num_proposals,
                            seed: tf.Tensor, rounds: int = ROUNDS) -> tf.Tensor:
    """Importance-sampled `log p(x_obs) ~ log mean_k w_k` (see the module doc).

    Args:
      generator, recognizer: the two networks (q is the proposal).
      x: float32 0/1 `[batch, data_dim]`.
      mask: float32 0/1 `[batch, data_dim]`, 1 = observed.
      num_proposals: K, a Python int or int32 scalar tensor.
      seed: int32 `[2]`; the same K proposals as `inpaint` with this seed.
      rounds: population Monte Carlo rounds, a Python int (cost rounds x K).

    Returns:
      float32 `[batch]` nats; exactly 0 for a row with no observed pixel.
    """
    x, mask = tf.convert_to_tensor(x, tf.float32), tf.cast(mask, tf.float32)
    log_w, _ = _proposals(generator, recognizer, x, mask, num_proposals,
                          _seeds_of(seed)["proposals"], rounds)
    return _log_mean_observed(log_w, mask)


def conditional_log_likelihood(generator, recognizer, x: tf.Tensor,
                               mask: tf.Tensor, num_proposals,
                               seed: tf.Tensor, rounds: int = ROUNDS) -> tf.Tensor:
    """`log p(x_mis | x_obs) = log p(x) - log p(x_obs)` of the given missing pixels.

    Each term by its best proposal: `log p(x)` as `hm.log_likelihood` does
    (K draws of q(z | x), the full image q was trained on) and `log p(x_obs)`
    as `log_likelihood_observed` (same seed, same draws). Both are
    stochastic lower bounds and the second is the looser one (its proposal
    never sees x_mis), so the difference is consistent in K and tends to
    overestimate. On the 8x8 digits with the bottom half missing
    (`digits_rws_16`, 100 images, K = 1000) it gave -0.2229 nats per missing
    pixel against the exact -0.2305; the ratio `sum_k w_k p(x_mis | z_k1) /
    sum_k w_k` over the same draws gave -0.3178.

    Args: as `log_likelihood_observed`.

    Returns:
      float32 `[batch]` nats; exactly 0 for a row with nothing missing;
      the importance-sampled log p(x) for a row with nothing observed.
    """
    x, mask = tf.convert_to_tensor(x, tf.float32), tf.cast(mask, tf.float32)
    log_w_full = objectives.log_importance_weights(  # [K, batch]
        generator, recognizer, x, num_proposals, _seeds_of(seed)["full"])[0]
    conditional = (log_mean_exp(log_w_full, axis=0)
                   - log_likelihood_observed(generator, recognizer, x, mask,
                                             num_proposals, seed, rounds))
    return tf.where(tf.reduce_all(mask > 0.5, axis=-1), 0.0, conditional)


def inpaint(generator, recognizer, x: tf.Tensor, mask: tf.Tensor, num_samples,
            num_proposals, seed: tf.Tensor, rounds: int = ROUNDS) -> tf.Tensor:
    """Completions `x_mis ~ p(x_mis | x_obs)` by importance resampling.

    Args:
      generator, recognizer: the two networks (q is the proposal).
      x: float32 0/1 `[batch, data_dim]`; values at missing pixels ignored.
      mask: float32 0/1 `[batch, data_dim]`, 1 = observed.
      num_samples: S completions per row, a Python int or int32 scalar tensor.
      num_proposals: K draws per row and round (shared by its S completions).
      seed: int32 `[2]` stateless seed.
      rounds: population Monte Carlo rounds, a Python int (cost rounds x K).

    Returns:
      float32 0/1 `[num_samples, batch, data_dim]`, equal to x wherever
      mask is 1; rows with no observed pixel are ancestral samples.
    """
    return inpaint_and_log_likelihood(generator, recognizer, x, mask, num_samples,
                                      num_proposals, seed, rounds)["x"]


def inpaint_and_log_likelihood(generator, recognizer, x: tf.Tensor,
                               mask: tf.Tensor, num_samples, num_proposals,
                               seed: tf.Tensor, rounds: int = ROUNDS) -> dict:
    """`inpaint` and `log_likelihood_observed` from one set of proposals.

    Args: as `inpaint`.

    Returns:
      A dict: `x` as `inpaint` returns it and `log_likelihood_observed` as
      that function does, both exactly as the separate calls with this seed
      give them, at the cost of one.
    """
    x, mask = tf.convert_to_tensor(x, tf.float32), tf.cast(mask, tf.float32)
    seeds = _seeds_of(seed)
    log_w, z1 = _proposals(generator, recognizer, x, mask, num_proposals,
                           seeds["proposals"], rounds)  # [K, batch], [K, batch, d_1]
    z1 = _resample(log_w, z1, num_samples, seeds["resample"])  # [S, batch, d_1]
    batch = tf.shape(x)[0]
    prior_z1 = generator.sample(num_samples * batch, seeds["ancestral"])["z"][0]
    z1 = tf.where(_any_observed(mask)[:, tf.newaxis], z1,
                  tf.reshape(prior_z1, tf.shape(z1)))
    x_new = generator.conditionals[0].sample(z1, seeds["pixels"])
    return {"x": tf.where(tf.cast(mask, tf.bool), x, x_new),  # [S, batch, D]
            "log_likelihood_observed": _log_mean_observed(log_w, mask)}


# ------------------------------------------------ checked, in memory blocks
_inpaint_graph = _graph.function(inpaint, reduce_retracing=True)
_log_likelihood_graph = _graph.function(log_likelihood_observed,
                                    reduce_retracing=True)
_conditional_graph = _graph.function(conditional_log_likelihood,
                                 reduce_retracing=True)


def check_mask(mask, x: np.ndarray) -> np.ndarray:
    """A checked mask (bool or 0/1, the shape of x) as float32 NumPy.

    Raises:
      ValueError: a dtype other than bool or numeric, a shape other than
        x's, or values other than 0 and 1 (with what was received).
    """
    mask = _checks.binary_array(mask, x.shape[-1], name="mask", hint=_checks.MASK_HINT)
    if mask.shape != x.shape:
        raise ValueError(
            f"`mask` must have the shape of `x`, {x.shape} (1 = observed, 0 = "
            f"missing). Received: mask.shape={mask.shape}")
    return mask


def _in_blocks(model, graph, x, mask, seed, counts, axis, rounds=ROUNDS, check_missing=False):
    """Checks, then runs `graph` over blocks of rows (see `inpaint_checked`).

    x is checked where observed only (missing pixels, NaN included, become 0)
    unless `check_missing` (`conditional_log_likelihood` scores them)."""
    check_inpaintable(model.generator, model.recognizer)
    mask = _checks.binary_array(mask, model.data_dim, name="mask", hint=_checks.MASK_HINT)
    x = _checks.binary_array(x, model.data_dim, observed=None if check_missing else mask)
    mask = check_mask(mask, x)
    counts = {name: _checks.positive_int(name, value, upper=_checks.INT32_MAX)
              for name, value in counts.items()}
    seed = _seeds.to_stateless(seed, model.seed_generator)
    rounds = _checks.positive_int("rounds", rounds)
    rows = evaluation.block_rows(model, max(counts.values()))
    starts = range(0, len(x), rows)
    parts = [graph(model.generator, model.recognizer,
                   tf.constant(x[start:start + rows]),
                   tf.constant(mask[start:start + rows]),
                   *[tf.constant(c, tf.int32) for c in counts.values()],
                   _seeds.part(seed, j, len(starts)),
                   rounds=rounds)
             for j, start in enumerate(starts)]
    return tf.concat(parts, axis=axis)


def inpaint_checked(model, x, mask, num_samples: int, num_proposals: int,
                    seed=None, rounds: int = ROUNDS) -> tf.Tensor:
    """`HelmholtzMachine.inpaint`: checked inputs, rows in memory blocks.

    The rows are cut into blocks of `evaluation.block_rows(model, max(S, K))`;
    a single block is drawn with the seed itself (so it equals `inpaint` on
    the networks with that `[2]` seed, as the served signature does), block
    j of several with `stateless_fold_in(seed, j)`.

    Raises:
      ValueError: x or mask not 0/1 `[batch, data_dim]`, mask not x's shape,
        S or K not a positive int, a bad seed.
    """
    return _in_blocks(model, _inpaint_graph, x, mask, seed,
                      {"num_samples": num_samples,
                       "num_proposals": num_proposals}, axis=1, rounds=rounds)


def log_likelihood_observed_checked(model, x, mask, num_proposals: int,
                                    seed=None, rounds: int = ROUNDS) -> tf.Tensor:
    """`HelmholtzMachine.log_likelihood_observed`; blocks as `inpaint_checked`."""
    return _in_blocks(model, _log_likelihood_graph, x, mask, seed,
                      {"num_proposals": num_proposals}, axis=0, rounds=rounds)


def conditional_log_likelihood_checked(model, x, mask, num_proposals: int,
                                       seed=None, rounds: int = ROUNDS) -> tf.Tensor:
    """`conditional_log_likelihood` with checks and blocks as `inpaint_checked`."""
    return _in_blocks(model, _conditional_graph, x, mask, seed,
                      {"num_proposals": num_proposals}, axis=0, rounds=rounds,
                      check_missing=True)


# ------------------------------------------------------- masks and pictures
def region_mask(region: str, num_rows: int, data_dim: int,
                seed: int = 0, shape=None) -> np.ndarray:
    """The mask that hides `region` of every image: bool `[num_rows, data_dim]`.

    Images are `plotting.image_shape(data_dim, shape)`; True = observed.

    Args:
      region: "top", "bottom" (rows from `height // 2` on), "left", "right"
        (columns from `width // 2` on): that half is hidden; or "random:P",
        each pixel hidden with probability P (`np.random.default_rng(seed)`).
      num_rows, data_dim: the shape.
      seed: seeds "random:P".
      shape: `(height, width)` of one image (default: `plotting.image_shape`).

    Raises:
      ValueError: another region, or top/bottom for one-row images.
    """
    from tfhm import plotting

    height, width = plotting.image_shape(data_dim, shape)
    rows, cols = np.divmod(np.arange(data_dim), width)
    hidden = {"top": rows < height // 2, "bottom": rows >= height // 2,
              "left": cols < width // 2, "right": cols >= width // 2}
    if region.startswith("random:"):
        try:
            p = float(region.split(":", 1)[1])
        except ValueError:
            p = float("nan")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random:P needs P in [0, 1]. Received: {region!r}")
        return np.random.default_rng(seed).random((num_rows, data_dim)) >= p
    if region not in hidden or (height == 1 and region in ("top", "bottom")):
        raise ValueError(
            "`region` must be top, bottom, left, right or random:P (top and "
            f"bottom need images of more than one row; data_dim={data_dim} is "
            f"drawn as {height} x {width}). Received: {region!r}")
    return np.broadcast_to(~hidden[region], (num_rows, data_dim)).copy()


def inpainting_grid(x, mask, completions, scale: int | None = None,
                    title: str | None = None, shape=None) -> np.ndarray:
    """One row per image: the data, what was observed, then the completions.

    Args:
      x: `[n, data_dim]` 0/1 images.
      mask: `[n, data_dim]`, 1 = observed; hidden pixels are drawn mid-grey
        in the second column.
      completions: `[S, n, data_dim]`, e.g. `hm.inpaint(x, mask, S)`.
      scale: as `plotting.tile_images`; None: a grid about 400 pixels wide.
      title: a title band above the grid (None: the bare grid).
      shape: `(height, width)` of one image (default: `plotting.image_shape`).

    Returns:
      uint8 `[height, width]` with n rows of `2 + S` images.
    """
    from tfhm import plotting

    x, mask = np.asarray(x, np.float32), np.asarray(mask, bool)
    completions = np.asarray(completions, np.float32)
    observed = np.where(mask, x, 0.5)
    images = np.concatenate([x[None], observed[None], completions])  # [2+S, n, D]
    cols = images.shape[0]
    images = images.transpose(1, 0, 2).reshape(-1, x.shape[1])
    shape = plotting.image_shape(x.shape[1], shape)
    if scale is None:
        scale = plotting.auto_scale(cols, x.shape[1], cols, shape=shape)
    grid = plotting.tile_images(images, cols=cols, scale=scale, shape=shape)
    return grid if title is None else plotting.annotate(grid, title)
