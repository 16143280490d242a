"""Plain REINFORCE of the K-sample bound: the reference without a control variate.

  L      = log (1/K) sum_k w_k,  z_k ~ q(z | x)
  grad_q = sum_k L grad log q(z_k | x) + sum_k w~_k grad (-log q(z_k | x))
  grad_p = grad L

The score-function (likelihood-ratio) estimator of Williams (1992) with no
baseline: unbiased for the gradient of the K-sample bound (the ELBO for
K = 1), and the estimator every control variate of this package is measured
against (VIMCO's leave-one-out control variates are its improvement, Mnih &
Rezende 2016, Section 3). Mostly useful as that reference: its variance is
large.

#### References

[1]: Williams, R. J. Simple statistical gradient-following algorithms for
     connectionist reinforcement learning. Machine Learning 8 (1992).
[2]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
     objectives. ICML (2016).
"""

from __future__ import annotations

import tensorflow as tf

from tfhm._math import log_mean_exp
from tfhm.estimators.base import Estimate, Estimator, draw, register, weights_logs

__all__ = ["Reinforce"]


@register
class Reinforce(Estimator):
    """REINFORCE without a baseline, for the K-sample bound (default K = 1: the ELBO).

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    out = estimators.get("reinforce")()(gen, rec, tf.ones([4, 6]),
                                        num_samples=1, seed=tf.constant([0, 1]))
    ```
    """

    name = "reinforce"

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        log_p, log_q, _ = draw(generator, recognizer, x, num_samples, seed)
        log_w = log_p - log_q  # [K, batch]
        bound = log_mean_exp(log_w)  # [batch]
        signal = tf.stop_gradient(bound)[tf.newaxis]  # [1, batch]
        surrogate_q = tf.reduce_sum(signal * log_q, axis=0) + bound
        logs = weights_logs(log_w, reduce)
        logs["bound"] = reduce(tf.stop_gradient(bound))
        return Estimate(reduce(-bound), reduce(-surrogate_q), logs)
