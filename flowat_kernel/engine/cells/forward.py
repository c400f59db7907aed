"""In the step's process: what the step shows, sent to the worker while the step runs.

:class:`Forwarder` is the sink of the step's
:class:`~flowat_kernel.engine.cells.outputs.Outputs`: every change kept (after the
output limits) is queued and sent to the worker as ``("outputs", [operation, ...])``
frames by a thread, at once when the step has been quiet and then at most every
:data:`INTERVAL` seconds, so that a step printing in a loop sends a few frames a second,
not one per line. The worker applies them to its own copy of the outputs, so a step
stopped by a timeout or cancel keeps what it showed up to about :data:`INTERVAL`
seconds before it was stopped.

Memory stays bounded: only what the limits kept is queued, repeated updates of one
display (a progress bar) replace each other in the queue, and a queue over
:data:`FLUSH_CHARS` is sent by the writing thread itself before it goes on.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Callable

from flowat_kernel.engine.cells.outputs import Operation

__all__ = ["FLUSH_CHARS", "INTERVAL", "Forwarder"]

#: Seconds between two frames while the step keeps showing things.
INTERVAL = 0.05
#: Characters queued before the writer sends them itself rather than waiting.
FLUSH_CHARS = 1024 * 1024


def _replaces(earlier: Operation, later: Operation) -> bool:
    """Whether ``later`` makes ``earlier`` pointless: both update the same display."""
    return (
        earlier[0] == later[0] == "rich"
        and bool(earlier[6])
        and bool(later[6])
        and earlier[5] is not None
        and earlier[5] == later[5]
    )


class Forwarder:
    """Queues output operations and sends them in frames through ``send``.

    Args:
        send: writes one frame to the worker (thread-safe; an ``OSError`` means the
            worker is gone, and nothing more is sent).

    """

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._pending: list[Operation] = []
        self._chars = 0
        self._queue = threading.Condition()
        self._order = threading.Lock()  # frames leave in the order they were taken
        self._closed = False
        self._broken = False
        self._thread = threading.Thread(target=self._run, name="flowat-outputs", daemon=True)
        self._thread.start()

    def __call__(self, operation: Operation, size: int) -> None:
        """Queue ``operation`` (``size`` characters): the sink of the step's outputs."""
        with self._queue:
            if self._pending and _replaces(self._pending[-1], operation):
                self._pending[-1] = operation
            else:
                self._pending.append(operation)
            self._chars += size
            full = self._chars >= FLUSH_CHARS
            self._queue.notify()
        if full:
            self.flush()

    def _run(self) -> None:
        while True:
            with self._queue:
                while not self._pending and not self._closed:
                    self._queue.wait()
                if self._closed:
                    return
            self.flush()
            with self._queue:  # gather for a moment; closing wakes it at once
                self._queue.wait_for(lambda: self._closed, timeout=INTERVAL)

    def flush(self) -> None:
        """Send what is queued now, as one frame."""
        with self._order:
            with self._queue:
                batch, self._pending, self._chars = self._pending, [], 0
            if not batch or self._broken:
                return
            try:
                self._send(pickle.dumps(("outputs", batch), pickle.HIGHEST_PROTOCOL))
            except OSError:
                self._broken = True

    def close(self) -> None:
        """Stop the thread and send what is left (before the step's result)."""
        with self._queue:
            self._closed = True
            self._queue.notify()
        with contextlib.suppress(RuntimeError):
            self._thread.join()
        self.flush()
