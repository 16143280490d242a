"""Ctrl-C during training is never lost.

Python raises `KeyboardInterrupt` wherever the main thread is when SIGINT
arrives. When that is inside a finalizer (a `__del__` method: TensorFlow runs
many, e.g. when an epoch's dataset iterator is released), Python prints
"Exception ignored in ..." and carries on, so the Ctrl-C is lost and training
goes on as if nothing had been pressed. `InterruptGuard` keeps a record of the
signal: the Trainer calls `check()` before every step (and `hm.fit`, through a
callback, before every batch), which raises the interrupt again if the first
one was swallowed. A Ctrl-C therefore stops training at once, or at the
latest at the next step boundary, and the "Exception ignored" report of the
swallowed one is not printed (the interrupt is not ignored).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["InterruptGuard"]


class InterruptGuard:
    """Context manager: SIGINT raises `KeyboardInterrupt`, and again at `check()`.

    Inside the `with` block, SIGINT raises `KeyboardInterrupt` at once (as
    Python's default handler does) and also records it; `check()` raises it
    again while the record stands, so an interrupt swallowed by a finalizer
    still stops the caller's loop. The record is cleared, and the previous
    handler restored, when the block exits; a block that ends normally with
    the record standing (no `check()` came after a swallowed interrupt)
    raises it on the way out, so a Ctrl-C is never lost.

    The guard installs its handler only on the main thread and only over
    Python's default handler (`signal.default_int_handler`): a handler of
    your own, or one that ignores SIGINT, is left as it is, and `check()`
    then never raises. While its handler is installed it also wraps
    `sys.unraisablehook`, to drop the report of a recorded interrupt that a
    finalizer swallowed; every other report goes to the previous hook.
    """

    def __init__(self):
        self.pending = False
        self._previous: Any = None
        self._previous_hook: Any = None

    def __enter__(self) -> InterruptGuard:
        self.pending = False
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._on_unraisable
        return self

    def _on_unraisable(self, unraisable: Any) -> None:
        if not (self.pending and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            self._previous_hook(unraisable)  # else `check()` raises it again

    def _on_sigint(self, signum: int, frame: Any) -> None:
        del signum, frame  # unused
        self.pending = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raises `KeyboardInterrupt` if a SIGINT arrived in the block.

        Raises:
          KeyboardInterrupt: a Ctrl-C arrived and has not yet ended the block
            (its first `KeyboardInterrupt` was swallowed on the way).
        """
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, exc_type: Any, *exc_info: Any) -> bool:
        lost = self.pending and exc_type is None
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._previous_hook
            self._previous = self._previous_hook = None
        self.pending = False
        if lost:  # no `check()` came after the swallowed one: raise it here
            raise KeyboardInterrupt
        return False
