"""Concurrency limits and admission: how many runs of a workflow may run at once.

A limit belongs to a workflow (``concurrency_limits`` row named for it) or to its
organization (``workflow=''``: the default of every workflow without its own). The
runs holding a workflow's slots are its runs with status ``running``; a run waiting for
one has a ``run_admissions`` row, and keeps status ``queued``.

Admission (:meth:`LimitRecords.admit_run`) is one transaction that first writes the
workflow's row (a no-op update): on PostgreSQL that is a row lock (``FOR NO KEY
UPDATE``), on SQLite it takes the database's write lock before anything is read, so
two admissions of the same workflow never overlap, whichever process or host they run
in. Inside it counts the
running runs and the live waiters ahead, and either marks the run ``running`` (it holds
a slot from then until its end is recorded, however it ends), keeps it waiting (FIFO),
records it ``skipped``, or picks the oldest running run to cancel (``cancel-oldest``).
A slot is released by the run's end being recorded; nothing else holds one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Session

from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import (
    ConcurrencyLimitRow,
    RunAdmissionRow,
    RunRow,
    StepRunRow,
    WorkflowRow,
)
from flowat_kernel.store.transactions import Transactions

__all__ = [
    "WHEN_FULL",
    "Admission",
    "LimitInfo",
    "LimitRecords",
    "SlotHolder",
]

#: What happens to a new run when its workflow's slots are all taken.
WHEN_FULL = ("queue", "skip", "cancel-oldest")
#: A waiter that has not asked for this long (its workflow is gone) loses its place.
STALE_WAITER = timedelta(seconds=60)

Decision = Literal["unlimited", "admitted", "queued", "skipped", "ended"]


@dataclass(frozen=True)
class LimitInfo:
    """A concurrency limit: ``workflow`` is ``''`` for the organization's default."""

    owner: str
    workflow: str
    max_concurrent_runs: int
    when_full: str
    updated_at: datetime
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``workflow`` is ``null`` for the organization's default)."""
        data = asdict(self)
        data["workflow"] = self.workflow or None
        data["updated_at"] = self.updated_at.isoformat()
        return data


@dataclass(frozen=True)
class Admission:
    """What :meth:`LimitRecords.admit_run` decided for a run.

    ``decision``: ``unlimited`` (no limit applies: the run goes on), ``admitted`` (it
    now holds a slot and is ``running``), ``queued`` (it waits, ``position`` in line),
    ``skipped`` (recorded so, ``skip`` policy) or ``ended`` (the run already ended,
    e.g. cancelled while it waited). ``cancel`` lists the Temporal workflow ids of the
    running runs to cancel to make room (``cancel-oldest``).
    """

    decision: Decision
    position: int | None = None
    limit: int | None = None
    cancel: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SlotHolder:
    """A run holding one of its workflow's slots."""

    run_id: str
    temporal_workflow_id: str
    started_at: datetime | None


