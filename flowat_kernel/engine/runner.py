"""Starting runs on Temporal and waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from flowat_kernel.analytics.events import event
from flowat_kernel.engine.messages import RunInput, StepOutcome
from flowat_kernel.engine.workflow import WORKFLOW_NAME
from flowat_kernel.errors import TemporalUnavailable
from flowat_kernel.ids import new_run_id
from flowat_kernel.runtime import Runtime
from flowat_kernel.store import VersionRecord

__all__ = ["StartedRun", "queue_run", "run_input", "start_run", "wait_for_result"]


@dataclass(frozen=True)
class StartedRun:
    """A run that Temporal accepted."""

    run_id: str
    workflow_id: str


async def queue_run(
    runtime: Runtime, version: VersionRecord, parameters: dict[str, Any], trigger: str
) -> tuple[str, str]:
    """Record a new queued run of ``version``; returns its run id and Temporal workflow id."""
    run_id = new_run_id()
    workflow_id = f"flowat-{version.workflow}-{run_id}"
    await asyncio.to_thread(
        runtime.store.create_run, run_id, version, parameters, trigger, workflow_id
    )
    runtime.events.emit(
        event(
            "run_queued",
            run_id=run_id,
            workflow=version.workflow,
            version=version.number,
            owner=version.owner,
            trigger=trigger,
        )
    )
    return run_id, workflow_id


def run_input(
    runtime: Runtime,
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
        spec=version.spec,
        parameters=parameters,
        owner=version.owner,
        heartbeat_seconds=runtime.settings.heartbeat_timeout,
        timeout_seconds=timeout_seconds,
        reuse=reuse or {},
    )


async def start_run(
    runtime: Runtime,
    version: VersionRecord,
    parameters: dict[str, Any],
    trigger: str,
    *,
    timeout_seconds: float | None = None,
    reuse: dict[str, StepOutcome] | None = None,
    reuse_records: dict[str, dict[str, Any] | None] | None = None,
) -> StartedRun:
    """Record a queued run and start the graph workflow for it.

    Args:
        runtime: the process's runtime.
        version: the version to run.
        parameters: coerced input values.
        trigger: what started the run.
        timeout_seconds: a deadline for the whole run, if any.
        reuse: outcomes of steps that succeeded in the run being re-run.
        reuse_records: those steps' recorded (masked) outputs, copied to the new run.

    Raises:
        TemporalUnavailable: Temporal refused or could not be reached; the run is
            recorded as failed so nothing is left queued forever.

    """
    client = await runtime.client()
    store = runtime.store
    run_id, workflow_id = await queue_run(runtime, version, parameters, trigger)
    if reuse:
        records = reuse_records or {}
        outputs = {step: records.get(step) for step in reuse}
        await asyncio.to_thread(store.reuse_steps, run_id, outputs)
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            run_input(
                runtime, version, run_id, parameters, timeout_seconds=timeout_seconds, reuse=reuse
            ),
            id=workflow_id,
            task_queue=runtime.settings.task_queue,
        )
    except RPCError as exc:
        error = {"type": "TemporalUnavailable", "message": str(exc)}
        runtime.events.emit(
            event("run_finished", run_id=run_id, status="failed", error_type="TemporalUnavailable")
        )
        await asyncio.to_thread(store.run_finished, run_id, "failed", error)
        raise TemporalUnavailable(f"Temporal did not accept the run: {exc}") from exc
    return StartedRun(run_id=run_id, workflow_id=workflow_id)


async def wait_for_result(runtime: Runtime, started: StartedRun) -> None:
    """Wait until the run's workflow closes (success or failure alike)."""
    client = await runtime.client()
    handle = client.get_workflow_handle(started.workflow_id)
    # A failed run is recorded in the store; the caller reads it from there.
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
