"""The changes a worker's record writer batches: a step's attempt, a run's start.

Each change knows how to write itself in a store transaction (``apply``); the worker
queues them (:mod:`flowat_kernel.engine.record_writer`) and
:meth:`~flowat_kernel.store.run_records.RunRecords.write_steps` writes a batch in one
transaction, in order; :func:`coalesced` first folds an attempt's start into its end
when both are in the batch (a short step's usual case), one statement instead of two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flowat_kernel.store.run_statements import RUN_STARTED, STEP_STARTED, step_end

__all__ = ["RecordChange", "RunStartedWrite", "StepWrite", "coalesced", "mark_run_started"]


@dataclass(frozen=True)
class StepWrite:
    """One change to a step's record: an attempt started (``running``) or ended.

    ``at`` is when it happened, so a change written later (batched by the worker, see
    :mod:`flowat_kernel.engine.record_writer`) keeps its real time. ``started`` is set
    on an attempt's end that carries its start too (see :func:`coalesced`).
    """

    run_id: str
    step: str
    status: str
    attempt: int
    at: datetime
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    logs: str | None = None
    display: list[dict[str, Any]] | None = None
    started: datetime | None = None

    def apply(self, session: Session) -> None:
        """Write this change in ``session``'s transaction."""
        key = {"b_run": self.run_id, "b_step": self.step, "b_attempts": self.attempt}
        if self.status == "running":
            session.connection().execute(STEP_STARTED, {**key, "b_at": self.at})
            return
        ended = self.status not in ("retrying", "waiting")  # waiting: for a worker of its queue
        statement = step_end(
            ended, self.started is not None, self.outputs is not None, self.display is not None
        )
        values = {**key, "b_status": self.status, "b_error": self.error, "b_logs": self.logs}
        if ended:
            values["b_at"] = self.at
        if self.started is not None:  # the attempt's start, folded in: the first stays
            values["b_started"] = self.started
        if self.outputs is not None:
            values["b_outputs"] = self.outputs
        if self.display is not None:
            values["b_display"] = self.display
        session.connection().execute(statement, values)


@dataclass(frozen=True)
class RunStartedWrite:
    """A run marked running, at ``at`` (as :meth:`RunRecords.run_started`), written later.

    What a worker queues for its record writer when a run without a concurrency limit
    begins, so that marking it running costs the run's start no transaction of its own.
    """

    run_id: str
    at: datetime

    def apply(self, session: Session) -> None:
        """Write this change in ``session``'s transaction."""
        mark_run_started(session, self.run_id, self.at)


#: A change the worker's record writer batches: a step's, or a run's start.
RecordChange = StepWrite | RunStartedWrite


def coalesced(changes: Sequence[RecordChange]) -> list[RecordChange]:
    """``changes`` with each attempt's start folded into its end when both are here.

    An attempt's ``running`` change followed, with no other change to that step in
    between, by the same attempt's end becomes one change: the end, carrying the start's
    time (``started``). The record comes out exactly as from the two in order: the
    end's status, attempts, error, logs, outputs and times, and the step's first start
    kept. Changes to other steps and runs keep their order relative to each other; each
    row's own changes keep theirs.
    """
    result: list[RecordChange | None] = []
    starts: dict[tuple[str, str], int] = {}  # a step's latest change, when it is a start
    for change in changes:
        if isinstance(change, StepWrite):
            key = (change.run_id, change.step)
            index = starts.pop(key, None)
            start = result[index] if index is not None else None
            if (
                isinstance(start, StepWrite)
                and change.status != "running"
                and change.attempt == start.attempt
            ):
                result[index] = None  # type: ignore[index]
                change = replace(change, started=start.at)
            elif change.status == "running":
                starts[key] = len(result)
        result.append(change)
    return [change for change in result if change is not None]


def mark_run_started(session: Session, run_id: str, at: datetime) -> None:
    """Mark ``run_id`` running in ``session`` (idempotent: the first start time stays)."""
    session.connection().execute(RUN_STARTED, {"b_run": run_id, "b_at": at})
