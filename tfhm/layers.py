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
from tfhm._bernoulli import log_prob_logits, sample_bernoulli_logits
from tfhm.conditionals.base import FactorizedConditional, register

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
    """`log p(value)` under a factorized Bernoulli distribution, in one pass.

    `log_prob_logits` of the distribution's logits: it equals
    `distribution.log_prob(value)` at about a third of TFP's cost.

    Args:
      distribution: a `tfd.Independent(tfd.Bernoulli(logits=...))` as returned
        by the layers of this module, batch shape `[...]`, event `[units]`.
      value: float32 0/1 `[..., units]`, broadcasting against the logits.

    Returns:
      float32 `[...]`, nats (summed over the units).
    """
    return log_prob_logits(distribution.distribution.logits, value)


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
class BernoulliPrior(FactorizedConditional):
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

    def __init__(self, units, logits_initializer="zeros", parent_dim=None, **kwargs):
        if parent_dim is not None:
            raise ValueError(f"A prior has no parent. Received: parent_dim={parent_dim!r}")
        super().__init__(units, None, **kwargs)
        self.logits_initializer = keras.initializers.get(logits_initializer)
        self.logits = self.add_weight(
            shape=(self.units,), initializer=self.logits_initializer,
            name="logits")
        self.built = True

    def compute_logits(self, parent=None):
        """The float32 logits `[units]`, or `[..., units]` for a parent `[..., n]`.

        The conditional protocol's factorized form: the prior ignores its
        parent's values and takes only its leading shape.
        """
        logits = tf.cast(self.logits, tf.float32)
        if parent is None:
            return logits
        return tf.broadcast_to(
            logits, tf.concat([tf.shape(parent)[:-1], [self.units]], axis=0))

    def log_prob(self, parent, value):
        # The logits broadcast to the value first: the op sequence (and so the
        # gradient's bits) of tfhm before the conditional protocol.
        return log_prob_logits(self.compute_logits(value), value)

    def call(self, inputs):
        return _independent_bernoulli(self.compute_logits(inputs))

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            logits_initializer=keras.initializers.serialize(
                self.logits_initializer))
        return config


@keras.saving.register_keras_serializable(package="tfhm")
class DenseBernoulli(FactorizedConditional):
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
                 parent_dim=None, **kwargs):
        super().__init__(units, parent_dim, **kwargs)
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
        self.parent_dim = _checks.positive_int("parent_dim", shape[-1])
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


@register("sbn")
def _sbn(units, parent_dim, hidden_units=(), activation="tanh", seed=None,
         dtype=None, name=None):
    """The factorized layer: a `BernoulliPrior`, or a `DenseBernoulli` of the parent."""
    if parent_dim is None:
        return BernoulliPrior(units, dtype=dtype, name=name)
    layer = DenseBernoulli(units, hidden_units=hidden_units, activation=activation,
                           seed=seed, dtype=dtype, name=name)
    layer.build((None, parent_dim))
    return layer
