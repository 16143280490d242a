"""The training engine: a compiled wake-sleep loop, checkpoints, tf.distribute.

`Trainer` runs the same `objectives.compute_gradients` as
`HelmholtzMachine.train_step`, in its own `tf.function` step (optionally
XLA-compiled), fed by `tf.data`, under any `tf.distribute` strategy, with
`tf.train.CheckpointManager` checkpoints that make an interrupted run resume
to the very same weights.

One step, for a global batch of B examples split into S shards (S = 1 on one
device; by default one shard per replica under a strategy):

  seed = model.seed_generator.next()               # the step's stateless seed
  shard s: seed_s = seed if S == 1 else fold_in(seed, s)
           grads_s = compute_gradients(x_s, seed_s, global_batch_size=B)
  grads = sum_s grads_s                            # the all-reduce across replicas
  wake optimizer  <- generator grads               # p(x, z): prior and layers
  sleep optimizer <- recognizer grads              # q(z | x)

Since each shard's random draws depend on the shard's index, not on the
device that runs it, a run with `num_shards=N` gives the same weights on one
device as on N replicas (up to the order of floating-point sums in the
all-reduce). With S = 1 on one device the step is exactly `fit`'s.

Data order: epoch e visits the examples in the order of
`tf.random.experimental.index_shuffle(i, seed=[config.seed, e])`, a
stateless permutation, so that a resumed run can start in the middle of an
epoch at the very example where the interrupted one stopped.

#### Examples

```python
import tfhm
x_train, x_test = tfhm.datasets.load_digits()
hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8),
                           hidden_units=(64,), seed=0)
config = tfhm.TrainConfig(epochs=20, batch_size=100, lr_wake=3e-3,
                          lr_sleep=3e-3, seed=0)
trainer = tfhm.Trainer(hm, config, run_dir="runs/digits")
history = trainer.fit(x_train, validation_data=x_test)  # one dict per epoch
# After an interruption: the same two lines with fit(..., resume=True).

strategy = tf.distribute.MirroredStrategy()
with strategy.scope():                 # the model's variables are mirrored
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8), seed=0)
trainer = tfhm.Trainer(hm, config, strategy=strategy)
```

#### References

[1]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268 (1995).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfhm import _checks
from tfhm import diagnostics
from tfhm import objectives
from tfhm import plotting
from tfhm.model import HelmholtzMachine

__all__ = [
    "CHECKPOINT_DIR",
    "ProgressBar",
    "RUN_CONFIG",
    "TrainConfig",
    "Trainer",
    "save_model_atomic",
    "train",
]

# Files of a run folder (the command line adds the pictures and metrics.json).
CHECKPOINT_DIR = "checkpoints"
RUN_CONFIG = "config.json"
MODEL_FILE = "model.keras"
METRICS_CSV = "metrics.csv"

_LOG_NAMES = ("wake_loss", "sleep_loss", "elbo", "ess")
# Architecture keys of `HelmholtzMachine.get_config` compared on resume.
_ARCHITECTURE_KEYS = ("data_dim", "latent_dims", "hidden_units", "activation")
# TrainConfig fields a resumed run may change: they do not touch the weights.
_RESUMABLE_CHANGES = ("epochs", "jit_compile", "eval_num_samples",
                      "eval_max_examples", "diagnostics_num_samples",
                      "checkpoint_every_steps", "keep_checkpoints")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of `Trainer` (every field is checked on creation).

    The defaults of `algorithm`, `num_samples` and `recognizer_update` follow
    Bornschein & Bengio (2015): reweighted wake-sleep with K = 5 and the
    recognizer trained by both its wake and its sleep update.
    """

    algorithm: str = "reweighted_wake_sleep"  # "wake_sleep" or "reweighted_wake_sleep".
    num_samples: int | None = None  # K draws of q per example; None: 5 for RWS, 1 for wake-sleep.
    recognizer_update: str | None = None  # "sleep", "wake", "wake_sleep"; None: the algorithm's default.
    epochs: int = 10  # Passes over the training data (the total, also when resuming).
    batch_size: int = 100  # Global batch size, split evenly over shards and replicas.
    lr_wake: float = 1e-3  # Adam learning rate of the generator and prior (wake phase).
    lr_sleep: float = 1e-3  # Adam learning rate of the recognizer.
    seed: int = 0  # Seeds the data order and the evaluation draws (the model's seed seeds the rest).
    shuffle: bool = True  # Visit the data in a new stateless permutation every epoch.
    jit_compile: bool = False  # Compile the step with XLA (random draws then differ from non-XLA runs).
    num_shards: int | None = None  # Seed shards per batch (a multiple of the replicas); None: one per replica.
    eval_num_samples: int = 100  # K of the per-epoch importance-sampled log-likelihood and ESS.
    eval_max_examples: int = 1000  # Examples evaluated per epoch (the first ones); 0 turns it off.
    diagnostics_num_samples: int = 10  # K of the per-layer KL, entropy and active-unit estimates.
    checkpoint_every_steps: int | None = None  # Checkpoint every N steps; None: after every epoch.
    keep_checkpoints: int = 3  # Checkpoints kept in the run folder (older ones are rotated out).

    def __post_init__(self):
        objectives.Algorithm.parse(self.algorithm)
        if self.recognizer_update is not None:
            objectives.RecognizerUpdate.parse(self.recognizer_update)
        for name in ("epochs", "batch_size", "eval_num_samples",
                     "diagnostics_num_samples", "keep_checkpoints"):
            _checks.positive_int(name, getattr(self, name))
        for name in ("num_samples", "num_shards", "checkpoint_every_steps"):
            if getattr(self, name) is not None:
                _checks.positive_int(name, getattr(self, name))
        for name in ("lr_wake", "lr_sleep"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"`{name}` must be a positive number. "
                                 f"Received: {name}={value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) \
                or not 0 <= self.seed < 2**31:
            raise ValueError("`seed` must be an int in [0, 2**31). "
                             f"Received: seed={self.seed!r}")
        if isinstance(self.eval_max_examples, bool) or not isinstance(
                self.eval_max_examples, int) or self.eval_max_examples < 0:
            raise ValueError("`eval_max_examples` must be an int >= 0. "
                             f"Received: eval_max_examples={self.eval_max_examples!r}")

    def replace(self, **changes):
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)


