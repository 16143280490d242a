"""Stochastic layers: factorized Bernoulli distributions parameterized by logits.

Every layer here returns
`tfd.Independent(tfd.Bernoulli(logits=..., dtype=tf.float32), 1)`, so that
`log_prob` sums over the units of a layer and samples are float32 0/1 tensors
that feed straight into the next Keras layer.

Logits are always computed in float32, also under a mixed-precision Keras
dtype policy: the hidden layers may run in float16/bfloat16, but every
log-density of tfhm is a float32 number.

#### References

[1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
     machine. Neural Computation 7(5), 889-904 (1995).
[2]: Neal, R. M. Connectionist learning of belief networks. Artificial
     Intelligence 56, 71-113 (1992). (The sigmoid belief network.)
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfhm import _checks, _seeds

tfd = tfp.distributions

__all__ = [
    "BernoulliPrior",
    "DenseBernoulli",
    "bernoulli_log_prob",
    "bernoulli_log_prob_all_pairs",
    "sample_bernoulli",
    "sample_bernoulli_logits",
]


def _independent_bernoulli(logits):
    """The factorized Bernoulli over the last axis of `logits` (float32)."""
    return tfd.Independent(
        tfd.Bernoulli(logits=tf.cast(logits, tf.float32), dtype=tf.float32),
        reinterpreted_batch_ndims=1,
    )


# Exact Bernoulli draws (issue 28): U's base-2^32 digits are Philox uint32
# words. A float32 probability has no bit past position 149 (its smallest
# value is 2^-149), so after the first digit's 32 bits ceil(117 / 32) = 4
# more digits decide every draw; the loop almost always stops after none.
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
    in which some unit ties (one call in 10,000 for 400,000 units). The
    loop runs under XLA and in an exported SavedModel.

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

        def refine(level, z, tie, rest):
            limit, rest = threshold(rest)
            digit = _uniform_digit(seed, shape, level)
            digit.set_shape(z.shape)  # the loop keeps the static shape
            z = tf.where(tie, decide(digit, limit), z)
            return level + 1, z, tie & tf.equal(digit, limit), rest

        limit, rest = threshold(tf.sigmoid(-tf.abs(logits)))
        digit = _uniform_digit(seed, shape, 0)
        z, tie = decide(digit, limit), tf.equal(digit, limit)
        _, z, _, _ = tf.while_loop(
            lambda level, z, tie, rest: tf.reduce_any(tie), refine,
            (tf.constant(1), z, tie, rest), maximum_iterations=_MAX_REFINEMENTS)
        return tf.cast(z, tf.float32)


def sample_bernoulli(distribution: tfd.Distribution, seed: tf.Tensor,
                     sample_shape=()) -> tf.Tensor:
    """Draws float32 0/1 samples from a factorized Bernoulli, statelessly.

    `sample_bernoulli_logits` on the distribution's logits: exact for every
    float32 logit, and the same seed always gives the same samples.

    Args:
      distribution: a `tfd.Independent(tfd.Bernoulli(logits=...))` as
        returned by the layers of this module, batch shape `[...]` and event
        shape `[units]`.
      seed: int32 tensor of shape `[2]`, a stateless seed.
      sample_shape: leading shape of the draw, e.g. `(num_samples,)`.

    Returns:
      float32 tensor `sample_shape + [..., units]` of zeros and ones.
    """
    return sample_bernoulli_logits(distribution.distribution.logits, seed,
                                   sample_shape)


def bernoulli_log_prob(distribution: tfd.Distribution, value: tf.Tensor) -> tf.Tensor:
    """`log p(value)` under a factorized Bernoulli, in one softplus pass.

    Uses `log Bernoulli(y; l) = sum_d y_d * l_d - softplus(l_d)`, exact for 0/1
    values and finite for any finite logits (|l| = 80 included). It equals
    `distribution.log_prob(value)`, which TFP computes with two softplus and
    two multiply passes: in a training step on 784-pixel data that made the
    log-density about two thirds of the op time without XLA.

    Args:
      distribution: a `tfd.Independent(tfd.Bernoulli(logits=...))` as returned
        by the layers of this module, batch shape `[...]`, event `[units]`.
      value: float32 0/1 `[..., units]`, broadcasting against the logits.

    Returns:
      float32 `[...]`, nats (summed over the units).
    """
    with tf.name_scope("bernoulli_log_prob"):
        logits = distribution.distribution.logits
        return tf.reduce_sum(value * logits - tf.math.softplus(logits), axis=-1)


def bernoulli_log_prob_all_pairs(x: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """`log p(x_i | logits_j)` for every pair of rows, by one matrix product.

    The identity of `bernoulli_log_prob` as a matrix product, so the
    `[num_x, num_logits]` table costs one `[num_x, D] @ [D, num_logits]`
    product instead of a `[num_x, num_logits, D]` tensor. Exact enumeration
    of the latent space is built on it.

    Args:
      x: float32 `[num_x, D]` of zeros and ones.
      logits: float32 `[num_logits, D]`.

    Returns:
      float32 `[num_x, num_logits]` log-probabilities in nats.
    """
    logits = tf.cast(logits, tf.float32)
    normalizer = tf.reduce_sum(tf.math.softplus(logits), axis=-1)  # [num_logits]
    return tf.matmul(x, logits, transpose_b=True) - normalizer[tf.newaxis, :]


@keras.saving.register_keras_serializable(package="tfhm")
class BernoulliPrior(keras.layers.Layer):
    """Learnable factorized Bernoulli prior `p(z | beta)` (Dayan et al. 1995, eq. 1).

    `p(z | beta) = prod_k beta_k^z_k (1 - beta_k)^(1 - z_k)` with
    `beta = sigmoid(logits)`; the layer's one weight is `logits` `[units]`.

    Args:
      units: number of binary latent units, a positive int.
      logits_initializer: initializer of the logits; zeros (every unit on
        with probability 1/2) by default, the uninformative start.

    Call args:
      inputs: any tensor `[..., n]`; only its leading shape `[...]` is used,
        as the batch shape of the returned distribution (the prior is the same
        for every example).

    Returns:
      `tfd.Independent(tfd.Bernoulli)`, batch shape `[...]`, event `[units]`.

    #### Examples

    ```python
    import math
    import tensorflow as tf
    import tfhm.layers
    prior = tfhm.layers.BernoulliPrior(4)
    dist = prior(tf.zeros([10, 0]))    # batch of 10
    log_p = dist.log_prob(tf.ones([10, 4]))  # [10], each 4 * log(1/2)
    assert abs(float(log_p[0]) - 4 * math.log(0.5)) < 1e-5
    ```
    """

    def __init__(self, units, logits_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int("units", units)
        self.logits_initializer = keras.initializers.get(logits_initializer)
        self.logits = self.add_weight(
            shape=(self.units,), initializer=self.logits_initializer,
            name="logits")
        self.built = True

    def call(self, inputs):
        batch_shape = tf.shape(inputs)[:-1]
        logits = tf.broadcast_to(
            tf.cast(self.logits, tf.float32),
            tf.concat([batch_shape, [self.units]], axis=0))
        return _independent_bernoulli(logits)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            logits_initializer=keras.initializers.serialize(
                self.logits_initializer))
        return config


@keras.saving.register_keras_serializable(package="tfhm")
class DenseBernoulli(keras.layers.Layer):
    """Conditional factorized Bernoulli `p(y | x)` whose logits are an MLP of x.

    `logits = W_out h_L + b_out`, `h_l = activation(W_l h_(l-1) + b_l)`,
    `h_0 = x`. With no hidden units this is one layer of a sigmoid belief
    network (Neal 1992): `p(y_k = 1 | x) = sigmoid(W_k . x + b_k)`.

    Args:
      units: output units (the size of y), a positive int.
      hidden_units: sizes of the deterministic hidden layers, a tuple of
        positive ints; `()` for a logistic (SBN) layer.
      activation: activation of the hidden layers (a Keras activation name).
      seed: int or None; seeds the kernel initializers, so a seeded layer
        always starts from the same weights.

    Call args:
      inputs: float tensor `[..., input_dim]` (0/1 samples of the layer
        above, or data).

    Returns:
      `tfd.Independent(tfd.Bernoulli)`, batch shape `[...]`, event `[units]`.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm.layers
    layer = tfhm.layers.DenseBernoulli(784, hidden_units=(200,), seed=0)
    z = tf.cast(tf.random.stateless_uniform([8, 50], seed=[0, 1]) < 0.5, tf.float32)
    dist = layer(z)                          # z: [batch, 50]
    x = tfhm.layers.sample_bernoulli(dist, seed=tf.constant([2, 3]))
    log_p = tfhm.layers.bernoulli_log_prob(dist, x)  # [batch] nats
    assert log_p.shape == (8,)
    ```
    """

    def __init__(self, units, hidden_units=(), activation="tanh", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int("units", units)
        self.hidden_units = _checks.int_tuple(
            "hidden_units", hidden_units, allow_empty=True)
        self.activation = activation
        self.seed = seed
        seeds = _seeds.initializer_seeds(seed, len(self.hidden_units) + 1)
        self.hidden_layers = [
            keras.layers.Dense(
                n, activation=activation, dtype=self.dtype_policy, name=f"hidden_{i}",
                kernel_initializer=keras.initializers.GlorotUniform(seeds[i]))
            for i, n in enumerate(self.hidden_units)]
        self.logits_layer = keras.layers.Dense(
            self.units, dtype=self.dtype_policy, name="logits",
            kernel_initializer=keras.initializers.GlorotUniform(seeds[-1]))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)
        self.logits_layer.build(shape)

    def compute_logits(self, inputs: tf.Tensor) -> tf.Tensor:
        """The float32 logits `[..., units]` of `p(y | inputs)`."""
        hidden = inputs
        for layer in self.hidden_layers:
            hidden = layer(hidden)
        return tf.cast(self.logits_layer(hidden), tf.float32)

    def call(self, inputs):
        return _independent_bernoulli(self.compute_logits(inputs))

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, hidden_units=self.hidden_units,
                      activation=self.activation, seed=self.seed)
        return config
