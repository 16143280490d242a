"""DARN: the autoregressive layer of deep autoregressive networks, as a conditional.

`DARN` makes each unit of a layer depend on the units before it, through a
strictly lower-triangular weight matrix (Gregor et al. 2014):

    p(v | parent) = prod_{j=1..D} Bernoulli(v_j; sigmoid(logit_j)),
    logit_j = b_j + (f(parent) U)_j + sum_{i<j} W_ji v_i,

where f is the deterministic MLP `hidden_units`/`activation` from the parent
into the layer (as in `tfhm.layers.DenseBernoulli`; the identity without hidden
units) and a prior has no parent term.

`AutoregressiveConditional`, the machinery `DARN` and `tfhm.conditionals.NADE`
share, is defined here too: the unit order, the compiled sampling loop, its seed
rule, the mean-field recursion and the parent's MLP.

#### References

[1]: Gregor, K., Danihelka, I., Mnih, A., Blundell, C. & Wierstra, D. Deep
     AutoRegressive Networks. ICML (2014).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015). (DARN
     and NADE layers in both networks of a Helmholtz machine.)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfhm import _checks, _seeds
from tfhm._bernoulli import log_prob_logits, sample_bernoulli_logits
from tfhm.conditionals.base import Conditional, register

__all__ = ["DARN", "AutoregressiveConditional"]


class AutoregressiveConditional(Conditional):
    """A conditional whose unit j depends on the parent and on the units before it.

    `p(v | parent) = prod_{j=0..D-1} Bernoulli(v_j; sigmoid(logit_j(parent, v_<j)))`.

    Unit order: the index order of the last axis, v_0 first. Unit j conditions
    on v_0..v_{j-1}; `sample`, `log_prob` and `mean_field` all use this order.

    Seed rule: `sample(parent, seed, sample_shape)` draws unit j (0-based) as
    `sample_bernoulli_logits(logit_j, stateless_fold_in(seed, j))`, where
    `logit_j` is float32 `sample_shape + parent.shape[:-1]`; so the same seed
    gives the same draw, eagerly, in a `tf.function`, under XLA and in an
    exported SavedModel (on one TensorFlow version and device kind).

    Subclasses create their weights after this constructor (drawing their
    initializer seeds from `_next_initializer`) and define five pieces of math:
    `_context(features, leading)` (what the parent fixes, computed once),
    `_start(context, shape)` (the loop state before unit 0),
    `_logit(context, state, j)` and `_advance(context, state, j, v_j)` (one
    step of the loop), and `_all_logits(context, value)` (every logit at once,
    given the whole value: the vectorized `log_prob`).

    Args:
      units: the size D of the binary vector, a positive int.
      parent_dim: the width of the parent, a positive int; None for a prior.
      hidden_units: sizes of the deterministic hidden layers from the parent
        into the layer, a tuple of positive ints; `()` (a prior must have none).
      activation: activation of the hidden layers (a Keras activation name).
      seed: int or None; seeds every initializer, so that a seeded layer
        always starts from the same weights.
    """

    # Glorot-initialized weights after the hidden layers (their seeds follow
    # the hidden layers' in `_seeds.initializer_seeds(seed, ...)`).
    _num_kernels = 0

    def __init__(self, units: int, parent_dim: int | None = None, hidden_units=(),
                 activation="tanh", seed: int | None = None, **kwargs):
        super().__init__(units, parent_dim, **kwargs)
        self.hidden_units = _checks.int_tuple("hidden_units", hidden_units, allow_empty=True)
        if self.is_prior and self.hidden_units:
            raise ValueError("A prior has no parent to feed hidden layers. "
                             f"Received: hidden_units={hidden_units!r}")
        self.activation = activation
        self.seed = seed
        self._initializer_seeds = iter(_seeds.initializer_seeds(
            seed, len(self.hidden_units) + self._num_kernels))
        self.hidden_layers = []
        self.feature_dim = self.parent_dim  # the width of f(parent)
        for i, n in enumerate(self.hidden_units):
            layer = keras.layers.Dense(
                n, activation=activation, dtype=self.dtype_policy, name=f"hidden_{i}",
                kernel_initializer=self._next_initializer())
            layer.build((None, self.feature_dim))
            self.hidden_layers.append(layer)
            self.feature_dim = n

    # ------------------------------------------------------------ weights
    def _next_initializer(self):
        return keras.initializers.GlorotUniform(next(self._initializer_seeds))

    def _projection(self, n: int, name: str):
        """`Dense(n)` without bias from f(parent), seeded; None for a prior.

        Its seed is drawn for a prior too, so that the other weights' seeds do
        not depend on whether the layer has a parent.
        """
        initializer = self._next_initializer()
        if self.is_prior:
            return None
        layer = keras.layers.Dense(n, use_bias=False, dtype=self.dtype_policy, name=name,
                                   kernel_initializer=initializer)
        layer.build((None, self.feature_dim))
        return layer

    def _weight(self, shape, name: str, initializer=None):
        """A float32-math weight (zeros, or seeded Glorot); never autocast."""
        return self.add_weight(
            shape=shape, name=name, autocast=False,
            initializer=initializer or self._next_initializer())

    # ------------------------------------------------------------- parent
    def _features(self, parent):
        """f(parent) in the compute dtype, `[..., feature_dim]`; None for a prior."""
        if self.is_prior:
            return None
        if parent is None:
            raise ValueError(f"{self.name} ({type(self).__name__}) conditions on a parent "
                             f"of width {self.parent_dim}. Received: parent=None")
        hidden = parent
        for layer in self.hidden_layers:
            hidden = layer(hidden)
        return hidden

    @staticmethod
    def _project(layer, features):
        """`features @ layer.kernel` as float32 `[..., n]`; 0. for a prior."""
        return 0.0 if layer is None else tf.cast(layer(features), tf.float32)

    def _parent_context(self, parent):
        """The subclass's context and its leading shape (int32 `[r]`)."""
        if parent is None:
            leading = tf.zeros([0], tf.int32)
        else:
            parent = tf.convert_to_tensor(parent)
            leading = tf.shape(parent)[:-1]
        return self._context(self._features(parent), leading), leading

    # -------------------------------------------------------- the methods
    def sample(self, parent, seed, sample_shape=()) -> tf.Tensor:
        """Draws `v ~ p(v | parent)` unit after unit, statelessly.

        Args:
          parent: float `[..., parent_dim]`; for a prior None (or any tensor
            `[..., n]`, of which only the leading shape `[...]` is used).
          seed: int32 `[2]` stateless seed; unit j is drawn with
            `stateless_fold_in(seed, j)`.
          sample_shape: leading shape of the draw, e.g. `(num_samples,)`.

        Returns:
          float32 0/1 `sample_shape + parent.shape[:-1] + [units]` (a prior
          with parent None: `sample_shape + [units]`).
        """
        with tf.name_scope("autoregressive_sample"):
            seed = tf.convert_to_tensor(seed, dtype_hint=tf.int32)
            context, leading = self._parent_context(parent)
            sample_shape = tf.cast(tf.reshape(
                tf.convert_to_tensor(sample_shape, dtype_hint=tf.int32), [-1]), tf.int32)

            def draw(logit, j):
                return sample_bernoulli_logits(
                    logit, tf.random.experimental.stateless_fold_in(seed, j))

            # Discrete draws carry no gradient: without this stop a loss of
            # log_prob(draw) would differentiate through the loop (its
            # TensorArray), which tf.vectorized_map cannot convert.
            return tf.stop_gradient(
                self._recursion(context, tf.concat([sample_shape, leading], 0), draw))

    def mean_field(self, parent) -> tf.Tensor:
        """The mean-field recursion: each unit fed the probabilities before it.

        `m_j = sigmoid(logit_j(parent, m_<j))`, in the unit order: a cheap
        deterministic summary of `p(v | parent)` (what `call` returns), not its
        marginal means `E[v_j]` (those average `sigmoid(logit_j)` over the
        draws of v_<j, which this does not).

        Args:
          parent: float `[..., parent_dim]` (a prior: None or any `[..., n]`).

        Returns:
          float32 probabilities `parent.shape[:-1] + [units]`.
        """
        with tf.name_scope("autoregressive_mean_field"):
            context, leading = self._parent_context(parent)
            return self._recursion(context, leading, lambda logit, j: tf.sigmoid(logit))

    def log_prob(self, parent, value) -> tf.Tensor:
        """`log p(value | parent)` in nats, summed over units, in one vectorized pass.

        Args:
          parent: float `[..., parent_dim]` (a prior: None or any `[..., n]`).
          value: 0/1 `[..., units]`, broadcasting against the parent's
            leading shape.

        Returns:
          float32 `[...]`, the broadcast of `value.shape[:-1]` and
          `parent.shape[:-1]`.
        """
        with tf.name_scope("autoregressive_log_prob"):
            value = tf.cast(value, tf.float32)
            if value.shape.rank is not None and value.shape[-1] not in (None, self.units):
                raise ValueError(f"{self.name} has {self.units} units. "
                                 f"Received: value.shape={tuple(value.shape)}")
            context, _ = self._parent_context(parent)
            return log_prob_logits(self._all_logits(context, value), value)

    def _recursion(self, context, shape, choose):
        """Runs the units in order: `v_j = choose(logit_j, j)`, float32 `shape + [units]`.

        A `tf.while_loop` over j (one graph op, not D Python steps), so it
        compiles under XLA and exports in a SavedModel.
        """
        state = self._start(context, shape)
        values = tf.TensorArray(tf.float32, size=self.units,
                                element_shape=state.shape[:-1])

        def step(j, state, values):
            value = choose(self._logit(context, state, j), j)  # [*shape]
            return j + 1, self._advance(context, state, j, value), values.write(j, value)

        # maximum_iterations: XLA differentiates a while loop only with it.
        _, _, values = tf.while_loop(lambda j, *_: j < self.units, step,
                                     (tf.constant(0), state, values),
                                     maximum_iterations=self.units)
        stacked = values.stack()  # [units, *shape]
        rank = stacked.shape.rank
        return tf.transpose(stacked, list(range(1, rank)) + [0])  # [*shape, units]

    def _context(self, features, leading):
        raise NotImplementedError

    def _start(self, context, shape):
        raise NotImplementedError

    def _logit(self, context, state, j):
        raise NotImplementedError

    def _advance(self, context, state, j, value):
        raise NotImplementedError

    def _all_logits(self, context, value):
        raise NotImplementedError

    # -------------------------------------------------------------- keras
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, activation=self.activation,
                      seed=self.seed)
        return config


