"""The two pieces of Bernoulli math every conditional shares: the draw and the density.

`sample_bernoulli_logits` is tfhm's one way to draw a binary unit (exact for
every float32 logit, issue 28); `log_prob_logits` its one log-density of
0/1 values under logits. Both are re-exported by `tfhm.layers`.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["log_prob_logits", "sample_bernoulli_logits"]


def log_prob_logits(logits: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """`log p(value)` of a factorized Bernoulli with `logits`, in one pass.

    `sum_d y_d * l_d - softplus(l_d)`: exact for 0/1 values and finite for
    any finite logits (|l| = 80 included). TFP's `Bernoulli.log_prob` computes
    the same with two softplus and two multiply passes (in a training step on
    784-pixel data that made the log-density about two thirds of the op time
    without XLA).

    Args:
      logits: float32 `[..., units]`.
      value: float32 0/1 `[..., units]`, broadcasting against the logits.

    Returns:
      float32 `[...]`, nats (summed over the units).
    """
    with tf.name_scope("bernoulli_log_prob"):
        return tf.reduce_sum(value * logits - tf.math.softplus(logits), axis=-1)


# Exact Bernoulli draws (issue 28): U's base-2^32 digits are Philox uint32
# words. A float32 probability has no bit past position 149 (its smallest
# value is 2^-149), so after the first digit's 32 bits ceil(117 / 32) = 4
# more digits decide every draw (drawn only in the rare calls with a tie).
_DIGIT_SCALE = float(2**32)
_MAX_REFINEMENTS = 4


def _uniform_digit(seed, shape, level):
    """Digit `level` (0, 1, ...) of U's base-2^32 expansion, uint32 `shape`.

    Digit 0 is drawn with `seed`, digit n >= 1 with `stateless_fold_in(seed,
    n)`, each a Philox uint32 word.
    """
    if not isinstance(level, int) or level:
        seed = tf.random.experimental.stateless_fold_in(seed, level)
    return tf.random.stateless_uniform(shape, seed=seed, minval=None, maxval=None,
                                       dtype=tf.uint32, alg="philox")


def sample_bernoulli_logits(logits: tf.Tensor, seed: tf.Tensor, sample_shape=(),
                            antithetic: bool = False) -> tf.Tensor:
    """Draws `z = 1[U < sigmoid(logits)]`, U ~ Uniform(0, 1), exactly.

    `P(z = 1)` is `sigmoid(logits)` for every float32 logit, with no floor: a
    unit whose logit is -30 switches on at rate e^-30, and one at +30 off at
    rate e^-30. (Comparing a float32 uniform, whose grid is 2^-23, as tfhm
    did up to issue 28, switched the first on at rate 2^-23, so that one
    draw's importance weight 1/q(z) could dominate an importance-sampled
    estimate; and never switched the second off.)

    How: the rarer outcome has probability `s = sigmoid(-|logits|) <= 1/2`,
    which float32 holds to its relative precision for every logit (unlike
    `1 - sigmoid(logits)` near 1); z = 0 is that outcome where the logit is
    >= 0, z = 1 elsewhere. U is compared with s one base-2^32 digit at a
    time: U's first digit, a Philox uint32 word, decides the unit unless it
    equals s's first digit `floor(2^32 s)` (probability 2^-32); only then is
    U's next digit compared with s's next 32 bits, and so on. Every digit is
    exact, so `P(U < s) = s` exactly. Where the logit is >= 0 the comparison
    is of 1 - U, whose digits are U's complemented.

    Cost: one uint32 Philox word per unit, as a float32 `stateless_uniform`,
    and a few elementwise ops; another word per unit only in the rare calls
    in which some unit ties (one call in 10,000 for 400,000 units), in a
    `tf.while_loop` that runs under XLA, under `tf.vectorized_map` and in an
    exported SavedModel.

    Seeds: the same seed and shape give the same draw on one TensorFlow
    version and device kind. Digit 0 of U is drawn with `seed` at the shape
    `sample_shape + logits.shape`, digit n with `stateless_fold_in(seed, n)`.
    `antithetic=True` draws `1[1 - U < sigmoid(logits)]` with the same U
    (DisARM's antithetic pair: same seed, complemented digits).

    Args:
      logits: float `[..., units]`; no gradient flows into the draw.
      seed: int32 `[2]` stateless seed.
      sample_shape: leading shape of the draw, e.g. `(num_samples,)` (Python
        ints or scalar int tensors).
      antithetic: draw with 1 - U instead of U.

    Returns:
      float32 `sample_shape + logits.shape` of zeros and ones.
    """
    with tf.name_scope("sample_bernoulli"):
        logits = tf.stop_gradient(tf.cast(logits, tf.float32))
        leading = tf.reshape(
            tf.convert_to_tensor(sample_shape, dtype_hint=tf.int32), [-1])
        shape = tf.concat([tf.cast(leading, tf.int32), tf.shape(logits)], axis=0)
        # z = 1[digit < threshold] (antithetic: >) decides every unit whose
        # digit differs from the threshold, the digit of s or of 1 - s.
        complement = logits >= 0.0
        if antithetic:
            complement = tf.logical_not(complement)
        decide = tf.greater if antithetic else tf.less

        def threshold(rest):
            scaled = rest * _DIGIT_SCALE  # exact: a power of two
            head = tf.floor(scaled)  # s's next digit
            digit = tf.cast(head, tf.uint32)
            return (tf.where(complement, tf.bitwise.invert(digit), digit),
                    scaled - head)  # and s's bits after it, exact

        limit, rest = threshold(tf.sigmoid(-tf.abs(logits)))
        digit = _uniform_digit(seed, shape, 0)
        z, tie = decide(digit, limit), tf.equal(digit, limit)

        def refine(level, z, tie, rest):  # digit `level` of U where a unit tied
            limit, rest = threshold(rest)
            digit = _uniform_digit(seed, shape, level)
            digit.set_shape(z.shape)  # the loop keeps the static shape
            z = tf.where(tie, decide(digit, limit), z)
            return level + 1, z, tie & tf.equal(digit, limit), rest

        # A loop, not a `tf.cond`: both run no refinement in almost every
        # call, but under `tf.vectorized_map` (`tfhm.estimators.
        # gradient_estimates`) a branch that no seed takes cannot run its
        # draws, while a loop whose every seed is done stops before them.
        _, z, _, _ = tf.while_loop(
            lambda level, z, tie, rest: tf.reduce_any(tie), refine,
            (tf.constant(1), z, tie, rest), maximum_iterations=_MAX_REFINEMENTS)
        return tf.cast(z, tf.float32)
