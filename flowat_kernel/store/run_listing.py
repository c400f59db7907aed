"""Listing runs with plain SQL: what ``flowat runs`` reads, nothing more.

The store's table models (:mod:`~flowat_kernel.store.tables`) are ORM classes; importing
them, the ORM and every record family costs a command that only lists runs about half a
second, and importing SQLAlchemy alone about 0.2 s. A listing therefore reads the few
columns it needs with portable SQL, written once here, through either reader:

- :class:`~flowat_kernel.store.sqlite_listing.SqliteRunListing`: the embedded SQLite
  store with the standard library's ``sqlite3`` (no SQLAlchemy);
- :class:`RunListing`: any store through a SQLAlchemy engine's driver (PostgreSQL).

``tests/store/test_run_listing.py`` checks that both return what
:meth:`~flowat_kernel.store.run_records.RunRecords.list_runs` returns. A listing answers
for one organization: its recent runs, newest first, the task queues the steps of
running runs wait on for a worker, and whether any of the queued runs waits in a
concurrency limit's line (positions in that line are left to the full store). It
writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import StoreError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.run_models import RunRecord

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["RunListing", "RunReads"]

_RECENT = (
    "SELECT runs.id, workflows.name, runs.version_number, runs.owner, runs.status, "
    'runs."trigger", runs.parameters, runs.error, runs.temporal_workflow_id, '
    "runs.task_queue, runs.created_at, runs.started_at, runs.ended_at "
    "FROM runs JOIN workflows ON workflows.id = runs.workflow_id WHERE runs.owner = {0}"
)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class RunReads:
    """The listing's queries; a subclass says how to run SQL (``_read``, ``mark``)."""

    #: The driver's placeholder for one parameter (``?`` for sqlite3, ``%s`` for psycopg).
    mark = "?"

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def current(self) -> bool:
        """Whether the database holds a store whose schema is at ``HEAD_REVISION``.

        Not current (a new or older store, or one that cannot be read): the full store
        creates or migrates it, and says what is wrong.
        """
        from flowat_kernel.store.database import HEAD_REVISION

        try:
            rows = self._read("SELECT version_num FROM alembic_version")
        except StoreError:
            return False
        return [row[0] for row in rows] == [HEAD_REVISION]

    def personal_organization(self, user: str) -> bool:
        """Whether ``user``'s personal organization exists (its first command creates it)."""
        sql = f"SELECT slug FROM organizations WHERE slug = {self.mark} AND personal = TRUE"
        return bool(self._read(sql, [user]))

    def recent(self, owner: str, workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs of organization ``owner`` (of one workflow, or all), newest first, no steps."""
        sql, parameters = _RECENT.format(self.mark), [owner]
        if workflow is not None:
            sql += f" AND workflows.name = {self.mark}"
            parameters.append(workflow)
        sql += f" ORDER BY runs.created_at DESC LIMIT {self.mark}"
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
            ) in self._read(sql, [*parameters, limit])
        ]

    def waiting_queues(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``run_ids``: the task queues its ``waiting`` steps wait on, sorted."""
        if not run_ids:
            return {}
        rows = self._read(
            f"SELECT run_id, error FROM step_runs WHERE run_id IN ({self._marks(len(run_ids))}) "
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
        sql = f"SELECT run_id FROM run_admissions WHERE run_id IN ({self._marks(len(run_ids))})"
        return bool(self._read(sql, run_ids))


class RunListing(RunReads):
    """Read-only run listings over ``engine`` (a migrated store's; see ``database``).

    Raises:
        StoreError: from every method, when the database cannot be read.
        ConfigError: the engine's driver takes parameters in a style not known here.

    """

    def __init__(self, engine: Engine) -> None:
        from flowat_kernel.errors import ConfigError

        self.engine = engine
        style = engine.dialect.paramstyle
        if style == "qmark":
            self.mark = "?"
        elif style in ("format", "pyformat"):
            self.mark = "%s"
        else:
            raise ConfigError(f"listing runs needs a qmark or format driver, not {style!r}")

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(parameters))]
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot read runs from the metadata store at {self.engine.url!r}: "
                f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}"
            ) from exc
