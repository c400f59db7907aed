"""Deleting runs everywhere they left something: Temporal, the store, artifacts, analytics.

One function deletes a set of runs (:func:`delete_runs`, for ``flowat runs delete``,
``flowat workflows delete`` and retention); :func:`retention_pass` applies every
retention policy once; :class:`RetentionLoop` runs that pass periodically in a worker
process, one pass at a time across every worker (a lease in the store).

The order makes a deletion safe to interrupt and to repeat: the Temporal execution goes
first (a run whose execution cannot be deleted stays, and is tried again), then the
records, in one transaction per chunk with the audit entries and the memory of the
deleted ids, then the files. Files written for a run after its records went (a step
still finishing, events still in another process's spool) are found by the next pass
through the deleted ids the store remembers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from flowat_kernel.engine.services import LaunchServices
from flowat_kernel.errors import ConfigError

if TYPE_CHECKING:
    from flowat_kernel.engine.artifacts import ArtifactStore
    from flowat_kernel.store.retention_records import RunRef

__all__ = [
    "RETENTION_ACTOR",
    "DeletionReport",
    "DeletionServices",
    "RetentionLoop",
    "delete_runs",
    "retention_interval",
    "retention_pass",
]

log = logging.getLogger(__name__)

#: Who the audit log names for runs the worker's retention pass deleted.
RETENTION_ACTOR = "flowat-retention"
#: The lease's name in the store.
_LEASE = "retention"
#: How long a pass may hold the lease before another worker may take it over.
_LEASE_SECONDS = 900.0
#: How long deleted run ids are remembered (files written later are found meanwhile).
_REMEMBER = timedelta(days=7)
#: Concurrent DeleteWorkflowExecution calls.
_CONCURRENCY = 32


class DeletionServices(LaunchServices, Protocol):
    """What deleting runs uses: the launch services and the artifact store."""

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store."""
        ...


@dataclass
class DeletionReport:
    """What a deletion or a retention pass removed."""

    runs: int = 0
    executions: int = 0
    artifacts: int = 0
    events: int = 0
    #: Runs left in place because Temporal would not delete their execution (retried).
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "runs": self.runs,
            "executions": self.executions,
            "artifacts": self.artifacts,
            "events": self.events,
            "kept": list(self.kept),
        }


def _analytics(services: DeletionServices) -> Path:
    return services.settings.home / "analytics"


async def _delete_executions(
    services: DeletionServices, refs: Sequence[RunRef]
) -> tuple[int, list[str]]:
    """Delete the runs' Temporal executions; returns (deleted, ids that failed).

    A running execution is terminated by Temporal first. An execution Temporal no
    longer knows (deleted before, or expired by the namespace's retention) is fine.
    """
    client = await services.client()
    service = client.workflow_service
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(ref: RunRef) -> bool | None:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=ref.temporal_workflow_id),
        )
        async with gate:
            try:
                await service.delete_workflow_execution(request)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False
                log.warning("cannot delete the execution of run %s: %s", ref.run_id, exc)
                return None
        return True

    outcomes = await asyncio.gather(*(one(ref) for ref in refs))
    failed = [ref.run_id for ref, ok in zip(refs, outcomes, strict=True) if ok is None]
    return sum(1 for ok in outcomes if ok), failed


def _delete_artifacts(services: DeletionServices, run_id: str) -> int:
    """A run's artifacts; what a concurrent deleter removed meanwhile is not an error."""
    for _ in range(3):
        try:
            return services.artifacts.delete_run(run_id)
        except FileNotFoundError:  # part of the tree vanished under us: look again
            continue
    return 0


def purge_files(services: DeletionServices, run_ids: Sequence[str]) -> tuple[int, int]:
    """Remove the runs' artifacts and analytics events; returns (files, events).

    Only runs the artifact store lists are visited (one listing, rather than one
    lookup per run: most runs store no artifact).
    """
    from flowat_kernel.analytics.deletion import delete_run_events

    wanted = set(run_ids)
    stored = [run_id for run_id in services.artifacts.run_ids() if run_id in wanted]
    files = sum(_delete_artifacts(services, run_id) for run_id in stored)
    events = delete_run_events(_analytics(services), run_ids)
    return files, events


def delete_runs(
    services: DeletionServices,
    refs: Sequence[RunRef],
    actor: str,
    *,
    action: str = "run.deleted",
) -> DeletionReport:
    """Delete runs: their Temporal executions, records, artifacts and analytics events.

    The caller has checked the principal and that the runs may go (active runs are
    terminated by Temporal when their execution is deleted). Runs whose execution
    Temporal refuses to delete stay, listed in ``kept``.

    Raises:
        TemporalUnavailable: Temporal cannot be reached (nothing was deleted).

    """
    report = DeletionReport()
    if not refs:
        return report
    report.executions, report.kept = services.call(_delete_executions(services, refs))
    kept = set(report.kept)
    going = [ref for ref in refs if ref.run_id not in kept]
    report.runs = services.store.delete_run_records(going, actor, action)
    report.artifacts, report.events = purge_files(services, [r.run_id for r in going])
    return report


