"""Conditionals: the layers of p and q, and the protocol they share.

Built-in names (`tfhm.conditionals.names()`), each usable as a prior, a
p-layer and a q-layer:

- `"sbn"`: the factorized sigmoid-belief-net layer (`tfhm.layers.DenseBernoulli`;
  `tfhm.layers.BernoulliPrior` as a prior), tfhm's default;
- `"darn"`: the autoregressive DARN layer (Gregor et al. 2014), `DARN`;
- `"nade"`: the NADE layer (Larochelle & Murray 2011; Bornschein & Bengio
  2015), `NADE`.

`KerasBernoulli` makes any Keras network a factorized conditional (a
convolutional recognizer body, a deconvolutional decoder). The protocol
itself is `Conditional` (see `tfhm.conditionals.base`); `register` adds a
name of your own.

#### Examples

```python
import tensorflow as tf
import tfhm
layer = tfhm.conditionals.make("sbn", units=4, parent_dim=6, seed=0)
parent = tf.ones([3, 6])
z = layer.sample(parent, seed=tf.constant([1, 2]))      # [3, 4] of 0/1
log_p = layer.log_prob(parent, z)                         # [3] nats
```
"""

from tfhm.conditionals.base import (
    Conditional,
    FactorizedConditional,
    get,
    make,
    names,
    register,
    require_factorized,
)
from tfhm.conditionals.darn import DARN, AutoregressiveConditional
from tfhm.conditionals.keras_network import KerasBernoulli
from tfhm.conditionals.nade import NADE

__all__ = ["DARN", "NADE", "AutoregressiveConditional", "Conditional",
           "FactorizedConditional", "KerasBernoulli", "get", "make", "names",
           "register", "require_factorized"]
