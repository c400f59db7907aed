"""Run and step records: queued, started, retried, finished, reconciled, read back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.record_changes import (
    RecordChange,
    RunStartedWrite,
    StepWrite,
    coalesced,
    mark_run_started,
)
from flowat_kernel.store.records import RunRecord, StepRecord, VersionRecord
from flowat_kernel.store.run_statements import (
    FINISH_RUN,
    INSERT_RUN,
    INSERT_STEPS,
    LEFTOVER_STEPS,
    RUN_STARTED_AT,
    STEP_STATES,
    STOP_OPEN_STEPS,
)
from flowat_kernel.store.tables import RunRow, StepRunRow, WorkflowRow

__all__ = ["RecordChange", "RunRecords", "RunStartedWrite", "StepWrite"]

T = TypeVar("T")


class RunRecords:
    """The run half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    def transaction(self, work: Callable[[Session], T], retry_conflicts: bool = False) -> T:
        """Provided by the store."""
        raise NotImplementedError

    def read(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> list[Row[Any]]:
        """Provided by the store: one read-only statement outside a transaction."""
        raise NotImplementedError

    def create_run(
        self,
        run_id: str,
        version: VersionRecord,
        parameters: dict[str, Any],
        trigger: str,
        temporal_workflow_id: str,
        task_queue: str | None = None,
        actor: str | None = None,
    ) -> RunRecord:
        """Record a new queued run with a pending row per step (and where it will run).

        With ``actor``, the ``run.started`` audit entry is written in the same
        transaction. Returns the run's record as it was written (what :meth:`get_run`
        would read back at once).
        """
        created_at = utcnow()
        steps = [
            {"run_id": run_id, "step": step.name, "position": i, "status": "pending", "attempts": 0}
            for i, step in enumerate(version.spec.steps)
        ]

        def work(session: Session) -> None:
            connection = session.connection()
            connection.execute(
                INSERT_RUN,
                {
                    "id": run_id,
                    "b_version": version.id,
                    "version_id": version.id,
                    "version_number": version.number,
                    "owner": version.owner,
                    "status": "queued",
                    "trigger": trigger,
                    "parameters": parameters,
                    "temporal_workflow_id": temporal_workflow_id,
                    "task_queue": task_queue,
                    "created_at": created_at,
                },
            )
            if steps:
                connection.execute(INSERT_STEPS, steps)
            if actor is not None:
                detail = {"run_id": run_id, "version": version.number, "trigger": trigger}
                write_audit(session, version.owner, actor, "run.started", version.workflow, detail)

        self.transaction(work)
        return RunRecord(
            run_id=run_id,
            workflow=version.workflow,
            version=version.number,
            owner=version.owner,
            status="queued",
            trigger=trigger,
            parameters=dict(parameters),
            temporal_workflow_id=temporal_workflow_id,
            task_queue=task_queue,
            created_at=created_at,
            steps=tuple(
                StepRecord(name=step.name, status="pending", attempts=0)
                for step in version.spec.steps
            ),
        )

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
        self.transaction(lambda session: mark_run_started(session, run_id, utcnow()))

    def run_finished(self, run_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        """Record a run's final status.

        Steps of a cancelled or timed-out run that never ran become ``cancelled``; after a
        failure or a clean stop (``sys.exit()``) they stay ``pending``, as cells below a
        failed cell stay unrun in a notebook.
        """
        self.transaction(lambda session: _finish(session, run_id, status, error))

    def step_started(self, run_id: str, step: str, attempt: int) -> None:
        """Mark a step's attempt as running."""
        self.write_steps([StepWrite(run_id, step, "running", attempt, utcnow())])

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
        display: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record the end of a step's attempt (``succeeded``, ``retrying`` or ``failed``).

        ``display`` is what the step showed, as notebook output dicts (already masked).
        """
        write = StepWrite(run_id, step, status, attempt, utcnow(), error, outputs, logs, display)
        self.write_steps([write])

    def write_steps(self, writes: Iterable[RecordChange]) -> None:
        """Apply step record changes (and runs' starts), in order, in one transaction.

        An attempt's start and end in the same batch are one statement (:func:`coalesced`).
        """
        batch = coalesced(list(writes))

        def work(session: Session) -> None:
            for write in batch:
                write.apply(session)

        if batch:
            self.transaction(work)

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
        self.transaction(lambda session: _reconcile(session, run_id, succeeded, states))

    def mark_step_failed(self, run_id: str, step: str, error: dict[str, Any]) -> None:
        """Mark a step failed unless its own attempt already recorded the failure."""
        self.transaction(lambda session: _mark_failed(session, run_id, step, error))

    def finish_run(
        self,
        run_id: str,
        status: str,
        error: dict[str, Any] | None,
        succeeded: dict[str, dict[str, Any]],
        states: dict[str, str],
        failed_step: str | None = None,
    ) -> float | None:
        """A run's end in one transaction: reconcile its steps, mark the failed one, finish.

        The same as :meth:`reconcile_steps`, :meth:`mark_step_failed` (when
        ``failed_step`` and ``error`` are given) and :meth:`run_finished` one after the
        other, in one transaction instead of three. Returns the run's duration in seconds
        (from its start, or its end when it never started, to its end).
        """

        def work(session: Session) -> float | None:
            _reconcile(session, run_id, succeeded, states)
            if failed_step is not None and error is not None:
                _mark_failed(session, run_id, failed_step, error)
            return _finish(session, run_id, status, error)

        return self.transaction(work)

    def run_ids_starting(self, owner: str, prefix: str, limit: int = 2) -> list[str]:
        """Ids of ``owner``'s runs that start with ``prefix`` (at most ``limit``).

        For the short ids FlowAt prints (the first 12 characters); ``prefix`` holds only
        hexadecimal digits, so it is matched as it is.
        """
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        rows = self.read(
            select(RunRow.id)
            .where(RunRow.owner == owner, RunRow.id.startswith(prefix, autoescape=True))
            .limit(limit)
        )
        return [str(row[0]) for row in rows]

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

    def page_runs(
        self,
        owner: str,
        *,
        workflow: str | None = None,
        workflows: tuple[str, ...] | None = None,
        status: str | None = None,
        trigger: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """Runs newest first (steps not loaded), filtered, from after ``(created_at, id)``.

        Args:
            owner: the organization.
            workflow: only this workflow's runs.
            workflows: only runs of these workflows (a key limited to some).
            status: only runs with this status.
            trigger: only runs started this way.
            after: the ``(created_at, run_id)`` of the last run of the previous page.
            limit: at most this many.

        """
        query = (
            select(RunRow, WorkflowRow.name)
            .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
            .where(RunRow.owner == owner)
        )
        if workflow is not None:
            query = query.where(WorkflowRow.name == workflow)
        if workflows is not None:
            query = query.where(WorkflowRow.name.in_(workflows))
        if status is not None:
            query = query.where(RunRow.status == status)
        if trigger is not None:
            query = query.where(RunRow.trigger == trigger)
        if after is not None:
            stamp, last_id = after
            query = query.where(
                or_(
                    RunRow.created_at < stamp,
                    and_(RunRow.created_at == stamp, RunRow.id < last_id),
                )
            )
        query = query.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)

        def work(session: Session) -> list[RunRecord]:
            return [_run_record(run, name, ()) for run, name in session.execute(query).all()]

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
        task_queue=run.task_queue,
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
                display=s.display,
            )
            for s in steps
        ),
    )


def _reconcile(
    session: Session, run_id: str, succeeded: dict[str, dict[str, Any]], states: dict[str, str]
) -> None:
    """:meth:`RunRecords.reconcile_steps` in ``session``: one read, then only what differs.

    A step whose record is already final and complete (written during the run, the usual
    case) costs nothing beyond the one select of the run's step records.
    """
    now = utcnow()
    rows = session.connection().execute(STEP_STATES, {"b_run": run_id}).all()
    recorded = {step: (status, tuple(missing)) for step, status, *missing in rows}
    for step, outputs in succeeded.items():
        found = recorded.get(step)
        if found is not None and found[0] == "succeeded" and not any(found[1]):
            continue  # already final and complete
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
        if state not in ("failed", "skipped", "cancelled") or step in succeeded:
            continue
        found = recorded.get(step)
        if found is not None and found[0] not in ("pending", "running", "retrying"):
            continue  # already final
        session.execute(
            update(StepRunRow)
            .where(
                StepRunRow.run_id == run_id,
                StepRunRow.step == step,
                StepRunRow.status.in_(("pending", "running", "retrying")),
            )
            .values(status=state, ended_at=func.coalesce(StepRunRow.ended_at, now))
        )


def _mark_failed(session: Session, run_id: str, step: str, error: dict[str, Any]) -> None:
    """Mark ``step`` failed with ``error``, unless its own attempt recorded its failure.

    A step already ``failed`` without an error (marked by reconciling, which knows only
    the state) gets ``error``; one whose attempt wrote its error keeps it.
    """
    session.execute(
        update(StepRunRow)
        .where(
            StepRunRow.run_id == run_id,
            StepRunRow.step == step,
            or_(StepRunRow.status != "failed", StepRunRow.error.is_(None)),
        )
        .values(status="failed", error=error, ended_at=func.coalesce(StepRunRow.ended_at, utcnow()))
    )


def _finish(
    session: Session, run_id: str, status: str, error: dict[str, Any] | None
) -> float | None:
    """:meth:`RunRecords.run_finished` in ``session``; the run's duration in seconds."""
    leftover = "cancelled" if status in ("cancelled", "timed_out") else None
    now = utcnow()
    connection = session.connection()
    run = {"b_run": run_id, "b_at": now}
    connection.execute(FINISH_RUN, {**run, "b_status": status, "b_error": error})
    if leftover is not None:
        connection.execute(LEFTOVER_STEPS, {"b_run": run_id, "b_status": leftover})
    connection.execute(STOP_OPEN_STEPS, run)
    started = connection.execute(RUN_STARTED_AT, {"b_run": run_id}).scalar()
    started = aware(started)
    return None if started is None else (now - started).total_seconds()