def _broadcast_leading(tensor, leading):
    """`tensor` `[n]` or `[..., n]` broadcast to `leading + [n]`."""
    return tf.broadcast_to(tensor, tf.concat([leading, tf.shape(tensor)[-1:]], 0))


@keras.saving.register_keras_serializable(package="tfhm")
class DARN(AutoregressiveConditional):
    """The DARN layer: unit j's logit is linear in the parent and in v_<j.

    `logit_j = b_j + (f(parent) U)_j + sum_{i<j} W_ji v_i` for j = 0..D-1 in
    index order (v_0 first): unit j conditions on the units before it. W is
    `[units, units]`, used strictly below its diagonal: its diagonal and upper
    part are masked out by `tf.linalg.band_part` (a select, so not even a NaN
    there reaches an output or a gradient). f is the MLP of `hidden_units`;
    a prior (parent_dim None) has no `U` term.

    Weights: `bias` b `[units]` (zeros), `kernel` W `[units, units]` (Glorot
    uniform), and for a conditional `parent_kernel` U (a bias-free `Dense`,
    Glorot uniform) after the hidden layers. With W = 0 this is the SBN layer.

    Cost: `log_prob` is one masked matrix product, `O(N D^2)` for N values;
    `sample` and `mean_field` a loop of D steps, each `O(N D)` (it adds unit
    j's column of W to the logits of the units after it). Seed rule and
    order: see `AutoregressiveConditional`.

    Args:
      units: the size D of the binary vector, a positive int.
      parent_dim: the width of the parent, a positive int; None for a prior.
      hidden_units: sizes of the deterministic hidden layers from the parent
        (a tuple of positive ints; `()` for a linear parent term).
      activation: activation of the hidden layers (a Keras activation name).
      seed: int or None; seeds the initializers.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    layer = tfhm.conditionals.make("darn", units=5, parent_dim=3, seed=0)
    parent = tf.ones([2, 4, 3])                              # [K, batch, 3]
    v = layer.sample(parent, seed=tf.constant([1, 2]))       # [2, 4, 5] of 0/1
    log_p = layer.log_prob(parent, v)                        # [2, 4] nats
    prior = tfhm.conditionals.make("darn", units=5, parent_dim=None, seed=0)
    z = prior.sample(None, seed=tf.constant([3, 4]), sample_shape=(10,))  # [10, 5]
    assert v.shape == (2, 4, 5) and log_p.shape == (2, 4) and z.shape == (10, 5)
    ```

    #### References

    [1]: Gregor, K., Danihelka, I., Mnih, A., Blundell, C. & Wierstra, D.
         Deep AutoRegressive Networks. ICML (2014).
    [2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
    """

    _num_kernels = 2  # U, W

    def __init__(self, units: int, parent_dim: int | None = None, hidden_units=(),
                 activation="tanh", seed: int | None = None, **kwargs):
        super().__init__(units, parent_dim, hidden_units=hidden_units,
                         activation=activation, seed=seed, **kwargs)
        self.parent_kernel = self._projection(self.units, "parent_kernel")
        self.bias = self._weight((self.units,), "bias", "zeros")
        self.kernel = self._weight((self.units, self.units), "kernel")
        self.built = True

    def masked_kernel(self) -> tf.Tensor:
        """W strictly below the diagonal, float32 `[units, units]` (row j: unit j's inputs)."""
        kernel = tf.linalg.band_part(tf.cast(self.kernel, tf.float32), -1, 0)
        return tf.linalg.set_diag(kernel, tf.zeros([self.units], tf.float32))

    def _context(self, features, leading):
        base = self.bias + self._project(self.parent_kernel, features)  # [..., D]
        return _broadcast_leading(base, leading), self.masked_kernel()

    def _start(self, context, shape):
        base, _ = context
        return _broadcast_leading(base, shape)  # logits given v_<0: [*shape, D]

    def _logit(self, context, state, j):
        return tf.gather(state, j, axis=-1)

    def _advance(self, context, state, j, value):
        _, kernel = context
        # Unit j's column reaches the units after it only (rows i > j).
        return state + value[..., tf.newaxis] * tf.gather(kernel, j, axis=1)

    def _all_logits(self, context, value):
        base, kernel = context
        # sum_i W_ji v_i for every j: one matrix product (tensordot reshapes to
        # [N, D]; an einsum over "..." had a gradient 200x slower, at D = 784).
        return base + tf.tensordot(value, tf.transpose(kernel), axes=1)  # [..., D]


@register("darn")
def _darn(units, parent_dim, hidden_units=(), activation="tanh", seed=None,
          dtype=None, name=None):
    """A `DARN` layer; a prior (parent_dim None) has no hidden layers to use."""
    return DARN(units, parent_dim, hidden_units=() if parent_dim is None else hidden_units,
                activation=activation, seed=seed, dtype=dtype, name=name)
