"""Step processes kept for a run's next step, as a notebook's kernel is kept between cells.

A code step's process ends with the step unless the step may hand it on: then the
worker keeps it, idle, for the **same run's** next code step on this worker, which
skips the fork, the new process's first-cell start-up and its capture set-up (about 9 ms
of a short step here; ``benchmarks/README.md``, engine section). Each step still runs
in a fresh namespace and sees only its inputs; what earlier steps imported stays
loaded, and changes they made to module state or ``os.environ`` stay too, as in the
notebook the steps came from. Nothing else ever takes a kept process: not another run,
not a ``--chunk``.

A process is handed on only when its step ended with a result (not stopped by a
timeout or cancel), revealed no secret and read no secret-derived input (the worker's
caller decides that part): a process that held a secret's value ends with its step, so
a later step never finds it in memory without having asked for it.

At most ``FLOWAT_STEP_KEEP`` processes are kept (default 16; ``0``: a fresh process for
every step, as before). When that many are kept, a step's process ends as before; a
run's kept process ends when the run ends on this worker, or after
:data:`IDLE_SECONDS` without a step (a run waiting for a timer, a signal or an
approval holds none).
"""

from __future__ import annotations

import os
import threading
import time

from flowat_kernel.engine.cells.pool import StepChild
from flowat_kernel.errors import ConfigError

__all__ = ["IDLE_SECONDS", "KeptProcesses", "kept", "release_run"]

#: A kept process not taken within this many seconds ends.
IDLE_SECONDS = 15.0
_DEFAULT_LIMIT = 16


class KeptProcesses:
    """Idle step processes by run id, at most ``limit`` of them.

    Args:
        limit: how many processes may be kept at once (``0`` keeps none).
        idle_seconds: how long one may wait for its run's next step.

    """

    def __init__(self, limit: int, idle_seconds: float = IDLE_SECONDS) -> None:
        self.limit = max(0, limit)
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: dict[str, tuple[StepChild, float]] = {}
        self._sweeper: threading.Thread | None = None
        self._closed = threading.Event()

    def take(self, run_id: str) -> StepChild | None:
        """The process ``run_id``'s last step left, if it is still there and alive."""
        with self._lock:
            entry = self._idle.pop(run_id, None)
        if entry is None:
            return None
        child = entry[0]
        if child.waiting():
            return child
        child.close()
        return None

    def keep(self, run_id: str, child: StepChild) -> bool:
        """Keep ``child`` for ``run_id``'s next step; ``False`` when it was not kept.

        Not kept when ``run_id`` is empty, the run already has a kept process (two of
        its steps ran at once), or ``limit`` processes are kept. The caller closes a
        child that was not kept.
        """
        if not run_id or self.limit == 0 or self._closed.is_set():
            return False
        with self._lock:
            if run_id in self._idle or len(self._idle) >= self.limit:
                return False
            self._idle[run_id] = (child, time.monotonic())
            if self._sweeper is None or not self._sweeper.is_alive():
                self._sweeper = threading.Thread(
                    target=self._sweep, name="flowat-kept-steps", daemon=True
                )
                self._sweeper.start()
        return True

    def release(self, run_id: str) -> None:
        """The run ended: its kept process (if any) ends too."""
        with self._lock:
            entry = self._idle.pop(run_id, None)
        if entry is not None:
            entry[0].close()  # the child reads EOF and exits

    def count(self) -> int:
        """How many processes are kept now."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """End every kept process."""
        self._closed.set()
        with self._lock:
            idle, self._idle = self._idle, {}
        for child, _ in idle.values():
            child.close()

    def _sweep(self) -> None:
        """End processes idle for longer than ``idle_seconds``; stop when none is kept."""
        while not self._closed.wait(min(1.0, self.idle_seconds / 2)):
            now = time.monotonic()
            with self._lock:
                stale = [r for r, (_, t) in self._idle.items() if now - t > self.idle_seconds]
                ended = [self._idle.pop(r)[0] for r in stale]
                done = not self._idle
                if done:
                    self._sweeper = None
            for child in ended:
                child.close()
            if done:
                return


_kept: KeptProcesses | None = None
_kept_lock = threading.Lock()


def kept() -> KeptProcesses:
    """The process's kept step processes (their limit read from ``FLOWAT_STEP_KEEP``).

    Raises:
        ConfigError: ``FLOWAT_STEP_KEEP`` is not a whole number of at least 0.

    """
    global _kept
    with _kept_lock:
        if _kept is None:
            raw = os.environ.get("FLOWAT_STEP_KEEP", "").strip() or str(_DEFAULT_LIMIT)
            try:
                limit = int(raw)
                if limit < 0:
                    raise ValueError
            except ValueError:
                raise ConfigError(
                    f"FLOWAT_STEP_KEEP={raw!r} is not a whole number of 0 or more: give how "
                    "many step processes to keep for their runs' next steps, for example "
                    f"FLOWAT_STEP_KEEP={_DEFAULT_LIMIT} (0: a fresh process for every step)"
                ) from None
            _kept = KeptProcesses(limit)
        return _kept


def release_run(run_id: str) -> None:
    """The run ended: end the process kept for it in this worker, if any."""
    with _kept_lock:
        keeper = _kept
    if keeper is not None:
        keeper.release(run_id)
