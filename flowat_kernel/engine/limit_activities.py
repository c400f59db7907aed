"""Concurrency limits in the graph workflow: admission before a run starts, release after.

The graph workflow (guarded by :data:`PATCH_LIMITS`) asks ``flowat.run_admit`` (local,
bookkeeping) before it loads its spec; runs started since ``PATCH_FOLDED`` are first
admitted by ``flowat.run_begin`` and learn whom to wake from ``flowat.run_end`` (see
:mod:`~flowat_kernel.engine.run_bookkeeping`), asking ``run_admit`` only while they wait.
The store decides in one locked transaction
(:meth:`~flowat_kernel.store.limit_records.LimitRecords.admit_run`), so the limit holds
across every worker, process and host:

- ``unlimited`` / ``admitted``: the run goes on (admitted: it holds a slot, ``running``);
- ``skipped``: the run is recorded ``skipped`` (``when_full=skip``) and ends;
- ``queued``: the run stays ``queued`` with its place in line; the workflow waits for
  the :data:`ADMIT_SIGNAL` signal or :data:`ADMIT_POLL` (a durable timer), then asks
  again. Under ``cancel-oldest`` it first cancels the run the store picked.

A run holds its slot until its end is recorded, however it ends: the workflow records
its own end (succeeded, failed, cancelled, timed out), a waiter records a terminated
run's (:meth:`~flowat_kernel.engine.launch.RunLauncher.wait`), and otherwise the first
run in line, when it has waited a full :data:`ADMIT_POLL`, asks Temporal about the
runs holding slots and records the end of any whose workflow has closed. After its end
is recorded, a limited run asks ``flowat.run_released`` which waiters to wake, and
signals them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from flowat_kernel.engine.messages import RunReference
from flowat_kernel.engine.trust import ForgedTask, verify_reference
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow

__all__ = [
    "ADMIT",
    "ADMIT_POLL",
    "ADMIT_SIGNAL",
    "PATCH_LIMITS",
    "RECLAIM_AFTER",
    "RELEASED",
    "AdmitRequest",
    "AdmitResult",
    "LimitActivities",
]

log = logging.getLogger(__name__)

#: ``workflow.patched`` id: the graph workflow passes admission before it starts.
PATCH_LIMITS = "flowat-graph-concurrency-limits"
ADMIT = "flowat.run_admit"
RELEASED = "flowat.run_released"
#: The signal that wakes a waiting run: a slot may be free.
ADMIT_SIGNAL = "flowat.admit"
#: How long a waiting run sleeps between asking when no signal wakes it.
ADMIT_POLL = timedelta(seconds=5)
#: A slot holder is asked about (reclaimed if closed) only once it ran this long.
RECLAIM_AFTER = timedelta(seconds=10)

_CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "failed",  # completed without recording: not ours
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}


class AdmitRequest(BaseModel):
    """A run asking for a slot; ``reclaim``: also check the slot holders with Temporal."""

    model_config = ConfigDict(frozen=True)

    reference: RunReference
    reclaim: bool = False


class AdmitResult(BaseModel):
    """The store's decision (see :class:`~flowat_kernel.store.limit_records.Admission`)."""

    model_config = ConfigDict(frozen=True)

    decision: Literal["unlimited", "admitted", "queued", "skipped", "ended"]
    position: int | None = None
    cancel: list[str] = []


class LimitActivities:
    """The admission and release activities, over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[object]:
        """Both activities, for ``Worker(activities=...)``."""
        return [self.run_admit, self.run_released]

    @activity.defn(name=ADMIT)
    async def run_admit(self, request: AdmitRequest) -> AdmitResult:
        """Admit the run, keep it waiting, skip it, or pick a run to cancel for it.

        A reference that does not match the store's record is refused (not retried).
        """
        try:
            await asyncio.to_thread(verify_reference, self.store, request.reference)
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        run_id = request.reference.run_id
        admission = await asyncio.to_thread(self.store.admit_run, run_id)
        head = admission.decision == "queued" and admission.position == 1
        if head and request.reclaim and await self._reclaim(run_id):
            admission = await asyncio.to_thread(self.store.admit_run, run_id)
        return AdmitResult(
            decision=admission.decision,
            position=admission.position,
            cancel=list(admission.cancel),
        )

    @activity.defn(name=RELEASED)
    async def run_released(self, run_id: str) -> list[str]:
        """Temporal workflow ids of the waiting runs to wake now the run's slot is free."""
        return await asyncio.to_thread(self.store.admission_wakeups, run_id)

    async def _reclaim(self, run_id: str) -> bool:
        """Record the end of slot holders whose workflow closed unrecorded; whether any did.

        A holder's workflow that was terminated (or failed outside FlowAt's handling)
        with nobody waiting for it would otherwise hold its slot for good.
        """
        holders = await asyncio.to_thread(self.store.slot_holders, run_id)
        horizon = utcnow() - RECLAIM_AFTER
        client = activity.client()
        freed = False
        for holder in holders:
            if holder.started_at is not None and holder.started_at > horizon:
                continue
            try:
                described = await client.get_workflow_handle(holder.temporal_workflow_id).describe()
            except Exception as exc:  # unknown to Temporal (deleted): not provably closed
                log.warning("slot holder %s not described: %s", holder.run_id, exc)
                continue
            closed = described.status
            status = _CLOSED.get(closed) if closed is not None else None
            if status is None or closed is None:
                continue
            message = (
                f"the run's workflow closed ({closed.name.lower()}) without "
                "recording its end; its concurrency slot was released"
            )
            error = {"type": "WorkflowClosed", "message": message}
            log.warning("run %s: %s", holder.run_id, message)
            released = self.store.release_closed_run
            freed = await asyncio.to_thread(released, holder.run_id, status, error) or freed
        return freed
