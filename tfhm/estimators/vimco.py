"""VIMCO (Mnih & Rezende 2016): the K-sample bound with leave-one-out control variates.

With K draws z_1..z_K ~ q(z | x) and `log w_k = log p(x, z_k) - log q(z_k | x)`:

  L      = log (1/K) sum_k w_k                     (the K-sample bound's sample)
  L_(-k) = log (1/K) (sum_(j != k) w_j + w^_(-k)),
           log w^_(-k) = (1/(K-1)) sum_(j != k) log w_j   (geometric mean)
  grad_q = sum_k (L - L_(-k)) grad log q(z_k | x)
           + sum_k w~_k grad (-log q(z_k | x))      (w~ = self-normalized w)
  grad_p = sum_k w~_k grad log p(x, z_k)           (= grad L, exact)

`L_(-k)` does not depend on z_k, so each control variate keeps the estimate
unbiased for the gradient of `E[L]`, the K-sample bound (Burda et al. 2016),
which rises to log p(x) as K grows. Needs K >= 2.

#### References

[1]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
     objectives. ICML (2016), eqs. 5-10. arXiv:1602.06725.
[2]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
"""

from __future__ import annotations

import tensorflow as tf

from tfhm._math import log_mean_exp
from tfhm.estimators.base import Estimate, Estimator, draw, register, weights_logs

__all__ = ["VIMCO", "leave_one_out_bounds"]


def leave_one_out_bounds(log_w: tf.Tensor) -> tf.Tensor:
    """`L_(-k)`: the bound with draw k replaced by the others' geometric mean.

    Args:
      log_w: float32 `[K, batch]`, K >= 2.

    Returns:
      float32 `[K, batch]`; row k does not depend on `log_w[k]`.
    """
    k = tf.shape(log_w)[0]
    k_float = tf.cast(k, log_w.dtype)
    others_mean = (tf.reduce_sum(log_w, axis=0) - log_w) / (k_float - 1.0)
    # swapped[k, j] = log_w[j] for j != k, the geometric mean for j == k.
    eye = tf.eye(k, dtype=tf.bool)[:, :, tf.newaxis]  # [K, K, 1]
    swapped = tf.where(eye, others_mean[:, tf.newaxis, :],
                       log_w[tf.newaxis, :, :])  # [K, K, batch]
    return log_mean_exp(swapped, axis=1)


@register
class VIMCO(Estimator):
    """VIMCO: unbiased gradients of the K-sample bound for discrete latents.

    The generator's gradient is the exact gradient of the bound's sample L;
    the recognizer's uses each draw's leave-one-out control variate. See the
    module docstring for the formulas. K >= 2 (default 5).

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    out = estimators.get("vimco")()(gen, rec, tf.ones([4, 6]), num_samples=5,
                                    seed=tf.constant([0, 1]))
    assert set(out.logs) >= {"elbo", "ess", "bound"}
    ```

    #### References

    [1]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
         objectives. ICML (2016).
    """

    name = "vimco"

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        log_p, log_q, _ = draw(generator, recognizer, x, num_samples, seed)
        log_w = log_p - log_q  # [K, batch]
        bound = log_mean_exp(log_w)  # [batch]; gradients into p and q
        signal = tf.stop_gradient(bound[tf.newaxis] - leave_one_out_bounds(log_w))
        surrogate_q = tf.reduce_sum(signal * log_q, axis=0) + bound  # [batch]
        logs = weights_logs(log_w, reduce)
        logs["bound"] = reduce(tf.stop_gradient(bound))
        return Estimate(reduce(-bound), reduce(-surrogate_q), logs)
