"""The estimator protocol and the registry of estimators by name.

An estimator turns one batch into one surrogate loss per network:

  estimate = estimator(generator, recognizer, x, num_samples, seed)
  d estimate.generator_loss  / d generator.trainable_variables
  d estimate.recognizer_loss / d (recognizer.trainable_variables
                                  + estimator.trainable_variables)

are its gradient estimates (of the negated objective: minimize the losses).
Each loss is `reduce(per_example)` of a per-example surrogate `[batch]`,
`reduce` a linear map (the batch mean by default, `sum / global_batch_size`
under `tf.distribute`, the identity for per-example gradients), so one
example's estimate depends on that example's draws alone.

An estimator's own trainable state (NVIL's baseline network) trains on the
recognizer's loss: the gradient of `recognizer_loss` with respect to
`estimator.trainable_variables` is its update, and those variables never
receive gradient from the recognizer's part (nor the recognizer from theirs).

#### References

[1]: Mnih, A. & Rezende, D. J. Variational inference for Monte Carlo
     objectives. ICML (2016). arXiv:1602.06725.
[2]: Mnih, A. & Gregor, K. Neural variational inference and learning in
     belief networks. ICML (2014). arXiv:1402.0030.
[3]: Kool, W., van Hoof, H. & Welling, M. Buy 4 REINFORCE samples, get a
     baseline for free! ICLR Workshop DeepRLStructPred (2019).
[4]: Dong, Z., Mnih, A. & Tucker, G. DisARM: an antithetic gradient
     estimator for binary latent variables. NeurIPS (2020). arXiv:2006.10680.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, NamedTuple

import tensorflow as tf

from tfhm._math import effective_sample_size
from tfhm.algorithms import Algorithm, RecognizerUpdate
from tfhm.estimators import registry
from tfhm.estimators.registry import get, names, register

__all__ = ["Estimate", "Estimator", "get", "names", "register"]

Reduce = Callable[[tf.Tensor], tf.Tensor]

class Estimate(NamedTuple):
    """What an estimator returns for one batch.

    Attributes:
      generator_loss: float32 surrogate `reduce([batch])`; its gradient with
        respect to the generator's variables is the generator's estimate.
      recognizer_loss: float32 surrogate `reduce([batch])`; its gradient with
        respect to the recognizer's (and the estimator's own) trainable
        variables is their estimate.
      logs: dict of float32 `reduce([batch])` diagnostics: at least `elbo`
        (the mean of `log w` over the draws) and `ess` (Kish's effective
        sample size of the draws' importance weights).
    """

    generator_loss: tf.Tensor
    recognizer_loss: tf.Tensor
    logs: dict


class Estimator:
    """Base class of the gradient estimators of tfhm.

    Subclasses set the class attributes and implement `estimate`; they are
    plain Python objects (stateless ones hold only their options), so one
    instance per model is cheap. tfhm's own estimators set only `name`:
    `register` copies the other attributes from their `registry.Spec`, where
    each is written once.

    Class attributes:
      name: the registered name, e.g. "vimco".
      objective: a key of `registry.OBJECTIVES`: the objective whose
        gradient the estimator estimates without bias, or "none" for a
        biased update.
      default_num_samples: K when the user gives none (the paper's).
      min_num_samples: the smallest valid K.
      even_num_samples: whether K must be even (antithetic pairs).
      options: the keyword options of the constructor.
    """

    name: ClassVar[str] = ""
    objective: ClassVar[str] = "none"
    default_num_samples: ClassVar[int] = 1
    min_num_samples: ClassVar[int] = 1
    even_num_samples: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()

    def __call__(self, generator, recognizer, x: tf.Tensor, num_samples: int,
                 seed: tf.Tensor, reduce: Reduce | None = None,
                 update_state: bool = True) -> Estimate:
        """One batch's surrogate losses.

        Args:
          generator: a `tfhm.Generator`.
          recognizer: a `tfhm.Recognizer`.
          x: float32 `[batch, data_dim]` of zeros and ones.
          num_samples: K, a Python int (checked by `check_num_samples`).
          seed: int32 `[2]` stateless seed; the same seed gives the same
            draws and losses.
          reduce: a linear map from per-example `[batch]` values to what the
            losses and logs are; default `tf.reduce_mean`.
          update_state: whether a stateful estimator (NVIL) updates its
            running statistics; False for diagnostics.

        Returns:
          An `Estimate`.
        """
        return self.estimate(generator, recognizer, x, num_samples, seed,
                             tf.reduce_mean if reduce is None else reduce,
                             update_state)

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        raise NotImplementedError

    def check_num_samples(self, num_samples: int | None) -> int:
        """K as an int (the default for None): `registry.Spec.check_num_samples`.

        Raises:
          ValueError: K below `min_num_samples`, or odd when pairs are needed.
        """
        return registry.spec(self.name).check_num_samples(num_samples)

    def check_networks(self, generator, recognizer) -> None:
        """Refuses networks the estimator cannot train (`compile` calls it).

        Every score-function estimator works with any conditional; one that
        needs the factorized form of a layer raises `TypeError` naming it.
        """

    def build(self, data_dim: int, seed: int | None = None) -> None:
        """Creates the estimator's own variables (none by default).

        Call it once, eagerly, before training (an optimizer must see the
        variables it will update).
        """

    @property
    def trainable_variables(self) -> list:
        """Variables that train on `recognizer_loss` (none by default)."""
        return []

    @property
    def checkpoint_items(self) -> dict:
        """Trackables to put in a `tf.train.Checkpoint` (training-only state)."""
        return {}

    @property
    def algorithm(self):
        """The `tfhm.Algorithm` member of this estimator, or its name if none."""
        values = {member.value: member for member in Algorithm}
        return values.get(self.name, self.name)

    @property
    def recognizer_update(self) -> RecognizerUpdate | None:
        """The `tfhm.RecognizerUpdate` this estimator amounts to, if any."""
        return None

    def get_config(self) -> dict:
        """The estimator's options, as keyword arguments of its constructor."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Estimator:
        return cls(**config)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


# ------------------------------------------------------------------ helpers
def weights_logs(log_w: tf.Tensor, reduce: Reduce) -> dict:
    """The `elbo` and `ess` logs of draws with log-weights `[K, batch]`."""
    log_w = tf.stop_gradient(log_w)
    return {"elbo": reduce(tf.reduce_mean(log_w, axis=0)),
            "ess": reduce(effective_sample_size(log_w))}


def draw(generator, recognizer, x, num_samples, seed) -> tuple:
    """K draws of q and their log-densities.

    Returns:
      `(log_p, log_q, latents)`: float32 `[K, batch]` twice (gradients flow
      into both, never through the 0/1 samples) and the latents, a list of
      float32 `[K, batch, d_l]`, bottom to top.
    """
    latents, log_q = recognizer.sample(x, num_samples, seed)
    return generator.log_prob(x, latents), log_q, latents
