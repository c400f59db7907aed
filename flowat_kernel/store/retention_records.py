"""Retention policies, the runs they expire, deleting run records, and the pass's lease.

A policy keeps the runs of one workflow (or, as the organization's default, of each
workflow without a policy of its own) for ``days`` days and/or the newest ``keep``
finished runs; a finished run beyond either limit expires. Runs that are queued or
running never expire. Deleting runs removes their run and step records, dead letters
and alert deliveries in chunks, so a pass over many thousands of runs holds no long
transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.records import FINISHED
from flowat_kernel.store.tables import (
    AlertDeliveryRow,
    AlertRow,
    DeadLetterRow,
    DeletedRunRow,
    RetentionLeaseRow,
    RetentionPolicyRow,
    RunRow,
    StepRunRow,
    VersionRow,
    WorkflowRow,
)
from flowat_kernel.store.transactions import Transactions

__all__ = ["DELETE_CHUNK", "RetentionPolicy", "RetentionRecords", "RunRef"]

#: Runs deleted per statement (well under every database's bound-parameter limit).
DELETE_CHUNK = 500


@dataclass(frozen=True)
class RetentionPolicy:
    """How long runs are kept: ``days`` and/or the newest ``keep`` finished runs.

    ``workflow`` is ``None`` for the organization's default.
    """

    owner: str
    workflow: str | None
    days: int | None
    keep: int | None
    updated_at: datetime
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "owner": self.owner,
            "workflow": self.workflow,
            "days": self.days,
            "keep": self.keep,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class RunRef:
    """What deleting a run needs beyond its records: its ids, workflow and Temporal id."""

    run_id: str
    owner: str
    workflow: str
    version: int
    status: str
    trigger: str
    temporal_workflow_id: str
    created_at: datetime

    def audit_detail(self) -> dict[str, Any]:
        """What the audit entry of its deletion keeps about it."""
        return {
            "run_id": self.run_id,
            "version": self.version,
            "status": self.status,
            "trigger": self.trigger,
            "created_at": self.created_at.isoformat(),
        }


def _policy(row: RetentionPolicyRow) -> RetentionPolicy:
    return RetentionPolicy(
        row.owner,
        row.workflow or None,
        row.days,
        row.keep,
        aware(row.updated_at) or row.updated_at,
        row.updated_by,
    )


def _chunks(items: Sequence[str], size: int = DELETE_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_REF_COLUMNS = (
    RunRow.id,
    RunRow.owner,
    WorkflowRow.name,
    RunRow.version_number,
    RunRow.status,
    RunRow.trigger,
    RunRow.temporal_workflow_id,
    RunRow.created_at,
)


def _ref(row: Any) -> RunRef:
    return RunRef(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        int(row[3]),
        str(row[4]),
        str(row[5]),
        str(row[6]),
        aware(row[7]) or row[7],
    )


class RetentionRecords(Transactions):
    """Retention policies and run deletion (mixed into :class:`~flowat_kernel.store.Store`)."""

    # -- policies ---------------------------------------------------------------------

    def set_retention(
        self, owner: str, workflow: str | None, days: int | None, keep: int | None, actor: str
    ) -> RetentionPolicy:
        """Set (replace) the policy of ``workflow`` (``None``: the organization's default)."""

        def work(session: Session) -> RetentionPolicy:
            row = session.get(RetentionPolicyRow, (owner, workflow or ""))
            if row is None:
                row = RetentionPolicyRow(owner=owner, workflow=workflow or "")
                session.add(row)
            row.days, row.keep = days, keep
            row.updated_at, row.updated_by = utcnow(), actor
            session.flush()
            return _policy(row)

        return self.transaction(work, retry_conflicts=True)

    def retention_policies(self, owner: str | None = None) -> list[RetentionPolicy]:
        """Policies of ``owner`` (every organization's when ``None``), default first."""
        statement = select(RetentionPolicyRow)
        if owner is not None:
            statement = statement.where(RetentionPolicyRow.owner == owner)
        statement = statement.order_by(RetentionPolicyRow.owner, RetentionPolicyRow.workflow)
        return self.transaction(lambda s: [_policy(r) for r in s.scalars(statement)])

    def clear_retention(self, owner: str, workflow: str | None) -> RetentionPolicy:
        """Remove a policy; runs are kept for ever again (or by the organization's default).

        Raises:
            NotFoundError: there is no such policy.

        """

        def work(session: Session) -> RetentionPolicy:
            row = session.get(RetentionPolicyRow, (owner, workflow or ""))
            if row is None:
                what = f"workflow {workflow!r}" if workflow else "the organization"
                raise NotFoundError(
                    f"{what} has no retention policy; `flowat retention show` lists them"
                )
            policy = _policy(row)
            session.delete(row)
            return policy

        return self.transaction(work)

    # -- which runs ---------------------------------------------------------------------

    def run_refs(self, run_ids: Sequence[str]) -> list[RunRef]:
        """The runs among ``run_ids`` that exist (any organization: callers check)."""
        found: list[RunRef] = []
        for chunk in _chunks(list(run_ids)):
            rows = self.read(
                select(*_REF_COLUMNS)
                .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
                .where(RunRow.id.in_(chunk))
            )
            found.extend(_ref(r) for r in rows)
        return found

    def workflow_run_refs(self, owner: str, workflow: str) -> list[RunRef]:
        """Every run of ``owner``'s ``workflow``, newest first."""
        rows = self.read(
            select(*_REF_COLUMNS)
            .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
            .where(WorkflowRow.owner == owner, WorkflowRow.name == workflow)
            .order_by(RunRow.created_at.desc(), RunRow.id.desc())
        )
        return [_ref(r) for r in rows]

    def expired_runs(
        self,
        owner: str,
        workflow: str | None,
        days: int | None,
        keep: int | None,
        *,
        excluding: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[RunRef]:
        """Finished runs a policy expires: older than ``days`` or beyond the newest ``keep``.

        Args:
            owner: the organization.
            workflow: one workflow, or ``None`` for each workflow not in ``excluding``
                (an organization's default, which counts ``keep`` per workflow).
            days: runs created longer ago than this many days expire.
            keep: beyond the newest this many finished runs of a workflow expire.
            excluding: workflows with a policy of their own.
            now: the reference time (tests, benchmarks).

        """
        if days is None and keep is None:
            return []
        finished = RunRow.status.in_(sorted(FINISHED))
        ranked = (
            select(
                *_REF_COLUMNS,
                func.row_number()
                .over(
                    partition_by=RunRow.workflow_id,
                    order_by=(RunRow.created_at.desc(), RunRow.id.desc()),
                )
                .label("rank"),
            )
            .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
            .where(RunRow.owner == owner, finished)
        )
        if workflow is not None:
            ranked = ranked.where(WorkflowRow.name == workflow)
        elif excluding:
            ranked = ranked.where(WorkflowRow.name.not_in(list(excluding)))
        inner = ranked.subquery()
        limits = []
        if days is not None:
            cutoff = (now or utcnow()) - timedelta(days=days)
            limits.append(inner.c.created_at < cutoff)
        if keep is not None:
            limits.append(inner.c.rank > keep)
        rows = self.read(select(*list(inner.c)[:8]).where(or_(*limits)))
        return [_ref(r) for r in rows]

    def existing_run_ids(self, run_ids: Iterable[str]) -> set[str]:
        """The ids among ``run_ids`` that still have a run record."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(run_ids))):
            found.update(
                str(r[0]) for r in self.read(select(RunRow.id).where(RunRow.id.in_(chunk)))
            )
        return found

    # -- deleting -------------------------------------------------------------------------

    def delete_run_records(
        self, runs: Sequence[RunRef], actor: str, action: str = "run.deleted"
    ) -> int:
        """Delete runs with their step records, dead letters and alert deliveries.

        In the same transaction, per chunk of runs: each run's id is remembered in
        ``deleted_runs`` (so its late files are found, :meth:`deleted_run_ids`) and
        one audit entry per workflow names the runs, who deleted them and ``action``.
        Idempotent: runs already gone are skipped. Returns how many were deleted.
        """
        from flowat_kernel.store.audit_records import write_audit

        deleted = 0
        for start in range(0, len(runs), DELETE_CHUNK):
            chunk = runs[start : start + DELETE_CHUNK]

            def work(session: Session, chunk: Sequence[RunRef] = chunk) -> int:
                ids = [r.run_id for r in chunk]
                session.execute(delete(StepRunRow).where(StepRunRow.run_id.in_(ids)))
                # Only the runs this transaction removed: a concurrent deleter's are not
                # audited or remembered twice (RETURNING, on SQLite and PostgreSQL).
                removed = set(
                    session.execute(
                        delete(RunRow)
                        .where(RunRow.id.in_(ids))
                        .returning(RunRow.id)
                        .execution_options(synchronize_session=False)
                    ).scalars()
                )
                if not removed:
                    return 0
                gone = [r for r in chunk if r.run_id in removed]
                ids = [r.run_id for r in gone]
                session.execute(delete(DeadLetterRow).where(DeadLetterRow.run_id.in_(ids)))
                session.execute(delete(AlertDeliveryRow).where(AlertDeliveryRow.run_id.in_(ids)))
                known = set(
                    session.scalars(
                        select(DeletedRunRow.run_id).where(DeletedRunRow.run_id.in_(ids))
                    )
                )
                now = utcnow()
                session.add_all(
                    DeletedRunRow(run_id=r.run_id, owner=r.owner, deleted_at=now)
                    for r in gone
                    if r.run_id not in known
                )
                by_workflow: dict[tuple[str, str], list[RunRef]] = {}
                for ref in gone:
                    by_workflow.setdefault((ref.owner, ref.workflow), []).append(ref)
                for (owner, workflow), refs in by_workflow.items():
                    detail: dict[str, Any] = {"runs": [r.audit_detail() for r in refs]}
                    if len(refs) == 1:
                        detail = refs[0].audit_detail()
                    write_audit(session, owner, actor, action, workflow, detail)
                return len(gone)

            deleted += self.transaction(work)
        return deleted

    def deleted_run_ids(self, run_ids: Iterable[str]) -> set[str]:
        """The ids among ``run_ids`` of runs that were deleted (and are remembered)."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(run_ids))):
            found.update(
                str(r[0])
                for r in self.read(
                    select(DeletedRunRow.run_id).where(DeletedRunRow.run_id.in_(chunk))
                )
            )
        return found

    def forget_deleted_runs(self, before: datetime) -> int:
        """Stop remembering runs deleted before ``before``; returns how many."""

        def work(session: Session) -> int:
            result = session.execute(delete(DeletedRunRow).where(DeletedRunRow.deleted_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

        return self.transaction(work)

    def delete_workflow_records(self, owner: str, workflow: str) -> bool:
        """Delete a workflow's versions, its alerts and retention policy, and the workflow.

        Its runs must be deleted first (:meth:`delete_run_records`): a run left behind
        makes this fail rather than vanish unaccounted. Returns whether it existed.
        """

        def work(session: Session) -> bool:
            row = session.scalars(
                select(WorkflowRow).where(WorkflowRow.owner == owner, WorkflowRow.name == workflow)
            ).one_or_none()
            session.execute(
                delete(AlertRow).where(AlertRow.owner == owner, AlertRow.workflow == workflow)
            )
            session.execute(
                delete(RetentionPolicyRow).where(
                    RetentionPolicyRow.owner == owner, RetentionPolicyRow.workflow == workflow
                )
            )
            if row is None:
                return False
            left = session.scalar(select(func.count()).where(RunRow.workflow_id == row.id))
            if left:
                raise FlowAtError(f"workflow {workflow!r} still has {left} runs; delete them first")
            session.execute(delete(VersionRow).where(VersionRow.workflow_id == row.id))
            session.execute(delete(WorkflowRow).where(WorkflowRow.id == row.id))
            return True

        return self.transaction(work)

    # -- one pass at a time ---------------------------------------------------------------

    def take_lease(self, name: str, holder: str, seconds: float, every: float) -> bool:
        """Take job ``name``'s lease for ``seconds`` if it is free and due.

        Due: it never finished, or finished at least ``every`` seconds ago. Free: nobody
        holds it, or the holder's lease ran out (a worker that died mid-pass). Exactly
        one of several racing callers gets it (a conditional update; the row is
        created on first use).
        """
        now = utcnow()
        with contextlib.suppress(IntegrityError):  # it exists already
            self.transaction(
                lambda s: s.add(RetentionLeaseRow(name=name, holder=None, expires_at=None))
            )
        due = now - timedelta(seconds=every)

        def work(session: Session) -> bool:
            result = session.execute(
                update(RetentionLeaseRow)
                .where(
                    RetentionLeaseRow.name == name,
                    or_(RetentionLeaseRow.expires_at.is_(None), RetentionLeaseRow.expires_at < now),
                    or_(
                        RetentionLeaseRow.finished_at.is_(None),
                        RetentionLeaseRow.finished_at <= due,
                    ),
                )
                .values(holder=holder, expires_at=now + timedelta(seconds=seconds))
            )
            return bool(getattr(result, "rowcount", 0))

        return self.transaction(work)

    def release_lease(self, name: str, holder: str, finished: bool = True) -> None:
        """Give the lease back (``finished``: record now as the job's last completion)."""
        values: dict[str, Any] = {"holder": None, "expires_at": None}
        if finished:
            values["finished_at"] = utcnow()
        self.transaction(
            lambda s: s.execute(
                update(RetentionLeaseRow)
                .where(and_(RetentionLeaseRow.name == name, RetentionLeaseRow.holder == holder))
                .values(**values)
            )
        )
