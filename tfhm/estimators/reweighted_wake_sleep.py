"""Reweighted wake-sleep (Bornschein & Bengio 2015), with Pyro's `insomnia`.

  generator:          loss_p = - sum_k w~_k log p(x, z_k),  z_k ~ q(z | x)
  recognizer (wake):  loss_w = - sum_k w~_k log q(z_k | x)
  recognizer (sleep): loss_s = - log q(z | x),              (z, x) ~ p
  recognizer:         loss_q = insomnia * loss_w + (1 - insomnia) * loss_s

with `w~_k = w_k / sum_j w_j` the self-normalized importance weights of one
example. `insomnia` follows Pyro's `ReweightedWakeSleep` (the weight of the
WAKE update: 1 is wake only, 0 sleep only); 0.5 is tfhm's default, the
"wake_sleep" recognizer update, the best variant in Bornschein & Bengio
(2015), Section 4.

Both updates are BIASED for any finite K (`objective = "none"`): the
self-normalized weights make the generator's update a biased (consistent as
K grows) estimate of the gradient of log p(x), and the recognizer's wake
update is the gradient of an estimate of `KL(p(z | x) || q(z | x))`, not of
a bound. tests/test_estimators.py measures the bias on an enumerable model.

#### References

[1]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
     arXiv:1406.2751.
[2]: Le, T. A., Kosiorek, A. R., Siddharth, N., Teh, Y. W. & Wood, F.
     Revisiting reweighted wake-sleep for models with stochastic control
     flow. UAI (2019). (Pyro's `insomnia`.)
"""

from __future__ import annotations

from tfhm.algorithms import Algorithm, RecognizerUpdate
from tfhm.estimators.base import Estimate, Estimator, register
from tfhm.estimators.registry import INSOMNIA, unit_interval
from tfhm.estimators.wake_sleep import wake_sleep_estimate

__all__ = ["ReweightedWakeSleep"]


@register
class ReweightedWakeSleep(Estimator):
    """Reweighted wake-sleep: K importance-weighted draws of q per example.

    Args:
      insomnia: float in [0, 1], the weight of the recognizer's wake update
        (Pyro's convention); or a `tfhm.RecognizerUpdate` / its string
        ("wake" = 1, "wake_sleep" = 0.5, "sleep" = 0). Default 0.5.

    Raises:
      ValueError: insomnia outside [0, 1] or an unknown recognizer update.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    est = estimators.get("reweighted_wake_sleep")(insomnia="wake")
    assert est.insomnia == 1.0
    out = est(gen, rec, tf.ones([4, 6]), num_samples=5, seed=tf.constant([0, 1]))
    ```
    """

    name = "reweighted_wake_sleep"

    def __init__(self, insomnia: float | str | RecognizerUpdate = 0.5):
        if isinstance(insomnia, (str, RecognizerUpdate)):
            insomnia = INSOMNIA[RecognizerUpdate.parse(insomnia)]
        self.insomnia = unit_interval("insomnia", insomnia)

    @property
    def recognizer_update(self) -> RecognizerUpdate | None:
        """The update of `insomnia` 1, 0.5 or 0; None for other values."""
        return {v: k for k, v in INSOMNIA.items()}.get(self.insomnia)

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        return wake_sleep_estimate(
            generator, recognizer, x, num_samples, seed, reduce,
            Algorithm.REWEIGHTED_WAKE_SLEEP, insomnia=self.insomnia)

    def get_config(self) -> dict:
        return {"insomnia": self.insomnia}
