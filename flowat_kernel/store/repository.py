"""The metadata store: workflows, immutable versions, runs and step runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from flowat_kernel.errors import NotFoundError, StoreError
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store.cache import SpecCache
from flowat_kernel.store.database import make_engine, migrate
from flowat_kernel.store.records import RunRecord, StepRecord, VersionRecord
from flowat_kernel.store.tables import RunRow, StepRunRow, VersionRow, WorkflowRow

__all__ = ["Store", "aware", "utcnow"]

T = TypeVar("T")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """``value`` as timezone-aware UTC (SQLite returns naive datetimes)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Store:
    """Reads and writes FlowAt's metadata through SQLAlchemy.

    Args:
        url: SQLAlchemy database URL (SQLite or PostgreSQL).
        redis_url: optional Redis URL for the definition cache.

    """

    def __init__(self, url: str, redis_url: str | None = None) -> None:
        self.engine: Engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.cache = SpecCache(redis_url)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # -- plumbing --------------------------------------------------------------------

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Run ``work`` in a transaction; map database errors to :class:`StoreError`."""

        def attempt() -> T:
            with self._sessions.begin() as session:
                return work(session)

        return self._retrying(attempt, 8 if retry_conflicts else 3, retry_conflicts)

    def read(self, statement: Executable) -> list[Row[Any]]:
        """Run one read-only statement outside an explicit transaction.

        On PostgreSQL this saves the ``BEGIN`` and ``COMMIT`` round trips of
        :meth:`transaction`, for hot single-row lookups.

        Raises:
            StoreError: the database cannot be reached.

        """

        def attempt() -> list[Row[Any]]:
            with self._autocommit.connect() as conn:
                return list(conn.execute(statement).all())

        return self._retrying(attempt, 3, retry_conflicts=False)

    def _retrying(self, attempt: Callable[[], T], attempts: int, retry_conflicts: bool) -> T:
        """Retry transient failures with a short backoff; map the rest to StoreError."""
        for number in range(attempts):
            try:
                return attempt()
            except IntegrityError:
                if not retry_conflicts or number == attempts - 1:
                    raise
            except OperationalError as exc:
                if number == attempts - 1:
                    raise StoreError(
                        f"the metadata store at {self.engine.url!r} failed: {exc.orig}. "
                        "Check that the database is running and reachable."
                    ) from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"the metadata store failed: {exc}") from exc
            time.sleep(0.01 * (2**number))
        raise AssertionError("unreachable")

    # -- workflows and versions -----------------------------------------------------

    def _workflow_row(self, session: Session, owner: str, name: str) -> WorkflowRow | None:
        return session.scalars(
            select(WorkflowRow).where(WorkflowRow.owner == owner, WorkflowRow.name == name)
        ).one_or_none()

    def _version_record(self, row: VersionRow, workflow: WorkflowRow) -> VersionRecord:
        spec = self.cache.get(row.spec_hash)
        if spec is None:
            spec = WorkflowSpec.model_validate_json(row.spec)
            self.cache.put(row.spec_hash, spec)
        return VersionRecord(
            id=row.id,
            workflow=workflow.name,
            owner=workflow.owner,
            number=row.number,
            spec_hash=row.spec_hash,
            created_at=aware(row.created_at) or utcnow(),
            created_by=row.created_by,
            spec=spec,
        )

    def publish(
        self, spec: WorkflowSpec, owner: str, created_by: str
    ) -> tuple[VersionRecord, bool]:
        """Store ``spec`` as the next version of its workflow.

        Returns the version and whether it was created; an unchanged spec returns the
        existing version. Concurrent publishers never get the same number.
        """
        spec_hash = spec.content_hash()
        canonical = spec.canonical_json()

        def work(session: Session) -> tuple[VersionRecord, bool]:
            workflow = self._workflow_row(session, owner, spec.name)
            if workflow is None:
                workflow = WorkflowRow(owner=owner, name=spec.name, created_at=utcnow())
                session.add(workflow)
                session.flush()
            elif session.bind is not None and session.get_bind().dialect.name == "postgresql":
                session.execute(
                    select(WorkflowRow.id).where(WorkflowRow.id == workflow.id).with_for_update()
                )
            existing = session.scalars(
                select(VersionRow).where(
                    VersionRow.workflow_id == workflow.id, VersionRow.spec_hash == spec_hash
                )
            ).one_or_none()
            if existing is not None:
                return self._version_record(existing, workflow), False
            latest = session.scalar(
                select(func.max(VersionRow.number)).where(VersionRow.workflow_id == workflow.id)
            )
            row = VersionRow(
                workflow_id=workflow.id,
                number=(latest or 0) + 1,
                spec_hash=spec_hash,
                spec=canonical,
                created_at=utcnow(),
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            self.cache.put(spec_hash, spec)
            return self._version_record(row, workflow), True

        return self.transaction(work, retry_conflicts=True)

    def get_version(self, owner: str, workflow: str, number: int | None = None) -> VersionRecord:
        """Return version ``number`` of ``workflow`` (the latest when ``None``).

        Raises:
            NotFoundError: the workflow or version does not exist.

        """

        def work(session: Session) -> VersionRecord:
            row = self._workflow_row(session, owner, workflow)
            if row is None:
                known = session.scalars(
                    select(WorkflowRow.name)
                    .where(WorkflowRow.owner == owner)
                    .order_by(WorkflowRow.name)
                ).all()
                hint = (
                    f"known workflows: {', '.join(known)}"
                    if known
                    else "no workflow is published yet"
                )
                raise NotFoundError(
                    f"no workflow named {workflow!r}; publish it first "
                    f"(flowat publish NOTEBOOK.ipynb --name {workflow}); {hint}"
                )
            query = select(VersionRow).where(VersionRow.workflow_id == row.id)
            if number is None:
                version = session.scalars(query.order_by(VersionRow.number.desc()).limit(1)).first()
            else:
                version = session.scalars(query.where(VersionRow.number == number)).one_or_none()
            if version is None:
                latest = session.scalar(
                    select(func.max(VersionRow.number)).where(VersionRow.workflow_id == row.id)
                )
                raise NotFoundError(
                    f"workflow {workflow!r} has no version {number}; versions are 1 to {latest}"
                )
            return self._version_record(version, row)

        return self.transaction(work)

    def list_versions(self, owner: str, workflow: str) -> list[VersionRecord]:
        """All versions of ``workflow``, newest first."""
        self.get_version(owner, workflow)  # raises the helpful NotFoundError

        def work(session: Session) -> list[VersionRecord]:
            row = self._workflow_row(session, owner, workflow)
            assert row is not None
            rows = session.scalars(
                select(VersionRow)
                .where(VersionRow.workflow_id == row.id)
                .order_by(VersionRow.number.desc())
            ).all()
            return [self._version_record(v, row) for v in rows]

        return self.transaction(work)

    def list_workflows(self, owner: str) -> list[str]:
        """Names of the owner's workflows."""
        return self.transaction(
            lambda s: list(
                s.scalars(
                    select(WorkflowRow.name)
                    .where(WorkflowRow.owner == owner)
                    .order_by(WorkflowRow.name)
                )
            )
        )

    # -- runs ------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        version: VersionRecord,
        parameters: dict[str, Any],
        trigger: str,
        temporal_workflow_id: str,
    ) -> None:
        """Record a new queued run with a pending row per step."""

        def work(session: Session) -> None:
            workflow_id = session.scalar(
                select(VersionRow.workflow_id).where(VersionRow.id == version.id)
            )
            session.add(
                RunRow(
                    id=run_id,
                    workflow_id=workflow_id,
                    version_id=version.id,
                    version_number=version.number,
                    owner=version.owner,
                    status="queued",
                    trigger=trigger,
                    parameters=parameters,
                    temporal_workflow_id=temporal_workflow_id,
                    created_at=utcnow(),
                )
            )
            session.flush()
            session.add_all(
                StepRunRow(run_id=run_id, step=step.name, position=i, status="pending", attempts=0)
                for i, step in enumerate(version.spec.steps)
            )

        self.transaction(work)

    def reuse_steps(self, run_id: str, outputs: dict[str, dict[str, Any] | None]) -> None:
        """Mark steps of a re-run as succeeded with the outputs of the run they come from."""

        def work(session: Session) -> None:
            now = utcnow()
            for step, recorded in outputs.items():
                session.execute(
                    update(StepRunRow)
                    .where(StepRunRow.run_id == run_id, StepRunRow.step == step)
                    .values(
                        status="succeeded",
                        attempts=0,
                        outputs=recorded,
                        started_at=now,
                        ended_at=now,
                        logs="(reused from the run this one re-runs)\n",
                    )
                )

        self.transaction(work)

    def run_started(self, run_id: str) -> None:
        """Mark a run running (idempotent: the first start time stays)."""
        self.transaction(
            lambda s: s.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(("queued", "running")))
                .values(status="running", started_at=func.coalesce(RunRow.started_at, utcnow()))
            )
        )

    def run_finished(self, run_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        """Record a run's final status; steps that never ran become skipped or cancelled."""
        leftover = "cancelled" if status in ("cancelled", "timed_out") else "skipped"

        def work(session: Session) -> None:
            now = utcnow()
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(
                    status=status,
                    error=error,
                    ended_at=now,
                    started_at=func.coalesce(RunRow.started_at, now),
                )
            )
            session.execute(
                update(StepRunRow)
                .where(StepRunRow.run_id == run_id, StepRunRow.status == "pending")
                .values(status=leftover)
            )
            session.execute(
                update(StepRunRow)
                .where(StepRunRow.run_id == run_id, StepRunRow.status.in_(("running", "retrying")))
                .values(status="cancelled", ended_at=now)
            )

        self.transaction(work)

    def step_started(self, run_id: str, step: str, attempt: int) -> None:
        """Mark a step's attempt as running."""
        self.transaction(
            lambda s: s.execute(
                update(StepRunRow)
                .where(StepRunRow.run_id == run_id, StepRunRow.step == step)
                .values(
                    status="running",
                    attempts=attempt,
                    started_at=func.coalesce(StepRunRow.started_at, utcnow()),
                )
            )
        )

    def step_finished(
        self,
        run_id: str,
        step: str,
        status: str,
        attempt: int,
        *,
        error: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        logs: str | None = None,
    ) -> None:
        """Record the end of a step's attempt (``succeeded``, ``retrying`` or ``failed``)."""
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempt,
            "error": error,
            "logs": logs,
        }
        if status != "retrying":
            values["ended_at"] = utcnow()
        if outputs is not None:
            values["outputs"] = outputs
        self.transaction(
            lambda s: s.execute(
                update(StepRunRow)
                .where(StepRunRow.run_id == run_id, StepRunRow.step == step)
                .values(**values)
            )
        )

    def reconcile_steps(
        self, run_id: str, succeeded: dict[str, dict[str, Any]], states: dict[str, str]
    ) -> None:
        """Bring step records up to what the workflow knows at the end of the run.

        Records written while the store was unreachable are missing; this fills them in
        (status, outputs, end time) without touching records that are already final.

        Args:
            run_id: the run.
            succeeded: outputs (as records keep them) of every step that succeeded.
            states: every step's final state as the workflow saw it.

        """

        def work(session: Session) -> None:
            now = utcnow()
            for step, outputs in succeeded.items():
                session.execute(
                    update(StepRunRow)
                    .where(
                        StepRunRow.run_id == run_id,
                        StepRunRow.step == step,
                        or_(
                            StepRunRow.status != "succeeded",
                            StepRunRow.outputs.is_(None),
                            StepRunRow.started_at.is_(None),  # its start was not recorded
                            StepRunRow.ended_at.is_(None),
                        ),
                    )
                    .values(
                        status="succeeded",
                        outputs=outputs,
                        attempts=case((StepRunRow.attempts < 1, 1), else_=StepRunRow.attempts),
                        # An unrecorded start is unknown; it was no later than the end.
                        started_at=func.coalesce(StepRunRow.started_at, StepRunRow.ended_at, now),
                        ended_at=func.coalesce(StepRunRow.ended_at, now),
                    )
                )
            for step, state in states.items():
                if state in ("failed", "skipped", "cancelled") and step not in succeeded:
                    session.execute(
                        update(StepRunRow)
                        .where(
                            StepRunRow.run_id == run_id,
                            StepRunRow.step == step,
                            StepRunRow.status.in_(("pending", "running", "retrying")),
                        )
                        .values(status=state, ended_at=func.coalesce(StepRunRow.ended_at, now))
                    )

        self.transaction(work)

    def mark_step_failed(self, run_id: str, step: str, error: dict[str, Any]) -> None:
        """Mark a step failed unless its own attempt already recorded the failure."""
        self.transaction(
            lambda s: s.execute(
                update(StepRunRow)
                .where(
                    StepRunRow.run_id == run_id,
                    StepRunRow.step == step,
                    StepRunRow.status != "failed",
                )
                .values(status="failed", error=error, ended_at=utcnow())
            )
        )

    def get_run(self, run_id: str) -> RunRecord:
        """Return one run with its steps.

        Raises:
            NotFoundError: no run has this id.

        """

        def work(session: Session) -> RunRecord:
            found = session.execute(
                select(RunRow, WorkflowRow.name).join(WorkflowRow).where(RunRow.id == run_id)
            ).one_or_none()
            if found is None:
                raise NotFoundError(f"no run with id {run_id!r}; `flowat runs` lists recent runs")
            steps = session.scalars(
                select(StepRunRow).where(StepRunRow.run_id == run_id).order_by(StepRunRow.position)
            ).all()
            return _run_record(found[0], found[1], steps)

        return self.transaction(work)

    def list_runs(
        self, owner: str, workflow: str | None = None, limit: int = 20
    ) -> list[RunRecord]:
        """Recent runs, newest first, optionally of one workflow (steps not loaded)."""

        def work(session: Session) -> list[RunRecord]:
            query = select(RunRow, WorkflowRow.name).join(WorkflowRow).where(RunRow.owner == owner)
            if workflow is not None:
                query = query.where(WorkflowRow.name == workflow)
            rows = session.execute(query.order_by(RunRow.created_at.desc()).limit(limit)).all()
            return [_run_record(run, name, ()) for run, name in rows]

        return self.transaction(work)


def _run_record(run: RunRow, workflow: str, steps: Iterable[StepRunRow]) -> RunRecord:
    return RunRecord(
        run_id=run.id,
        workflow=workflow,
        version=run.version_number,
        owner=run.owner,
        status=run.status,  # type: ignore[arg-type]
        trigger=run.trigger,
        parameters=dict(run.parameters or {}),
        error=run.error,
        temporal_workflow_id=run.temporal_workflow_id,
        created_at=aware(run.created_at) or utcnow(),
        started_at=aware(run.started_at),
        ended_at=aware(run.ended_at),
        steps=tuple(
            StepRecord(
                name=s.step,
                status=s.status,  # type: ignore[arg-type]
                attempts=s.attempts,
                started_at=aware(s.started_at),
                ended_at=aware(s.ended_at),
                error=s.error,
                outputs=s.outputs,
                logs=s.logs,
            )
            for s in steps
        ),
    )