class LimitRecords(Transactions):
    """The limits half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    # -- the limits themselves -------------------------------------------------------

    def set_concurrency_limit(
        self, owner: str, workflow: str, max_concurrent_runs: int, when_full: str, by: str
    ) -> LimitInfo:
        """Set (or replace) the limit of ``workflow`` (``''``: the organization's default)."""

        def work(session: Session) -> LimitInfo:
            row = session.get(ConcurrencyLimitRow, (owner, workflow))
            if row is None:
                row = ConcurrencyLimitRow(owner=owner, workflow=workflow)
                session.add(row)
            row.max_concurrent_runs = max_concurrent_runs
            row.when_full = when_full
            row.updated_at = utcnow()
            row.updated_by = by
            session.flush()
            return _info(row)

        return self.transaction(work, retry_conflicts=True)

    def concurrency_limit(self, owner: str, workflow: str) -> LimitInfo | None:
        """The limit set for exactly ``workflow`` (``''``: the organization's), if any."""
        return self.transaction(lambda s: _maybe(s.get(ConcurrencyLimitRow, (owner, workflow))))

    def effective_concurrency_limit(self, owner: str, workflow: str) -> LimitInfo | None:
        """The workflow's own limit, else its organization's default, else ``None``."""
        return self.transaction(lambda s: _effective(s, owner, workflow))

    def clear_concurrency_limit(self, owner: str, workflow: str) -> bool:
        """Remove the limit of ``workflow`` (``''``: the organization's); whether one was set."""

        def work(session: Session) -> bool:
            result = session.execute(
                delete(ConcurrencyLimitRow).where(
                    ConcurrencyLimitRow.owner == owner, ConcurrencyLimitRow.workflow == workflow
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self.transaction(work)

    # -- admission ---------------------------------------------------------------------

    def admit_run(self, run_id: str, now: datetime | None = None) -> Admission:
        """Decide whether ``run_id`` may start now under its workflow's limit (see module).

        Idempotent: a run already admitted is ``admitted`` again, a run already ended is
        ``ended``; a waiting run keeps its place and refreshes its lease.
        """

        def look(session: Session) -> tuple[Any, LimitInfo | None, bool] | None:
            found = session.execute(_RUN_FOR_ADMISSION, {"b_run": run_id}).one_or_none()
            if found is None:
                return None
            waiting = found.waiting is not None
            return tuple(found)[:4], _effective(session, found.owner, found.name), waiting

        looked = self.transaction(look)  # reads only: no lock for a run without a limit
        if looked is None:
            return Admission("ended")
        (workflow_id, owner, status, name), limit, waiting = looked
        if status != "queued":
            return Admission("admitted" if status == "running" else "ended")
        if limit is None and not waiting:
            return Admission("unlimited")

        def work(session: Session) -> Admission:
            # The lock, first (on SQLite the write lock is taken before anything is read):
            # every admission of this workflow passes here one at a time. A non-key
            # column, so PostgreSQL takes FOR NO KEY UPDATE: new runs of the workflow
            # (their foreign key's KEY SHARE) are not held up by it.
            session.execute(
                update(WorkflowRow)
                .where(WorkflowRow.id == workflow_id)
                .values(created_at=WorkflowRow.created_at)
            )
            status = session.scalar(select(RunRow.status).where(RunRow.id == run_id))
            if status != "queued":
                return Admission("admitted" if status == "running" else "ended")
            limit = _effective(session, owner, name)  # as it is now, under the lock
            if limit is None:  # cleared while the run waited
                session.execute(delete(RunAdmissionRow).where(RunAdmissionRow.run_id == run_id))
                return Admission("unlimited")
            return _admit(session, run_id, workflow_id, limit, now)

        return self.transaction(work, retry_conflicts=True)

    def admission_wakeups(self, run_id: str) -> list[str]:
        """Temporal workflow ids of the runs to wake now that ``run_id`` released its slot.

        As many waiters (first in line first) as there are free slots; waiters whose
        run has ended are forgotten here.
        """

        def work(session: Session) -> list[str]:
            found = session.execute(
                select(RunRow.workflow_id, RunRow.owner, WorkflowRow.name)
                .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
                .where(RunRow.id == run_id)
            ).one_or_none()
            if found is None:
                return []
            workflow_id, owner, name = found
            ended = select(RunRow.id).where(
                RunRow.workflow_id == workflow_id, RunRow.status != "queued"
            )
            session.execute(
                delete(RunAdmissionRow).where(
                    RunAdmissionRow.workflow_id == workflow_id, RunAdmissionRow.run_id.in_(ended)
                )
            )
            limit = _effective(session, owner, name)
            free = _free(session, workflow_id, limit)
            if free <= 0:
                return []
            rows = session.execute(
                select(RunRow.temporal_workflow_id)
                .join(RunAdmissionRow, RunAdmissionRow.run_id == RunRow.id)
                .where(RunAdmissionRow.workflow_id == workflow_id)
                .order_by(RunAdmissionRow.seq)
                .limit(free)
            ).all()
            return [str(row[0]) for row in rows]

        return self.transaction(work)

    def slot_holders(self, run_id: str) -> list[SlotHolder]:
        """The running runs of ``run_id``'s workflow, oldest first."""

        def work(session: Session) -> list[SlotHolder]:
            workflow_id = session.scalar(select(RunRow.workflow_id).where(RunRow.id == run_id))
            rows = session.execute(
                select(RunRow.id, RunRow.temporal_workflow_id, RunRow.started_at)
                .where(RunRow.workflow_id == workflow_id, RunRow.status == "running")
                .order_by(RunRow.started_at)
            ).all()
            return [SlotHolder(str(r[0]), str(r[1]), aware(r[2])) for r in rows]

        return self.transaction(work)

    def release_closed_run(self, run_id: str, status: str, error: dict[str, Any]) -> bool:
        """Record the end of a slot holder whose workflow closed unrecorded.

        Only a run still ``running`` changes (a run that recorded its own end meanwhile
        keeps it); whether it did.
        """

        def work(session: Session) -> bool:
            now = utcnow()
            result = session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(status=status, error=error, ended_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            session.execute(
                update(StepRunRow)
                .where(
                    StepRunRow.run_id == run_id,
                    StepRunRow.status.in_(("pending", "running", "retrying")),
                )
                .values(status="cancelled", ended_at=now)
            )
            return True

        return self.transaction(work)

    def limit_usage(self, owner: str, workflow: str) -> tuple[int, int]:
        """How many runs of ``workflow`` hold slots (``running``) and wait for one."""

        def work(session: Session) -> tuple[int, int]:
            workflow_id = session.scalar(
                select(WorkflowRow.id).where(
                    WorkflowRow.owner == owner, WorkflowRow.name == workflow
                )
            )
            if workflow_id is None:
                return 0, 0
            waiting = session.scalar(
                select(func.count())
                .select_from(RunAdmissionRow)
                .join(RunRow, RunRow.id == RunAdmissionRow.run_id)
                .where(RunAdmissionRow.workflow_id == workflow_id, RunRow.status == "queued")
            )
            return _running(session, workflow_id), int(waiting or 0)

        return self.transaction(work)

    def queue_positions(
        self, run_ids: list[str], owner: str | None = None, now: datetime | None = None
    ) -> dict[str, int]:
        """Where each of ``run_ids`` waiting for a slot stands in its workflow's line (1: next).

        With ``owner``, only that organization's runs are answered.
        """
        if not run_ids:
            return {}
        horizon = (now or utcnow()) - STALE_WAITER

        def work(session: Session) -> dict[str, int]:
            mine = session.execute(
                select(RunAdmissionRow.run_id, RunAdmissionRow.workflow_id, RunAdmissionRow.seq)
                .join(RunRow, RunRow.id == RunAdmissionRow.run_id)
                .where(
                    RunAdmissionRow.run_id.in_(run_ids),
                    RunRow.status == "queued",
                    RunRow.owner == owner if owner is not None else sa_true(),
                )
            ).all()
            return {
                str(run): _ahead(session, workflow_id, seq, horizon) + 1
                for run, workflow_id, seq in mine
            }

        return self.transaction(work)


def _info(row: ConcurrencyLimitRow) -> LimitInfo:
    return LimitInfo(
        owner=row.owner,
        workflow=row.workflow,
        max_concurrent_runs=row.max_concurrent_runs,
        when_full=row.when_full,
        updated_at=aware(row.updated_at) or utcnow(),
        updated_by=row.updated_by,
    )


def _maybe(row: ConcurrencyLimitRow | None) -> LimitInfo | None:
    return None if row is None else _info(row)


#: A run's workflow, organization and status, and whether it waits for a slot.
_RUN_FOR_ADMISSION = (
    select(
        RunRow.workflow_id,
        RunRow.owner,
        RunRow.status,
        WorkflowRow.name,
        RunAdmissionRow.run_id.label("waiting"),
    )
    .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
    .outerjoin(RunAdmissionRow, RunAdmissionRow.run_id == RunRow.id)
    .where(RunRow.id == bindparam("b_run"))
)

#: The limits that may apply to a workflow: its own, and its organization's default ("").
_LIMITS = select(ConcurrencyLimitRow).where(
    ConcurrencyLimitRow.owner == bindparam("b_owner"),
    ConcurrencyLimitRow.workflow.in_((bindparam("b_workflow"), "")),
)


def _effective(session: Session, owner: str, workflow: str) -> LimitInfo | None:
    rows = session.scalars(_LIMITS, {"b_owner": owner, "b_workflow": workflow}).all()
    own = [r for r in rows if r.workflow == workflow and workflow]
    chosen = own[0] if own else next((r for r in rows if r.workflow == ""), None)
    return _maybe(chosen)


def _running(session: Session, workflow_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RunRow)
            .where(RunRow.workflow_id == workflow_id, RunRow.status == "running")
        )
        or 0
    )


def _free(session: Session, workflow_id: int, limit: LimitInfo | None) -> int:
    if limit is None:
        return 1 << 30
    return limit.max_concurrent_runs - _running(session, workflow_id)


def _ahead(session: Session, workflow_id: int, seq: int, horizon: datetime) -> int:
    """Live waiters of the workflow before ``seq`` (their run still queued, lease fresh)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(RunAdmissionRow)
            .join(RunRow, RunRow.id == RunAdmissionRow.run_id)
            .where(
                RunAdmissionRow.workflow_id == workflow_id,
                RunAdmissionRow.seq < seq,
                RunAdmissionRow.polled_at >= horizon,
                RunRow.status == "queued",
            )
        )
        or 0
    )


def _admit(
    session: Session, run_id: str, workflow_id: int, limit: LimitInfo, at: datetime | None
) -> Admission:
    """The admission decision, under the workflow's lock (``at``: the time, else now)."""
    free = limit.max_concurrent_runs - _running(session, workflow_id)
    # The clock is read after the count, under the lock: a run's started_at is then later
    # than the ended_at of the run whose slot it took, so the records show the limit.
    now = at or utcnow()
    cap = limit.max_concurrent_runs
    waiting = session.get(RunAdmissionRow, run_id)
    if waiting is None:
        if free <= 0 and limit.when_full == "skip":
            _skip(session, run_id, limit, now)
            return Admission("skipped", limit=cap)
        last = session.scalar(
            select(func.max(RunAdmissionRow.seq)).where(RunAdmissionRow.workflow_id == workflow_id)
        )
        waiting = RunAdmissionRow(
            run_id=run_id,
            workflow_id=workflow_id,
            seq=int(last or 0) + 1,
            created_at=now,
            polled_at=now,
        )
        session.add(waiting)
        session.flush()
    else:
        waiting.polled_at = now
    position = _ahead(session, workflow_id, waiting.seq, now - STALE_WAITER) + 1
    if position <= free:
        session.execute(
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.status == "queued")
            .values(status="running", started_at=func.coalesce(RunRow.started_at, now))
        )
        session.delete(waiting)
        return Admission("admitted", limit=cap)
    cancel: tuple[str, ...] = ()
    if limit.when_full == "cancel-oldest" and waiting.evicts is None:
        cancel = _evict_oldest(session, waiting, position, free)
        if cancel:  # the audit log says which run the limit cancelled, and for which
            name = session.scalar(select(WorkflowRow.name).where(WorkflowRow.id == workflow_id))
            detail = {"run_id": waiting.evicts, "for_run": run_id, "max_concurrent_runs": cap}
            write_audit(session, limit.owner, "flowat", "run.cancelled_by_limit", str(name), detail)
    return Admission("queued", position=position, limit=cap, cancel=cancel)


def _evict_oldest(
    session: Session, waiting: RunAdmissionRow, position: int, free: int
) -> tuple[str, ...]:
    """Pick the oldest running run not already being cancelled, if this waiter needs it."""
    evicting = {
        str(r)
        for r in session.scalars(
            select(RunAdmissionRow.evicts).where(
                RunAdmissionRow.workflow_id == waiting.workflow_id,
                RunAdmissionRow.evicts.is_not(None),
            )
        ).all()
    }
    holders = session.execute(
        select(RunRow.id, RunRow.temporal_workflow_id)
        .where(RunRow.workflow_id == waiting.workflow_id, RunRow.status == "running")
        .order_by(RunRow.started_at, RunRow.id)
    ).all()
    pending = sum(1 for run_id, _ in holders if str(run_id) in evicting)
    if position <= free + pending:
        return ()  # a slot being freed already comes to this waiter
    for run_id, temporal_id in holders:
        if str(run_id) not in evicting:
            waiting.evicts = str(run_id)
            return (str(temporal_id),)
    return ()


def _skip(session: Session, run_id: str, limit: LimitInfo, now: datetime) -> None:
    """Record a run skipped because its workflow's slots were all taken."""
    scope = f"workflow {limit.workflow!r}" if limit.workflow else "the organization's default"
    error = {
        "type": "ConcurrencyLimit",
        "reason": "limit",
        "message": (
            f"skipped: {limit.max_concurrent_runs} run(s) already running, the limit of "
            f"{scope} (when full: skip)"
        ),
    }
    session.execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(status="skipped", error=error, started_at=now, ended_at=now)
    )
    session.execute(
        update(StepRunRow)
        .where(StepRunRow.run_id == run_id, StepRunRow.status == "pending")
        .values(status="skipped")
    )
