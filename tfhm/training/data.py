"""The Trainer's input pipeline: stateless epoch permutations, sharded batches.

Epoch e visits the examples in the order of `_seeds.epoch_batch` (slices of
the stateless permutation `index_shuffle(i, seed=_seeds.data_order(seed, e))`),
so that a resumed run can start in the middle of an epoch at the very example
where the interrupted one stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfhm import _checks, _seeds

__all__ = ["checked_data", "make_dataset_fn", "num_shards"]


def checked_data(x, validation_data, data_dim: int, eval_max_examples: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The training data and the per-epoch evaluation data, checked.

    Args:
      x: `[num_examples, data_dim]` 0/1 training data.
      validation_data: `[n, data_dim]` 0/1 data, a 1-tuple of it, or None
        (evaluate on the training data).
      data_dim: the model's data dimension.
      eval_max_examples: examples evaluated per epoch (the first ones); 0:
        none.

    Returns:
      `(x, eval_x)`: float32 NumPy `[num_examples, data_dim]` and
      `[min(n, eval_max_examples), data_dim]` (None when 0).

    Raises:
      ValueError: data that is not 0/1 `[n, data_dim]`.
    """
    x = _checks.binary_array(x, data_dim, "x")
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 1:
        validation_data = validation_data[0]
    if validation_data is not None:
        validation_data = _checks.binary_array(validation_data, data_dim, "validation_data")
    eval_x = x if validation_data is None else validation_data
    return x, (eval_x[:eval_max_examples] if eval_max_examples else None)


def num_shards(strategy: tf.distribute.Strategy | None, requested: int,
               batch_size: int) -> int:
    """The number of seed shards per global batch, checked against the strategy.

    Args:
      strategy: the strategy passed to the Trainer, or None (the default
        strategy).
      requested: `TrainConfig.num_shards` (0: one shard per replica).
      batch_size: the global batch size.

    Returns:
      `requested`, or the number of replicas when it is 0.

    Raises:
      ValueError: the shards are not a multiple of the replicas or exceed
        `batch_size`.
    """
    replicas = (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
    shards = requested or replicas
    if shards % replicas:
        raise ValueError(
            f"`num_shards` must be a multiple of the number of replicas "
            f"({replicas}). Received: num_shards={requested}")
    if shards > batch_size:
        raise ValueError(
            f"`batch_size` must be at least the number of shards "
            f"({shards}). Received: batch_size={batch_size}")
    return shards


def make_dataset_fn(data: tf.Tensor, epoch: int, start_step: int, *, batch_size: int,
                    num_shards: int, seed: int, shuffle: bool
                    ) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """The `tf.data` pipeline of one epoch from `start_step` on, per input pipeline.

    Args:
      data: uint8 `[num_examples, data_dim]` training data.
      epoch: the epoch, 0-based (seeds its permutation).
      start_step: the first step of the epoch to produce (a resumed epoch).
      batch_size: the global batch size.
      num_shards: seed shards per global batch (a multiple of the replicas).
      seed: the run's seed (`TrainConfig.seed`).
      shuffle: permute the examples (else visit them in order).

    Returns:
      A function of a `tf.distribute.InputContext` (for
      `strategy.distribute_datasets_from_function`) returning the dataset.
      Each element is `(shards, global_batch)` for one replica: `shards` a
      tuple of uint8 `[shard_size, data_dim]` (this replica's slices of the
      global batch: shard k holds rows `[size*k//S, size*(k+1)//S)`) and
      `global_batch` the float32 size of the whole batch.
    """
    num_examples = int(data.shape[0])
    steps = math.ceil(num_examples / batch_size)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first_replica = context.input_pipeline_id * local
        per_replica = num_shards // replicas

        def element(index):
            step, local_replica = index // local, index % local
            positions = _seeds.epoch_batch(seed, epoch, step, batch_size,
                                           num_examples, shuffle)  # [size]
            size = tf.size(positions, out_type=tf.int64)
            shards = []
            for i in range(per_replica):
                shard = (first_replica + local_replica) * per_replica + i
                lo = size * shard // num_shards
                hi = size * (shard + 1) // num_shards
                shards.append(tf.gather(data, positions[lo:hi]))  # [shard, data_dim]
            return tuple(shards), tf.cast(size, tf.float32)

        dataset = tf.data.Dataset.range(start_step * local, steps * local)
        dataset = dataset.map(element, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    return dataset_fn
