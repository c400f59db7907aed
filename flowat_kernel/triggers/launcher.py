"""What a schedule starts: a small launcher workflow that resolves the version at fire time.

A Temporal Schedule starts ``flowat.scheduled`` on the trigger task queue
(``FLOWAT_TASK_QUEUE`` + ``-triggers``). Its one activity resolves the version (pinned,
or the latest *now*), checks the parameters, records the run in the store, and returns
the graph workflow's input; the launcher then runs the graph workflow as its child on
the main task queue. Because the launcher lasts as long as the run, the schedule's
overlap policy (skip, buffer, cancel the other, ...) applies to runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.engine.launch import RunLauncher
    from flowat_kernel.engine.messages import RunInput
    from flowat_kernel.engine.workflow import WORKFLOW_NAME

if TYPE_CHECKING:
    from flowat_kernel.engine.services import LaunchServices

__all__ = [
    "LAUNCHER_NAME",
    "PREPARE_ACTIVITY",
    "LaunchActivities",
    "LaunchRequest",
    "PreparedRun",
    "ScheduledLaunch",
]

LAUNCHER_NAME = "flowat.scheduled"
PREPARE_ACTIVITY = "flowat.prepare_scheduled_run"


class LaunchRequest(BaseModel):
    """The schedule's action input: what to run, for which organization."""

    schedule_id: str
    owner: str
    workflow: str
    version: int | None = None
    parameters: dict[str, Any] = {}


class PreparedRun(BaseModel):
    """The recorded run, ready to start."""

    run_input: RunInput
    workflow_id: str
    task_queue: str


@workflow.defn(name=LAUNCHER_NAME)
class ScheduledLaunch:
    """Prepare the run (an activity), then run the graph workflow as a child."""

    @workflow.run
    async def run(self, request: LaunchRequest) -> str:
        """Start one scheduled run and wait for it; returns its run id."""
        prepared: PreparedRun = await workflow.execute_activity(
            PREPARE_ACTIVITY,
            request,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10)),
            result_type=PreparedRun,
        )
        # A failed run is in its record; the launcher succeeds so the schedule goes on.
        with contextlib.suppress(ChildWorkflowError):
            await workflow.execute_child_workflow(
                WORKFLOW_NAME,
                prepared.run_input,
                id=prepared.workflow_id,
                task_queue=prepared.task_queue,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        return prepared.run_input.run_id


class LaunchActivities:
    """The launcher's activity, over the services the trigger worker was given."""

    def __init__(self, services: LaunchServices) -> None:
        self.launcher = RunLauncher(services)

    @activity.defn(name=PREPARE_ACTIVITY)
    async def prepare_scheduled_run(self, request: LaunchRequest) -> PreparedRun:
        """Resolve the version, coerce the parameters and record the queued run.

        The run is recorded through the same path as every other start
        (:meth:`~flowat_kernel.engine.launch.RunLauncher.queue`).
        """
        from flowat_kernel.errors import NotFoundError, ParameterError
        from flowat_kernel.params import coerce_parameters

        services = self.launcher.services
        try:
            version = await asyncio.to_thread(
                services.store.get_version, request.owner, request.workflow, request.version
            )
            values = coerce_parameters(version.spec.inputs, request.parameters)
        except (NotFoundError, ParameterError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
        queue = await self.launcher.task_queue_for("schedule", "auto")  # the shared queue
        queued = await self.launcher.queue(
            version,
            values,
            trigger="schedule",
            actor=f"schedule:{request.schedule_id}",
            task_queue=queue,
        )
        return PreparedRun(
            run_input=queued.run_input, workflow_id=queued.workflow_id, task_queue=queue
        )