class ProgressBar:
    """A one-line progress bar with ETA and live values, for terminals.

    Draws on `stream` (stderr by default) at most every `min_interval`
    seconds; silent when disabled, so callers need no `if`.

    Args:
      total: number of units of work (steps, chunks).
      description: text in front of the bar.
      enabled: True, False, or "auto" (only when `stream` is a terminal).
      initial: units already done (a resumed epoch).
      stream: a text stream.
      min_interval: seconds between two redraws.
    """

    def __init__(self, total, description="", enabled="auto", initial=0,
                 stream=None, min_interval=0.1):
        self.stream = stream or sys.stderr
        if enabled == "auto":
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = bool(enabled)
        self.total, self.description = max(int(total), 1), description
        self.initial = self.done = int(initial)
        self.min_interval = min_interval
        self._start = time.monotonic()
        self._last_draw = -math.inf
        self._width = 0

    @staticmethod
    def _clock(seconds):
        seconds = int(round(seconds))
        return (f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
                if seconds >= 3600 else f"{seconds // 60:02d}:{seconds % 60:02d}")

    def update(self, done, values=None, force=False):
        """Moves the bar to `done` units.

        Args:
          done: units done so far.
          values: None, a dict `name -> float`, or a callable returning one
            (called only when the bar is redrawn, e.g. to read a variable).
          force: redraw even if the last redraw was very recent.
        """
        self.done = int(done)
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        values = values() if callable(values) else (values or {})
        elapsed = now - self._start
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(20 * self.done / self.total)
        text = (f"{self.description} {100 * self.done // self.total:3d}% "
                f"|{'#' * filled}{'.' * (20 - filled)}| {self.done}/{self.total} "
                f"[{self._clock(elapsed)}<{self._clock(eta)}]")
        text += "".join(f" {k} {v:.4g}" for k, v in values.items())
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self):
        """Erases the bar (the caller prints a summary line instead)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def save_model_atomic(model, path):
    """`model.save(path)` through a temporary file and `os.replace`.

    Readers of `path` (export, tutorials, `tfhm evaluate`) see the previous
    model or the new one, never half a file.
    """
    path = os.fspath(path)
    tmp = plotting.atomic_path(path)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)  # our own temporary file, left by a failed save


def _json_ready(value):
    if isinstance(value, tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _as_tuples(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _describe_differences(saved, current, keys, what):
    lines = [f"  {key}: {what[0]} {_as_tuples(saved.get(key))!r}, "
             f"{what[1]} {_as_tuples(current.get(key))!r}"
             for key in keys
             if _json_ready(saved.get(key)) != _json_ready(current.get(key))]
    return "\n".join(lines)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    parsed = []
    for row in rows:
        parsed.append({k: (int(v) if k == "epoch" else float(v))
                       for k, v in row.items() if v not in ("", None)})
    return parsed


def _write_csv(path, rows, append):
    keys = list(rows[0]) if rows else []
    if append and os.path.exists(path):
        with open(path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=keys).writerows(rows)
        return
    tmp = plotting.atomic_path(path)
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class Trainer:
    """Trains a `HelmholtzMachine` with a compiled, resumable, distributable loop.

    The Trainer compiles `model` with two Adam optimizers (`lr_wake`,
    `lr_sleep`) and the algorithm of `config`, exactly as
    `model.compile(...)` would; `fit` then runs epochs of one-`tf.function`
    steps. Under a mixed-precision Keras dtype policy (`mixed_float16`,
    `mixed_bfloat16`, set before the model is built) the hidden layers compute
    in 16 bits while every log-density stays float32; with `mixed_float16`
    both optimizers are wrapped in `keras.optimizers.LossScaleOptimizer`.

    Args:
      model: a `tfhm.HelmholtzMachine`. Under a strategy it must be built
        inside `strategy.scope()`.
      config: a `TrainConfig` (default `TrainConfig()`).
      strategy: a `tf.distribute.Strategy` (`MirroredStrategy`,
        `MultiWorkerMirroredStrategy`, ...) or None for the default
        (one device: a GPU if TensorFlow sees one).
      run_dir: folder for checkpoints, `model.keras` (rewritten atomically at
        every checkpoint), `metrics.csv` (one row per epoch) and
        `config.json`; None keeps nothing on disk.
      logdir: TensorBoard folder (scalars every epoch, image summaries of
        samples and reconstructions), or None.
      verbose: 0 silent; 1 a progress bar on terminals and one line per
        epoch on stderr.
      run_info: extra JSON-able dict stored in `config.json` (the command
        line keeps its data source there).

    Raises:
      ValueError: `model` is not a HelmholtzMachine, was built outside the
        strategy's scope, `num_shards` is not a multiple of the number of
        replicas or exceeds `batch_size`, or `logdir` is set without the
        `tensorboard` package.

    #### Examples

    See the module docstring.
    """

    def __init__(self, model, config=None, *, strategy=None, run_dir=None,
                 logdir=None, verbose=1, run_info=None):
        if not isinstance(model, HelmholtzMachine):
            raise ValueError("Trainer trains a tfhm.HelmholtzMachine. "
                             f"Received: model={model!r}")
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise ValueError(f"`config` must be a TrainConfig. Received: {config!r}")
        self.model, self.config = model, config
        self.strategy = strategy or tf.distribute.get_strategy()
        if strategy is not None:
            variable = model.trainable_variables[0]
            if not strategy.extended.variable_created_in_scope(
                    getattr(variable, "value", variable)):
                raise ValueError(
                    "Under a tf.distribute strategy the model must be built "
                    "inside `strategy.scope()` (its variables are then "
                    f"mirrored). Received: a model built outside the scope of "
                    f"{type(strategy).__name__}")
        replicas = self.strategy.num_replicas_in_sync
        self.num_shards = config.num_shards or replicas
        if self.num_shards % replicas:
            raise ValueError(
                f"`num_shards` must be a multiple of the number of replicas "
                f"({replicas}). Received: num_shards={config.num_shards}")
        if self.num_shards > config.batch_size:
            raise ValueError(
                f"`batch_size` must be at least the number of shards "
                f"({self.num_shards}). Received: batch_size={config.batch_size}")
        if logdir is not None:
            try:
                import tensorboard  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
            except ImportError:
                raise ValueError(
                    "TensorBoard summaries (`logdir`) need the `tensorboard` "
                    "package, which TensorFlow no longer installs: pip install "
                    f"tensorboard. Received: logdir={logdir!r}") from None
        self.run_dir = None if run_dir is None else os.fspath(run_dir)
        self.logdir = None if logdir is None else os.fspath(logdir)
        self.verbose = verbose
        self.run_info = dict(run_info or {})
        self._loss_scaled = (
            model.generator.conditionals[0].logits_layer.dtype_policy.name
            == "mixed_float16")
        with self.strategy.scope():
            wake = keras.optimizers.Adam(config.lr_wake)
            sleep = keras.optimizers.Adam(config.lr_sleep)
            if self._loss_scaled:
                wake = keras.optimizers.LossScaleOptimizer(wake)
                sleep = keras.optimizers.LossScaleOptimizer(sleep)
            model.compile(wake_optimizer=wake, sleep_optimizer=sleep,
                          algorithm=config.algorithm,
                          num_samples=config.num_samples,
                          recognizer_update=config.recognizer_update,
                          eval_num_samples=config.eval_num_samples)
        # The data position and the running sums of the epoch (float64:
        # wake, sleep, elbo, ess, each times the batch size, and the count).
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._global_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                        name="global_step")
        self._sums = tf.Variable(tf.zeros([len(_LOG_NAMES) + 1], tf.float64),
                                 trainable=False, name="epoch_sums")
        self.checkpoint = tf.train.Checkpoint(
            model=model, wake_optimizer=model.wake_optimizer,
            sleep_optimizer=model.sleep_optimizer,
            seed_state=model.seed_generator.state, epoch=self._epoch,
            step=self._step, global_step=self._global_step,
            epoch_sums=self._sums)
        self._step_fn = self._make_step_fn()
        self._manager = None
        self._scratch_dir = None

    # ------------------------------------------------------------ the step
    @property
    def is_chief(self):
        """Whether this worker writes the run folder (always True on one machine)."""
        return bool(getattr(self.strategy.extended, "should_checkpoint", True))

    def _make_step_fn(self):
        model, strategy, config = self.model, self.strategy, self.config
        num_shards = self.num_shards
        per_replica = num_shards // strategy.num_replicas_in_sync
        wake_opt, sleep_opt = model.wake_optimizer, model.sleep_optimizer
        loss_scaled = self._loss_scaled

        def gradients(shards, global_batch, seed, replica):
            total = None
            for i, x in enumerate(shards):
                x = tf.cast(x, tf.float32)  # [shard, data_dim]
                if num_shards == 1:
                    shard_seed, batch = seed, None  # exactly fit's train_step
                else:
                    shard_seed = tf.random.experimental.stateless_fold_in(
                        seed, tf.cast(replica * per_replica + i, tf.int32))
                    batch = global_batch
                if loss_scaled:
                    # compute_gradients divides each loss by the global batch
                    # size, so batch / scale multiplies the losses by scale.
                    scale = tf.cast(wake_opt.dynamic_scale, tf.float32)
                    if batch is None:
                        batch = tf.cast(tf.shape(x)[0], tf.float32)
                    batch = batch / scale
                g, r, logs = objectives.compute_gradients(
                    model.generator, model.recognizer, x, shard_seed,
                    model.algorithm, model.num_samples, model.recognizer_update,
                    global_batch_size=batch)
                if loss_scaled:
                    ratio = tf.cast(sleep_opt.dynamic_scale, tf.float32) / scale
                    r = [grad * ratio for grad in r]
                    logs = {k: v / scale for k, v in logs.items()}
                part = (g, r, [logs[name] for name in _LOG_NAMES])
                total = part if total is None else tf.nest.map_structure(
                    tf.add, total, part)
            return total

        if config.jit_compile and strategy.num_replicas_in_sync > 1:
            # The all-reduce stays outside XLA; the per-replica math is fused.
            gradients = tf.function(gradients, jit_compile=True)

        def replica_step(shards, global_batch, seed):
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            g, r, logs = gradients(shards, global_batch, seed, replica)
            wake_opt.apply_gradients(zip(g, model.generator.trainable_variables))
            sleep_opt.apply_gradients(zip(r, model.recognizer.trainable_variables))
            return logs

        def step(shards, global_batch):
            # The seed is drawn once per step in cross-replica context; each
            # shard folds in its index (see the module docstring).
            seed = tf.cast(model.seed_generator.next(), tf.int32)
            logs = strategy.run(replica_step, args=(shards, global_batch, seed))
            means = tf.stack([strategy.reduce(tf.distribute.ReduceOp.SUM, value,
                                              axis=None) for value in logs])
            count = tf.cast(strategy.experimental_local_results(global_batch)[0],
                            tf.float64)
            self._sums.assign_add(
                tf.concat([tf.cast(means, tf.float64) * count, [count]], axis=0))
            return means

        jit = config.jit_compile and strategy.num_replicas_in_sync == 1
        return tf.function(step, jit_compile=jit or None, reduce_retracing=True)

    def _dataset_fn(self, data, epoch, start_step):
        """`tf.data` pipeline of one epoch from `start_step` on, per input pipeline.

        Each element is `(shards, global_batch)` for one replica: `shards` a
        tuple of uint8 `[shard_size, data_dim]` (this replica's slices of the
        global batch) and `global_batch` the float32 size of the whole batch.
        """
        num_examples = int(data.shape[0])
        batch_size, num_shards = self.config.batch_size, self.num_shards
        steps = math.ceil(num_examples / batch_size)
        shuffle_seed = tf.constant([self.config.seed, epoch], tf.int64)
        shuffle = self.config.shuffle

        def dataset_fn(context):
            replicas = context.num_replicas_in_sync
            local = replicas // context.num_input_pipelines
            first_replica = context.input_pipeline_id * local
            per_replica = num_shards // replicas

            def element(index):
                step, local_replica = index // local, index % local
                start = step * batch_size
                size = tf.minimum(tf.constant(batch_size, tf.int64),
                                  num_examples - start)
                positions = tf.range(start, start + size)
                if shuffle:
                    positions = tf.random.experimental.index_shuffle(
                        positions, seed=shuffle_seed,
                        max_index=tf.constant(num_examples - 1, tf.int64))
                shards = []
                for i in range(per_replica):
                    shard = (first_replica + local_replica) * per_replica + i
                    lo = size * shard // num_shards
                    hi = size * (shard + 1) // num_shards
                    shards.append(tf.gather(data, positions[lo:hi]))
                return tuple(shards), tf.cast(size, tf.float32)

            dataset = tf.data.Dataset.range(start_step * local, steps * local)
            dataset = dataset.map(element, num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=True)
            return dataset.prefetch(tf.data.AUTOTUNE)

        return dataset_fn

    # -------------------------------------------------------- run folder
    def _path(self, name):
        return os.path.join(self.run_dir, name)

    def _saved_run(self):
        path = self._path(RUN_CONFIG)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    def _run_description(self, num_examples):
        return {"format": "tfhm-run", "model": _json_ready(self.model.get_config()),
                "train": dataclasses.asdict(self.config),
                "num_examples": num_examples, **self.run_info}

    def _prepare_run_dir(self, resume, overwrite, num_examples):
        """Checks the run folder; returns the checkpoint to resume from or None."""
        if self.run_dir is None:
            if resume:
                raise ValueError("resume=True needs a `run_dir` to resume from.")
            return None
        ckpt_dir = self._path(CHECKPOINT_DIR)
        latest = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        saved = self._saved_run()
        if resume:
            if latest is None or saved is None:
                raise ValueError(
                    f"Cannot resume: {self.run_dir!r} holds no tfhm checkpoint "
                    f"(looked for {CHECKPOINT_DIR}/checkpoint and {RUN_CONFIG}).")
            self._check_compatible(saved, num_examples)
            return latest
        if (latest is not None or saved is not None) and self.is_chief:
            if not overwrite:
                raise ValueError(
                    f"{self.run_dir!r} already holds a tfhm run. Resume it "
                    "(resume=True / --resume), choose another folder, or pass "
                    "overwrite=True (--overwrite).")
            if os.path.isdir(ckpt_dir):  # moved aside, never deleted
                number = 1
                while os.path.exists(f"{ckpt_dir}.replaced-{number}"):
                    number += 1
                os.rename(ckpt_dir, f"{ckpt_dir}.replaced-{number}")
        return None

    def _check_compatible(self, saved, num_examples):
        arch = self.model.get_config()
        diff = _describe_differences(saved.get("model", {}), arch,
                                     _ARCHITECTURE_KEYS, ("checkpoint", "this model"))
        if diff:
            raise ValueError(
                f"The checkpoint in {self.run_dir!r} is of a different "
                f"architecture than the model to train:\n{diff}")
        train = dataclasses.asdict(self.config)
        fixed = [k for k in train if k not in _RESUMABLE_CHANGES]
        diff = _describe_differences(saved.get("train", {}), train, fixed,
                                     ("checkpoint", "now"))
        if diff:
            raise ValueError(
                f"Resuming {self.run_dir!r} with different training settings "
                f"would not continue the same run:\n{diff}")
        if saved.get("num_examples") != num_examples:
            raise ValueError(
                f"Resuming {self.run_dir!r} needs the same training data: the "
                f"run was trained on {saved.get('num_examples')} examples. "
                f"Received: {num_examples} examples")

    def _restore(self, path):
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
            # IndexError: TF's reader of a truncated .data file ("Read less
            # bytes than requested").
            raise ValueError(
                f"The checkpoint {path!r} cannot be restored: its files are "
                f"truncated or corrupted, or it does not fit this model (a "
                f"different architecture?): {error}") from None

    def _restore_newest_intact(self, latest):
        """Restores `latest`, or else the newest older checkpoint that reads.

        A corrupt newest checkpoint (truncated or bit-flipped files) is
        skipped with a message on stderr; if none can be restored, the error
        of the newest one is raised.
        """
        state = tf.train.get_checkpoint_state(self._path(CHECKPOINT_DIR))
        older = [p for p in reversed(state.all_model_checkpoint_paths)
                 if p != latest] if state is not None else []
        try:
            self._restore(latest)
            return latest
        except ValueError as newest_error:
            for path in older:
                try:
                    self._restore(path)
                except ValueError:
                    continue
                print(f"tfhm: checkpoint {latest!r} cannot be restored "
                      f"({str(newest_error).splitlines()[0][:300]}); resuming "
                      f"from the newest intact checkpoint {path!r}",
                      file=sys.stderr, flush=True)
                return path
            raise newest_error

    def _save_checkpoint(self):
        if self._manager is None:
            if self.is_chief:
                directory = self._path(CHECKPOINT_DIR)
            else:  # other workers write a throw-away copy (tf.distribute's rule)
                self._scratch_dir = tempfile.mkdtemp(prefix="tfhm-worker-ckpt-")
                directory = self._scratch_dir
            self._manager = tf.train.CheckpointManager(
                self.checkpoint, directory, max_to_keep=self.config.keep_checkpoints)
        path = self._manager.save(checkpoint_number=self._global_step)
        if self.is_chief:
            save_model_atomic(self.model, self._path(MODEL_FILE))
        return path

    # ------------------------------------------------------------ fit
    def _running_means(self):
        sums = self._sums.numpy()
        count = max(sums[-1], 1.0)
        return {"wake": sums[0] / count, "sleep": sums[1] / count,
                "elbo": sums[2] / count}

    def evaluate_epoch(self, x, epoch):
        """The per-epoch metrics and diagnostics on `x` (see `TrainConfig`).

        Draws are seeded by `(config.seed, epoch)` alone, so evaluating never
        changes the training's random numbers.

        Args:
          x: float32 `[n, data_dim]` 0/1 examples.
          epoch: the epoch number, 0-based (only seeds the draws).

        Returns:
          A dict: `val_elbo`, `val_log_likelihood`, `val_ess` (means over the
          examples, K = `eval_num_samples`) and per latent layer l (1-based,
          bottom up) `kl_l`, `entropy_l`, `active_units_l`.
        """
        seed = tf.random.experimental.stateless_fold_in(
            tf.constant([self.config.seed, 7], tf.int32), epoch)
        summary = diagnostics.importance_summary(
            self.model, x, self.config.eval_num_samples, seed)
        diag = diagnostics.latent_diagnostics(
            self.model, x, self.config.diagnostics_num_samples,
            tf.random.experimental.stateless_fold_in(seed, 1))
        row = {f"val_{k}": float(v.mean()) for k, v in summary.items()}
        for l in range(len(self.model.latent_dims)):
            row[f"kl_{l + 1}"] = float(diag["kl"][l])
            row[f"entropy_{l + 1}"] = float(diag["entropy"][l])
            row[f"active_units_{l + 1}"] = int(diag["active_units"][l])
        return row

    def _summaries(self, writer, row, eval_x, epoch):
        with writer.as_default(step=epoch + 1):
            for key, value in row.items():
                if key != "epoch":
                    tf.summary.scalar(key, value)
            seed = tf.constant([self.config.seed, 11], tf.int32)
            grid = plotting.sample_grid(self.model, 64, seed, cols=8)
            tf.summary.image("samples", grid[None, :, :, None])
            if eval_x is not None:
                grid = plotting.reconstruction_grid(self.model, eval_x[:32], seed)
                tf.summary.image("reconstructions", grid[None, :, :, None])
        writer.flush()

    def _say(self, text):
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    def fit(self, x, validation_data=None, resume=False, overwrite=False):
        """Trains for `config.epochs` epochs (in all, counting resumed ones).

        Args:
          x: `[num_examples, data_dim]` 0/1 training data (NumPy or tensor).
          validation_data: `[n, data_dim]` 0/1 data (or a 1-tuple) for the
            per-epoch `val_*` metrics and diagnostics; None evaluates on the
            first `eval_max_examples` training examples instead.
          resume: continue from the latest checkpoint in `run_dir`: the model,
            both optimizers, the seed state and the data position are
            restored, so the run ends with the weights an uninterrupted run
            would have (bitwise on CPU without XLA).
          overwrite: allow a `run_dir` that holds another run: its
            `checkpoints` folder is renamed to `checkpoints.replaced-N`
            (nothing is deleted) and its files are replaced.

        Returns:
          The history: a list with one dict per epoch (the rows of
          `metrics.csv`): `epoch` (1-based), the training means `wake_loss`,
          `sleep_loss`, `elbo`, `ess` over the epoch's examples, the
          `val_*` metrics and diagnostics of `evaluate_epoch`, `seconds` and
          `examples_per_second`.

        Raises:
          ValueError: data that is not 0/1 `[n, data_dim]`; `resume` without a
            checkpoint, or with a different architecture, training settings or
            number of examples; a `run_dir` holding another run without
            `overwrite`.
        """
        config, model = self.config, self.model
        x = _checks.binary_data(x, model.data_dim, "x").numpy()
        if isinstance(validation_data, (tuple, list)) and len(validation_data) == 1:
            validation_data = validation_data[0]
        if validation_data is not None:
            validation_data = _checks.binary_data(
                validation_data, model.data_dim, "validation_data").numpy()
        eval_x = x if validation_data is None else validation_data
        eval_x = eval_x[:config.eval_max_examples] if config.eval_max_examples else None
        num_examples = len(x)
        latest = self._prepare_run_dir(resume, overwrite, num_examples)
        history = []
        if latest is not None:
            latest = self._restore_newest_intact(latest)
            csv_path = self._path(METRICS_CSV)
            if os.path.exists(csv_path):  # keep the epochs the checkpoint has
                history = [row for row in _read_csv(csv_path)
                           if row["epoch"] <= int(self._epoch.numpy())]
                if self.is_chief:
                    _write_csv(csv_path, history, append=False)
        if self.run_dir is not None and self.is_chief:
            os.makedirs(self.run_dir, exist_ok=True)
            with open(self._path(RUN_CONFIG), "w", encoding="utf-8") as handle:
                json.dump(self._run_description(num_examples), handle, indent=2)
            if latest is None and os.path.exists(self._path(METRICS_CSV)):
                _write_csv(self._path(METRICS_CSV), [], append=False)
        writer = (tf.summary.create_file_writer(self.logdir)
                  if self.logdir is not None and self.is_chief else None)
        data = tf.constant(x.astype(np.uint8))  # 4x smaller than float32
        steps_per_epoch = math.ceil(num_examples / config.batch_size)
        every = config.checkpoint_every_steps
        try:
            for epoch in range(int(self._epoch.numpy()), config.epochs):
                start_step = int(self._step.numpy())
                dataset = self.strategy.distribute_datasets_from_function(
                    self._dataset_fn(data, epoch, start_step))
                bar = ProgressBar(steps_per_epoch, f"epoch {epoch + 1}/{config.epochs}",
                                  enabled="auto" if self.verbose else False,
                                  initial=start_step)
                started = time.perf_counter()
                for step, (shards, global_batch) in enumerate(dataset, start_step + 1):
                    means = self._step_fn(shards, global_batch)
                    if not np.all(np.isfinite(means.numpy())):
                        # Stop before the bad weights reach a checkpoint.
                        bad = [name for name, value in zip(_LOG_NAMES, means.numpy())
                               if not np.isfinite(value)]
                        phase = "sleep" if bad == ["sleep_loss"] else "wake"
                        raise FloatingPointError(
                            f"Non-finite {', '.join(bad)} at step "
                            f"{int(self._global_step.numpy()) + 1} (epoch "
                            f"{epoch + 1}, step {step} of the epoch), {phase} "
                            f"phase; nothing was saved after the last checkpoint. "
                            f"Received: {dict(zip(_LOG_NAMES, means.numpy().tolist()))}")
                    self._step.assign(step)
                    self._global_step.assign_add(1)
                    if every and int(self._global_step.numpy()) % every == 0 \
                            and self.run_dir is not None:
                        self._save_checkpoint()
                    bar.update(step, self._running_means)
                seconds = time.perf_counter() - started
                bar.close()
                sums = self._sums.numpy()
                row = {"epoch": epoch + 1}
                row.update({name: float(sums[i] / max(sums[-1], 1.0))
                            for i, name in enumerate(_LOG_NAMES)})
                if eval_x is not None:
                    row.update(self.evaluate_epoch(eval_x, epoch))
                row["seconds"] = seconds
                row["examples_per_second"] = (
                    (steps_per_epoch - start_step) / steps_per_epoch
                    * num_examples / max(seconds, 1e-9))
                history.append(row)
                self._sums.assign(tf.zeros_like(self._sums))
                self._epoch.assign(epoch + 1)
                self._step.assign(0)
                if self.run_dir is not None:
                    if self.is_chief:
                        _write_csv(self._path(METRICS_CSV), [row],
                                   append=len(history) > 1)
                    if not every or epoch + 1 == config.epochs:
                        self._save_checkpoint()
                if writer is not None:
                    self._summaries(writer, row, eval_x, epoch)
                self._say(self._epoch_line(row))
        finally:
            if writer is not None:
                writer.close()
            if self._scratch_dir is not None:
                shutil.rmtree(self._scratch_dir, ignore_errors=True)  # our temp dir
                self._scratch_dir, self._manager = None, None
        return history

    def _epoch_line(self, row):
        text = (f"epoch {row['epoch']}/{self.config.epochs}: wake {row['wake_loss']:.3f} "
                f"sleep {row['sleep_loss']:.3f} elbo {row['elbo']:.3f} "
                f"ess {row['ess']:.2f}")
        if "val_elbo" in row:
            active = ",".join(str(row[f"active_units_{l + 1}"])
                              for l in range(len(self.model.latent_dims)))
            text += (f" | val elbo {row['val_elbo']:.3f} "
                     f"ll {row['val_log_likelihood']:.3f} ess {row['val_ess']:.2f}"
                     f" active {active}/{','.join(map(str, self.model.latent_dims))}")
        return text + f" | {row['seconds']:.1f}s"


def train(model, x, config=None, validation_data=None, **trainer_kwargs):
    """`Trainer(model, config, **trainer_kwargs).fit(x, validation_data)`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[num_examples, data_dim]` 0/1 training data.
      config: a `TrainConfig` (default `TrainConfig()`).
      validation_data: optional `[n, data_dim]` 0/1 data.
      **trainer_kwargs: `strategy`, `run_dir`, `logdir`, `verbose`.

    Returns:
      The history, one dict per epoch (see `Trainer.fit`).
    """
    return Trainer(model, config, **trainer_kwargs).fit(x, validation_data)
