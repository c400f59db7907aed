"""The run path's writes as fixed SQL statements with bound values.

Every run writes the same few statements: its row, its step rows and audit entry when
it starts, its steps' attempts, its end. Built per call with the values inside
(``insert(RunRow).values(id=...)`` in an ORM session), each cost SQLAlchemy a new cache
key over every value, the ORM's bulk-statement handling, and for the audit entry a
unit-of-work flush: 2.3 to 2.7 ms of CPU for a run's start on this machine, against
0.6 to 0.7 ms for the same statements built once here and executed on the session's
connection (``benchmarks/README.md``, "The store's share of a run"). The audit entry's
insert is built once too, in :mod:`.audit_records`, for every audited action. The rows
written are the same, value for value (``tests/store/test_run_statements.py``).

Each statement takes its values as bound parameters, named ``b_...`` where a column of
the same name is set, so one compiled form serves every run.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, Select, Update, bindparam, case, func, insert, select, update

from flowat_kernel.store.tables import RunRow, StepRunRow, VersionRow

__all__ = [
    "FINISH_RUN",
    "INSERT_RUN",
    "INSERT_STEPS",
    "LEFTOVER_STEPS",
    "RUN_STARTED",
    "RUN_STARTED_AT",
    "STEP_STARTED",
    "STEP_STATES",
    "STOP_OPEN_STEPS",
    "step_end",
]

_runs = RunRow.metadata.tables[RunRow.__tablename__]
_steps = StepRunRow.metadata.tables[StepRunRow.__tablename__]

#: A queued run: every column by name, plus ``b_version`` (its workflow is looked up).
INSERT_RUN: Insert = insert(_runs).values(
    workflow_id=select(VersionRow.workflow_id)
    .where(VersionRow.id == bindparam("b_version"))
    .scalar_subquery()
)

#: A run's pending step rows (one parameter set per step).
INSERT_STEPS: Insert = insert(_steps)

#: Mark run ``b_run`` running at ``b_at`` (idempotent: the first start time stays).
RUN_STARTED: Update = (
    update(_runs)
    .where(_runs.c.id == bindparam("b_run"), _runs.c.status.in_(("queued", "running")))
    .values(status="running", started_at=func.coalesce(_runs.c.started_at, bindparam("b_at")))
)

#: Run ``b_run`` ended with ``status`` and ``error`` at ``b_at``.
FINISH_RUN: Update = (
    update(_runs)
    .where(_runs.c.id == bindparam("b_run"))
    .values(
        status=bindparam("b_status"),
        error=bindparam("b_error", type_=_runs.c.error.type),
        ended_at=bindparam("b_at"),
        started_at=func.coalesce(_runs.c.started_at, bindparam("b_at")),
    )
)

#: Steps of run ``b_run`` never started become ``b_status`` (a cancelled run's).
LEFTOVER_STEPS: Update = (
    update(_steps)
    .where(_steps.c.run_id == bindparam("b_run"), _steps.c.status == "pending")
    .values(status=bindparam("b_status"))
)

#: Steps of run ``b_run`` still running or retrying at its end: cancelled at ``b_at``.
STOP_OPEN_STEPS: Update = (
    update(_steps)
    .where(_steps.c.run_id == bindparam("b_run"), _steps.c.status.in_(("running", "retrying")))
    .values(status="cancelled", ended_at=bindparam("b_at"))
)

#: When run ``b_run`` started.
RUN_STARTED_AT: Select[Any] = select(_runs.c.started_at).where(_runs.c.id == bindparam("b_run"))

#: Run ``b_run``'s steps: name, status, and whether outputs, start and end are missing.
STEP_STATES: Select[Any] = select(
    _steps.c.step,
    _steps.c.status,
    _steps.c.outputs.is_(None),
    _steps.c.started_at.is_(None),
    _steps.c.ended_at.is_(None),
).where(_steps.c.run_id == bindparam("b_run"))

_ONE_STEP = (_steps.c.run_id == bindparam("b_run"), _steps.c.step == bindparam("b_step"))

#: Step ``b_step`` of run ``b_run``: attempt ``b_attempts`` started at ``b_at``.
STEP_STARTED: Update = (
    update(_steps)
    .where(*_ONE_STEP)
    .values(
        status="running",
        attempts=bindparam("b_attempts"),
        started_at=func.coalesce(_steps.c.started_at, bindparam("b_at")),
        # a worker took a step that was waiting for one: the wait is over
        error=case((_steps.c.status == "waiting", None), else_=_steps.c.error),
    )
)


@functools.cache
def step_end(ended: bool, started: bool, outputs: bool, display: bool) -> Update:
    """The statement of an attempt's end, for the columns it sets.

    Always ``status``, ``attempts``, ``error`` and ``logs`` (parameters ``b_status``,
    ``b_attempts``, ``b_error``, ``b_logs``), and with each flag: ``ended_at``
    (``b_at``), the first ``started_at`` (``b_started``), ``outputs`` (``b_outputs``),
    ``display`` (``b_display``). At most 16 statements, each built once.
    """
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "attempts": bindparam("b_attempts"),
        "error": bindparam("b_error", type_=_steps.c.error.type),
        "logs": bindparam("b_logs"),
    }
    if ended:
        values["ended_at"] = bindparam("b_at")
    if started:
        values["started_at"] = func.coalesce(_steps.c.started_at, bindparam("b_started"))
    if outputs:
        values["outputs"] = bindparam("b_outputs", type_=_steps.c.outputs.type)
    if display:
        values["display"] = bindparam("b_display", type_=_steps.c.display.type)
    return update(_steps).where(*_ONE_STEP).values(**values)
