"""Read-only totals for a worker's metrics and ``flowat queues``, across organizations.

These are operator figures (what Prometheus scrapes from a worker, what the queue
report lists), not a member's view: they count rows, never show their content.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.repository import Store
from flowat_kernel.store.tables import CircuitBreakerRow, DeadLetterRow, WorkerRow

__all__ = ["breaker_states", "dead_letter_depth", "worker_queues"]


def dead_letter_depth(store: Store) -> int:
    """How many dead letters are parked (waiting for a retry or a discard)."""
    rows = store.read(
        select(func.count()).select_from(DeadLetterRow).where(DeadLetterRow.status == "parked")
    )
    return int(rows[0][0]) if rows else 0


def breaker_states(store: Store) -> list[tuple[str, str, str]]:
    """Every circuit breaker as ``(connector, host, state)``."""
    rows = store.read(
        select(CircuitBreakerRow.connector, CircuitBreakerRow.host, CircuitBreakerRow.state)
    )
    return [(str(r.connector), str(r.host), str(r.state)) for r in rows]


def worker_queues(store: Store, within_seconds: float = 20.0) -> dict[str, list[str]]:
    """Each task queue with a registered worker seen recently, and those workers' hosts."""
    horizon = utcnow() - timedelta(seconds=within_seconds)
    rows = store.read(
        select(WorkerRow.task_queue, WorkerRow.host, WorkerRow.pid).where(
            WorkerRow.seen_at >= horizon
        )
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row.task_queue), []).append(f"{row.host} (pid {row.pid})")
    return found
