"""Argument and data checks shared by the public API (eager Python only).

Every check raises `ValueError` with a message that says what was wrong and
what was received, Keras style ("Received: units=0"). None of these run inside
graph code, and this module imports no TensorFlow at import time (only the
functions that take or return tensors import it), so that configuration
checks (`TrainConfig`, the command line) stay light.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# Sizes and sample counts become int32 tensor dimensions.
INT32_MAX = 2**31 - 1


def positive_int(name: str, value: object, upper: int | None = None) -> int:
    """Returns `value` as an int, or raises if it is not an int in [1, upper]."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if upper is not None and value > upper:
        raise ValueError(
            f"`{name}` must be at most {upper}. Received: {name}={value!r}")
    return int(value)


def int_tuple(name: str, values: object, allow_empty: bool) -> tuple[int, ...]:
    """Returns `values` as a tuple of positive ints, or raises."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a sequence of positive integers. "
            f"Received: {name}={values!r}") from None
    if not values and not allow_empty:
        raise ValueError(
            f"`{name}` must list at least one layer size. "
            f"Received: {name}={values!r}")
    for v in values:
        if (isinstance(v, bool) or not isinstance(v, numbers.Integral)
                or v < 1):
            raise ValueError(
                f"`{name}` must contain only positive integers. "
                f"Received: {name}={values!r}")
    return tuple(int(v) for v in values)


def positive_float(name: str, value: object) -> float:
    """Returns `value` as a float, or raises if it is not a finite number > 0.

    Ints are accepted (`lr=1`); bools, strings, NaN and infinities are not.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value!r}")
    return float(value)


def int_in_range(name: str, value: object, lo: int,
                 hi: int | None = None) -> int:
    """Returns `value` as an int, or raises if it is not an int in [lo, hi].

    Args:
      name: the argument's name, for the message.
      value: the value to check (bools are refused).
      lo: the smallest allowed value.
      hi: the largest allowed value, or None for no upper bound.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < lo or (hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(
            f"`{name}` must be an integer {bounds}. Received: {name}={value!r}")
    return int(value)


def _is_tensor(x: object) -> bool:
    """Whether `x` is an eager tensor or variable (without importing TF)."""
    tf = _tensorflow_if_loaded()
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))


def _tensorflow_if_loaded():
    import sys
    return sys.modules.get("tensorflow")


_BINARIZE_HINT = "binarize grey-scale data first, e.g. with tfhm.datasets.binarize"
# The hint of the message for a mask (`tfhm.inpainting`) that is not 0/1.
MASK_HINT = "a mask is True or 1 where a pixel is observed and False or 0 where it is missing"


def binary_array(x, data_dim: int | None = None, name: str = "x", *,
                 observed: np.ndarray | None = None,
                 hint: str = _BINARIZE_HINT) -> np.ndarray:
    """Checks a batch of observations and returns it as a float32 NumPy array.

    Args:
      x: array-like or tensor `[batch, data_dim]`, values exactly 0 or 1,
        dtype bool, integer or float.
      data_dim: the expected last dimension, or None for any width.
      name: the argument's name, for the error message.
      observed: None, or a checked mask of x's shape (nonzero = observed):
        values are then checked only where it is observed, and the others
        (anything, NaN included) are returned as 0.
      hint: what the message for values other than 0 and 1 advises.

    Returns:
      float32 `np.ndarray` `[batch, data_dim]`.

    Raises:
      ValueError: wrong rank or last dimension, empty, non-numeric dtype, a
        shape other than `observed`'s, or values other than 0 and 1 (NaN
        included) where checked.
    """
    array = np.asarray(x.numpy() if _is_tensor(x) else x)
    # Complex numbers would lose their imaginary part and timedeltas (a NumPy
    # integer subtype) their unit when cast to float32: both are refused.
    if array.dtype == object or not (
            array.dtype == bool or np.issubdtype(array.dtype, np.number)) or (
            np.issubdtype(array.dtype, np.complexfloating)
            or np.issubdtype(array.dtype, np.timedelta64)):
        raise ValueError(
            f"`{name}` must be a numeric or bool array of 0/1 values. "
            f"Received: {name} with dtype {array.dtype}")
    width = "data_dim" if data_dim is None else data_dim
    if array.ndim != 2 or (data_dim is not None and array.shape[-1] != data_dim):
        raise ValueError(
            f"`{name}` must have shape [batch, {width}]"
            f"{'' if data_dim is None else f' (data_dim={data_dim})'}. "
            f"Received: {name}.shape={array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"`{name}` is empty: it needs at least one example and one unit. "
            f"Received: {name}.shape={array.shape}")
    checked = None
    if observed is not None:
        checked = np.asarray(observed) != 0
        if checked.shape != array.shape:
            raise ValueError(
                f"`mask` must have the shape of `{name}`, {array.shape} (1 = observed, "
                f"0 = missing). Received: mask.shape={checked.shape}")
    if array.dtype != bool:
        bad = ~((array == 0) | (array == 1))
        if checked is not None:
            bad &= checked
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            where = "" if checked is None else " where the mask observes it"
            raise ValueError(
                f"`{name}` must contain only the values 0 and 1{where} ({hint}). "
                f"Received: {name}[{index[0]}, {index[1]}]={array[index]!r} "
                f"({int(bad.sum())} bad values in all)")
    result = array.astype(np.float32)
    if checked is not None:
        result[~checked] = 0.0  # missing pixels: whatever they held
    return result


def binary_data(x, data_dim: int | None, name: str = "x"):
    """`binary_array` as a float32 `tf.Tensor` `[batch, data_dim]`."""
    import tensorflow as tf
    return tf.convert_to_tensor(binary_array(x, data_dim, name))


def static_data_dim(x, data_dim: int, name: str = "x") -> None:
    """Trace-time check of a symbolic batch's last dimension (graph-safe)."""
    last = x.shape[-1]
    if x.shape.rank is not None and (x.shape.rank != 2 or
                                     (last is not None and last != data_dim)):
        raise ValueError(
            f"`{name}` must have shape [batch, {data_dim}] (data_dim={data_dim}). "
            f"Received: {name}.shape={tuple(x.shape)}")
