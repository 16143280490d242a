"""One training step's gradients from any estimator: what `fit` and the Trainer call.

`compute_gradients` is tfhm's one training step, for every registered
estimator: `HelmholtzMachine.train_step` (Keras `fit`) and the Trainer's
compiled step both call it. One tape per network, the losses reduced by the
batch mean (or `sum / global_batch_size` under `tf.distribute`), optionally
scaled for mixed precision. Seeded runs of "wake_sleep" and
"reweighted_wake_sleep" keep the weights recorded in
tests/fixtures/seeded_training.npz bit for bit (tests/test_upgrade.py).

The recognizer's tape also differentiates the estimator's own trainable
variables (NVIL's baseline network): the sleep optimizer updates
`recognizer_variables(recognizer, estimator)`.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfhm.estimators import registry
from tfhm.estimators.base import Estimator

__all__ = ["LOG_NAMES", "compile_config", "compute_gradients", "deserialize",
           "from_compile_config", "make", "recognizer_variables", "serialize"]

# The logs of a step, as `fit`'s history and the Trainer's metrics name them.
LOG_NAMES = ("wake_loss", "sleep_loss", "elbo", "ess")


def recognizer_variables(recognizer, estimator: Estimator) -> list:
    """What the recognizer's loss trains: its weights, then the estimator's."""
    return list(recognizer.trainable_variables) + list(estimator.trainable_variables)


def batch_reduce(global_batch_size=None) -> Callable[[tf.Tensor], tf.Tensor]:
    """The mean over the batch, or `sum / global_batch_size` under `tf.distribute`."""
    if global_batch_size is None:
        return tf.reduce_mean

    def reduce(per_example):
        return tf.reduce_sum(per_example) / tf.cast(global_batch_size, tf.float32)

    return reduce


def compute_gradients(estimator: Estimator, generator, recognizer, x: tf.Tensor,
                      seed: tf.Tensor, num_samples: int, global_batch_size=None,
                      scale_losses: tuple[Callable, Callable] | None = None
                      ) -> tuple[list, list, dict]:
    """One step's gradients from `estimator`, one tape per network.

    Args:
      estimator: a (built) `Estimator`.
      generator, recognizer: the two networks.
      x: float32 `[batch, data_dim]` of zeros and ones.
      seed: int32 `[2]` stateless seed of this step.
      num_samples: K, a Python int.
      global_batch_size: under `tf.distribute`, the global batch size (the
        losses are then `sum / global_batch_size` on each replica). None:
        the mean.
      scale_losses: None, or `(wake_scale, sleep_scale)` applied to the
        generator's and the recognizer's loss before differentiation (the
        `scale_loss` of two `LossScaleOptimizer`s). Logs are never scaled.

    Returns:
      `(generator_grads, recognizer_grads, logs)`: gradient lists aligned
      with `generator.trainable_variables` and with
      `recognizer_variables(recognizer, estimator)`; `logs` a dict of the
      scalars `LOG_NAMES`: `wake_loss` (the generator's loss), `sleep_loss`
      (the recognizer's), `elbo`, `ess`.
    """
    with tf.GradientTape() as generator_tape, tf.GradientTape() as recognizer_tape:
        estimate = estimator(generator, recognizer, x, num_samples, seed,
                             reduce=batch_reduce(global_batch_size))
        generator_target = estimate.generator_loss
        recognizer_target = estimate.recognizer_loss
        if scale_losses is not None:
            generator_target = scale_losses[0](generator_target)
            recognizer_target = scale_losses[1](recognizer_target)
    generator_grads = generator_tape.gradient(
        generator_target, generator.trainable_variables)
    recognizer_grads = recognizer_tape.gradient(
        recognizer_target, recognizer_variables(recognizer, estimator))
    logs = {"wake_loss": estimate.generator_loss,
            "sleep_loss": estimate.recognizer_loss,
            "elbo": estimate.logs["elbo"], "ess": estimate.logs["ess"]}
    return generator_grads, recognizer_grads, logs


def make(algorithm: object = "wake_sleep", num_samples: object = None,
         recognizer_update: object = None, insomnia: object = None
         ) -> tuple[Estimator, int]:
    """An estimator and K from `compile`'s arguments.

    Args:
      algorithm: a registered name, a `tfhm.Algorithm`, or an `Estimator`
        instance (its options then come from its constructor).
      num_samples: K, or None for the estimator's default.
      recognizer_update, insomnia: reweighted wake-sleep's option (see
        `registry.resolve`).

    Returns:
      `(estimator, num_samples)`.

    Raises:
      ValueError: as `registry.resolve`; or an instance with
        `recognizer_update`/`insomnia` beside it.
    """
    if isinstance(algorithm, Estimator):
        if recognizer_update is not None or insomnia is not None:
            raise ValueError(
                "Options of an estimator instance go to its constructor, not "
                f"compile. Received: algorithm={algorithm!r}, recognizer_update="
                f"{recognizer_update!r}, insomnia={insomnia!r}")
        return algorithm, algorithm.check_num_samples(num_samples)
    name, k, options = registry.resolve(algorithm, num_samples, recognizer_update,
                                        insomnia)
    return registry.get(name)(**options), k


def serialize(estimator: Estimator) -> dict:
    """`{"name": ..., "config": ...}`, JSON-able (a compile config's `estimator`)."""
    return {"name": estimator.name, "config": dict(estimator.get_config())}


def deserialize(config: dict) -> Estimator:
    """The estimator of `serialize(estimator)` (a fresh one: state is not kept).

    Raises:
      ValueError: an unknown name.
    """
    return registry.get(config["name"]).from_config(dict(config.get("config", {})))


def compile_config(estimator: Estimator) -> dict:
    """The estimator's part of a model's compile config (JSON-able).

    `{"algorithm": name, "estimator_options": estimator.get_config()}`; the
    estimator's training-only state is not part of it.
    """
    return {"algorithm": estimator.name,
            "estimator_options": dict(estimator.get_config())}


def from_compile_config(config: dict) -> object:
    """`compile`'s `algorithm` argument from a compile config (pops the options).

    Returns the estimator of `compile_config`, or, for a config saved before
    estimators existed (`algorithm` and `recognizer_update`, no
    `estimator_options`), the algorithm's name as it was.
    """
    options = config.pop("estimator_options", None)
    if options is None:
        return config["algorithm"]
    return registry.get(config["algorithm"]).from_config(dict(options))
