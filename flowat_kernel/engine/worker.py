"""Building Temporal workers that run FlowAt's graph workflow and step activities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from flowat_kernel.analytics.writer import EventWriter
from flowat_kernel.engine.activities import StepActivities
from flowat_kernel.engine.artifacts import ArtifactStore
from flowat_kernel.engine.build_id import worker_build_id
from flowat_kernel.engine.queue_activities import QueueActivities
from flowat_kernel.engine.workflow import GraphWorkflow
from flowat_kernel.step_context import Breakers
from flowat_kernel.store import Store
from flowat_kernel.vault.redaction import install_logging_redaction
from flowat_kernel.vault.vault import Vault

__all__ = [
    "WorkerOptions",
    "build_worker",
    "has_live_pollers",
    "sandboxed_runner",
    "workflow_runner",
]


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker polls (``flowat worker`` options).

    Attributes:
        max_concurrent_steps: step activities (and their thread pool) at a time.
        max_concurrent_local: ``--local`` steps and bookkeeping at a time (``None``:
            as many as ``max_concurrent_steps``).
        name: the worker's identity in Temporal (its pollers list) and in FlowAt's
            worker registry; ``None``: Temporal's default ``PID@HOST``.
        interceptors: Temporal worker interceptors (the metrics of ``--metrics-port``).

    """

    max_concurrent_steps: int = 32
    max_concurrent_local: int | None = None
    name: str | None = None
    interceptors: Sequence[Interceptor] = ()


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with FlowAt's own (deterministic) modules passed through.

    The graph workflow imports only spec and message models from FlowAt; passing the
    package through keeps the sandbox from re-importing it (and IPython) on every run.
    The replay tests run the recorded histories in it, so a call that would make the
    workflow non-deterministic (the clock, randomness, I/O) fails there.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "flowat_kernel", "pydantic", "pydantic_core", "IPython"
        )
    )


def workflow_runner() -> WorkflowRunner:
    """How workers run FlowAt's workflows: outside Temporal's sandbox by default.

    Nobody writes workflow code in FlowAt: users' steps run in activities, and the
    graph workflow is FlowAt's own, deterministic code (its recorded histories replay in
    the sandbox in the test suite, see :func:`sandboxed_runner`). The sandbox guards a
    workflow's author against non-determinism; it is not a security boundary, and it
    costs every workflow activation (a third of the worker's event loop in a burst of
    short runs, ``benchmarks/README.md``). ``FLOWAT_WORKFLOW_SANDBOX=on`` runs them in
    it anyway.
    """
    if os.environ.get("FLOWAT_WORKFLOW_SANDBOX", "").strip().lower() in ("on", "1", "true"):
        return sandboxed_runner()
    return UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    artifacts: ArtifactStore,
    vault: Vault,
    max_concurrent_steps: int = 32,
    events: EventWriter | None = None,
    breakers: Breakers | None = None,
    options: WorkerOptions | None = None,
) -> tuple[Worker, ThreadPoolExecutor]:
    """Create (not start) a worker for ``task_queue``; the caller owns the executor.

    ``options`` (given) override ``max_concurrent_steps`` and set the local-activity
    limit, the worker's name and interceptors.

    Log records of the process are masked from here on (see
    :mod:`flowat_kernel.vault.redaction`).
    """
    install_logging_redaction()
    chosen = options or WorkerOptions(max_concurrent_steps=max_concurrent_steps)
    steps = chosen.max_concurrent_steps
    executor = ThreadPoolExecutor(max_workers=steps, thread_name_prefix="flowat-step")
    activities = StepActivities(store, artifacts, vault, events, breakers)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[GraphWorkflow],
        workflow_runner=workflow_runner(),
        activities=[*activities.all(), *QueueActivities(store).all()],
        activity_executor=executor,
        max_concurrent_activities=steps,
        max_concurrent_local_activities=chosen.max_concurrent_local or steps,
        graceful_shutdown_timeout=timedelta(seconds=5),
        build_id=worker_build_id(),  # else the SDK hashes every loaded module's bytecode
        interceptors=list(chosen.interceptors),
        identity=chosen.name,
    )
    return worker, executor


async def has_live_pollers(client: Client, task_queue: str, within_seconds: float = 70.0) -> bool:
    """Whether some worker polled ``task_queue`` for workflow tasks recently.

    A poll is a long poll of up to a minute, so a live worker shows up within 70 s.
    """
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    horizon = datetime.now(UTC) - timedelta(seconds=within_seconds)
    for poller in response.pollers:
        seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
        if seen >= horizon:
            return True
    return False
