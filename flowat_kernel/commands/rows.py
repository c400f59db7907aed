"""Versions and runs as rows: the CLI prints them as a table, the magic as a data frame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.store import RunRecord, VersionRecord

__all__ = ["run_rows", "version_rows", "waiting_note"]


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def version_rows(records: Sequence[VersionRecord]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of a workflow's versions."""
    headers = ["version", "created", "by", "steps", "hash"]
    return headers, [
        [v.number, _when(v.created_at), v.created_by, len(v.spec.steps), v.spec_hash[:19]]
        for v in records
    ]


def waiting_note(record: RunRecord) -> str:
    """``waiting for a worker on Q`` for each queue a step of the run waits on, or ``""``.

    Needs the run's steps (a record from ``get_run``, not from a run list).
    """
    queues = sorted(
        {
            str(step.error.get("queue"))
            for step in record.steps
            if step.status == "waiting" and step.error and step.error.get("queue")
        }
    )
    return "; ".join(f"waiting for a worker on {queue}" for queue in queues)


def run_rows(
    records: Sequence[RunRecord], notes: dict[str, str] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of runs; ``notes`` adds to a run's status (by run id)."""
    headers = ["run", "workflow", "version", "status", "trigger", "created", "duration", "ran"]
    rows = []
    for r in records:
        note = (notes or {}).get(r.run_id)
        duration = f"{r.duration_seconds:.2f}s" if r.duration_seconds is not None else ""
        where = "" if not r.task_queue else ("here" if ".local." in r.task_queue else "shared")
        rows.append(
            [
                r.run_id,
                r.workflow,
                r.version,
                f"{r.status} ({note})" if note else r.status,
                r.trigger,
                _when(r.created_at),
                duration,
                where,
            ]
        )
    return headers, rows
