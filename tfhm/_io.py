"""Atomic file writes: the one temp-file-then-rename of tfhm.

A reader of a path that tfhm writes (a run folder's `model.keras`,
`metrics.csv`, pictures, `metrics.json`) sees the previous file or the new
one, never half a file: everything is written to a hidden temporary file in
the same folder and then `os.replace`d over the target (atomic on POSIX and
Windows when both names are on one file system). A failed write removes its
own temporary file and leaves the target untouched.

Imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["atomic_path", "atomic_write", "check_can_write", "replace_atomically",
           "write_json"]


def atomic_path(path: str | os.PathLike) -> str:
    """A temporary name in the folder of `path`, with the same extension.

    The extension is kept because some writers choose the format from it
    (Keras' `model.save` wants `.keras`, Pillow `.png`).
    """
    folder, name = os.path.split(os.fspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.tmp-{os.getpid()}{ext}")


def check_can_write(path: str | os.PathLike, what: str) -> None:
    """Refuses, before anything is written, a path where nothing can be written.

    Finds the nearest folder of `path` that exists (`path` itself, if it is
    a folder) and creates and removes a temporary file in it: the only test
    that also holds for root, read-only mounts and `/proc`. Nothing is left.

    Args:
      path: a file or folder to be written (it need not exist; missing
        parent folders would be created by the writer).
      what: how the message names the path, e.g. "--out" or "--logdir".

    Raises:
      ValueError: the nearest existing ancestor is a file, or no file can
        be created in it (saying why).
    """
    path = os.path.abspath(os.fspath(path))
    base = path
    while not os.path.exists(base):
        base = os.path.dirname(base)
    if base == path and not os.path.isdir(path):
        base = os.path.dirname(path)  # an existing file, to be replaced
    elif not os.path.isdir(base):
        raise ValueError(f"{what} {path!r}: {base!r} is a file, so no folder can be "
                         f"made under it. Choose another {what}.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".tfhm-write-check-", dir=base)
    except OSError as error:
        raise ValueError(f"{what} {path!r}: cannot create anything in {base!r} "
                         f"({error.strerror or error}). Choose another {what}."
                         ) from None
    os.close(handle)
    os.remove(probe)  # our own probe


def replace_atomically(path: str | os.PathLike,
                       write: Callable[[str], Any]) -> None:
    """Calls `write(tmp)` on a temporary path, then renames it to `path`.

    Args:
      path: the file to (re)write.
      write: a function that writes the whole file at the path it is given,
        e.g. `model.save` or `image.save`.
    """
    path = os.fspath(path)
    tmp = atomic_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)  # our own temporary file, left by a failed write


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w",
                 **open_kwargs: Any) -> Iterator[Any]:
    """`open(path, mode)` whose content appears at `path` only when complete.

    Text modes default to UTF-8 (and `newline=""` is passed through for CSV).

    Args:
      path: the file to (re)write.
      mode: "w" or "wb".
      **open_kwargs: passed to `open` (e.g. `newline=""`).

    Yields:
      The open file object of the temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode must be 'w' or "
                         f"'wb'. Received: mode={mode!r}")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")

    path = os.fspath(path)
    tmp = atomic_path(path)
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes `value` as indented JSON, atomically."""
    with atomic_write(path) as handle:
        json.dump(value, handle, indent=2)
        handle.write("\n")
