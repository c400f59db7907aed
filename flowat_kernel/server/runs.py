"""Starting runs for an organization and reading them back (shared by the API and webhooks)."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from flowat_kernel.access.audit import record_now
from flowat_kernel.access.principal import Principal
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.params import coerce_parameters
from flowat_kernel.run_result import Run
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import runtime
from flowat_kernel.store import RunRecord
from flowat_kernel.store.clock import aware
from flowat_kernel.store.tables import RunRow, WorkflowRow

__all__ = ["list_runs", "run_document", "start", "visible_run", "wait_for"]

MAX_WAIT_SECONDS = 300.0


def run_document(record: RunRecord) -> dict[str, Any]:
    """A run as JSON: status, timings, parameters, outputs (described) and steps."""
    document = Run(record, runtime().artifacts).to_json()
    document.update(
        {
            "trigger": record.trigger,
            "parameters": record.parameters,
            "created_at": record.created_at.isoformat(),
            "started_at": record.started_at.isoformat() if record.started_at else None,
            "ended_at": record.ended_at.isoformat() if record.ended_at else None,
        }
    )
    return document


def visible_run(principal: Principal, run_id: str) -> RunRecord:
    """The run ``run_id`` when it belongs to the caller's organization and workflows.

    Raises:
        NotFoundError: no such run, or one the caller may not see (never told apart).

    """
    if len(run_id) > 64:
        raise NotFoundError("no such run")
    try:
        record = runtime().store.get_run(run_id)
    except NotFoundError:
        raise NotFoundError(f"no run {run_id!r} in this organization") from None
    if record.owner != principal.owner or not principal.sees(record.workflow):
        raise NotFoundError(f"no run {run_id!r} in this organization")
    return record


def start(
    principal: Principal,
    workflow: str,
    *,
    version: int | None,
    parameters: dict[str, Any],
    trigger: str,
    actor: str | None = None,
    timeout_seconds: float | None = None,
) -> str:
    """Start a run of the organization's ``workflow``; returns its run id."""
    from flowat_kernel.engine.runner import start_run

    current = runtime()
    record = current.store.get_version(principal.owner, workflow, version)
    values = coerce_parameters(record.spec.inputs, parameters)
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise FlowAtError("timeout_seconds must be positive")
    current.call(current.ensure_worker(only_if_none_polling=True))
    started = current.call(
        start_run(current, record, values, trigger, timeout_seconds=timeout_seconds)
    )
    detail = {"run_id": started.run_id, "version": record.number, "trigger": trigger}
    record_now(
        current.store, principal.owner, actor or principal.user, "run.started", workflow, detail
    )
    return started.run_id


def wait_for(run_id: str, seconds: float) -> RunRecord:
    """The run after it finished, or after ``seconds``, whichever comes first.

    A run still queued after a few seconds while this process runs no worker gets one
    here: Temporal lists a worker that just stopped as polling for about a minute, so
    :func:`start` may have left the run to a poller that is gone.
    """
    from flowat_kernel.api import UNCLAIMED_SECONDS

    current = runtime()
    store = current.store
    began = time.monotonic()
    deadline = began + min(max(seconds, 0.0), MAX_WAIT_SECONDS)
    while True:
        record = store.get_run(run_id)
        if record.finished or time.monotonic() >= deadline:
            return record
        if (
            record.status == "queued"
            and not current.worker_running
            and time.monotonic() - began > UNCLAIMED_SECONDS
        ):
            current.call(current.ensure_worker())
        time.sleep(0.1)


def _cursor(row: RunRow) -> str:
    created = aware(row.created_at)
    text = f"{created.isoformat() if created else ''}|{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), run_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_query", "cursor is not one this API returned") from None


def list_runs(
    principal: Principal,
    *,
    workflow: str | None,
    status: str | None,
    trigger: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of the organization's runs, newest first, and the cursor of the next page."""
    query = (
        select(RunRow, WorkflowRow.name)
        .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
        .where(RunRow.owner == principal.owner)
    )
    if workflow is not None:
        query = query.where(WorkflowRow.name == workflow)
    if principal.workflows is not None:
        query = query.where(WorkflowRow.name.in_(principal.workflows))
    if status is not None:
        query = query.where(RunRow.status == status)
    if trigger is not None:
        query = query.where(RunRow.trigger == trigger)
    if cursor:
        stamp, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                RunRow.created_at < stamp,
                and_(RunRow.created_at == stamp, RunRow.id < last_id),
            )
        )
    query = query.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit + 1)
    rows: list[Any] = runtime().store.transaction(lambda s: list(s.execute(query).all()))
    items = []
    for found in rows[:limit]:
        row, name = found[0], found[1]
        items.append(
            {
                "run_id": row.id,
                "workflow": name,
                "version": row.version_number,
                "status": row.status,
                "trigger": row.trigger,
                "created_at": (aware(row.created_at) or row.created_at).isoformat(),
                "ended_at": aware(row.ended_at).isoformat() if row.ended_at else None,  # type: ignore[union-attr]
            }
        )
    next_cursor = _cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}
