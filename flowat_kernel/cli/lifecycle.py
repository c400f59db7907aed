"""Long-running commands (``worker``, ``dev``, ``serve``): run until SIGINT or SIGTERM.

The signal handler only sets a flag. A handler runs in the main thread between two of
its bytecodes, possibly while that thread holds a lock (a ``threading.Event``'s
condition, taken in ``Event.wait``): a handler that took the same lock (``Event.set``)
would wait for itself forever, and the command would never stop. The main thread polls
the flag in short sleeps instead, which a signal interrupts.
"""

from __future__ import annotations

import signal
import time

__all__ = ["Stop", "stop_event", "wait_until"]

#: How often :func:`wait_until` looks at the flag (a signal also wakes it).
_POLL_SECONDS = 0.1


class Stop:
    """Set once a stop was asked for (by a signal or :meth:`set`); takes no lock."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        """Ask the command to stop (safe in a signal handler)."""
        self._set = True

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._set


def stop_event() -> Stop:
    """A :class:`Stop` set by SIGINT or SIGTERM (install it before anything starts)."""
    stop = Stop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_until(stop: Stop) -> None:
    """Block until ``stop`` is set."""
    while not stop.is_set():
        time.sleep(_POLL_SECONDS)
