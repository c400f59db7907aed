"""Long-running commands (``worker``, ``dev``, ``serve``): run until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading

__all__ = ["stop_event", "wait_until"]


def stop_event() -> threading.Event:
    """An event set by SIGINT or SIGTERM (install it before anything starts)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_until(stop: threading.Event) -> None:
    """Block until ``stop`` is set (waking every second, so signals are handled)."""
    while not stop.wait(1.0):
        pass
