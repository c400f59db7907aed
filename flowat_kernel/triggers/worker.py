"""The trigger worker: runs the schedule launcher on the trigger task queue.

It runs inside ``flowat serve``, ``flowat dev`` and the Jupyter server extension (and
in any worker that registers :data:`TRIGGER_WORKFLOWS` and :func:`trigger_activities`).
A schedule that fires while none runs waits in Temporal until one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from datetime import timedelta
from typing import Any

from flowat_kernel.engine.services import LaunchServices
from flowat_kernel.triggers.launcher import LaunchActivities, ScheduledLaunch

__all__ = [
    "TRIGGER_WORKFLOWS",
    "ensure_trigger_worker",
    "stop_trigger_worker",
    "trigger_activities",
    "trigger_queue",
]

TRIGGER_WORKFLOWS: list[type] = [ScheduledLaunch]


def trigger_activities(services: LaunchServices) -> list[Any]:
    """The trigger worker's activities, over ``services``."""
    return [LaunchActivities(services).prepare_scheduled_run]


_tasks: weakref.WeakKeyDictionary[LaunchServices, tuple[Any, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


def trigger_queue(task_queue: str) -> str:
    """The task queue of the schedule launcher for a main task queue."""
    return f"{task_queue}-triggers"


async def _start(runtime: LaunchServices) -> None:
    running = _tasks.get(runtime)
    if running is not None and not running[1].done():
        return
    from temporalio.worker import Worker

    from flowat_kernel.engine.build_id import worker_build_id
    from flowat_kernel.engine.worker import workflow_runner

    client = await runtime.client()
    worker = Worker(
        client,
        task_queue=trigger_queue(runtime.settings.task_queue),
        workflows=TRIGGER_WORKFLOWS,
        activities=trigger_activities(runtime),
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=timedelta(seconds=2),
        build_id=worker_build_id(),
    )
    _tasks[runtime] = (worker, asyncio.get_running_loop().create_task(worker.run()))


def ensure_trigger_worker(runtime: LaunchServices) -> None:
    """Run the trigger worker on the runtime's loop (once per runtime), and retention."""
    from flowat_kernel.engine.deletion import start_retention_loop

    runtime.call(_start(runtime))
    start_retention_loop(runtime)


async def _stop(runtime: LaunchServices) -> None:
    entry = _tasks.pop(runtime, None)
    if entry is None:
        return
    worker, task = entry
    if not task.done():
        with contextlib.suppress(Exception):
            await worker.shutdown()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await task


def stop_trigger_worker(runtime: LaunchServices) -> None:
    """Stop the trigger worker of ``runtime``, if it runs, and its retention passes."""
    from flowat_kernel.engine.deletion import stop_retention_loop

    stop_retention_loop(runtime)
    entry = _tasks.get(runtime)
    if entry is None:
        return
    if not entry[1].get_loop().is_running():  # the runtime was closed under it
        _tasks.pop(runtime, None)
        return
    runtime.call(_stop(runtime), timeout=30)
