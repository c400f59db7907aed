"""The one path that starts a run and the one that waits for it.

Every face (Python API, magics, CLI, REST API, webhooks, schedules, papermill, the
dead-letter queue) starts runs through :meth:`RunLauncher.start` (schedules through
its first half, :meth:`RunLauncher.queue`, since their launcher workflow starts the
graph workflow as a child) and waits through :meth:`RunLauncher.wait` (or, on an event
loop that must not block, such as the REST API's, :meth:`RunLauncher.wait_async`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from flowat_kernel.engine.run_directories import remember
from flowat_kernel.engine.runner import (
    StartedRun,
    queue_run,
    run_input,
    start_queued,
    wait_for_result,
)
from flowat_kernel.errors import StoreError

if TYPE_CHECKING:
    from temporalio.client import WorkflowFailureError

    from flowat_kernel.engine.messages import RunInput, StepLimits, StepOutcome
    from flowat_kernel.engine.services import LaunchServices
    from flowat_kernel.store import RunRecord, VersionRecord

__all__ = [
    "CLOSED_GRACE_SECONDS",
    "UNCLAIMED_SECONDS",
    "ProgressCallback",
    "QueuedRun",
    "RunLauncher",
    "WorkerMode",
]

ProgressCallback = Callable[["RunRecord"], None]

log = logging.getLogger(__name__)

#: With ``worker="auto"``, how long a waited-for run may stay queued before this process
#: runs a worker itself (a worker that just stopped still looks alive to Temporal).
UNCLAIMED_SECONDS = 5.0

#: How long a run whose workflow has closed may stay unrecorded before the waiter
#: records its end from Temporal's outcome.
CLOSED_GRACE_SECONDS = 2.0

#: Where a run executes:
#:
#: - ``here`` (``always`` is the same): in the process that starts it, on its own task
#:   queue, with its working directory, environment and packages;
#: - ``shared``: on the shared task queue that ``flowat worker`` processes serve; when no
#:   live worker is registered, this process runs one;
#: - ``never``: on the shared queue, never starting a worker here;
#: - ``auto``: ``shared`` for runs started by the REST API, webhooks and schedules,
#:   otherwise ``FLOWAT_RUN_ON`` (``here`` by default).
WorkerMode = Literal["auto", "here", "shared", "always", "never"]

#: Triggers whose runs go to the shared task queue under ``auto``.
SHARED_TRIGGERS = frozenset({"rest", "webhook", "schedule"})


class QueuedRun(NamedTuple):
    """A run recorded as queued: its workflow's input, workflow id and record."""

    run_input: RunInput
    workflow_id: str
    #: As written; ``None`` when steps were reused since (read it from the store).
    record: RunRecord | None


