"""`TrainHistory`: what `Trainer.fit` returns (imports no TensorFlow)."""

from __future__ import annotations

__all__ = ["TrainHistory"]


class TrainHistory(list):
    """What `Trainer.fit` returns: one dict per epoch, and Keras' `History` view.

    A list (as before) of the rows of the run's metrics, one dict per epoch
    (`epoch` 1-based, the training means, the `val_*` metrics ...), with the
    two attributes of the `keras.callbacks.History` that `hm.fit` returns:
    `history`, a dict from each logged name to its per-epoch values, and
    `epoch`, the 0-based epoch indices.

    #### Examples

    ```python
    from tfhm.training.trainer import TrainHistory
    h = TrainHistory([{"epoch": 1, "elbo": -20.5}, {"epoch": 2, "elbo": -19.0}])
    assert h.history == {"elbo": [-20.5, -19.0]} and h.epoch == [0, 1]
    assert h[-1]["elbo"] == -19.0          # still the list of rows
    ```
    """

    @property
    def history(self) -> dict[str, list]:
        """`{name: [value of epoch 1, value of epoch 2, ...]}`, as Keras' `History.history`.

        Every name any row logged, in the order first seen; NaN for an epoch
        that did not log it. `epoch` is the list `epoch` instead.
        """
        names = list(dict.fromkeys(key for row in self for key in row if key != "epoch"))
        return {name: [row.get(name, float("nan")) for row in self] for name in names}

    @property
    def epoch(self) -> list[int]:
        """The 0-based indices of the epochs, as Keras' `History.epoch`."""
        return [int(row["epoch"]) - 1 for row in self]
