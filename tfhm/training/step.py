"""The Trainer's compiled step: sharded seeds, one all-reduce, two optimizers.

One step, for a global batch of B examples split into S shards (S = 1 on one
device; by default one shard per replica under a strategy):

  seed = _seeds.to_stateless(None, model.seed_generator)  # the step's stateless seed
  shard s: seed_s = _seeds.part(seed, s, S)        # seed if S == 1, else fold_in(seed, s)
           grads_s = compute_gradients(model.estimator, x_s, seed_s,
                                       global_batch_size=B)
  grads = sum_s grads_s                            # the all-reduce across replicas
  wake optimizer  <- generator grads               # p(x, z): prior and layers
  sleep optimizer <- recognizer grads              # q(z | x) (and NVIL's baseline)

Since each shard's random draws depend on the shard's index, not on the
device that runs it, a run with `num_shards=N` gives the same weights on one
device as on N replicas (up to the order of floating-point sums in the
all-reduce). With S = 1 on one device the step is exactly `fit`'s.

Loss scaling (mixed_float16) is the optimizers' own: `HelmholtzMachine.compile`
wraps them in `keras.optimizers.LossScaleOptimizer`, the step hands their
`scale_loss` to `estimators.step.compute_gradients` and `apply_gradients` unscales
(and skips non-finite steps), exactly as `fit`'s `train_step` does.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tfhm import _graph, _seeds
from tfhm.estimators import step as estimator_step

__all__ = ["LOG_NAMES", "NonFiniteRecord", "check_finite", "loss_scalers",
           "make_step_fn", "make_steps_fn"]

# The per-step means the step returns, in this order.
LOG_NAMES = estimator_step.LOG_NAMES


def loss_scalers(wake_optimizer: keras.optimizers.Optimizer,
                 sleep_optimizer: keras.optimizers.Optimizer
                 ) -> tuple[Callable, Callable] | None:
    """`(wake.scale_loss, sleep.scale_loss)` if either optimizer scales its loss.

    None (no scaling, the float32 code path of `compute_gradients`) unless
    an optimizer is a `LossScaleOptimizer` or has a `loss_scale_factor`.
    """
    def scales(optimizer):
        return (isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                or getattr(optimizer, "loss_scale_factor", None) is not None)

    if scales(wake_optimizer) or scales(sleep_optimizer):
        return wake_optimizer.scale_loss, sleep_optimizer.scale_loss
    return None


def _gradients_fn(model, per_replica: int, num_shards: int) -> Callable:
    """`gradients(shards, global_batch, seed, replica)`: one replica's summed gradients.

    Returns `(generator_grads, recognizer_grads, [means of LOG_NAMES])`,
    each summed over the replica's shards.
    """
    scale_losses = loss_scalers(model.wake_optimizer, model.sleep_optimizer)
    scaling = {} if scale_losses is None else {"scale_losses": scale_losses}

    def gradients(shards, global_batch, seed, replica):
        total = None
        for i, x in enumerate(shards):
            x = tf.cast(x, tf.float32)  # [shard, data_dim]
            # One shard: the step's seed and the batch mean, exactly fit's train_step.
            shard_seed = _seeds.part(seed, replica * per_replica + i, num_shards)
            batch = None if num_shards == 1 else global_batch
            g, r, logs = estimator_step.compute_gradients(
                model.estimator, model.generator, model.recognizer, x, shard_seed,
                model.num_samples, global_batch_size=batch, **scaling)
            part = (g, r, [logs[name] for name in LOG_NAMES])
            total = part if total is None else tf.nest.map_structure(tf.add, total, part)
        return total

    return gradients


class NonFiniteRecord:
    """The NaN guard's on-device record: the first step whose means were not finite.

    The step writes it without a host round trip; the Trainer reads it every
    `TrainConfig.check_finite_every_steps` steps, before every checkpoint and
    at the end of every epoch (`read_and_reset`), so a GPU never waits for
    the host between steps, and a non-finite step is still reported by its
    exact number before its weights can reach a checkpoint.

    Args:
      num_logs: the length of the step's means, `len(LOG_NAMES)`.
    """

    def __init__(self, num_logs: int):
        # Steps since the last read; the 1-based index among them of the
        # first non-finite one (0: none yet), and that step's means.
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                 name="nonfinite_steps")
        self.first = tf.Variable(0, dtype=tf.int64, trainable=False,
                                 name="nonfinite_first")
        self.means = tf.Variable(tf.zeros([num_logs], tf.float32), trainable=False,
                                 name="nonfinite_means")

    def record(self, means: tf.Tensor) -> None:
        """In the step (graph code): counts it, keeps it if first non-finite.

        Args:
          means: float32 `[num_logs]`, the step's means.
        """
        self.steps.assign_add(1)
        new = tf.logical_and(tf.equal(self.first, 0),
                             tf.logical_not(tf.reduce_all(tf.math.is_finite(means))))
        self.first.assign(tf.where(new, self.steps, self.first))
        self.means.assign(tf.where(new, means, self.means))

    def read_and_reset(self) -> tuple[int, int, np.ndarray]:
        """`(steps since the last read, first non-finite index or 0, its means)`."""
        steps, first, means = (int(self.steps.numpy()), int(self.first.numpy()),
                               self.means.numpy())
        self.steps.assign(0)
        self.first.assign(0)
        return steps, first, means


def make_step_fn(model, strategy: tf.distribute.Strategy, num_shards: int,
                 jit_compile: bool, sums: tf.Variable,
                 nonfinite: NonFiniteRecord | None = None) -> Callable:
    """The `tf.function` of one training step (see the module docstring).

    Args:
      model: a compiled `tfhm.HelmholtzMachine` (its optimizers, algorithm,
        K and recognizer update are used).
      strategy: the `tf.distribute.Strategy` the model was built under.
      num_shards: seed shards per global batch, a multiple of the replicas.
      jit_compile: compile with XLA (the per-replica math only, when there
        are several replicas: the all-reduce stays outside XLA).
      sums: float64 `[len(LOG_NAMES) + 1]` variable to which the step adds
        each mean times the global batch size, and the batch size.
      nonfinite: the NaN guard's `NonFiniteRecord`, written by every step;
        None: not recorded (the caller checks the returned means itself).

    Returns:
      `step(shards, global_batch) -> means`: `shards` a per-replica tuple of
      uint8 `[shard_size, data_dim]`, `global_batch` the float32 batch size;
      `means` float32 `[len(LOG_NAMES)]`, the batch means of `LOG_NAMES`.
    """
    wake_opt, sleep_opt = model.wake_optimizer, model.sleep_optimizer
    gradients = _gradients_fn(model, num_shards // strategy.num_replicas_in_sync,
                              num_shards)
    if jit_compile and strategy.num_replicas_in_sync > 1:
        # The all-reduce stays outside XLA; the per-replica math is fused.
        gradients = _graph.function(gradients, jit_compile=True)

    def replica_step(shards, global_batch, seed):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        g, r, logs = gradients(shards, global_batch, seed, replica)
        wake_opt.apply_gradients(zip(g, model.generator.trainable_variables))
        sleep_opt.apply_gradients(zip(
            r, estimator_step.recognizer_variables(model.recognizer, model.estimator)))
        return logs

    def step(shards, global_batch):
        # The seed is drawn once per step in cross-replica context; each
        # shard folds in its index (see the module docstring).
        seed = _seeds.to_stateless(None, model.seed_generator)  # int32 [2]
        logs = strategy.run(replica_step, args=(shards, global_batch, seed))
        means = tf.stack([strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                          for value in logs])  # [len(LOG_NAMES)]
        count = tf.cast(strategy.experimental_local_results(global_batch)[0], tf.float64)
        sums.assign_add(tf.concat([tf.cast(means, tf.float64) * count, [count]], axis=0))
        if nonfinite is not None:
            nonfinite.record(means)
        return means

    jit = jit_compile and strategy.num_replicas_in_sync == 1
    return _graph.function(step, jit_compile=jit or None, reduce_retracing=True)


def make_steps_fn(step_fn: Callable) -> Callable:
    """The `tf.function` that runs `count` steps of `step_fn` in one call.

    The steps are `step_fn`'s, in order, on the iterator's next elements:
    the same weights, seeds and sums as `count` calls of `step_fn`, without
    the host's work between them (under XLA each step stays one compiled
    cluster; the iterator cannot be inside one).

    Args:
      step_fn: what `make_step_fn` returns.

    Returns:
      `steps(iterator, count)`: `iterator` an iterator of the distributed
      dataset of `data.make_dataset_fn` with at least `count` elements left,
      `count` an int32 scalar tensor (one trace serves every count).
    """
    def steps(iterator, count):
        for _ in tf.range(count):
            shards, global_batch = next(iterator)
            step_fn(shards, global_batch)

    # AutoGraph makes this loop a `tf.while_loop` over the iterator; `step_fn`
    # is a `tf.function` of its own, which AutoGraph leaves as it is.
    return tf.function(steps, reduce_retracing=True)


def check_finite(means: np.ndarray, global_step: int, epoch: int, step: int) -> None:
    """The NaN guard: raises if a step's means are not all finite.

    The Trainer calls it with the first non-finite step of a
    `NonFiniteRecord`, before any later weights can reach a checkpoint.

    Args:
      means: float32 `[len(LOG_NAMES)]`, what the step returned.
      global_step: the step's number in the run, 1-based.
      epoch: the epoch, 0-based.
      step: the step's number in the epoch, 1-based.

    Raises:
      FloatingPointError: naming the bad values, the step and the phase.
    """
    if np.all(np.isfinite(means)):
        return
    bad = [name for name, value in zip(LOG_NAMES, means) if not np.isfinite(value)]
    phase = "sleep" if bad == ["sleep_loss"] else "wake"
    raise FloatingPointError(
        f"Non-finite {', '.join(bad)} at step {global_step} (epoch {epoch + 1}, "
        f"step {step} of the epoch), {phase} phase; nothing was saved after the "
        f"last checkpoint. Received: {dict(zip(LOG_NAMES, means.tolist()))}")
