"""`hm.optimizer`: the wake and sleep optimizers as Keras' callbacks see them.

`keras.Model.fit` has one optimizer, `model.optimizer`; a Helmholtz machine
has two. `LinkedOptimizers` is what `HelmholtzMachine.optimizer` returns once
compiled: it exposes both real optimizers through the `optimizers` list that
Keras' `LearningRateScheduler` and `ReduceLROnPlateau` drive one by one
(history keys `learning_rate_wake` and `learning_rate_sleep`), and a
`learning_rate` of its own for code that sets one rate.
"""

from __future__ import annotations

import keras

__all__ = ["LinkedOptimizers", "phase_optimizers"]


def phase_optimizers(wake, sleep, scale: bool) -> tuple:
    """`compile`'s two optimizers, each in a `LossScaleOptimizer` when `scale`.

    Args:
      wake, sleep: optimizers or their identifiers (`"adam"`, a config).
      scale: wrap each in Keras' `LossScaleOptimizer` (once) for mixed_float16.

    Raises:
      ValueError: one optimizer object for both phases. Each keeps slots for
        its own network's weights; Keras would refuse it only at the first
        training step, naming a variable.
    """
    wake, sleep = keras.optimizers.get(wake), keras.optimizers.get(sleep)
    if wake is sleep:
        raise ValueError(
            "wake_optimizer and sleep_optimizer must be two optimizer objects: "
            "each keeps state (e.g. Adam's moments) for its own network. Received "
            f"the same {type(wake).__name__} object for both.")
    if scale:
        wake, sleep = (o if isinstance(o, keras.optimizers.LossScaleOptimizer)
                       else keras.optimizers.LossScaleOptimizer(o) for o in (wake, sleep))
    return wake, sleep


class _RateView:
    """One real optimizer under a phase name (`wake`, `sleep`) for the logs."""

    def __init__(self, optimizer: keras.optimizers.Optimizer, name: str):
        self._optimizer = optimizer
        self.name = name

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._optimizer.learning_rate = value

    def __repr__(self):
        return f"<{self.name} optimizer: {self._optimizer!r}>"


class LinkedOptimizers:
    """The pair (wake optimizer, sleep optimizer) as one `model.optimizer`.

    - `optimizers`: both, named `wake` and `sleep`; Keras' learning-rate
      callbacks act on each in turn (a schedule `f(epoch, lr)` sees each
      optimizer's own rate) and log `learning_rate_wake` and
      `learning_rate_sleep`, the rates the optimizers then use.
    - `learning_rate`: the wake optimizer's rate; setting it sets the wake
      rate and moves the sleep rate with it, keeping their ratio.
    - `iterations`: the wake optimizer's step counter (one per batch).

    #### Examples

    ```python
    import keras
    import tfhm
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
               sleep_optimizer=keras.optimizers.Adam(2e-3))
    hm.optimizer.learning_rate = 1e-2  # wake 1e-2, sleep 2e-2
    assert abs(float(hm.sleep_optimizer.learning_rate) - 2e-2) < 1e-9
    ```
    """

    built = True  # Keras' fit builds an unbuilt model.optimizer: nothing to do.

    def __init__(self, wake: keras.optimizers.Optimizer,
                 sleep: keras.optimizers.Optimizer):
        self.wake = wake
        self.sleep = sleep

    @property
    def optimizers(self) -> list:
        return [_RateView(self.wake, "wake"), _RateView(self.sleep, "sleep")]

    @property
    def iterations(self):
        return self.wake.iterations

    @property
    def variables(self) -> list:
        return list(self.wake.variables) + list(self.sleep.variables)

    @property
    def learning_rate(self):
        return self.wake.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        wake = float(keras.ops.convert_to_numpy(self.wake.learning_rate))
        sleep = float(keras.ops.convert_to_numpy(self.sleep.learning_rate))
        value = float(keras.ops.convert_to_numpy(value))
        self.wake.learning_rate = value
        self.sleep.learning_rate = value * sleep / wake if wake else value

    def build(self, variables) -> None:
        """Nothing: `compile` built both optimizers on their own networks."""

    def __repr__(self):
        return f"<LinkedOptimizers wake={self.wake!r} sleep={self.sleep!r}>"
