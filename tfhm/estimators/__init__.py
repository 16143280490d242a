"""Gradient estimators of a Helmholtz machine, one module each, behind one registry.

An estimator receives the generator, the recognizer, a batch x
`[batch, data_dim]`, K and an int32 `[2]` stateless seed, and returns one
surrogate loss per network plus scalar logs (`base.Estimate`); the gradient
of each loss with respect to its network's variables is the estimate.

| name                    | objective (unbiased for)  | K default | module                  |
|-------------------------|---------------------------|-----------|-------------------------|
| `wake_sleep`            | none (biased)             | 1         | wake_sleep              |
| `reweighted_wake_sleep` | none (biased)             | 5         | reweighted_wake_sleep   |
| `vimco`                 | K-sample bound            | 5 (>= 2)  | vimco                   |
| `reinforce`             | K-sample bound            | 1         | reinforce               |
| `nvil`                  | ELBO (scaled, see module) | 1         | nvil                    |
| `reinforce_loo`         | ELBO                      | 4 (>= 2)  | reinforce_loo           |
| `disarm`                | ELBO                      | 2 (even)  | disarm                  |

In every case the generator's loss is the exact gradient of the estimator's
objective given the draws (for the biased ones: of the ELBO, or of the
self-normalized importance-sampling estimate of log p(x)).

#### Examples

```python
import tensorflow as tf
import tfhm
from tfhm import estimators
assert "vimco" in estimators.names()
gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
vimco = estimators.get("vimco")()
with tf.GradientTape(persistent=True) as tape:
    out = vimco(gen, rec, tf.ones([4, 6]), num_samples=5, seed=tf.constant([0, 1]))
grads = tape.gradient(out.recognizer_loss, rec.trainable_variables)
```

#### References

[1]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
     objectives. ICML (2016).
[2]: Mnih, A. & Gregor, K. Neural variational inference and learning in
     belief networks. ICML (2014).
[3]: Kool, W., van Hoof, H. & Welling, M. Buy 4 REINFORCE samples, get a
     baseline for free! (2019).
[4]: Dong, Z., Mnih, A. & Tucker, G. DisARM: an antithetic gradient
     estimator for binary latent variables. NeurIPS (2020).
[5]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268 (1995).
[6]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

from tfhm.estimators.base import Estimate, Estimator, get, names, register
from tfhm.estimators.disarm import DisARM
from tfhm.estimators.nvil import NVIL
from tfhm.estimators.reinforce import Reinforce
from tfhm.estimators.reinforce_loo import ReinforceLOO
from tfhm.estimators.reweighted_wake_sleep import ReweightedWakeSleep
from tfhm.estimators.variance import gradient_estimates, gradient_variance
from tfhm.estimators.vimco import VIMCO
from tfhm.estimators.wake_sleep import WakeSleep

__all__ = [
    "NVIL",
    "VIMCO",
    "DisARM",
    "Estimate",
    "Estimator",
    "Reinforce",
    "ReinforceLOO",
    "ReweightedWakeSleep",
    "WakeSleep",
    "get",
    "gradient_estimates",
    "gradient_variance",
    "names",
    "register",
]
