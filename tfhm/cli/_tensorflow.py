"""Imports TensorFlow for the commands that need it, quietly.

Its own module so that both the dispatcher (`tfhm.cli.main`, which
re-exports it) and the commands it dispatches to (`_commands`, `_train`)
import it from below them. Imports no TensorFlow until called.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["load_tensorflow"]


def load_tensorflow(verbose: bool) -> None:
    """Imports TensorFlow with its start-up log lines hidden, unless `verbose`.

    TensorFlow 2.21 writes its C++ start-up lines ("All log messages before
    absl::InitializeLog() ...", oneDNN, CUDA driver) to file descriptor 2
    whatever `TF_CPP_MIN_LOG_LEVEL` says, so they are silenced by pointing
    descriptor 2 at /dev/null while TensorFlow is imported and its devices
    are listed. An import error is still shown (raised after stderr is back).
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        import tensorflow  # noqa: F401  (its log lines go to stderr)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
