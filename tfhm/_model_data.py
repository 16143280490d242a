"""The inputs `HelmholtzMachine.fit`/`evaluate` build or check (private).

- `seeded_epochs`: arrays as a `tf.data` pipeline of seeded epoch
  permutations, so that `HelmholtzMachine(seed=s).fit(x, shuffle=True)`
  visits the data in the same order every run (the Trainer's order,
  `_seeds.epoch_batch`).
- `seeded_blocks`: arrays as the blocks of `evaluation.importance_sampled`,
  each with its block seed, for `evaluate(x, seed=s)`.
- `checked_dataset`: a `tf.data.Dataset` whose element spec is checked at
  once (batches `[batch, data_dim]`, alone, first in a tuple, or under the
  key "x" of a dict) and whose batches are checked for 0/1 values on the fly
  (the message of the arrays' check), and `bad_values_error` turning that
  failure into a `ValueError`.
- `batch_of`: the batch `x` of one such element.
"""

from __future__ import annotations

import contextlib
import math
import re

import numpy as np
import tensorflow as tf

from tfhm import _seeds

__all__ = ["BLOCK_SEED", "bad_values_error", "batch_of", "check_element_spec",
           "checked_dataset", "raising_value_errors", "seeded_blocks",
           "seeded_epochs"]

# The key of a block's stateless seed in the elements of `seeded_blocks`.
BLOCK_SEED = "tfhm_block_seed"

_OPEN, _CLOSE = "<tfhm-bad-values>", "</tfhm-bad-values>"


def seeded_epochs(x: np.ndarray, batch_size: int, seed: int,
                  initial_epoch: int, epochs: int) -> tf.data.Dataset:
    """Batches of epochs `initial_epoch .. epochs - 1`, each in its own order.

    Epoch e visits the examples in the Trainer's stateless order,
    `_seeds.epoch_batch(seed, e, step, batch_size, n)`.

    Args:
      x: float32 `[n, data_dim]`.
      batch_size: examples per batch (the last batch of an epoch may be
        smaller).
      seed: the model's int seed.
      initial_epoch, epochs: as in `keras.Model.fit`.

    Returns:
      A dataset of float32 `[batch, data_dim]`, `ceil(n / batch_size)`
      batches per epoch.
    """
    data = tf.constant(x)
    n = len(x)
    steps = math.ceil(n / batch_size)

    def batch(epoch, step):
        return tf.gather(data, _seeds.epoch_batch(seed, epoch, step, batch_size, n))

    def epoch_batches(epoch):
        steps_ds = tf.data.Dataset.range(steps)
        return steps_ds.map(lambda step: batch(epoch, step))

    return tf.data.Dataset.range(initial_epoch, epochs).flat_map(
        epoch_batches).prefetch(tf.data.AUTOTUNE)


def seeded_blocks(x: np.ndarray, rows: int, seed: tf.Tensor) -> tf.data.Dataset:
    """`{"x": block j, BLOCK_SEED: _seeds.block(seed, j)}` for consecutive blocks."""
    def element(j, block):
        return {"x": block, BLOCK_SEED: _seeds.block(seed, j)}
    return tf.data.Dataset.from_tensor_slices(x).batch(rows).enumerate().map(element)


def _message(x, bad, count, name, batch_index):
    where = tf.concat([tf.where(bad), tf.zeros([1, 2], tf.int64)], axis=0)[0]
    value = tf.gather_nd(x, where)
    return tf.strings.format(
        _OPEN + f"`{name}` must contain only the values 0 and 1 (binarize "
        "grey-scale data first, e.g. with tfhm.datasets.binarize). Received: "
        f"{name}" "[{}, {}]={} in batch {} of the dataset ({} bad values in "
        "that batch)" + _CLOSE,
        (where[0], where[1], value, batch_index, count))


def batch_of(element):
    """The batch `x` of a dataset element: itself, a tuple's first, a dict's "x"."""
    if isinstance(element, dict):
        return element["x"]
    return element[0] if isinstance(element, (tuple, list)) else element


def _checked_batch(batch_index, element, name):
    x = batch_of(element)
    bad = tf.logical_not(tf.logical_or(tf.equal(x, 0), tf.equal(x, 1)))
    count = tf.reduce_sum(tf.cast(bad, tf.int64))
    ok = tf.equal(count, 0)
    message = tf.cond(ok, lambda: tf.constant(""),
                      lambda: _message(x, bad, count, name, batch_index))
    with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
        return tf.nest.map_structure(tf.identity, element)


def check_element_spec(dataset: tf.data.Dataset, data_dim: int,
                       name: str = "x") -> None:
    """Refuses a dataset whose elements are not batches `[batch, data_dim]`.

    Elements may be a batch, a tuple whose first entry is the batch, or a
    dict holding the batch under the key "x" (and nothing else).

    Raises:
      ValueError: an unbatched dataset (elements `[data_dim]`: call
        `.batch()`), batches of another shape (e.g. images `[batch, 8, 8]`),
        or dicts without the key "x" or with other keys.
    """
    spec = dataset.element_spec
    if isinstance(spec, dict):
        if set(spec) != {"x"}:
            raise ValueError(
                f"A `{name}` dataset of dicts must hold the batch under the key "
                "'x' and nothing else (a Helmholtz machine learns from x alone). "
                f"Received: a dataset of dicts with keys {sorted(spec)}")
        spec = spec["x"]
    elif isinstance(spec, tuple) and spec:
        spec = spec[0]
    shape = getattr(spec, "shape", None)
    if shape is None or shape.rank is None:
        return  # unknown rank: checked by the step at trace time
    last = shape[-1] if shape.rank else None
    if shape.rank != 2 or (last is not None and last != data_dim):
        hint = (" (a dataset of single rows: call .batch(batch_size) on it)"
                if shape.rank == 1 else "")
        raise ValueError(
            f"A `{name}` dataset must yield batches of shape [batch, {data_dim}] "
            f"(data_dim={data_dim}){hint}. Received: a dataset whose elements have "
            f"shape {tuple(shape)}")


def checked_dataset(dataset: tf.data.Dataset, data_dim: int,
                    name: str = "x") -> tf.data.Dataset:
    """`dataset`, checked: its element spec now, its batches' values on the fly.

    The element spec is checked at once (`check_element_spec`). The values
    are checked in the input pipeline (outside an XLA-compiled step, where
    assertions would be dropped): a batch holding anything but 0 and 1 (NaN
    included) fails when it is fetched, so its training step never runs.
    Batches before it have trained.

    Args:
      dataset: elements `x`, `(x, ...)` or `{"x": x}` with x `[batch, data_dim]`.
      data_dim: the model's data dimension.
      name: the argument's name, for messages.

    Raises:
      ValueError: see `check_element_spec`.
    """
    check_element_spec(dataset, data_dim, name)
    return dataset.enumerate().map(
        lambda i, element: _checked_batch(i, element, name))


def bad_values_error(error: Exception) -> ValueError | None:
    """The `ValueError` for a failure of `checked_dataset`, or None."""
    found = re.search(re.escape(_OPEN) + "(.*?)" + re.escape(_CLOSE),
                      str(error), re.DOTALL)
    return None if found is None else ValueError(found.group(1))


@contextlib.contextmanager
def raising_value_errors():
    """Re-raises a `checked_dataset` failure as the `ValueError` it stands for."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        value_error = bad_values_error(error)
        if value_error is None:
            raise
        raise value_error from None
