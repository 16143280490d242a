"""REINFORCE with the leave-one-out baseline (Kool, van Hoof & Welling 2019), for the ELBO.

With K draws z_1..z_K ~ q(z | x), `f_k = log p(x, z_k) - log q(z_k | x)`:

  grad_q = (1/K) sum_k (f_k - b_k) grad log q(z_k | x),
           b_k = (1/(K-1)) sum_(j != k) f_j
         = (1/(K-1)) sum_k (f_k - mean_j f_j) grad log q(z_k | x)
  grad_p = (1/K) sum_k grad log p(x, z_k)       (exact, given the draws)

`b_k` does not depend on z_k, so the estimate is unbiased for the ELBO's
gradient "for free" (no extra network or evaluation). The direct term
`E_q[grad (-log q)]` of the ELBO's gradient is zero and is left out (it
only adds variance). Needs K >= 2.

#### References

[1]: Kool, W., van Hoof, H. & Welling, M. Buy 4 REINFORCE samples, get a
     baseline for free! ICLR Workshop DeepRLStructPred (2019).
[2]: Salimans, T. & Knowles, D. A. On using control variates with
     stochastic approximation for variational Bayes. arXiv:1401.1022 (2014).
"""

from __future__ import annotations

import tensorflow as tf

from tfhm.estimators.base import Estimate, Estimator, draw, register, weights_logs

__all__ = ["ReinforceLOO"]


@register
class ReinforceLOO(Estimator):
    """REINFORCE with a leave-one-out baseline: unbiased ELBO gradients, K >= 2.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    out = estimators.get("reinforce_loo")()(gen, rec, tf.ones([4, 6]),
                                            num_samples=4, seed=tf.constant([0, 1]))
    ```

    #### References

    [1]: Kool, W., van Hoof, H. & Welling, M. Buy 4 REINFORCE samples, get
         a baseline for free! (2019).
    """

    name = "reinforce_loo"

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        log_p, log_q, _ = draw(generator, recognizer, x, num_samples, seed)
        f = tf.stop_gradient(log_p - log_q)  # [K, batch]
        k = tf.cast(tf.shape(f)[0], f.dtype)
        signal = (f - tf.reduce_mean(f, axis=0)) / (k - 1.0)  # [K, batch]
        surrogate_q = tf.reduce_sum(signal * log_q, axis=0)
        generator_loss = -tf.reduce_mean(log_p, axis=0)
        return Estimate(reduce(generator_loss), reduce(-surrogate_q),
                        weights_logs(f, reduce))
