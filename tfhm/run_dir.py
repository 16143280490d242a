"""`RunDir`: the one owner of a training run folder's files.

A run folder (`tfhm train --out RUN`, `Trainer(..., run_dir=RUN)`) holds:

  config.json          what was trained: model config, TrainConfig, data
  checkpoints/         tf.train.CheckpointManager checkpoints (model, both
                       optimizers, seed state, data position)
  model.keras          the model of the newest checkpoint, rewritten
                       atomically at every checkpoint
  metrics.csv          one row per finished epoch
  metrics.json         the final metrics (command line)
  samples.png, reconstructions.png, curves.png   pictures (command line)

`RunDir` is the only code of tfhm that knows these names: the Trainer, the
command line and the exporter ask it for paths, rules and formats, so a
reader who wants to change the layout of a run folder changes one module.

Imports no TensorFlow (the checkpoint and model methods import it).

#### Examples

```python
from tfhm.run_dir import RunDir
run = RunDir("runs/example")
assert not run.holds_run()
run.check_new(overwrite=False)            # a new folder may take a run
run.write_metrics([{"epoch": 1, "elbo": -20.5}], append=False)
run.write_metrics([{"epoch": 2, "elbo": -19.25}], append=True)
assert run.read_metrics() == [{"epoch": 1, "elbo": -20.5}, {"epoch": 2, "elbo": -19.25}]
print(run.metrics_csv)                    # runs/example/metrics.csv
```
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfhm import _io

__all__ = ["MissingRunFileError", "RunDir"]

# The "format" key of config.json.
RUN_FORMAT = "tfhm-run"
# Architecture keys of `HelmholtzMachine.get_config` compared on resume.
ARCHITECTURE_KEYS = ("data_dim", "latent_dims", "hidden_units", "activation",
                     "generator_conditional", "recognizer_conditional")
# What a run folder written before a key existed holds (tfhm before issue 23).
ARCHITECTURE_DEFAULTS = {"generator_conditional": "sbn", "recognizer_conditional": "sbn"}


class MissingRunFileError(FileNotFoundError, ValueError):
    """A file the run folder should hold is not there (a bad folder given)."""


def _json_ready(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _describe_differences(saved: Mapping, current: Mapping, keys: Iterable[str],
                          what: tuple[str, str]) -> str:
    def shown(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    lines = [f"  {key}: {what[0]} {shown(saved.get(key))!r}, "
             f"{what[1]} {shown(current.get(key))!r}"
             for key in keys
             if _json_ready(saved.get(key)) != _json_ready(current.get(key))]
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as `{"a.b": leaf}`, without the `name` keys (Keras numbers them)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat = {}
    for key, item in value.items():
        if key != "name":
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
    return flat


def _parse_number(text: str) -> int | float:
    """A metrics.csv cell as written: "3" -> 3, "0.5" -> 0.5, "nan" -> nan."""
    try:
        return int(text)
    except ValueError:
        return float(text)


class RunDir:
    """A training run folder: its file names, rules and formats.

    Args:
      path: the folder (it need not exist yet); kept as the string `path`.

    File names: the class attributes `CONFIG`, `CHECKPOINTS` (a folder),
    `MODEL`, `METRICS_CSV`, `METRICS_JSON`, `SAMPLES`, `RECONSTRUCTIONS`,
    `CURVES`, all in `FILES` (all tfhm writes in a run folder); full paths:
    the properties `config_json`, `checkpoints_dir`, `model_keras`,
    `metrics_csv`, `metrics_json`, `samples_png`, `reconstructions_png`,
    `curves_png`.
    """

    CONFIG = "config.json"
    CHECKPOINTS = "checkpoints"
    MODEL = "model.keras"
    METRICS_CSV = "metrics.csv"
    METRICS_JSON = "metrics.json"
    SAMPLES = "samples.png"
    RECONSTRUCTIONS = "reconstructions.png"
    CURVES = "curves.png"
    FILES = (CONFIG, CHECKPOINTS, MODEL, METRICS_CSV, METRICS_JSON, SAMPLES,
             RECONSTRUCTIONS, CURVES)

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    def __fspath__(self) -> str:
        return self.path

    # ------------------------------------------------------------- paths
    def file(self, name: str) -> str:
        """The full path of `name`, one of `RunDir.FILES`.

        Raises:
          ValueError: a name that is not a run-folder file.
        """
        if name not in self.FILES:
            raise ValueError(f"Not a file of a run folder: expected one of "
                             f"{list(self.FILES)}. Received: {name!r}")
        return os.path.join(self.path, name)

    config_json = property(lambda self: self.file(self.CONFIG))
    checkpoints_dir = property(lambda self: self.file(self.CHECKPOINTS))
    model_keras = property(lambda self: self.file(self.MODEL))
    metrics_csv = property(lambda self: self.file(self.METRICS_CSV))
    metrics_json = property(lambda self: self.file(self.METRICS_JSON))
    samples_png = property(lambda self: self.file(self.SAMPLES))
    reconstructions_png = property(lambda self: self.file(self.RECONSTRUCTIONS))
    curves_png = property(lambda self: self.file(self.CURVES))

    # ------------------------------------------------------------- rules
    def holds_run(self) -> bool:
        """Whether the folder holds (part of) a tfhm run: config or checkpoints."""
        return any(os.path.exists(self.file(name))
                   for name in (self.CONFIG, self.CHECKPOINTS))

    def never_checkpointed(self) -> bool:
        """Whether the folder holds a run that stopped before its first checkpoint.

        Such a run (config.json, perhaps an empty metrics.csv; no checkpoint
        and no model.keras) has nothing to resume: a new run may start over
        in its place.
        """
        return (os.path.exists(self.config_json)
                and not os.path.exists(os.path.join(self.checkpoints_dir, "checkpoint"))
                and not os.path.exists(self.model_keras))

    def check_new(self, overwrite: bool = False,
                  allow_other_files: bool = True) -> None:
        """Checks that a new run may start here; changes nothing.

        Args:
          overwrite: a folder holding another run (or other files) is fine
            (`prepare_new` moves its checkpoints aside).
          allow_other_files: whether files that are not a run's may be there
            without `overwrite` (the Trainer: yes; the command line: no).

        A run that never reached a checkpoint (`never_checkpointed`) is not
        in the way: the new run replaces its files.

        Raises:
          ValueError: the path is a file; it holds a run (or, with
            `allow_other_files=False`, other entries) and not `overwrite`.
        """
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise ValueError(f"{self.path!r} exists and is not a folder.")
        if overwrite:
            return
        started_only = self.never_checkpointed()
        if self.holds_run() and not started_only:
            raise ValueError(
                f"{self.path!r} already holds a tfhm run. Continue it with "
                "resume=True (--resume), choose another folder, or pass "
                "overwrite=True (--overwrite) to start a new run there: the "
                "folder then holds another tfhm run, whose files replace the "
                "old ones (the old checkpoints are moved aside, nothing is "
                "deleted).")
        entries = sorted(entry for entry in os.listdir(self.path)
                         if not (started_only and entry in self.FILES))
        if entries and not allow_other_files:
            raise ValueError(
                f"{self.path!r} is not empty ({len(entries)} entries, e.g. "
                f"{entries[0]!r}). Choose a new or empty folder, or pass "
                f"--overwrite (tfhm then writes only its own files: "
                f"{', '.join(self.FILES)}).")

    def prepare_new(self, overwrite: bool = False,
                    allow_other_files: bool = True) -> str | None:
        """`check_new`, creates the folder, moves old checkpoints aside.

        Nothing is deleted: checkpoints/ becomes checkpoints.replaced-N (the
        first free N), whose path is returned (None if there was none).
        """
        self.check_new(overwrite, allow_other_files)
        os.makedirs(self.path, exist_ok=True)
        old = self.checkpoints_dir
        if not os.path.isdir(old):
            return None
        number = 1
        while os.path.exists(f"{old}.replaced-{number}"):
            number += 1
        os.rename(old, f"{old}.replaced-{number}")
        return f"{old}.replaced-{number}"

    def check_resumable(self) -> None:
        """Checks that the folder holds a run to resume; changes nothing.

        Raises:
          ValueError: no such folder, or no config.json and checkpoint in it.
        """
        if not os.path.isdir(self.path):
            raise ValueError(f"Cannot resume: {self.path!r} holds no tfhm checkpoint "
                             "(there is no such folder).")
        if not os.path.exists(self.config_json) or self.latest_checkpoint() is None:
            raise ValueError(
                f"Cannot resume: {self.path!r} holds no tfhm checkpoint "
                f"(expected {self.CONFIG} and {self.CHECKPOINTS}/checkpoint). "
                "Start a new run without resume=True (--resume).")

    # ------------------------------------------------------------ config
    def read_config(self) -> dict:
        """The run's description, as `write_config` stored it.

        Raises:
          MissingRunFileError: no config.json.
          ValueError: a config.json that is not a JSON object.
        """
        if not os.path.exists(self.config_json):
            raise MissingRunFileError(
                f"{self.path!r} is not a tfhm run folder: no {self.CONFIG} in it.")
        try:
            with open(self.config_json, encoding="utf-8") as handle:
                config = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{self.config_json!r} is not valid JSON: {error}") from None
        if not isinstance(config, dict):
            raise ValueError(f"{self.config_json!r} must hold a JSON object. "
                             f"Received: {type(config).__name__}")
        return config

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Writes config.json atomically, marked `"format": "tfhm-run"`.

        Args:
          config: JSON-able dict (tuples become lists): `model`, `train`,
            `optimizers`, `num_examples` and the caller's keys (`data`...).
        """
        os.makedirs(self.path, exist_ok=True)
        _io.write_json(self.config_json,
                       {"format": RUN_FORMAT, **_json_ready(dict(config))})

    def check_compatible(self, model_config: Mapping[str, Any],
                         train: Mapping[str, Any], num_examples: int,
                         fixed_train_keys: Sequence[str],
                         optimizers: Mapping[str, Any] | None = None) -> None:
        """Checks that a resumed run continues the run of config.json.

        Args:
          model_config: the model's `get_config()`; its architecture keys
            must be the saved ones.
          train: the training settings (`dataclasses.asdict(TrainConfig)`).
          num_examples: the number of training examples.
          fixed_train_keys: the keys of `train` that must not change.
          optimizers: the serialized optimizers (`{"wake": ..., "sleep":
            ...}`), compared with the saved ones (names aside) if both exist.

        Raises:
          ValueError: a different architecture, fixed training setting,
            optimizer or number of examples, naming each difference.
        """
        saved = self.read_config()
        diff = _describe_differences({**ARCHITECTURE_DEFAULTS, **saved.get("model", {})},
                                     {**ARCHITECTURE_DEFAULTS, **model_config},
                                     ARCHITECTURE_KEYS, ("checkpoint", "this model"))
        if diff:
            raise ValueError(
                f"The checkpoint in {self.path!r} is of a different "
                f"architecture than the model to train:\n{diff}")
        diff = _describe_differences(saved.get("train", {}), train,
                                     fixed_train_keys, ("checkpoint", "now"))
        if diff:
            raise ValueError(
                f"Resuming {self.path!r} with different training settings "
                f"would not continue the same run:\n{diff}")
        if optimizers is not None and "optimizers" in saved:
            old, new = _flatten(saved["optimizers"]), _flatten(_json_ready(optimizers))
            diff = _describe_differences(old, new, sorted(set(old) | set(new)),
                                         ("checkpoint", "now"))
            if diff:
                raise ValueError(f"Resuming {self.path!r} with other optimizers "
                                 f"would not continue the same run:\n{diff}")
        if saved.get("num_examples") != num_examples:
            raise ValueError(
                f"Resuming {self.path!r} needs the same training data: the "
                f"run was trained on {saved.get('num_examples')} examples. "
                f"Received: {num_examples} examples")

    # ----------------------------------------------------------- metrics
    def read_metrics(self) -> list[dict[str, int | float]]:
        """The rows of metrics.csv ([] if there is none), values as written."""
        if not os.path.exists(self.metrics_csv):
            return []
        with open(self.metrics_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [{k: _parse_number(v) for k, v in row.items() if v not in ("", None)}
                for row in rows]

    def write_metrics(self, rows: Sequence[Mapping[str, Any]], append: bool) -> None:
        """Writes metrics.csv rows.

        Args:
          rows: dicts with the same keys (the first row's keys are the
            columns).
          append: add `rows` to an existing file; otherwise the file is
            replaced atomically (header and `rows`; an empty file for none).
        """
        keys = list(rows[0]) if rows else []
        if append and os.path.exists(self.metrics_csv):
            with open(self.metrics_csv, "a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, fieldnames=keys).writerows(rows)
            return
        os.makedirs(self.path, exist_ok=True)
        with _io.atomic_write(self.metrics_csv, newline="") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)

    def truncate_metrics(self, epochs: int) -> list[dict[str, int | float]]:
        """Keeps the metrics.csv rows of the first `epochs` epochs.

        The file is rewritten only if it holds later rows (those of an
        interrupted run past its checkpoint), so a complete file is left
        byte for byte as it is.

        Returns:
          The rows kept.
        """
        rows = self.read_metrics()
        kept = [row for row in rows if row["epoch"] <= epochs]
        if len(kept) < len(rows):
            self.write_metrics(kept, append=False)
        return kept

    def write_metrics_json(self, metrics: Mapping[str, Any]) -> None:
        """Writes metrics.json atomically."""
        os.makedirs(self.path, exist_ok=True)
        _io.write_json(self.metrics_json, _json_ready(dict(metrics)))

    # ------------------------------------------------------------- model
    def save_model(self, model: Any) -> None:
        """`model.save` to model.keras through a temporary file (atomic)."""
        os.makedirs(self.path, exist_ok=True)
        _io.replace_atomically(self.model_keras, model.save)

    def load_model(self) -> Any:
        """Loads model.keras (a compiled `tfhm.HelmholtzMachine`).

        Raises:
          MissingRunFileError: no model.keras.
          ValueError: a model.keras that is not a `.keras` zip (truncated,
            overwritten) or that Keras cannot load, saying which and why.
        """
        path = self.model_keras
        if not os.path.exists(path):
            raise MissingRunFileError(
                f"{self.path!r} is not a tfhm run folder: no {self.MODEL} in it.")
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"{path!r} is corrupt: it is not a .keras (zip) file "
                f"({os.path.getsize(path)} bytes; truncated or overwritten?).")
        import keras  # pylint: disable=g-import-not-at-top

        import tfhm.model  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (registers the classes)
        try:
            return keras.models.load_model(path)
        except Exception as error:  # pylint: disable=broad-except
            raise ValueError(f"{path!r} cannot be loaded as a tfhm model: "
                             f"{type(error).__name__}: {error}") from None

    # ------------------------------------------------------- checkpoints
    def latest_checkpoint(self) -> str | None:
        """The prefix of the newest checkpoint, or None."""
        if not os.path.exists(os.path.join(self.checkpoints_dir, "checkpoint")):
            return None
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        return tf.train.latest_checkpoint(self.checkpoints_dir)

    def checkpoints(self) -> list[str]:
        """The prefixes of the kept checkpoints, newest first."""
        if self.latest_checkpoint() is None:
            return []
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        state = tf.train.get_checkpoint_state(self.checkpoints_dir)
        return list(reversed(state.all_model_checkpoint_paths)) if state else []

    def checkpoint_manager(self, checkpoint: Any, max_to_keep: int,
                           directory: str | None = None) -> Any:
        """A `tf.train.CheckpointManager` of `checkpoint` writing into checkpoints/.

        `directory` replaces checkpoints/ (a non-chief worker's scratch copy).
        """
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        return tf.train.CheckpointManager(
            checkpoint, directory or self.checkpoints_dir, max_to_keep=max_to_keep)

    def restore_newest_intact(self, checkpoint: Any) -> str:
        """Restores the newest checkpoint, or else the newest older one that reads.

        A corrupt newest checkpoint (truncated or bit-flipped files) is
        skipped with a message on stderr.

        Args:
          checkpoint: the `tf.train.Checkpoint` to restore into.

        Returns:
          The prefix of the checkpoint restored.

        Raises:
          ValueError: no checkpoint, or none can be restored (the error of
            the newest one, naming it).
        """
        from tfhm import _checkpoints  # pylint: disable=g-import-not-at-top
        self.check_resumable()
        return _checkpoints.restore_newest_intact(
            checkpoint, self.checkpoints() or [self.latest_checkpoint()])

    def is_complete(self, epochs: int | None = None) -> bool:
        """Whether the newest checkpoint is intact and has finished all epochs.

        Reads only. A run whose newest checkpoint is corrupt is not complete
        (resuming falls back to an older checkpoint and trains on).

        Args:
          epochs: the run's total epochs; None: the `epochs` of config.json.
        """
        latest = self.latest_checkpoint()
        if latest is None or not os.path.exists(self.config_json):
            return False
        if epochs is None:
            epochs = self.read_config().get("train", {}).get("epochs")
            if not isinstance(epochs, int):
                return False
        from tfhm import _checkpoints  # pylint: disable=g-import-not-at-top
        done = _checkpoints.finished_epochs(latest)
        return done is not None and done >= epochs
