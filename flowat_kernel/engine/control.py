"""Controlling runs after they started: cancel, and what a re-run can reuse.

What a step produced is read back from the run's Temporal history (the source of
truth, decrypted with the vault's codec), not from run records, which keep masked
copies only.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from flowat_kernel.engine.messages import RunInput, StepOutcome, StepTask
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.spec import WorkflowSpec

if TYPE_CHECKING:
    from flowat_kernel.engine.services import EngineServices
    from flowat_kernel.store import RunRecord

__all__ = ["cancel_run", "reusable_steps", "signal_run", "step_outcomes"]


async def cancel_run(services: EngineServices, run_id: str) -> None:
    """Ask Temporal to cancel the run; running steps stop at their next heartbeat.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished.

    """
    record = await asyncio.to_thread(services.store.get_run, run_id)
    if record.finished:
        raise FlowAtError(f"run {run_id} has already finished ({record.status}); nothing to cancel")
    client = await services.client()
    try:
        await client.get_workflow_handle(record.temporal_workflow_id).cancel()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"Temporal no longer knows run {run_id}") from exc
        raise


async def signal_run(services: EngineServices, run_id: str, name: str, payload: object) -> None:
    """Send signal ``name`` with ``payload`` to a run; a ``--wait-for name`` step takes it.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished, or ``name`` is not a signal name.

    """
    from flowat_kernel.engine.workflow import SIGNAL_NAME

    if not name.isidentifier():
        raise FlowAtError(f"signal name {name!r}: use the name given to --wait-for")
    record = await asyncio.to_thread(services.store.get_run, run_id)
    if record.finished:
        raise FlowAtError(
            f"run {run_id} has already finished ({record.status}); it waits for nothing"
        )
    client = await services.client()
    try:
        await client.get_workflow_handle(record.temporal_workflow_id).signal(
            SIGNAL_NAME, args=[name, payload]
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"Temporal no longer knows run {run_id}") from exc
        raise


async def _decode(services: EngineServices, payload: Payload, kind: type) -> object | None:
    client = await services.client()
    try:
        value: object = (await client.data_converter.decode([payload], [kind]))[0]
    except Exception:  # a payload of another shape (run_started's None, a marker's data)
        return None
    return value


async def step_outcomes(services: EngineServices, record: RunRecord) -> dict[str, StepOutcome]:
    """Each step's successful outcome in the run, read from its Temporal history.

    Raises:
        NotFoundError: Temporal no longer has the run's history (retention expired).

    """
    from flowat_kernel.engine.history import run_history

    history = await run_history(services, record, "its steps' outputs, needed to reuse them,")
    scheduled: dict[int, str] = {}
    outcomes: dict[str, StepOutcome] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.workflow_execution_started_event_attributes.input.payloads
            run_input = await _decode(services, started[0], RunInput) if started else None
            if isinstance(run_input, RunInput):  # steps this run itself reused
                outcomes.update(run_input.reuse)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "flowat.run_step" and attributes.input.payloads:
                task = await _decode(services, attributes.input.payloads[0], StepTask)
                if isinstance(task, StepTask):
                    scheduled[event.event_id] = task.step.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attributes_c = event.activity_task_completed_event_attributes
            name = scheduled.get(attributes_c.scheduled_event_id)
            if name and attributes_c.result.payloads:
                outcome = await _decode(services, attributes_c.result.payloads[0], StepOutcome)
                if isinstance(outcome, StepOutcome):
                    outcomes[name] = outcome
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            result = event.marker_recorded_event_attributes.details.get("result")
            if result is not None and result.payloads:  # a local step
                outcome = await _decode(services, result.payloads[0], StepOutcome)
                if isinstance(outcome, StepOutcome) and outcome.step:
                    outcomes[outcome.step] = outcome
    return outcomes


def reusable_steps(previous: WorkflowSpec, succeeded: set[str], target: WorkflowSpec) -> set[str]:
    """Steps of ``target`` whose earlier outputs still hold.

    A step is reused when it succeeded before, is unchanged in ``target`` (same code,
    inputs, exports and settings) and every step it depends on is reused too; any other
    step runs again.
    """
    before = {step.name: step for step in previous.steps}
    upstream = target.upstream_map()
    reused: set[str] = set()
    for step in target.steps:  # spec order is a topological order
        old = before.get(step.name)
        if (
            old is not None
            and step.name in succeeded
            and old == step
            and upstream[step.name] <= reused
        ):
            reused.add(step.name)
    return reused
