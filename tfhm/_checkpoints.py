"""TensorFlow checkpoint mechanics of a run folder: restore, fall back, inspect.

`tfhm.run_dir.RunDir` decides where checkpoints live; this module only reads
them. Imports TensorFlow (callers import it when they need it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import tensorflow as tf

__all__ = ["finished_epochs", "restore", "restore_newest_intact"]

# The Trainer's checkpointed counter of finished epochs (`Checkpoint(epoch=...)`).
_EPOCH_KEY = "epoch/.ATTRIBUTES/VARIABLE_VALUE"


def restore(checkpoint: tf.train.Checkpoint, path: str) -> None:
    """Restores `path` into `checkpoint`, every saved object matched.

    Raises:
      ValueError: unreadable files or objects that do not fit, naming `path`.
    """
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
        # IndexError: TF's reader of a truncated .data file ("Read less
        # bytes than requested").
        raise ValueError(
            f"The checkpoint {path!r} cannot be restored: its files are "
            f"truncated or corrupted, or it does not fit this model (a "
            f"different architecture?): {error}") from None


def restore_newest_intact(checkpoint: tf.train.Checkpoint, paths: Sequence[str]) -> str:
    """Restores `paths[0]`, or else the first of the others that restores.

    A newest checkpoint that cannot be restored is reported on stderr with
    the one restored instead.

    Args:
      checkpoint: the `tf.train.Checkpoint` to restore into.
      paths: checkpoint prefixes, newest first (at least one).

    Returns:
      The prefix restored.

    Raises:
      ValueError: none can be restored (the error of the newest one).
    """
    latest, *older = paths
    try:
        restore(checkpoint, latest)
        return latest
    except ValueError as newest_error:
        for path in older:
            try:
                restore(checkpoint, path)
            except ValueError:
                continue
            print(f"tfhm: checkpoint {latest!r} cannot be restored "
                  f"({str(newest_error).splitlines()[0][:300]}); resuming "
                  f"from the newest intact checkpoint {path!r}",
                  file=sys.stderr, flush=True)
            return path
        raise newest_error


def finished_epochs(path: str) -> int | None:
    """Epochs finished in checkpoint `path`, or None if any tensor fails to read.

    Every tensor is read, so their checksums are verified: a truncated or
    bit-flipped checkpoint gives None. Reads only.
    """
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
        return int(reader.get_tensor(_EPOCH_KEY))
    except (ValueError, IndexError, RuntimeError, tf.errors.OpError):
        return None
