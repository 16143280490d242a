"""Argument and data checks shared by the public API (eager Python only).

Every check raises `ValueError` with a message that says what was wrong and
what was received, Keras style ("Received: units=0"). None of these run inside
graph code.
"""

import numbers

import numpy as np
import tensorflow as tf


# Sizes and sample counts become int32 tensor dimensions.
INT32_MAX = 2**31 - 1


def positive_int(name, value, upper=None):
    """Returns `value` as an int, or raises if it is not an int in [1, upper]."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if upper is not None and value > upper:
        raise ValueError(
            f"`{name}` must be at most {upper}. Received: {name}={value!r}")
    return int(value)


def int_tuple(name, values, allow_empty):
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


def derive_seeds(seed, count):
    """`count` distinct int seeds derived from `seed`, or Nones if unseeded."""
    if seed is None:
        return [None] * count
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative int or None. Received: seed={seed!r}")
    states = np.random.SeedSequence(int(seed)).generate_state(count)
    return [int(s) % (2**31 - 1) for s in states]


def binary_array(x, data_dim=None, name="x"):
    """Checks a batch of observations and returns it as a float32 NumPy array.

    Args:
      x: array-like or tensor `[batch, data_dim]`, values exactly 0 or 1,
        dtype bool, integer or float.
      data_dim: the expected last dimension, or None for any width.
      name: the argument's name, for the error message.

    Returns:
      float32 `np.ndarray` `[batch, data_dim]`.

    Raises:
      ValueError: wrong rank or last dimension, empty, non-numeric dtype, or
        values other than 0 and 1 (NaN included).
    """
    array = x.numpy() if isinstance(x, (tf.Tensor, tf.Variable)) else np.asarray(x)
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
    if array.dtype != bool:
        bad = ~((array == 0) | (array == 1))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"`{name}` must contain only the values 0 and 1 (binarize "
                f"grey-scale data first, e.g. with tfhm.datasets.binarize). "
                f"Received: {name}[{index[0]}, {index[1]}]={array[index]!r} "
                f"({int(bad.sum())} bad values in all)")
    return array.astype(np.float32)


def binary_data(x, data_dim, name="x"):
    """`binary_array` as a float32 `tf.Tensor` `[batch, data_dim]`."""
    return tf.convert_to_tensor(binary_array(x, data_dim, name))


def static_data_dim(x, data_dim, name="x"):
    """Trace-time check of a symbolic batch's last dimension (graph-safe)."""
    last = x.shape[-1]
    if x.shape.rank is not None and (x.shape.rank != 2 or
                                     (last is not None and last != data_dim)):
        raise ValueError(
            f"`{name}` must have shape [batch, {data_dim}] (data_dim={data_dim}). "
            f"Received: {name}.shape={tuple(x.shape)}")
