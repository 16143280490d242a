"""`Trainer`: epochs of the compiled step, checkpoints, the run folder, reports.

The Trainer runs the same `estimators.step.compute_gradients` as
`HelmholtzMachine.train_step`, in its own `tf.function` step (`step.py`,
optionally XLA-compiled), fed by `tf.data` (`data.py`), under any
`tf.distribute` strategy, with `tf.train.CheckpointManager` checkpoints in a
run folder (`tfhm.run_dir.RunDir`) that make an interrupted run resume to the
very same weights.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from tfhm._interrupts import InterruptGuard
from tfhm.model import HelmholtzMachine
from tfhm.progress import ProgressBar
from tfhm.run_dir import RunDir
from tfhm.training import data as data_lib
from tfhm.training import report
from tfhm.training import step as step_lib
from tfhm.training.config import TrainConfig
from tfhm.training.history import TrainHistory

__all__ = ["TrainHistory", "Trainer", "train"]
# 0/1 data `[n, data_dim]`: NumPy arrays, tensors, nested lists.
Data = npt.ArrayLike | tf.Tensor


def _serializable(value: Any) -> Any:
    """`value` as JSON (objects JSON cannot hold become their repr)."""
    return json.loads(json.dumps(value, default=repr))


History = TrainHistory  # the old name of fit's result type (then list[dict])


def _check_built_in_scope(model: HelmholtzMachine,
                          strategy: tf.distribute.Strategy | None) -> None:
    """Refuses a model whose variables were made outside `strategy.scope()`.

    Under the default strategy (`strategy=None`) every model is in scope.
    """
    if strategy is None:
        return
    variable = model.trainable_variables[0]
    if not strategy.extended.variable_created_in_scope(getattr(variable, "value", variable)):
        raise ValueError(
            "Under a tf.distribute strategy the model must be built "
            "inside `strategy.scope()` (its variables are then "
            f"mirrored). Received: a model built outside the scope of "
            f"{type(strategy).__name__}")


class Trainer:
    """Trains a `HelmholtzMachine` with a compiled, resumable, distributable loop.

    The Trainer compiles `model` with the two optimizers (default: Adam with
    `config.lr_wake` and `config.lr_sleep`) and the algorithm of `config`,
    exactly as `model.compile(...)` would; `fit` then runs epochs of
    one-`tf.function` steps. Under a mixed-precision Keras dtype policy
    (`mixed_float16`, `mixed_bfloat16`, set before the model is built) the
    hidden layers compute in 16 bits while every log-density stays float32;
    with `mixed_float16`, `compile` wraps both optimizers in
    `keras.optimizers.LossScaleOptimizer` and the step scales both losses
    with them, as `fit` does.

    Args:
      model: a `tfhm.HelmholtzMachine`. Under a strategy it must be built
        inside `strategy.scope()`.
      config: a `TrainConfig` (default `TrainConfig()`).
      wake_optimizer: optimizer of the generator and prior (a
        `keras.optimizers.Optimizer` or a name); None: Adam(`config.lr_wake`).
      sleep_optimizer: optimizer of the recognizer; None:
        Adam(`config.lr_sleep`). Optimizers given are used as they are:
        `lr_wake` and `lr_sleep` then only label the run.
      strategy: a `tf.distribute.Strategy` (`MirroredStrategy`,
        `MultiWorkerMirroredStrategy`, ...) or None for the default
        (one device: a GPU if TensorFlow sees one).
      run_dir: the run folder (see `tfhm.run_dir.RunDir`): checkpoints,
        the model (rewritten atomically at every checkpoint), the metrics
        (one row per epoch) and the run's config; None keeps nothing on disk.
      logdir: TensorBoard folder (scalars every epoch, image summaries of
        samples and reconstructions), or None.
      verbose: 0 silent; 1 a progress bar on terminals and one line per
        epoch on stderr.
      run_info: extra JSON-able dict stored in the run's config (the command
        line keeps its data source there).

    Attributes:
      already_complete: set by `fit`: True when `resume=True` found the run
        already trained for `config.epochs` epochs (then nothing was written).
      run: the `RunDir` of `run_dir`, or None.

    Raises:
      ValueError: `model` is not a HelmholtzMachine, was built outside the
        strategy's scope, `num_shards` is not a multiple of the number of
        replicas or exceeds `batch_size`, or `logdir` is set without the
        `tensorboard` package.

    #### Examples

    ```python
    import keras
    import tfhm
    x, _ = tfhm.datasets.make_bars(200, seed=0)  # [200, 16] 0/1
    config = tfhm.TrainConfig(epochs=2, batch_size=50, eval_max_examples=50,
                              eval_num_samples=10)
    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(4,), seed=0)
    trainer = tfhm.Trainer(hm, config, run_dir="runs/bars", verbose=0,
                           wake_optimizer=keras.optimizers.SGD(0.1))  # sleep: Adam
    history = trainer.fit(x)               # one dict per epoch, and Keras' view:
    print(history[-1]["val_log_likelihood"], history.history["val_log_likelihood"])
    # Resuming a finished run restores its weights and writes nothing:
    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(4,), seed=1)
    trainer = tfhm.Trainer(hm, config, run_dir="runs/bars", verbose=0,
                           wake_optimizer=keras.optimizers.SGD(0.1))
    assert trainer.fit(x, resume=True) == history  # read back from the run folder
    assert trainer.already_complete
    ```
    """

    def __init__(self, model: HelmholtzMachine, config: TrainConfig | None = None, *,
                 wake_optimizer: keras.optimizers.Optimizer | str | None = None,
                 sleep_optimizer: keras.optimizers.Optimizer | str | None = None,
                 strategy: tf.distribute.Strategy | None = None,
                 run_dir: str | os.PathLike | None = None,
                 logdir: str | os.PathLike | None = None, verbose: int = 1,
                 run_info: dict[str, Any] | None = None):
        if not isinstance(model, HelmholtzMachine):
            raise ValueError("Trainer trains a tfhm.HelmholtzMachine. "
                             f"Received: model={model!r}")
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise ValueError(f"`config` must be a TrainConfig. Received: {config!r}")
        self.model, self.config = model, config
        _check_built_in_scope(model, strategy)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_shards = data_lib.num_shards(strategy, config.num_shards, config.batch_size)
        report.check_logdir(logdir)
        self.run_dir = None if run_dir is None else os.fspath(run_dir)
        self.run = None if run_dir is None else RunDir(run_dir)
        self.logdir = None if logdir is None else os.fspath(logdir)
        self.verbose = verbose
        self.run_info = dict(run_info or {})
        self.already_complete = False
        self._compile(wake_optimizer, sleep_optimizer)
        # The data position and the running sums of the epoch (float64:
        # wake, sleep, elbo, ess, each times the batch size, and the count).
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._global_step = tf.Variable(0, dtype=tf.int64, trainable=False,
                                        name="global_step")
        self._sums = tf.Variable(tf.zeros([len(step_lib.LOG_NAMES) + 1], tf.float64),
                                 trainable=False, name="epoch_sums")
        self.checkpoint = tf.train.Checkpoint(
            model=model, wake_optimizer=model.wake_optimizer,
            sleep_optimizer=model.sleep_optimizer,
            seed_state=model.seed_generator.state, epoch=self._epoch,
            step=self._step, global_step=self._global_step,
            epoch_sums=self._sums,
            **model.estimator.checkpoint_items)  # NVIL's baseline and statistics
        self._nonfinite = step_lib.NonFiniteRecord(len(step_lib.LOG_NAMES))
        self._step_fn = step_lib.make_step_fn(
            model, self.strategy, self.num_shards, config.jit_compile, self._sums,
            self._nonfinite)
        self._steps_fn = step_lib.make_steps_fn(self._step_fn)
        self._manager = None
        self._scratch_dir = None
        self._interrupts = InterruptGuard()  # a Ctrl-C is never lost (_interrupts.py)

    # ------------------------------------------------------------ set-up
    def _compile(self, wake_optimizer, sleep_optimizer) -> None:
        config = self.config
        with self.strategy.scope():
            wake = (keras.optimizers.Adam(config.lr_wake) if wake_optimizer is None
                    else wake_optimizer)
            sleep = (keras.optimizers.Adam(config.lr_sleep) if sleep_optimizer is None
                     else sleep_optimizer)
            self.model.compile(wake_optimizer=wake, sleep_optimizer=sleep,
                               algorithm=config.algorithm,
                               num_samples=config.num_samples,
                               recognizer_update=config.recognizer_update,
                               insomnia=config.insomnia,
                               eval_num_samples=config.eval_num_samples)

    @property
    def is_chief(self) -> bool:
        """Whether this worker writes the run folder (always True on one machine)."""
        return bool(getattr(self.strategy.extended, "should_checkpoint", True))

    def _dataset_fn(self, data: tf.Tensor, epoch: int, start_step: int):
        """The input pipeline of one epoch (see `data.make_dataset_fn`)."""
        return data_lib.make_dataset_fn(
            data, epoch, start_step, batch_size=self.config.batch_size,
            num_shards=self.num_shards, seed=self.config.seed,
            shuffle=self.config.shuffle)

    # -------------------------------------------------------- run folder
    def _train_record(self) -> dict[str, Any]:
        """config.json's `train`: the TrainConfig with the K actually used.

        `num_samples=None` (the estimator's default) is recorded as the K the
        model was compiled with, so the run says what it trained with.
        """
        record = self.config.as_dict()
        record["num_samples"] = self.model.num_samples
        return record

    def _run_description(self, num_examples: int) -> dict[str, Any]:
        return {"model": self.model.get_config(), "train": self._train_record(),
                "optimizers": self._optimizers(), "num_examples": num_examples,
                **self.run_info}

    def _optimizers(self) -> dict[str, Any]:
        """The two optimizers, serialized (config.json's `optimizers`)."""
        return {name: _serializable(keras.optimizers.serialize(optimizer))
                for name, optimizer in (("wake", self.model.wake_optimizer),
                                        ("sleep", self.model.sleep_optimizer))}

    def _open_run(self, num_examples: int, resume: bool, overwrite: bool) -> list[dict[str, Any]]:
        """Checks the run folder and restores a resumed run.

        Returns:
          The history of the epochs already trained ([] for a new run).
        """
        self.already_complete = False
        run = self.run
        if run is None:
            if resume:
                raise ValueError("resume=True needs a `run_dir` to resume from.")
            return []
        if not resume:
            if self.is_chief:
                run.prepare_new(overwrite)
            return []
        run.check_resumable()
        fixed = [k for k in TrainConfig.fields() if k not in TrainConfig.resumable_fields()]
        train = self._train_record()
        if run.read_config().get("train", {}).get("num_samples") is None:
            train["num_samples"] = self.config.num_samples  # recorded before issue 25
        run.check_compatible(self.model.get_config(), train, num_examples, fixed,
                             self._optimizers())
        run.restore_newest_intact(self.checkpoint)
        done = int(self._epoch.numpy())
        if done >= self.config.epochs:  # nothing to train: write nothing
            self.already_complete = True
            return [row for row in run.read_metrics() if row["epoch"] <= done]
        if not self.is_chief:
            return [row for row in run.read_metrics() if row["epoch"] <= done]
        return run.truncate_metrics(done)  # drops rows past the checkpoint

    def _start_writing(self, num_examples: int, resumed: bool) -> None:
        """Writes the run's config (and an empty metrics.csv for a new run)."""
        if self.run is None or not self.is_chief:
            return
        self.run.write_config(self._run_description(num_examples))
        if not resumed and os.path.exists(self.run.metrics_csv):
            self.run.write_metrics([], append=False)

    def _save_checkpoint(self) -> str:
        if self._manager is None:
            directory = None
            if not self.is_chief:  # other workers write a throw-away copy (tf.distribute's rule)
                self._scratch_dir = directory = tempfile.mkdtemp(prefix="tfhm-worker-ckpt-")
            self._manager = self.run.checkpoint_manager(
                self.checkpoint, self.config.keep_checkpoints, directory)
        path = self._manager.save(checkpoint_number=self._global_step)
        if self.is_chief:
            self.run.save_model(self.model)
        return path

    # --------------------------------------------------------------- fit
    def evaluate_epoch(self, x: np.ndarray, epoch: int) -> dict[str, float | int]:
        """The per-epoch metrics and diagnostics on `x` (see `TrainConfig`).

        Draws are seeded by `(config.seed, epoch)` alone (named streams of
        `tfhm._seeds`), so evaluating never changes the training's random
        numbers.

        Args:
          x: float32 `[n, data_dim]` 0/1 examples.
          epoch: the epoch number, 0-based (only seeds the draws).

        Returns:
          A dict: `val_elbo`, `val_log_likelihood`, `val_ess` (means over the
          examples, K = `eval_num_samples`) and per latent layer l (1-based,
          bottom up) `kl_l`, `entropy_l`, `active_units_l`.
        """
        return report.evaluate_epoch(self.model, x, self.config.seed, epoch,
                                     self.config.eval_num_samples,
                                     self.config.diagnostics_num_samples,
                                     self.config.gradient_variance_seeds,
                                     self.config.batch_size)

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    def _check_finite(self, global_step: int, epoch: int, step: int) -> None:
        """Raises if a step since the last check was not finite (the NaN guard).

        Args:
          global_step: the run's number of the newest step, 1-based.
          epoch: the epoch, 0-based.
          step: the newest step's number in the epoch, 1-based.
        """
        steps, first, means = self._nonfinite.read_and_reset()
        if first:
            back = steps - first  # how many steps before the newest one
            step_lib.check_finite(means, global_step - back, epoch, step - back)

    def _running_means(self) -> dict[str, float]:
        sums = self._sums.numpy()
        count = max(sums[-1], 1.0)
        return {"wake": sums[0] / count, "sleep": sums[1] / count,
                "elbo": sums[2] / count}

    def _call_size(self, steps_left: int, global_step: int) -> int:
        """The steps of the next compiled call: up to `steps_per_execution`.

        A call ends at the epoch's end and at the next checkpoint, so
        checkpoints fall where they would one step a call.
        """
        count = min(self.config.steps_per_execution, steps_left)
        every = self.config.checkpoint_every_steps
        if every and self.run is not None:
            count = min(count, every - global_step % every)
        return count

    def _train_epoch(self, data: tf.Tensor, epoch: int) -> dict[str, Any]:
        """Runs the remaining steps of `epoch`; returns its training row."""
        config = self.config
        num_examples = int(data.shape[0])
        steps_per_epoch = math.ceil(num_examples / config.batch_size)
        start_step = int(self._step.numpy())
        every = config.checkpoint_every_steps
        dataset = self.strategy.distribute_datasets_from_function(
            self._dataset_fn(data, epoch, start_step))
        bar = ProgressBar(steps_per_epoch, f"epoch {epoch + 1}/{config.epochs}",
                          enabled="auto" if self.verbose else False, initial=start_step)
        started = time.perf_counter()
        # Host-side step counters: reading the variables back every step
        # would make the host wait for the device.
        global_step = checked = int(self._global_step.numpy())
        step, iterator = start_step, iter(dataset)
        while step < steps_per_epoch:
            self._interrupts.check()  # a Ctrl-C a finalizer swallowed stops here
            count = self._call_size(steps_per_epoch - step, global_step)
            if config.steps_per_execution == 1:
                self._step_fn(*next(iterator))
            else:
                self._steps_fn(iterator, tf.constant(count, tf.int32))
            step += count
            global_step += count
            self._step.assign(step)
            self._global_step.assign_add(count)
            save = bool(every) and self.run is not None and global_step % every == 0
            if save or global_step - checked >= config.check_finite_every_steps:
                self._check_finite(global_step, epoch, step)
                checked = global_step
            if save:
                self._save_checkpoint()
            bar.update(step, self._running_means)
        self._check_finite(global_step, epoch, step)  # before the epoch's checkpoint
        seconds = time.perf_counter() - started
        bar.close()
        sums = self._sums.numpy()
        row = {"epoch": epoch + 1}
        row.update({name: float(sums[i] / max(sums[-1], 1.0))
                    for i, name in enumerate(step_lib.LOG_NAMES)})
        row["seconds"] = seconds
        row["examples_per_second"] = ((steps_per_epoch - start_step) / steps_per_epoch
                                      * num_examples / max(seconds, 1e-9))
        return row

    def _end_epoch(self, row: dict[str, Any], epoch: int, first_row: bool) -> None:
        """Resets the epoch's sums, moves the data position on, saves."""
        self._sums.assign(tf.zeros_like(self._sums))
        self._epoch.assign(epoch + 1)
        self._step.assign(0)
        if self.run is None:
            return
        if self.is_chief:
            self.run.write_metrics([row], append=not first_row)
        if not self.config.checkpoint_every_steps or epoch + 1 == self.config.epochs:
            self._save_checkpoint()

    def _run_epoch(self, data: tf.Tensor, epoch: int, eval_x: np.ndarray | None,
                   writer, first_row: bool) -> dict[str, Any]:
        """One epoch: training, evaluation, metrics, checkpoint, reports."""
        row = self._train_epoch(data, epoch)
        if eval_x is not None:
            seconds = row.pop("seconds"), row.pop("examples_per_second")
            row.update(self.evaluate_epoch(eval_x, epoch))
            row["seconds"], row["examples_per_second"] = seconds
        self._end_epoch(row, epoch, first_row)
        if writer is not None:
            report.write_summaries(writer, self.model, row, eval_x, self.config.seed, epoch)
        self._say(report.epoch_line(row, self.config.epochs, self.model.latent_dims))
        return row

    def fit(self, x: Data, validation_data: Data | tuple[Data] | None = None,
            resume: bool = False, overwrite: bool = False) -> History:
        """Trains for `config.epochs` epochs (in all, counting resumed ones).

        Args:
          x: `[num_examples, data_dim]` 0/1 training data (NumPy or tensor).
          validation_data: `[n, data_dim]` 0/1 data (or a 1-tuple) for the
            per-epoch `val_*` metrics and diagnostics; None evaluates on the
            first `eval_max_examples` training examples instead.
          resume: continue from the newest intact checkpoint in `run_dir`:
            the model, both optimizers, the seed state and the data position
            are restored, so the run ends with the weights an uninterrupted
            run would have (bitwise on CPU without XLA). If that checkpoint
            has already trained `config.epochs` epochs, the model keeps the
            restored weights, nothing at all is written (no file of the run
            folder changes), `already_complete` is set and the saved history
            is returned.
          overwrite: allow a `run_dir` that holds another run: its
            `checkpoints` folder is renamed to `checkpoints.replaced-N`
            (nothing is deleted) and its files are replaced.

        Returns:
          A `TrainHistory`: a list with one dict per epoch (the rows of the
          run's metrics): `epoch` (1-based), the training means `wake_loss`,
          `sleep_loss`, `elbo`, `ess` over the epoch's examples, the
          `val_*` metrics and diagnostics of `evaluate_epoch`, `seconds` and
          `examples_per_second`; like the `keras.callbacks.History` of
          `hm.fit`, its `history` maps each name to its per-epoch values and
          its `epoch` lists the 0-based epochs.

        Raises:
          ValueError: data that is not 0/1 `[n, data_dim]`; `resume` without a
            checkpoint, or with a different architecture, training settings or
            number of examples; a `run_dir` holding another run without
            `overwrite`.
          FloatingPointError: a step gave a non-finite loss (training stops
            before the bad weights reach a checkpoint).
          KeyboardInterrupt: Ctrl-C, at once or at the latest before the next
            step, even where Python would drop it (`tfhm/_interrupts.py`); the
            newest checkpoint is kept and `resume=True` continues from it.
        """
        x, eval_x = data_lib.checked_data(x, validation_data, self.model.data_dim,
                                          self.config.eval_max_examples)
        history = self._open_run(len(x), resume, overwrite)
        if self.already_complete:
            self._say(f"tfhm: the run in {self.run_dir!r} is already complete "
                      f"({int(self._epoch.numpy())}/{self.config.epochs} epochs); "
                      "nothing was changed.")
            return TrainHistory(history)
        self._start_writing(len(x), resumed=resume)
        writer = (tf.summary.create_file_writer(self.logdir)
                  if self.logdir is not None and self.is_chief else None)
        data = tf.constant(x.astype(np.uint8))  # 4x smaller than float32
        try:
            with self._interrupts:
                for epoch in range(int(self._epoch.numpy()), self.config.epochs):
                    history.append(self._run_epoch(data, epoch, eval_x, writer,
                                                   first_row=not history))
        finally:
            if writer is not None:
                writer.close()
            if self._scratch_dir is not None:
                shutil.rmtree(self._scratch_dir, ignore_errors=True)  # our temp dir
                self._scratch_dir, self._manager = None, None
        return TrainHistory(history)


def train(model: HelmholtzMachine, x: Data, config: TrainConfig | None = None,
          validation_data: Data | None = None, **trainer_kwargs: Any) -> History:
    """`Trainer(model, config, **trainer_kwargs).fit(x, validation_data)`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[num_examples, data_dim]` 0/1 training data.
      config: a `TrainConfig` (default `TrainConfig()`).
      validation_data: optional `[n, data_dim]` 0/1 data.
      **trainer_kwargs: `wake_optimizer`, `sleep_optimizer`, `strategy`,
        `run_dir`, `logdir`, `verbose`, `run_info`.

    Returns:
      The `TrainHistory`, one dict per epoch (see `Trainer.fit`).
    """
    return Trainer(model, config, **trainer_kwargs).fit(x, validation_data)
