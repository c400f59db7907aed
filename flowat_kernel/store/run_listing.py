"""Listing runs through SQLAlchemy Core alone: what ``flowat runs`` reads, nothing more.

The store's table models (:mod:`~flowat_kernel.store.tables`) are ORM classes; importing
them, the ORM and every record family costs a command that only lists runs about half a
second. This module declares the few columns a listing reads as Core tables of its own
(``tests/store/test_run_listing.py`` checks them against the ORM models) and reads them
with plain selects. It writes nothing.

:class:`RunListing` answers for one organization: its recent runs, newest first (as
:meth:`~flowat_kernel.store.run_records.RunRecords.list_runs`), the task queues the
steps of running runs wait on for a worker, and whether any of the queued runs waits
in a concurrency limit's line (positions in that line are left to the full store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Executable,
    Integer,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from flowat_kernel.errors import StoreError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.run_models import RunRecord

__all__ = ["RunListing"]

_metadata = MetaData()

workflows = Table(
    "workflows",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128)),
)
runs = Table(
    "runs",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("workflow_id", Integer),
    Column("version_number", Integer),
    Column("owner", String(128)),
    Column("status", String(16)),
    Column("trigger", String(32)),
    Column("parameters", JSON),
    Column("error", JSON),
    Column("temporal_workflow_id", String(255)),
    Column("created_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("task_queue", String(255)),
)
step_runs = Table(
    "step_runs",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64)),
    Column("status", String(16)),
    Column("error", JSON),
)
organizations = Table(
    "organizations",
    _metadata,
    Column("slug", String(128), primary_key=True),
    Column("personal", Boolean),
)
run_admissions = Table(
    "run_admissions",
    _metadata,
    Column("run_id", String(64), primary_key=True),
)

#: Every table this module reads, for the test that compares them with the ORM models.
TABLES = (workflows, runs, step_runs, organizations, run_admissions)


class RunListing:
    """Read-only run listings over ``engine`` (a migrated store's; see ``database``).

    Raises:
        StoreError: from every method, when the database cannot be read.

    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _read(self, statement: Executable) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(statement).all())
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot read runs from the metadata store at {self.engine.url!r}: "
                f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}"
            ) from exc

    def personal_organization(self, user: str) -> bool:
        """Whether ``user``'s personal organization exists (its first command creates it)."""
        rows = self._read(
            select(organizations.c.slug).where(
                organizations.c.slug == user, organizations.c.personal.is_(True)
            )
        )
        return bool(rows)

    def recent(self, owner: str, workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs of organization ``owner`` (of one workflow, or all), newest first, no steps."""
        query = (
            select(runs, workflows.c.name)
            .join(workflows, workflows.c.id == runs.c.workflow_id)
            .where(runs.c.owner == owner)
        )
        if workflow is not None:
            query = query.where(workflows.c.name == workflow)
        rows = self._read(query.order_by(runs.c.created_at.desc()).limit(limit))
        return [
            RunRecord(
                run_id=row.id,
                workflow=row.name,
                version=row.version_number,
                owner=row.owner,
                status=row.status,
                trigger=row.trigger,
                parameters=dict(row.parameters or {}),
                error=row.error,
                temporal_workflow_id=row.temporal_workflow_id,
                task_queue=row.task_queue,
                created_at=aware(row.created_at) or utcnow(),
                started_at=aware(row.started_at),
                ended_at=aware(row.ended_at),
            )
            for row in rows
        ]

    def waiting_queues(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``run_ids``: the task queues its ``waiting`` steps wait on, sorted."""
        if not run_ids:
            return {}
        rows = self._read(
            select(step_runs.c.run_id, step_runs.c.error).where(
                step_runs.c.run_id.in_(list(run_ids)), step_runs.c.status == "waiting"
            )
        )
        found: dict[str, set[str]] = {}
        for run_id, error in rows:
            queue = error.get("queue") if isinstance(error, dict) else None
            if queue:
                found.setdefault(run_id, set()).add(str(queue))
        return {run_id: sorted(queues) for run_id, queues in found.items()}

    def in_line(self, run_ids: Sequence[str]) -> bool:
        """Whether any of ``run_ids`` waits in a concurrency limit's line."""
        if not run_ids:
            return False
        rows = self._read(
            select(run_admissions.c.run_id).where(run_admissions.c.run_id.in_(list(run_ids)))
        )
        return bool(rows)
