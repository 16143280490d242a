"""Keras' `fit` and `evaluate` for a `HelmholtzMachine` (a mixin, private).

What tfhm adds to the Keras loops: 0/1 checks of arrays (at once) and of
`tf.data` datasets (batch by batch), the model seed's shuffling of arrays in
`fit`, a Ctrl-C in `fit` that is never lost (`tfhm._interrupts`), and
`evaluate(seed=...)`, which evaluates in the blocks and with the draws of
`tfhm.evaluation.importance_sampled`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from tfhm import _checks, _model_data, _seeds, evaluation
from tfhm._interrupts import InterruptGuard
from tfhm.estimators import step as estimator_step

__all__ = ["KerasLoops"]

_IN_MEMORY = (np.ndarray, tf.Tensor, tf.Variable, list)


class _RaiseLostInterrupts(keras.callbacks.Callback):
    """Raises, before each training batch, a Ctrl-C that a finalizer swallowed."""

    def __init__(self, guard: InterruptGuard):
        super().__init__()
        self.guard = guard

    def on_train_batch_begin(self, batch, logs=None):
        self.guard.check()


@contextlib.contextmanager
def _added_to(callback_list: keras.callbacks.CallbackList, callback) -> Iterator[None]:
    callback_list.callbacks.append(callback)
    try:
        yield
    finally:
        callback_list.callbacks.remove(callback)


def _with_interrupt_raiser(callbacks, guard: InterruptGuard) -> tuple:
    """`fit`'s callbacks with `_RaiseLostInterrupts`, and a context to enter.

    A list, tuple or single callback is copied into a new list; a
    `CallbackList` (which Keras uses as it is) gets the callback for the
    duration of the context only.
    """
    raiser = _RaiseLostInterrupts(guard)
    if isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks, _added_to(callbacks, raiser)
    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    return [*callbacks, raiser], contextlib.nullcontext()


# What `test_step` logs; `fit` logs these with a `val_` prefix when it validates.
EVAL_LOG_NAMES = ("elbo", "log_likelihood")
_HIGHER_IS_BETTER = ("elbo", "log_likelihood", "ess")


def _check_monitors(callbacks, validating: bool, validation_freq=1) -> None:
    """Refuses a callback that would watch a log `fit` never writes, or the wrong way.

    Keras only warns, once an epoch, about a `monitor` it cannot find (the
    default `"val_loss"` is one: a Helmholtz machine has no single loss), and
    the callback never acts. A `ModelCheckpoint(save_best_only=True)` does
    worse where its `val_` monitor is missing (Keras 3.15 warns and saves):
    on the epochs without validation (`validation_freq` other than 1) or at
    every `save_freq` batches, it would overwrite the best model with the
    current one.
    """
    validation = [f"val_{name}" for name in EVAL_LOG_NAMES]
    logged = list(estimator_step.LOG_NAMES) + (validation if validating else [])
    for callback in getattr(callbacks, "callbacks", callbacks):
        monitor = getattr(callback, "monitor", None)
        if not isinstance(monitor, str) or (
                isinstance(callback, keras.callbacks.ModelCheckpoint)
                and not callback.save_best_only):  # then it does not monitor
            continue
        kind = type(callback).__name__
        _check_best_only_checkpoint(callback, monitor, validation_freq)
        if monitor not in logged:
            raise ValueError(
                f"{kind} monitors {monitor!r}, which HelmholtzMachine.fit does not "
                f"log, so it would never act. fit logs {', '.join(logged)}"
                + ("" if validating else ", and with validation_data or "
                   f"validation_split also {' and '.join(validation)}")
                + f"; e.g. {kind}(monitor='val_log_likelihood', mode='max'). "
                f"Received: monitor={monitor!r}")
        better = "max" if monitor.removeprefix("val_") in _HIGHER_IS_BETTER else "min"
        mode = getattr(callback, "mode", better)  # "auto": Keras asks for one
        if mode in ("min", "max") and mode != better:
            raise ValueError(
                f"{kind} would treat a {'fall' if better == 'max' else 'rise'} of "
                f"{monitor!r} as progress: pass mode={better!r}. Received: mode={mode!r}")


def _check_best_only_checkpoint(callback, monitor: str, validation_freq) -> None:
    """Refuses a best-only `ModelCheckpoint` that would save where its monitor is missing."""
    if not (isinstance(callback, keras.callbacks.ModelCheckpoint)
            and monitor.startswith("val_")
            # A subclass that decides by itself when to save is trusted.
            and type(callback).on_epoch_end is keras.callbacks.ModelCheckpoint.on_epoch_end):
        return
    if callback.save_freq != "epoch":
        raise ValueError(
            f"ModelCheckpoint(save_best_only=True, monitor={monitor!r}) with "
            f"save_freq={callback.save_freq!r} would save at every {callback.save_freq} "
            f"batches: {monitor!r} is logged at the end of an epoch only, and Keras "
            "saves when the monitored value is missing. Pass save_freq='epoch'. "
            f"Received: save_freq={callback.save_freq!r}")
    if validation_freq != 1:
        raise ValueError(
            f"ModelCheckpoint(save_best_only=True, monitor={monitor!r}) would save "
            "the current model on every epoch without validation (Keras saves when "
            "the monitored value is missing), so its file would not hold the best "
            "model: pass validation_freq=1, or save the best model from a callback "
            "that acts only on epochs with validation. "
            f"Received: validation_freq={validation_freq!r}")


# Keras' own `fit` signature: `KerasLoops.fit` binds its arguments to it.
_KERAS_FIT = inspect.signature(keras.Model.fit)
_CHECKED_FIT_ARGUMENTS = ("batch_size", "epochs", "initial_epoch", "validation_split",
                          "validation_batch_size", "validation_freq")


def _check_fit_arguments(batch_size, epochs, initial_epoch, validation_split,
                         validation_batch_size, validation_freq) -> None:
    """What Keras' `fit` coerces silently or trips over.

    Keras trains `batch_size=0` in batches of 32, splits off a negative
    number of rows for `validation_split >= 1`, trains nothing for `epochs`
    below `initial_epoch` and divides by a `validation_freq` of 0.
    """
    for name, value in (("batch_size", batch_size),
                        ("validation_batch_size", validation_batch_size)):
        if value is not None:
            _checks.positive_int(name, value)
    _checks.positive_int("validation_freq", validation_freq)
    _checks.int_in_range("initial_epoch", initial_epoch, 0)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or (
            epochs < initial_epoch):
        raise ValueError(
            "`epochs` must be an integer >= initial_epoch: it is the index of the "
            "last epoch, not a count (Keras' meaning), so epochs < initial_epoch "
            f"would train nothing. Received: epochs={epochs!r}, "
            f"initial_epoch={initial_epoch!r}")
    if isinstance(validation_split, bool) or not isinstance(
            validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
        raise ValueError("`validation_split` must be a float in [0, 1). "
                         f"Received: validation_split={validation_split!r}")


class KerasLoops:
    """`fit` and `evaluate` of `HelmholtzMachine` (mixed in before `keras.Model`)."""

    @property
    def eval_num_samples(self) -> int:
        """K of the importance-sampled `log_likelihood` of `evaluate` and validation.

        Set by `compile` (100 by default) or by assignment; a new value takes
        effect at the next `evaluate` (the compiled test step is rebuilt) and
        is saved with the model.

        Raises:
          ValueError: on assignment of anything but a positive int.
        """
        return self._eval_num_samples

    @eval_num_samples.setter
    def eval_num_samples(self, value) -> None:
        self._eval_num_samples = _checks.positive_int("eval_num_samples", value)
        # The compiled test step traced K in as a constant: trace it again.
        self.test_function = None
        if getattr(self, "_hm_compile_config", None) is not None:
            self._hm_compile_config["eval_num_samples"] = self._eval_num_samples

    def _checked_input(self, x, name):
        """Checks in-memory data now, and a `tf.data.Dataset` batch by batch.

        Other streams (`keras.utils.PyDataset`, generators) are checked only
        for their static last dimension, at trace time.
        """
        if isinstance(x, tf.data.Dataset):
            return _model_data.checked_dataset(x, self.data_dim, name)
        inner = x[0] if isinstance(x, tuple) and len(x) in (1, 2) else x
        if isinstance(inner, _IN_MEMORY):
            _checks.binary_data(inner, self.data_dim, name)
        return x

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with data checks and seeded shuffling.

        Takes Keras' arguments as they are (`fit.__signature__` is Keras'),
        bound by `inspect.Signature.bind`, and refuses the values Keras would
        coerce silently or trip over (`_check_fit_arguments`).

        Arrays are checked (0/1, shape) before training; a `tf.data.Dataset`
        batch by batch, the first bad batch raising a `ValueError` before
        its step (earlier batches have trained).

        Reproducibility: with a model `seed` and arrays with `shuffle=True`
        (the default), epoch e visits the examples in the stateless
        permutation seeded `[seed, e]` (the `Trainer`'s order for the same
        seed), so the weights after `fit` depend on the seed, the data and the
        arguments only, not on `keras.utils.set_random_seed`. `y`,
        `sample_weight`, `class_weight` and `steps_per_epoch` are refused
        there (a Helmholtz machine has no targets). Datasets and generators
        are visited in the order they give; a `keras.utils.PyDataset` with
        `shuffle=True` is refused under a seed (Keras shuffles its batches
        unseeded): pass `shuffle=False`. Without a model seed, arrays are
        shuffled by Keras, from TensorFlow's global random state (which
        `keras.utils.set_random_seed` fixes).

        A Ctrl-C stops `fit` at once, or at the latest before the next batch,
        even where Python would drop it (inside a finalizer): tfhm adds a
        callback that raises it again (to a copy of a list or tuple of
        callbacks; to a `keras.callbacks.CallbackList` for the call only).
        """
        try:
            kw = _KERAS_FIT.bind(self, *args, **kwargs)
        except TypeError as error:  # Python's message would name neither fit
            raise TypeError("HelmholtzMachine.fit takes the arguments of "
                            f"keras.Model.fit: {error}") from None
        kw.apply_defaults()
        kw = {name: value for name, value in kw.arguments.items() if name != "self"}
        kw["x"] = self._checked_input(kw["x"], "x")
        _check_fit_arguments(**{name: kw[name] for name in _CHECKED_FIT_ARGUMENTS})
        guard = InterruptGuard()
        kw["callbacks"], added = _with_interrupt_raiser(kw["callbacks"], guard)
        _check_monitors(kw["callbacks"],
                        kw["validation_data"] is not None or kw["validation_split"] > 0,
                        kw["validation_freq"])
        if kw["validation_data"] is not None:
            kw["validation_data"] = self._checked_input(kw["validation_data"],
                                                        "validation_data")
        if self.seed is not None and kw["shuffle"] and isinstance(
                kw["x"], keras.utils.PyDataset):
            raise ValueError(
                "A seeded HelmholtzMachine cannot reproduce Keras' shuffling of "
                "a PyDataset's batches: pass shuffle=False (and shuffle inside "
                "the PyDataset with your own seed). Received: shuffle=True")
        with _model_data.raising_value_errors(), guard, added:
            if self.seed is not None and kw["shuffle"] and isinstance(kw["x"], _IN_MEMORY):
                history = self._fit_seeded(kw)
            else:
                # Keras ignores (and warns about) shuffle for datasets.
                kw["shuffle"] = kw["shuffle"] and not isinstance(kw["x"], tf.data.Dataset)
                history = super().fit(**kw)
        for optimizer, network in ((self.wake_optimizer, self.generator),
                                   (self.sleep_optimizer, self.recognizer)):
            optimizer.finalize_variable_values(network.trainable_variables)
        return history

    fit.__signature__ = _KERAS_FIT  # help() and IDEs show Keras' parameters

    def _fit_seeded(self, kw: dict):
        """Keras' `fit` over the seeded epochs of the arrays `kw["x"]`.

        Args:
          kw: every argument of `keras.Model.fit`, by name.
        """
        for key in ("y", "sample_weight", "class_weight", "steps_per_epoch"):
            if kw[key] is not None:
                raise ValueError(
                    f"HelmholtzMachine.fit with a seed and shuffle=True does not "
                    f"take `{key}` (a Helmholtz machine learns from x alone); "
                    f"pass shuffle=False to use it. Received: {key}={kw[key]!r}")
        x, validation_data = _checks.binary_array(kw["x"], self.data_dim), kw["validation_data"]
        if kw["validation_split"]:
            if validation_data is not None:
                raise ValueError(
                    "Pass `validation_data` or `validation_split`, not both. "
                    f"Received: validation_split={kw['validation_split']!r}")
            # Keras' rule: the last fraction of the examples, before shuffling.
            split_at = int(math.floor(len(x) * (1.0 - kw["validation_split"])))
            x, validation_data = x[:split_at], (x[split_at:],)
        batch_size = _checks.positive_int(
            "batch_size", 32 if kw["batch_size"] is None else kw["batch_size"])
        steps = math.ceil(len(x) / batch_size)
        if steps % self.steps_per_execution:
            # Keras runs each call's steps from one iterator over every epoch,
            # so a call would cross into the next epoch (its callbacks and
            # checkpoints would see e.g. 12 steps in the first epoch of 10).
            divisors = [d for d in range(1, steps + 1) if steps % d == 0]
            raise ValueError(
                "A seeded HelmholtzMachine.fit needs `steps_per_execution` (set in "
                f"compile) to divide the {steps} steps of an epoch ({len(x)} examples "
                f"in batches of {batch_size}), else Keras' calls would cross epoch "
                f"boundaries: pass one of {divisors}. Received: "
                f"steps_per_execution={self.steps_per_execution}")
        dataset = _model_data.seeded_epochs(x, batch_size, self.seed,
                                            kw["initial_epoch"], kw["epochs"])
        return super().fit(**{**kw, "x": dataset, "batch_size": None, "shuffle": False,
                              "validation_split": 0.0, "validation_data": validation_data,
                              "steps_per_epoch": steps})

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto",
                 sample_weight=None, steps=None, callbacks=None,
                 return_dict=False, seed=None, **kwargs):
        """`keras.Model.evaluate`: importance-sampled `elbo`, `log_likelihood` (nats).

        Means over the examples of K = `eval_num_samples` (set in `compile`;
        100 by default) draws of q per example.

        Seeds: with `seed=s` (an int or an int tensor `[2]`; in-memory `x`
        only) the batches are the blocks of `evaluation.importance_sampled`
        and the draws are its draws, so `log_likelihood` equals
        `hm.log_likelihood(x, eval_num_samples, seed=s).mean()` (and the
        diagnostics' and `tfhm evaluate --seed s`'s numbers) up to float32
        rounding of the mean; `batch_size` must then be left out. Without a
        seed every batch draws the next seed of the model's seed generator.
        """
        if batch_size is not None:  # Keras would evaluate batch_size=0 in 32s
            _checks.positive_int("batch_size", batch_size)
        if seed is None:
            with _model_data.raising_value_errors():
                return super().evaluate(
                    self._checked_input(x, "x"), y, batch_size=batch_size,
                    verbose=verbose, sample_weight=sample_weight, steps=steps,
                    callbacks=callbacks, return_dict=return_dict, **kwargs)
        if not isinstance(x, _IN_MEMORY) or y is not None or sample_weight is not None:
            raise ValueError(
                "evaluate(seed=...) takes in-memory x alone (an array, tensor "
                f"or list). Received: x of type {type(x).__name__}, y={y!r}, "
                f"sample_weight={sample_weight!r}")
        rows = evaluation.block_rows(self, self.eval_num_samples)
        if batch_size is not None or steps is not None:
            raise ValueError(
                f"evaluate(seed=...) evaluates in the blocks of "
                f"evaluation.importance_sampled ({rows} examples here): leave "
                f"out batch_size and steps. Received: batch_size={batch_size!r}, "
                f"steps={steps!r}")
        blocks = _model_data.seeded_blocks(
            _checks.binary_array(x, self.data_dim), rows,
            _seeds.to_stateless(seed, self.seed_generator))
        return super().evaluate(blocks, verbose=verbose, callbacks=callbacks,
                                return_dict=return_dict, **kwargs)
