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
objective given the draws (for wake-sleep: of the ELBO; for reweighted
wake-sleep: of the self-normalized importance-sampling estimate of log p(x)).

The package is imported lazily (PEP 562): `names()`, `spec()` and
`registry.resolve()` need no TensorFlow (the command line's choices and
`TrainConfig`'s checks); the estimator classes, `get(name)` and
`gradient_variance` import it on first use.

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

from __future__ import annotations

from tfhm import _lazy
from tfhm.estimators.registry import Spec, get, names, register, spec

# Public name -> the module that defines it (imported on first use).
_LAZY = {
    "Estimate": "base",
    "Estimator": "base",
    "DisARM": "disarm",
    "NVIL": "nvil",
    "Reinforce": "reinforce",
    "ReinforceLOO": "reinforce_loo",
    "ReweightedWakeSleep": "reweighted_wake_sleep",
    "VIMCO": "vimco",
    "WakeSleep": "wake_sleep",
    "gradient_estimates": "variance",
    "gradient_variance": "variance",
}

__all__ = [
    "NVIL",
    "VIMCO",
    "DisARM",
    "Estimate",
    "Estimator",
    "Reinforce",
    "ReinforceLOO",
    "ReweightedWakeSleep",
    "Spec",
    "WakeSleep",
    "get",
    "gradient_estimates",
    "gradient_variance",
    "names",
    "register",
    "spec",
]


__getattr__, __dir__ = _lazy.attach(
    __name__, globals(), {name: f"{__name__}.{module}" for name, module in _LAZY.items()})
