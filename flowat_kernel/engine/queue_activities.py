"""Bookkeeping for steps routed to a task queue (``%%flowat step NAME --queue Q``).

A routed step whose queue has no worker would otherwise sit in Temporal's queue with
nothing in FlowAt saying why. The graph workflow schedules it with a short
schedule-to-start bound (:data:`~flowat_kernel.engine.routing.QUEUE_PROBE`); when
that passes, :meth:`QueueActivities.step_waiting` records the step ``waiting`` with a
``WaitingForWorker`` note naming the queue, which ``flowat runs``, the run record, the
monitor and REST all show. The worker that takes the step later marks it ``running``
and the note goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from flowat_kernel.engine.messages import StepRecord
from flowat_kernel.engine.routing import STEP_WAITING
from flowat_kernel.engine.trust import ForgedTask, verify_run
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.run_records import StepWrite

__all__ = ["QueueActivities"]

log = logging.getLogger(__name__)


class QueueActivities:
    """The activities of routed steps, over the metadata store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for a worker's ``activities=``."""
        return [self.step_waiting]

    @activity.defn(name=STEP_WAITING)
    def step_waiting(self, record: StepRecord) -> None:
        """Record that step ``record.step`` waits for a worker of its task queue."""
        try:
            verify_run(self.store, record.run_id, record.workflow)
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        self.store.write_steps(
            [StepWrite(record.run_id, record.step, "waiting", 0, utcnow(), error=record.error)]
        )
        log.warning(
            "run %s: step %r %s",
            record.run_id,
            record.step,
            (record.error or {}).get("message", "waits for a worker"),
        )
