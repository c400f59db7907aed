"""The metadata store: workflows and immutable versions here, runs in ``run_records``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, bindparam, func, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from flowat_kernel.errors import NotFoundError, StoreError
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store.access_records import AccessRecords
from flowat_kernel.store.alert_records import AlertRecords
from flowat_kernel.store.approval_records import ApprovalRecords
from flowat_kernel.store.audit_records import AuditRecords
from flowat_kernel.store.breaker_records import BreakerRecords
from flowat_kernel.store.cache import SpecCache
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.database import make_engine, migrate
from flowat_kernel.store.dead_letter_records import DeadLetterRecords
from flowat_kernel.store.invitation_records import InvitationRecords
from flowat_kernel.store.limit_records import LimitRecords
from flowat_kernel.store.rate_limit_records import RateLimitRecords
from flowat_kernel.store.records import VersionRecord
from flowat_kernel.store.retention_records import RetentionRecords
from flowat_kernel.store.run_records import RunRecords
from flowat_kernel.store.secret_records import SecretRecords
from flowat_kernel.store.session_records import SessionRecords
from flowat_kernel.store.tables import RunRow, VersionRow, WorkflowRow
from flowat_kernel.store.trigger_edit_records import TriggerEditRecords
from flowat_kernel.store.trigger_records import TriggerRecords
from flowat_kernel.store.worker_records import WorkerRecords

__all__ = ["Store", "aware", "utcnow"]

T = TypeVar("T")

# The hot reads (a run's start and its worker's checks), built once: bound values only.
_WORKFLOW = select(WorkflowRow).where(
    WorkflowRow.owner == bindparam("b_owner"), WorkflowRow.name == bindparam("b_name")
)
_LATEST_VERSION = (
    select(VersionRow)
    .where(VersionRow.workflow_id == bindparam("b_workflow"))
    .order_by(VersionRow.number.desc())
    .limit(1)
)
_NUMBERED_VERSION = select(VersionRow).where(
    VersionRow.workflow_id == bindparam("b_workflow"), VersionRow.number == bindparam("b_number")
)
_RUN_VERSION = (
    select(RunRow.trigger, VersionRow, WorkflowRow)
    .join(VersionRow, VersionRow.id == RunRow.version_id)
    .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
    .where(RunRow.id == bindparam("b_run"))
)


class Store(
    RunRecords,
    AuditRecords,
    AccessRecords,
    SessionRecords,
    SecretRecords,
    BreakerRecords,
    TriggerRecords,
    DeadLetterRecords,
    WorkerRecords,
    AlertRecords,
    LimitRecords,
    RetentionRecords,
    RateLimitRecords,
    ApprovalRecords,
    InvitationRecords,
    TriggerEditRecords,
):
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

    def read(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> list[Row[Any]]:
        """Run one read-only statement (with its bound ``parameters``) outside a transaction.

        On PostgreSQL this saves the ``BEGIN`` and ``COMMIT`` round trips of
        :meth:`transaction`, for hot single-row lookups.

        Raises:
            StoreError: the database cannot be reached.

        """

        def attempt() -> list[Row[Any]]:
            with self._autocommit.connect() as conn:
                return list(conn.execute(statement, parameters).all())

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
        return session.scalars(_WORKFLOW, {"b_owner": owner, "b_name": name}).one_or_none()

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
            if number is None:
                version = session.scalars(_LATEST_VERSION, {"b_workflow": row.id}).first()
            else:
                version = session.scalars(
                    _NUMBERED_VERSION, {"b_workflow": row.id, "b_number": number}
                ).one_or_none()
            if version is None:
                latest = session.scalar(
                    select(func.max(VersionRow.number)).where(VersionRow.workflow_id == row.id)
                )
                raise NotFoundError(
                    f"workflow {workflow!r} has no version {number}; versions are 1 to {latest}"
                )
            return self._version_record(version, row)

        return self.transaction(work)

    def run_version(self, run_id: str) -> tuple[str | None, VersionRecord]:
        """The trigger of run ``run_id`` and the version it runs, in one query.

        What a worker checks a run's tasks against (its organization is the version's);
        lighter than :meth:`get_run` and :meth:`get_version` one after the other.

        Raises:
            NotFoundError: no run has this id.

        """

        def work(session: Session) -> tuple[str | None, VersionRecord]:
            found = session.execute(_RUN_VERSION, {"b_run": run_id}).one_or_none()
            if found is None:
                raise NotFoundError(f"no run with id {run_id!r}; `flowat runs` lists recent runs")
            trigger, version, workflow = found
            return trigger, self._version_record(version, workflow)

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
