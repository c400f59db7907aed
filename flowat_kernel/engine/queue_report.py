"""Each task queue's backlog, pollers and oldest task, from Temporal's task-queue API.

``DescribeTaskQueue`` with ``report_stats`` (Temporal server 1.25 and later, the
embedded dev server included) gives, per queue type, the approximate backlog count,
the age of the oldest task in it and add/dispatch rates; its pollers list says which
workers polled lately (a stopped worker stays listed for about a minute). FlowAt
reports the workflow and activity halves of each queue: a routed step waits in the
activity half, a run nobody executes in the workflow half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from flowat_kernel.errors import TemporalUnavailable

__all__ = ["POLLER_SECONDS", "QueueHalf", "QueueStatus", "describe_queue", "describe_queues"]

#: A poller seen within this many seconds counts as a live worker (a poll lasts ~1 min).
POLLER_SECONDS = 70.0

_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass(frozen=True)
class QueueHalf:
    """One type of a task queue (workflow or activity tasks)."""

    backlog: int
    oldest_task_seconds: float
    add_rate: float
    dispatch_rate: float
    pollers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueStatus:
    """A task queue: its two halves and, summed, what autoscaling looks at."""

    name: str
    workflow: QueueHalf
    activity: QueueHalf

    @property
    def backlog(self) -> int:
        """Tasks waiting for a worker, workflow and activity tasks together."""
        return self.workflow.backlog + self.activity.backlog

    @property
    def pollers(self) -> list[str]:
        """The identities of workers that polled lately (either half)."""
        return sorted(set(self.workflow.pollers) | set(self.activity.pollers))

    @property
    def oldest_task_seconds(self) -> float:
        """Age of the oldest waiting task, in seconds (0 with no backlog)."""
        return max(self.workflow.oldest_task_seconds, self.activity.oldest_task_seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON for the CLI and REST."""
        return {
            "name": self.name,
            "backlog": self.backlog,
            "pollers": self.pollers,
            "oldest_task_seconds": round(self.oldest_task_seconds, 3),
            "workflow": asdict(self.workflow),
            "activity": asdict(self.activity),
        }


async def _half(client: Client, name: str, kind: str) -> QueueHalf:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=name),
            task_queue_type=_TYPES[kind],
            report_stats=True,
        )
    )
    horizon = datetime.now(UTC) - timedelta(seconds=POLLER_SECONDS)
    pollers = sorted(
        {
            p.identity or "(unnamed)"
            for p in response.pollers
            if p.last_access_time.ToDatetime(tzinfo=UTC) >= horizon
        }
    )
    stats = response.stats
    age = stats.approximate_backlog_age
    return QueueHalf(
        backlog=int(stats.approximate_backlog_count),
        oldest_task_seconds=age.seconds + age.nanos / 1e9,
        add_rate=float(stats.tasks_add_rate),
        dispatch_rate=float(stats.tasks_dispatch_rate),
        pollers=pollers,
    )


async def describe_queue(client: Client, name: str) -> QueueStatus:
    """The status of task queue ``name`` (an unknown queue is an empty one).

    Raises:
        TemporalUnavailable: Temporal did not answer.

    """
    try:
        return QueueStatus(
            name=name,
            workflow=await _half(client, name, "workflow"),
            activity=await _half(client, name, "activity"),
        )
    except RPCError as exc:
        raise TemporalUnavailable(f"cannot describe task queue {name!r}: {exc.message}") from exc


async def describe_queues(client: Client, names: list[str]) -> list[QueueStatus]:
    """:func:`describe_queue` for each of ``names``, in order."""
    return [await describe_queue(client, name) for name in names]