def expired(
    services: DeletionServices, owner: str | None = None, now: datetime | None = None
) -> list[RunRef]:
    """The finished runs every retention policy (of ``owner``, or all) expires now."""
    store = services.store
    policies = store.retention_policies(owner)
    found: dict[str, RunRef] = {}
    for organization in sorted({p.owner for p in policies}):
        mine = [p for p in policies if p.owner == organization]
        own = [p for p in mine if p.workflow is not None]
        for policy in mine:
            refs = store.expired_runs(
                organization,
                policy.workflow,
                policy.days,
                policy.keep,
                excluding=[p.workflow for p in own if p.workflow],
                now=now,
            )
            found.update((ref.run_id, ref) for ref in refs)
    return list(found.values())


def sweep_leftovers(services: DeletionServices) -> tuple[int, int]:
    """Remove files of deleted runs written after they were deleted; (files, events)."""
    from flowat_kernel.analytics.deletion import delete_run_events, event_run_ids

    store = services.store
    with_files = store.deleted_run_ids(services.artifacts.run_ids())
    files = sum(_delete_artifacts(services, run_id) for run_id in sorted(with_files))
    folder = _analytics(services)
    with_events = store.deleted_run_ids(event_run_ids(folder))
    events = delete_run_events(folder, with_events)
    return files, events


def retention_pass(
    services: DeletionServices, owner: str | None = None, now: datetime | None = None
) -> DeletionReport:
    """Apply the retention policies (of ``owner``, or every organization's) once.

    Deletes the finished runs they expire (the audit log names
    :data:`RETENTION_ACTOR` and ``run.expired``), then files of runs deleted earlier
    that were written after their deletion. Active runs are never touched.
    Idempotent: a second pass at the same time deletes nothing more.
    """
    from flowat_kernel.store.clock import utcnow

    refs = expired(services, owner, now)
    report = delete_runs(services, refs, RETENTION_ACTOR, action="run.expired")
    files, events = sweep_leftovers(services)
    report.artifacts += files
    report.events += events
    services.store.forget_deleted_runs(utcnow() - _REMEMBER)
    return report


def retention_interval() -> float:
    """Seconds between retention passes: ``FLOWAT_RETENTION_INTERVAL`` (3600; 0 = never).

    Raises:
        ConfigError: the variable is not a number of seconds.

    """
    text = os.environ.get("FLOWAT_RETENTION_INTERVAL", "").strip()
    if not text:
        return 3600.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(
            f"FLOWAT_RETENTION_INTERVAL must be a number of seconds (0 turns retention "
            f"passes off), not {text!r}"
        )
    return seconds


class RetentionLoop:
    """Runs :func:`retention_pass` every ``every`` seconds in a worker process.

    Each due pass takes the store's lease first, so one pass runs at a time across
    every worker and host, and passes happen about ``every`` seconds apart whichever
    worker runs them. A pass that fails releases the lease for the next attempt.
    """

    def __init__(self, services: DeletionServices, every: float) -> None:
        self.services = services
        self.every = every
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> DeletionReport | None:
        """One pass if it is due and no other worker runs one; ``None`` otherwise."""
        store = self.services.store
        if not store.take_lease(_LEASE, self.holder, _LEASE_SECONDS, self.every):
            return None
        finished = False
        try:
            report = retention_pass(self.services)
            finished = True
            return report
        finally:
            store.release_lease(_LEASE, self.holder, finished=finished)

    def start(self) -> None:
        """Start the background thread (a daemon; :meth:`stop` ends it)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flowat-retention", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the pass in progress, if any."""
        self._stop.set()

    def _run(self) -> None:
        wait = min(self.every, 60.0)
        while not self._stop.wait(wait):
            try:
                report = self.run_once()
            except Exception:
                log.exception("retention pass failed; it is tried again later")
                continue
            if report is not None and report.runs:
                log.info("retention deleted %d runs", report.runs)


_loops: dict[int, RetentionLoop] = {}
_loops_lock = threading.Lock()


def start_retention_loop(services: object) -> RetentionLoop | None:
    """Run retention passes in this process (once per services object), if configured.

    Called where a process serves the shared queues (``flowat worker``, ``flowat
    serve``, ``flowat dev``); ``FLOWAT_RETENTION_INTERVAL=0`` turns it off.
    """
    every = retention_interval()
    if every <= 0 or not hasattr(services, "artifacts"):
        return None
    with _loops_lock:
        loop = _loops.get(id(services))
        if loop is None:
            loop = _loops[id(services)] = RetentionLoop(services, every)  # type: ignore[arg-type]
            loop.start()
        return loop


def stop_retention_loop(services: object) -> None:
    """Stop the retention loop of ``services``, if one runs."""
    with _loops_lock:
        loop = _loops.pop(id(services), None)
    if loop is not None:
        loop.stop()
