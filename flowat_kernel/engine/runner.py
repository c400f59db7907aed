"""Starting runs on Temporal and waiting for them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from flowat_kernel.analytics.events import event
from flowat_kernel.engine.messages import RunInput, StepOutcome
from flowat_kernel.engine.services import EngineServices
from flowat_kernel.engine.workflow import WORKFLOW_NAME
from flowat_kernel.errors import TemporalUnavailable
from flowat_kernel.ids import new_run_id
from flowat_kernel.store import RunRecord, VersionRecord

__all__ = ["StartedRun", "queue_run", "run_input", "start_queued", "wait_for_result"]


@dataclass(frozen=True)
class StartedRun:
    """A run that Temporal accepted.

    ``eager``: its first workflow task came back in the start's answer, to a worker of
    this process (see :func:`start_queued`).
    """

    run_id: str
    workflow_id: str
    eager: bool = False
    #: The run's record as it was queued (``None`` when the starter did not keep it).
    record: RunRecord | None = None


async def queue_run(
    services: EngineServices,
    version: VersionRecord,
    parameters: dict[str, Any],
    trigger: str,
    task_queue: str | None = None,
    actor: str | None = None,
) -> RunRecord:
    """Record a new queued run of ``version`` (and, with ``actor``, its audit entry).

    ``task_queue`` is where it will execute (the shared queue by default). Returns the
    run's record as written (its ``temporal_workflow_id`` is the workflow to start).
    """
    run_id = new_run_id()
    workflow_id = f"flowat-{version.workflow}-{run_id}"
    queue = task_queue or services.settings.task_queue
    record = await asyncio.to_thread(
        services.store.create_run, run_id, version, parameters, trigger, workflow_id, queue, actor
    )
    services.events.emit(
        event(
            "run_queued",
            run_id=run_id,
            workflow=version.workflow,
            version=version.number,
            owner=version.owner,
            trigger=trigger,
        )
    )
    return record


def run_input(
    services: EngineServices,
    version: VersionRecord,
    run_id: str,
    parameters: dict[str, Any],
    *,
    timeout_seconds: float | None = None,
    reuse: dict[str, StepOutcome] | None = None,
) -> RunInput:
    """The graph workflow's input for a queued run of ``version``."""
    return RunInput(
        run_id=run_id,
        workflow=version.workflow,
        version=version.number,
        spec_hash=version.spec_hash,
        parameters=parameters,
        heartbeat_seconds=services.settings.heartbeat_timeout,
        timeout_seconds=timeout_seconds,
        reuse=reuse or {},
    )


async def start_queued(
    services: EngineServices,
    run_input: RunInput,
    workflow_id: str,
    task_queue: str | None = None,
    *,
    eager: bool = False,
) -> StartedRun:
    """Start the graph workflow of a run already recorded as queued.

    ``eager``: the run executes on a worker of this process (on the same client), so
    Temporal may hand its first workflow task back in the start's answer instead of
    through a poll (eager workflow start; Temporal falls back to the queue when the
    worker has no free slot).

    Raises:
        TemporalUnavailable: Temporal refused or could not be reached; the run is
            recorded as failed so nothing is left queued forever.

    """
    client = await services.client()
    try:
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            run_input,
            id=workflow_id,
            task_queue=task_queue or services.settings.task_queue,
            request_eager_start=eager,
        )
    except RPCError as exc:
        error = {"type": "TemporalUnavailable", "message": str(exc)}
        services.events.emit(
            event(
                "run_finished",
                run_id=run_input.run_id,
                status="failed",
                error_type="TemporalUnavailable",
            )
        )
        await asyncio.to_thread(services.store.run_finished, run_input.run_id, "failed", error)
        raise TemporalUnavailable(f"Temporal did not accept the run: {exc}") from exc
    granted = bool(getattr(handle, "__temporal_eagerly_started", False))
    return StartedRun(run_id=run_input.run_id, workflow_id=workflow_id, eager=granted)


async def wait_for_result(
    services: EngineServices, started: StartedRun
) -> WorkflowFailureError | None:
    """Wait until the run's workflow closes; how it failed, or ``None`` if it completed.

    A failed run is recorded in the store, and callers read it from there; the failure
    is returned for a run whose workflow closed without recording its end.
    """
    client = await services.client()
    handle = client.get_workflow_handle(started.workflow_id)
    try:
        await handle.result()
    except WorkflowFailureError as failure:
        return failure
    return None
