"""A one-line terminal progress bar with ETA and live values.

Used by the Trainer (one bar per epoch) and the command line (chunked
evaluation). Imports no TensorFlow.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Literal, TextIO

__all__ = ["ProgressBar"]

Values = Mapping[str, float] | Callable[[], Mapping[str, float]] | None


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

    #### Examples

    ```python
    import io
    from tfhm.progress import ProgressBar
    stream = io.StringIO()
    bar = ProgressBar(10, "epoch 1/3", enabled=True, stream=stream, min_interval=0)
    bar.update(4, {"elbo": -3.25})  # draws "epoch 1/3  40% |...| 4/10 ... elbo -3.25"
    assert "4/10" in stream.getvalue() and "elbo -3.25" in stream.getvalue()
    bar.close()
    ```
    """

    def __init__(self, total: int, description: str = "",
                 enabled: bool | Literal["auto"] = "auto", initial: int = 0,
                 stream: TextIO | None = None, min_interval: float = 0.1):
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
    def _clock(seconds: float) -> str:
        seconds = int(round(seconds))
        return (f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
                if seconds >= 3600 else f"{seconds // 60:02d}:{seconds % 60:02d}")

    def update(self, done: int, values: Values = None, force: bool = False) -> None:
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

    def close(self) -> None:
        """Erases the bar (the caller prints a summary line instead)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
