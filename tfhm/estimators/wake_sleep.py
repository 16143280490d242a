"""Wake-sleep (Hinton et al. 1995) as an estimator: a thin adapter of `tfhm.objectives`.

  generator:  loss_p = - (1/K) sum_k log p(x, z_k),   z_k ~ q(z | x)
  recognizer: loss_q = - log q(z | x),                (z, x) ~ p  (dreams)

The generator's loss is the exact gradient of the ELBO with respect to the
generator given the draws; the recognizer's sleep update follows
`KL(p(z | x) || q(z | x))` averaged over the model's own dreams, not any
bound on the data's likelihood: wake-sleep is a BIASED estimator of the
ELBO's recognizer gradient (`objective = "none"`; tests/test_estimators.py
measures the bias on an enumerable model).

The losses are built by `objectives.wake_losses` and `objectives.sleep_loss`,
the wake phase seeded `_seeds.split(seed, 2)[0]` and the sleep phase
`[1]`, so a seeded run gives bitwise the weights it gave before estimators
existed (tests/fixtures/seeded_training.npz, tests/test_upgrade.py).

#### References

[1]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268, 1158-1161 (1995).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

from __future__ import annotations

import tensorflow as tf

from tfhm import _seeds, objectives
from tfhm.algorithms import Algorithm, RecognizerUpdate
from tfhm.estimators.base import Estimate, Estimator, register

__all__ = ["WakeSleep", "wake_sleep_estimate"]


def wake_sleep_estimate(generator, recognizer, x, num_samples, seed, reduce,
                        algorithm: Algorithm, insomnia: float) -> Estimate:
    """The losses of (reweighted) wake-sleep, in the order of tfhm 0.1.0's step.

    Args:
      generator, recognizer, x, num_samples, seed, reduce: as `Estimator`.
      algorithm: `Algorithm.WAKE_SLEEP` (uniform weights 1/K) or
        `Algorithm.REWEIGHTED_WAKE_SLEEP` (self-normalized weights).
      insomnia: weight of the recognizer's wake update in its loss (Pyro's
        convention): 1 wake only, 0 sleep only (no wake term, the dreams
        alone), else `insomnia * wake + (1 - insomnia) * sleep`.

    Returns:
      An `Estimate` with logs `elbo` and `ess`.
    """
    wake_seed, sleep_seed = tf.unstack(_seeds.split(seed, 2))
    wake = objectives.wake_losses(generator, recognizer, x, num_samples,
                                  wake_seed, algorithm)
    generator_loss = reduce(wake["generator"])
    if insomnia == 1.0:
        recognizer_loss = reduce(wake["recognizer"])
    else:
        sleep = reduce(objectives.sleep_loss(generator, recognizer,
                                             tf.shape(x)[0], sleep_seed))
        if insomnia == 0.0:
            recognizer_loss = sleep
        elif insomnia == 0.5:
            # 0.1.0's "wake_sleep" update, written as it always was.
            recognizer_loss = 0.5 * (reduce(wake["recognizer"]) + sleep)
        else:
            recognizer_loss = (insomnia * reduce(wake["recognizer"])
                               + (1.0 - insomnia) * sleep)
    logs = {"elbo": reduce(wake["elbo"]), "ess": reduce(wake["ess"])}
    return Estimate(generator_loss, recognizer_loss, logs)


@register
class WakeSleep(Estimator):
    """Wake-sleep: generator on K draws of q (weights 1/K), recognizer on dreams.

    K = 1 (default) is the classic algorithm of Hinton et al. (1995); K > 1
    averages the generator's update over K draws. Biased (see the module).

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    x = tf.ones([4, 6])
    est = estimators.get("wake_sleep")()
    out = est(gen, rec, x, num_samples=1, seed=tf.constant([0, 1]))
    assert out.generator_loss.shape == () and "elbo" in out.logs
    ```
    """

    name = "wake_sleep"

    @property
    def recognizer_update(self) -> RecognizerUpdate:
        return RecognizerUpdate.SLEEP

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        return wake_sleep_estimate(generator, recognizer, x, num_samples, seed,
                                   reduce, Algorithm.WAKE_SLEEP, insomnia=0.0)
