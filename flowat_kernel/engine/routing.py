"""Routing a step to a task queue, inside the graph workflow (deterministic).

A code, action or sub-workflow step with ``--queue Q`` (or under a workflow's default
``queue``) runs its activity, and its sub-workflow, on task queue ``Q``: only workers
started with ``flowat worker --queue Q`` take it. The change is guarded by
:data:`PATCH_QUEUES`, asked for only by routed steps, so histories of runs without
routing replay as they ran.

A routed step first waits at most :data:`QUEUE_PROBE` for a worker (Temporal's
schedule-to-start timeout, which Temporal never retries). When that passes, the step is
recorded ``waiting`` for a worker on ``Q`` (the :data:`STEP_WAITING` bookkeeping
activity, see :mod:`flowat_kernel.engine.queue_activities`) and scheduled again without
that bound, so it runs as soon as a worker of ``Q`` polls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.messages import RunInput, StepOutcome, StepRecord, StepTask

__all__ = ["PATCH_QUEUES", "QUEUE_PROBE", "STEP_WAITING", "routed_queue", "run_routed"]

#: ``workflow.patched`` id: routed steps run on their task queue.
PATCH_QUEUES = "flowat-graph-task-queues"
#: How long a routed step may wait for a worker of its queue before its record says so.
QUEUE_PROBE = timedelta(seconds=5)
#: The bookkeeping activity that records a routed step waiting for a worker.
STEP_WAITING = "flowat.step_waiting"


def routed_queue(run: RunInput, step: Any) -> str | None:
    """The task queue ``step`` of ``run`` is routed to, once the patch applies; else ``None``."""
    queue: str | None = step.routed_to(run.graph.queue)
    if queue is None or not workflow.patched(PATCH_QUEUES):
        return None
    return queue


def _waiting(run: RunInput, step: str, queue: str) -> StepRecord:
    return StepRecord(
        run_id=run.run_id,
        workflow=run.workflow,
        version=run.version,
        step=step,
        status="waiting",
        error={
            "type": "WaitingForWorker",
            "queue": queue,
            "message": (
                f"waiting for a worker on queue {queue!r}: none took the step within "
                f"{QUEUE_PROBE.total_seconds():g}s; start one with "
                f"`flowat worker --queue {queue}`"
            ),
        },
        owner=run.owner,
    )


async def run_routed(
    run: RunInput,
    task: StepTask,
    queue: str,
    options: dict[str, Any],
    record: Callable[[str, Any], Awaitable[None]],
) -> StepOutcome:
    """Run ``task``'s ``flowat.run_step`` activity on ``queue`` with ``options``.

    ``record`` runs a bookkeeping activity (the workflow's own ``_record``).
    """
    routed = {**options, "task_queue": queue, "result_type": StepOutcome}
    try:
        probed: StepOutcome = await workflow.execute_activity(
            "flowat.run_step", task, schedule_to_start_timeout=QUEUE_PROBE, **routed
        )
        return probed
    except ActivityError as error:
        cause = error.cause
        if not (
            isinstance(cause, TemporalTimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START
        ):
            raise
    await record(STEP_WAITING, _waiting(run, task.step.name, queue))
    outcome: StepOutcome = await workflow.execute_activity("flowat.run_step", task, **routed)
    return outcome
