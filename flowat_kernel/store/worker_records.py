"""Shared workers register here and heartbeat, so a run can tell a live one from a gone one.

Temporal lists a worker that stopped as polling for about a minute; FlowAt's own record
(a heartbeat every few seconds, a removal on a clean stop) answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import WorkerRow

__all__ = ["WorkerInfo", "WorkerRecords"]

T = TypeVar("T")


@dataclass(frozen=True)
class WorkerInfo:
    """One registered worker process."""

    id: str
    task_queue: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime


class WorkerRecords:
    """The store's worker registry (mixed into :class:`~flowat_kernel.store.Store`)."""

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Provided by the store."""
        raise NotImplementedError

    def register_worker(self, worker_id: str, task_queue: str, host: str, pid: int) -> None:
        """Record a worker that polls ``task_queue`` now."""
        now = utcnow()

        def work(session: Session) -> None:
            row = session.get(WorkerRow, worker_id)
            if row is None:
                session.add(
                    WorkerRow(
                        id=worker_id,
                        task_queue=task_queue,
                        host=host,
                        pid=pid,
                        started_at=now,
                        seen_at=now,
                    )
                )
            else:
                row.seen_at = now

        self.transaction(work)

    def worker_seen(self, worker_id: str) -> None:
        """A worker's heartbeat."""
        self.transaction(
            lambda s: s.execute(
                update(WorkerRow).where(WorkerRow.id == worker_id).values(seen_at=utcnow())
            )
        )

    def remove_worker(self, worker_id: str) -> None:
        """A worker stopped cleanly."""
        self.transaction(lambda s: s.execute(delete(WorkerRow).where(WorkerRow.id == worker_id)))

    def live_workers(self, task_queue: str, within_seconds: float = 20.0) -> list[WorkerInfo]:
        """Workers of ``task_queue`` seen in the last ``within_seconds``; stale rows go."""
        horizon = utcnow() - timedelta(seconds=within_seconds)

        def work(session: Session) -> list[WorkerInfo]:
            session.execute(
                delete(WorkerRow).where(
                    WorkerRow.seen_at < utcnow() - timedelta(seconds=max(within_seconds, 3600))
                )
            )
            rows = session.scalars(
                select(WorkerRow).where(
                    WorkerRow.task_queue == task_queue, WorkerRow.seen_at >= horizon
                )
            )
            return [
                WorkerInfo(
                    r.id,
                    r.task_queue,
                    r.host,
                    r.pid,
                    aware(r.started_at) or r.started_at,
                    aware(r.seen_at) or r.seen_at,
                )
                for r in rows
            ]

        return self.transaction(work)
