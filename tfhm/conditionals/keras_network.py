"""Any Keras network as a conditional: a factorized Bernoulli with its logits.

`KerasBernoulli(network, units, parent_dim)` is the factorized conditional
`p(v | parent) = prod_j Bernoulli(v_j; sigmoid(network(parent)_j))`: the
network maps `[batch, parent_dim]` to `[batch, units]` logits and may be
anything Keras builds (a `Conv2D` body behind a `Reshape`, a
deconvolutional decoder, a residual MLP). Leading dimensions beyond the
batch (the K draws of q, `[K, batch, d]`) are folded into the batch for the
network and unfolded after, so a network written for `[batch, ...]` inputs
serves every path of tfhm.

The network is saved inside the layer (`get_config` serializes it), so a
`.keras` file of a model built from `KerasBernoulli` layers loads as long as
the network's own layers are registered with Keras serialization (every
built-in layer is; a custom one needs
`keras.saving.register_keras_serializable`).

#### Examples

```python
import keras
import tensorflow as tf
import tfhm
body = keras.Sequential([
    keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
    keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Flatten(),
    keras.layers.Dense(16)])                      # [batch, 16] logits
q1 = tfhm.conditionals.KerasBernoulli(body, units=16, parent_dim=64)
z = q1.sample(tf.zeros([5, 64]), seed=tf.constant([1, 2]), sample_shape=(3,))
assert z.shape == (3, 5, 16)
```
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfhm.conditionals.base import FactorizedConditional

__all__ = ["KerasBernoulli"]


@keras.saving.register_keras_serializable(package="tfhm")
class KerasBernoulli(FactorizedConditional):
    """A factorized Bernoulli conditional whose logits are a Keras network's output.

    Args:
      network: a Keras layer or model mapping float32 `[batch, parent_dim]`
        to `[batch, units]` logits (built here on `(None, parent_dim)`).
      units: the number of binary units, the network's output width.
      parent_dim: the width of the parent (the layer above it in p, below
        it in q).

    Raises:
      ValueError: a network whose output is not `[batch, units]`.
    """

    def __init__(self, network, units, parent_dim, **kwargs):
        if parent_dim is None:
            raise ValueError("A KerasBernoulli layer needs a parent (a prior has no "
                             "input to run a network on). Received: parent_dim=None")
        super().__init__(units, parent_dim, **kwargs)
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        if not isinstance(network, keras.layers.Layer):
            raise TypeError(f"`network` must be a Keras layer or model. Received: "
                            f"{network!r}")
        self.network = network
        if not network.built:
            network.build((None, self.parent_dim))
        shape = tuple(network.compute_output_shape((None, self.parent_dim)))
        if len(shape) != 2 or shape[-1] != self.units:
            raise ValueError(
                f"`network` must map [batch, {self.parent_dim}] to [batch, "
                f"{self.units}] logits. Received a network whose output shape is "
                f"{shape}")
        self.built = True

    def compute_logits(self, parent) -> tf.Tensor:
        parent = tf.convert_to_tensor(parent)
        leading = tf.shape(parent)[:-1]
        flat = tf.reshape(parent, [-1, self.parent_dim])  # [prod(leading), n]
        logits = tf.cast(self.network(flat), tf.float32)  # [prod(leading), units]
        return tf.reshape(logits, tf.concat([leading, [self.units]], axis=0))

    def get_config(self):
        config = super().get_config()
        config["network"] = keras.saving.serialize_keras_object(self.network)
        return config
