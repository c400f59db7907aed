"""Listing runs from a SQLite store with the standard library alone (no SQLAlchemy).

Importing SQLAlchemy costs about 0.2 s here, most of what ``flowat runs`` may take over
Python's own start-up. For the embedded SQLite store this module reads the same columns
as :class:`~flowat_kernel.store.run_listing.RunListing` with ``sqlite3`` (its SQL is
written out below, and ``tests/store/test_run_listing.py`` checks both listings return
what :meth:`~flowat_kernel.store.run_records.RunRecords.list_runs` returns). It reads
through a connection of its own and never writes; a store whose schema is not at
:data:`~flowat_kernel.store.database.HEAD_REVISION` is left to the full store (which
migrates it): :meth:`SqliteRunListing.current` says so.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flowat_kernel.errors import StoreError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.database import HEAD_REVISION
from flowat_kernel.store.run_models import RunRecord

__all__ = ["SqliteRunListing"]

_RECENT = (
    "SELECT runs.id, workflows.name, runs.version_number, runs.owner, runs.status, "
    'runs."trigger", runs.parameters, runs.error, runs.temporal_workflow_id, '
    "runs.task_queue, runs.created_at, runs.started_at, runs.ended_at "
    "FROM runs JOIN workflows ON workflows.id = runs.workflow_id WHERE runs.owner = ?"
)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _marks(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


class SqliteRunListing:
    """:class:`~flowat_kernel.store.run_listing.RunListing`'s reads on a SQLite file.

    Raises:
        StoreError: from every method, when the file cannot be read.

    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                return conn.execute(sql, tuple(parameters)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot read runs from the metadata store at {self.path}: "
                f"{exc.__class__.__name__}: {exc}"
            ) from exc

    def current(self) -> bool:
        """Whether the file holds a store whose schema is at ``HEAD_REVISION``."""
        if not self.path.is_file():
            return False
        try:
            rows = self._read("SELECT version_num FROM alembic_version")
        except StoreError:
            return False
        return [row[0] for row in rows] == [HEAD_REVISION]

    def personal_organization(self, user: str) -> bool:
        """Whether ``user``'s personal organization exists (its first command creates it)."""
        rows = self._read("SELECT slug FROM organizations WHERE slug = ? AND personal = 1", [user])
        return bool(rows)

    def recent(self, owner: str, workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs of organization ``owner`` (of one workflow, or all), newest first, no steps."""
        sql, parameters = _RECENT, [owner]
        if workflow is not None:
            sql += " AND workflows.name = ?"
            parameters.append(workflow)
        rows = self._read(sql + " ORDER BY runs.created_at DESC LIMIT ?", [*parameters, limit])
        return [
            RunRecord(
                run_id=run_id,
                workflow=name,
                version=version,
                owner=run_owner,
                status=status,
                trigger=trigger,
                parameters=dict(_json(parameters_json) or {}),
                error=_json(error),
                temporal_workflow_id=temporal_id,
                task_queue=queue,
                created_at=_time(created) or utcnow(),
                started_at=_time(started),
                ended_at=_time(ended),
            )
            for (
                run_id,
                name,
                version,
                run_owner,
                status,
                trigger,
                parameters_json,
                error,
                temporal_id,
                queue,
                created,
                started,
                ended,
            ) in rows
        ]

    def waiting_queues(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``run_ids``: the task queues its ``waiting`` steps wait on, sorted."""
        if not run_ids:
            return {}
        rows = self._read(
            f"SELECT run_id, error FROM step_runs WHERE run_id IN ({_marks(run_ids)}) "
            "AND status = 'waiting'",
            run_ids,
        )
        found: dict[str, set[str]] = {}
        for run_id, error in rows:
            note = _json(error)
            queue = note.get("queue") if isinstance(note, dict) else None
            if queue:
                found.setdefault(run_id, set()).add(str(queue))
        return {run_id: sorted(queues) for run_id, queues in found.items()}

    def in_line(self, run_ids: Sequence[str]) -> bool:
        """Whether any of ``run_ids`` waits in a concurrency limit's line."""
        if not run_ids:
            return False
        rows = self._read(
            f"SELECT run_id FROM run_admissions WHERE run_id IN ({_marks(run_ids)})", run_ids
        )
        return bool(rows)
