"""NADE: the neural autoregressive distribution estimator, as a conditional layer.

`NADE` gives each unit a hidden layer of its own, computed from the parent and
the units before it with weights shared between the units (Larochelle & Murray
2011); the conditional form, whose biases depend on the parent, is the NADE
layer of reweighted wake-sleep (Bornschein & Bengio 2015):

    h_j = sigmoid(c + f(parent) U_c + sum_{i<j} W_{:,i} v_i),      [H]
    logit_j = b_j + (f(parent) U_b)_j + V_j . h_j,

where f is the deterministic MLP `hidden_units`/`activation` from the parent
into the layer (as in `tfhm.layers.DenseBernoulli`) and a prior has no parent
terms.

#### References

[1]: Larochelle, H. & Murray, I. The neural autoregressive distribution
     estimator. AISTATS (2011).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfhm import _checks
from tfhm.conditionals.base import register
from tfhm.conditionals.darn import AutoregressiveConditional, _broadcast_leading

__all__ = ["NADE"]


@keras.saving.register_keras_serializable(package="tfhm")
class NADE(AutoregressiveConditional):
    """The NADE layer: unit j's logit is a one-hidden-layer network of v_<j.

    For j = 0..D-1 in index order (v_0 first; unit j conditions on the units
    before it):

        h_j = sigmoid(c + f(parent) U_c + sum_{i<j} W_{:,i} v_i),   [H]
        logit_j = b_j + (f(parent) U_b)_j + V_j . h_j.

    Weights: `visible_bias` b `[units]` and `hidden_bias` c `[H]` (zeros),
    `kernel` W `[H, units]` (column i: what v_i adds to the hidden
    pre-activations of the units after it), `output_kernel` V `[units, H]`
    (Glorot uniform), and for a conditional the bias-free `Dense` maps
    `parent_visible` U_b and `parent_hidden` U_c after the hidden layers.

    Cost: `log_prob` forms every unit's hidden pre-activation at once, by an
    exclusive cumulative sum over the units of `v_i W_{:,i}`: time and memory
    `O(N D H)` for N values, float32 `[N, D, H]` tensors (a few of them with
    the gradient: 80 MB each for 500 values of 200 units with H = 200, 314 MB
    for 784 units). It is memory-bound: on a two-core CPU, log_prob and its
    gradient for N = 500, D = 784, H = 200 took 2.3 s (1.1 s under XLA),
    where a sequential scan over the units took 0.9 s (0.5 s). `sample` and
    `mean_field` run a loop of D steps, each `O(N H)`. Seed rule and order:
    see `tfhm.conditionals.darn.AutoregressiveConditional`.

    Args:
      units: the size D of the binary vector, a positive int.
      parent_dim: the width of the parent, a positive int; None for a prior.
      hidden_units: sizes of the deterministic hidden layers from the parent
        (a tuple of positive ints; `()` for linear parent terms).
      activation: activation of those hidden layers (a Keras activation name).
      seed: int or None; seeds the initializers.
      nade_hidden: H, the size of NADE's own hidden layer h_j, a positive int.
        None (default) takes the choice of the reweighted wake-sleep reference
        code (jbornschein/reweighted-ws, `learning/models/nade.py`): `units`
        for a prior, `min(units, parent_dim)` for a conditional.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    layer = tfhm.conditionals.make("nade", units=5, parent_dim=3, seed=0)
    parent = tf.ones([2, 4, 3])                              # [K, batch, 3]
    v = layer.sample(parent, seed=tf.constant([1, 2]))       # [2, 4, 5] of 0/1
    log_p = layer.log_prob(parent, v)                        # [2, 4] nats
    m = layer.mean_field(parent)                             # [2, 4, 5] in (0, 1)
    assert v.shape == (2, 4, 5) and log_p.shape == (2, 4) and m.shape == (2, 4, 5)
    ```

    #### References

    [1]: Larochelle, H. & Murray, I. The neural autoregressive distribution
         estimator. AISTATS (2011).
    [2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
    """

    _num_kernels = 4  # U_b, U_c, W, V

    def __init__(self, units: int, parent_dim: int | None = None, hidden_units=(),
                 activation="tanh", seed: int | None = None,
                 nade_hidden: int | None = None, **kwargs):
        super().__init__(units, parent_dim, hidden_units=hidden_units,
                         activation=activation, seed=seed, **kwargs)
        if nade_hidden is None:
            nade_hidden = self.units if self.is_prior else min(self.units, self.parent_dim)
        self.nade_hidden = _checks.positive_int("nade_hidden", nade_hidden)
        self.parent_visible = self._projection(self.units, "parent_visible")
        self.parent_hidden = self._projection(self.nade_hidden, "parent_hidden")
        self.visible_bias = self._weight((self.units,), "visible_bias", "zeros")
        self.hidden_bias = self._weight((self.nade_hidden,), "hidden_bias", "zeros")
        self.kernel = self._weight((self.nade_hidden, self.units), "kernel")
        self.output_kernel = self._weight((self.units, self.nade_hidden), "output_kernel")
        self.built = True

    def _context(self, features, leading):
        visible = self.visible_bias + self._project(self.parent_visible, features)  # [..., D]
        hidden = self.hidden_bias + self._project(self.parent_hidden, features)  # [..., H]
        return (_broadcast_leading(visible, leading), _broadcast_leading(hidden, leading),
                tf.cast(self.kernel, tf.float32), tf.cast(self.output_kernel, tf.float32))

    def _start(self, context, shape):
        _, hidden, _, _ = context
        return _broadcast_leading(hidden, shape)  # h's pre-activation given v_<0: [*shape, H]

    def _logit(self, context, state, j):
        visible, _, _, output_kernel = context
        # [*shape]: b'_j + V_j . sigmoid(pre-activation of h_j)
        return (tf.gather(visible, j, axis=-1)
                + tf.reduce_sum(tf.sigmoid(state) * tf.gather(output_kernel, j), axis=-1))

    def _advance(self, context, state, j, value):
        _, _, kernel, _ = context
        return state + value[..., tf.newaxis] * tf.gather(kernel, j, axis=1)  # [*shape, H]

    def _all_logits(self, context, value):
        visible, hidden, kernel, output_kernel = context
        steps = value[..., :, tf.newaxis] * tf.transpose(kernel)  # v_i W_{:,i}: [..., D, H]
        pre = hidden[..., tf.newaxis, :] + tf.cumsum(steps, axis=-2, exclusive=True)
        return visible + tf.reduce_sum(tf.sigmoid(pre) * output_kernel, axis=-1)  # [..., D]

    def get_config(self):
        config = super().get_config()
        config.update(nade_hidden=self.nade_hidden)
        return config


@register("nade")
def _nade(units, parent_dim, hidden_units=(), activation="tanh", seed=None,
          dtype=None, name=None):
    """A `NADE` layer of the default size; a prior has no hidden layers to use."""
    return NADE(units, parent_dim, hidden_units=() if parent_dim is None else hidden_units,
                activation=activation, seed=seed, dtype=dtype, name=name)