class RunLauncher:
    """Records, starts and waits for runs over one set of services."""

    def __init__(self, services: LaunchServices) -> None:
        self.services = services

    async def queue(
        self,
        version: VersionRecord,
        values: dict[str, Any],
        *,
        trigger: str,
        actor: str,
        timeout_seconds: float | None = None,
        reuse: dict[str, StepOutcome] | None = None,
        reuse_records: dict[str, dict[str, Any] | None] | None = None,
        task_queue: str | None = None,
        limits: dict[str, StepLimits] | None = None,
    ) -> QueuedRun:
        """Record a queued run and its audit entry (one transaction); its input and record.

        ``task_queue`` is where it will execute (recorded with the run); the shared
        queue by default. ``limits`` are the run's own attempts and timeouts for some
        steps (:class:`~flowat_kernel.engine.messages.StepLimits`), in place of the
        spec's. The record is ``None`` when steps were reused (read it from the store).
        """
        services = self.services
        record: RunRecord | None = await queue_run(
            services, version, values, trigger, task_queue, actor
        )
        assert record is not None
        run_id, workflow_id = record.run_id, record.temporal_workflow_id
        if reuse:
            records = reuse_records or {}
            outputs = {step: records.get(step) for step in reuse}
            await asyncio.to_thread(services.store.reuse_steps, run_id, outputs)
            record = None  # its steps changed since
        prepared = run_input(
            services, version, run_id, values, timeout_seconds=timeout_seconds, reuse=reuse
        )
        if limits:
            prepared = prepared.model_copy(update={"limits": dict(limits)})
        return QueuedRun(prepared, workflow_id, record)

    def placement(self, trigger: str, worker: WorkerMode) -> Literal["here", "shared"]:
        """Where a run started by ``trigger`` with ``worker`` executes (see :data:`WorkerMode`)."""
        if worker in ("here", "always"):
            return "here"
        if worker in ("shared", "never"):
            return "shared"
        if trigger in SHARED_TRIGGERS:
            return "shared"
        return self.services.settings.run_on

    async def task_queue_for(self, trigger: str, worker: WorkerMode) -> str:
        """The task queue a new run goes to, with a worker ready for it where needed."""
        services = self.services
        if self.placement(trigger, worker) == "here":
            return await services.ensure_local_worker()
        if worker != "never":
            await services.ensure_worker(only_if_none_polling=True)
        return services.settings.task_queue

    async def start_async(
        self,
        version: VersionRecord,
        values: dict[str, Any],
        *,
        trigger: str,
        actor: str,
        worker: WorkerMode = "auto",
        timeout_seconds: float | None = None,
        reuse: dict[str, StepOutcome] | None = None,
        reuse_records: dict[str, dict[str, Any] | None] | None = None,
        limits: dict[str, StepLimits] | None = None,
        directory: str | None = None,
    ) -> StartedRun:
        """:meth:`start` on the running event loop.

        ``directory``: where the steps of a run placed here execute (this process's
        working directory now by default; see :mod:`flowat_kernel.engine.run_directories`).
        """
        here = self.placement(trigger, worker) == "here"
        directory = (directory or os.getcwd()) if here else None
        queue = await self.task_queue_for(trigger, worker)
        queued = await self.queue(
            version,
            values,
            trigger=trigger,
            actor=actor,
            timeout_seconds=timeout_seconds,
            reuse=reuse,
            reuse_records=reuse_records,
            task_queue=queue,
            limits=limits,
        )
        prepared, workflow_id = queued.run_input, queued.workflow_id
        if directory is not None:
            remember(prepared.run_id, directory)
        # Eager start when a worker of this process (on the same client) polls the queue:
        # its own queue, or the shared one when this process serves it (the REST API and
        # webhooks of `flowat dev` / `flowat serve` with their worker).
        eager = here or (
            queue == self.services.settings.task_queue and self.services.worker_running
        )
        started = await start_queued(self.services, prepared, workflow_id, queue, eager=eager)
        return dataclasses.replace(started, record=queued.record)

    def start(
        self,
        version: VersionRecord,
        values: dict[str, Any],
        *,
        trigger: str,
        actor: str,
        worker: WorkerMode = "auto",
        timeout_seconds: float | None = None,
        reuse: dict[str, StepOutcome] | None = None,
        reuse_records: dict[str, dict[str, Any] | None] | None = None,
        limits: dict[str, StepLimits] | None = None,
    ) -> StartedRun:
        """Record and start a run of ``version`` with coerced ``values``.

        ``limits``: the run's own attempts and timeouts for some steps (see
        :meth:`queue`).

        Raises:
            TemporalUnavailable: Temporal refused the run (it is recorded as failed).

        """
        return self.services.call(
            self.start_async(
                version,
                values,
                trigger=trigger,
                actor=actor,
                worker=worker,
                timeout_seconds=timeout_seconds,
                reuse=reuse,
                reuse_records=reuse_records,
                limits=limits,
                # the caller's directory, read on its own thread
                directory=os.getcwd(),
            )
        )

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        worker: WorkerMode = "auto",
        poll_interval: float = 0.2,
    ) -> RunRecord:
        """The run once it finished, or as it stands when ``timeout`` seconds passed.

        Wakes as soon as the run's workflow closes; while it is open, polls the record
        every ``poll_interval`` seconds for ``progress``. A store that is briefly
        unreachable (a restart) does not end the wait. With ``worker="auto"``, a run
        still queued after :data:`UNCLAIMED_SECONDS` while this process runs no worker
        gets one here: Temporal lists a worker that just stopped as polling for about a
        minute, so the start may have left the run to a poller that is gone.

        Raises:
            NotFoundError: no such run.
            StoreError: the store stayed unreachable past the timeout.

        """
        services = self.services
        store = services.store
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        record = store.get_run(run_id)
        if record.finished:
            if progress is not None:
                progress(record)
            return record
        closed = services.loop.submit(
            wait_for_result(services, StartedRun(run_id, record.temporal_workflow_id))
        )
        unclaimed_since = time.monotonic()
        closed_since: float | None = None
        try:
            while True:
                if closed.done():
                    time.sleep(poll_interval)
                else:
                    futures.wait([closed], timeout=poll_interval)
                try:
                    record = store.get_run(run_id)
                except StoreError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise
                    continue
                if progress is not None:
                    progress(record)
                if record.finished or (deadline is not None and time.monotonic() >= deadline):
                    return record
                if closed.done():
                    closed_since = closed_since or time.monotonic()
                    if time.monotonic() - closed_since > CLOSED_GRACE_SECONDS:
                        return self._record_closed(record, closed.result())
                if (
                    self._unclaimed(record, worker)
                    and time.monotonic() - unclaimed_since > UNCLAIMED_SECONDS
                ):
                    unclaimed_since = time.monotonic()
                    services.call(services.ensure_worker(only_if_none_polling=True))
        finally:
            closed.cancel()

    def _record_closed(self, record: RunRecord, failure: WorkflowFailureError | None) -> RunRecord:
        """Record the end of a run whose workflow closed without recording it.

        The graph workflow records every end it reaches; this covers one it could not
        (the workflow itself failed, or its history was terminated from outside), so no
        run stays ``running`` forever. The error is Temporal's, masked.
        """
        from temporalio.exceptions import CancelledError, TerminatedError, TimeoutError

        from flowat_kernel.vault.redaction import redact_text

        cause = failure.cause if failure is not None else None
        if isinstance(cause, CancelledError):
            status = "cancelled"
        elif isinstance(cause, TimeoutError):
            status = "timed_out"
        else:
            status = "failed"
        reason = "terminated" if isinstance(cause, TerminatedError) else "closed"
        message = redact_text(str(cause or failure or "no outcome"))
        error = {
            "type": type(cause).__name__ if cause is not None else "WorkflowClosed",
            "message": f"the run's workflow {reason} without recording its end: {message}",
        }
        log.warning("run %s: %s", record.run_id, error["message"])
        store = self.services.store
        store.run_finished(record.run_id, status, error)
        return store.get_run(record.run_id)

    def _unclaimed(self, record: RunRecord, worker: WorkerMode) -> bool:
        """Whether a run waits on the shared queue that this process could serve itself.

        A shared worker that died without leaving the registry counts as live for up to
        :data:`~flowat_kernel.engine.process_worker.LIVE_SECONDS`; a run still queued a
        few seconds after its start gets a worker here instead of waiting that long.
        """
        shared = self.services.settings.task_queue
        return (
            worker not in ("never", "here", "always")
            and record.status == "queued"
            and record.task_queue in (None, shared)
            and not self.services.worker_running
        )

    async def wait_async(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        worker: WorkerMode = "auto",
        poll_interval: float = 0.5,
        executor: Executor | None = None,
    ) -> RunRecord:
        """:meth:`wait` for an event loop: no thread is held while the run is open.

        Awaits the run's workflow on the services' loop and sleeps between reads of the
        record; each read is a short store call run on ``executor`` (the running loop's
        default executor when ``None``). Same results and errors as :meth:`wait`.
        """
        services = self.services
        store = services.store
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(timeout, 0.0)

        async def read() -> RunRecord:
            return await loop.run_in_executor(executor, store.get_run, run_id)

        record = await read()
        if record.finished:
            return record
        closed = asyncio.wrap_future(
            services.loop.submit(
                wait_for_result(services, StartedRun(run_id, record.temporal_workflow_id))
            )
        )
        unclaimed_since = loop.time()
        closed_since: float | None = None
        try:
            while True:
                pause = poll_interval
                if deadline is not None:
                    pause = max(min(pause, deadline - loop.time()), 0.0)
                if closed.done():
                    await asyncio.sleep(pause)
                else:
                    await asyncio.wait([closed], timeout=pause)
                try:
                    record = await read()
                except StoreError:
                    if deadline is not None and loop.time() >= deadline:
                        raise
                    continue
                if record.finished or (deadline is not None and loop.time() >= deadline):
                    return record
                if closed.done():
                    closed_since = closed_since or loop.time()
                    if loop.time() - closed_since > CLOSED_GRACE_SECONDS:
                        return await loop.run_in_executor(
                            executor, self._record_closed, record, closed.result()
                        )
                if (
                    self._unclaimed(record, worker)
                    and loop.time() - unclaimed_since > UNCLAIMED_SECONDS
                ):
                    unclaimed_since = loop.time()
                    await asyncio.wrap_future(
                        services.loop.submit(services.ensure_worker(only_if_none_polling=True))
                    )
        finally:
            closed.cancel()
