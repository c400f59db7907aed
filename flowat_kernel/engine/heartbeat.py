"""Heartbeats for long steps, sent from a helper thread while the step's code runs.

A step's code knows nothing of Temporal. While it runs, a helper thread heartbeats on
its behalf, so that Temporal notices within the heartbeat timeout when the worker dies
(and retries the step elsewhere), and so that a cancellation reaches the step: the SDK
raises ``CancelledError`` in the step's thread when a heartbeat learns of it. That
thread waits for the step's child process in short polls
(:mod:`flowat_kernel.engine.cells.process`), so it stops the child at once, whatever
the step's code is blocked in.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from temporalio import activity

__all__ = ["heartbeating"]


@contextlib.contextmanager
def heartbeating() -> Iterator[None]:
    """Heartbeat every third of the heartbeat timeout while the block runs.

    Local activities have no heartbeat; the block then runs as it is.
    """
    info = activity.info()
    timeout = info.heartbeat_timeout
    if info.is_local or timeout is None or timeout.total_seconds() <= 0:
        yield
        return
    interval = max(timeout.total_seconds() / 3, 0.05)
    stop = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                context.run(activity.heartbeat)
            except Exception:  # the activity is finishing; nothing left to keep alive
                return

    thread = threading.Thread(target=beat, name=f"flowat-heartbeat-{info.activity_id}")
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 1)
