"""Step records off the critical path: a background writer that batches them.

A step activity used to write its record twice (attempt started, attempt ended), each
in its own store transaction, before the next step could start: on SQLite that is most
of a ``--local`` step's overhead, and under load the writes queue for SQLite's one
writer. The worker now hands those changes to a :class:`RecordWriter`: one thread per
worker process writes them in order, as many as have queued up in one transaction, and
the step goes on at once. Once a change arrives the writer waits :data:`LINGER` (20 ms)
for the ones that follow it, so that a quick step's start and end, and the next steps'
changes, share a transaction: a 10-step ``--local`` chain wrote 21 transactions of step
changes per run without it, 4 to 5 with it (``benchmarks/README.md``). A flush (the run's
end) does not wait for it.

What this gives up, and what holds it together:

- A step's record lags its real state by the linger and one transaction (tens of
  milliseconds when the store is idle); ``at`` keeps each change's real time.
- ``flowat.run_finished`` flushes the writer of its process before it records the run's
  end, so a run that ended in this process has every step record written when its end
  is. Changes of a process that died before writing them are lost with it; the run's
  end catches up (``Store.reconcile_steps``, from Temporal's history as the workflow
  saw it), so a step's status, outputs and end are never missing, only what it printed.
- A store outage costs the changes of that moment (logged), as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque

from flowat_kernel.errors import StoreError
from flowat_kernel.store import Store
from flowat_kernel.store.run_records import RecordChange

__all__ = ["RecordWriter"]

log = logging.getLogger(__name__)

#: The most changes written in one transaction.
BATCH = 256
#: Seconds the writer waits, after a change arrives, for the ones that follow it (a
#: step's end after its start, the next step's changes) to write them together.
#: ``flush`` does not wait for it.
LINGER = float(os.environ.get("FLOWAT_RECORD_LINGER", "0.02"))

_writers: weakref.WeakSet[RecordWriter] = weakref.WeakSet()


class RecordWriter:
    """Writes step record changes in the background, in order, batched.

    Args:
        store: where the records are.

    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[RecordChange] = deque()
        self._changed = threading.Condition()
        self._busy = 0  # changes taken from the queue and not yet written
        self._hurry = 0  # flushes waiting: write what is queued without lingering
        self._thread: threading.Thread | None = None
        _writers.add(self)

    def put(self, write: RecordChange) -> None:
        """Queue a change; it is written soon, after every change queued before it."""
        with self._changed:
            self._queue.append(write)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="flowat-step-records", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every change queued so far is written (or failed); ``False`` on timeout."""
        with self._changed:
            self._hurry += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)
            finally:
                self._hurry -= 1

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: bool(self._queue), timeout=60.0):
                    self._thread = None  # idle: the next put starts another thread
                    return
                until = time.monotonic() + LINGER
                while not self._hurry and len(self._queue) < BATCH:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                self._busy = len(batch)
            try:
                self.store.write_steps(batch)
            except StoreError as exc:
                log.warning(
                    "%d step record change(s) not written, the run's end will catch up: %s",
                    len(batch),
                    exc,
                )
            except Exception:  # never let the writer die with changes queued behind it
                log.exception("step record changes not written")
            finally:
                with self._changed:
                    self._busy = 0
                    self._changed.notify_all()


@atexit.register
def _flush_all() -> None:
    """Write what is queued before the process exits (bounded: the store may be gone)."""
    for writer in list(_writers):
        writer.flush(timeout=5.0)
