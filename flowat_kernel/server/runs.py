"""Starting runs for an organization and reading them back (shared by the API and webhooks)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flowat_kernel.access.principal import Principal
from flowat_kernel.run_result import Run
from flowat_kernel.server.call import Later, Reply
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import runtime, workspace
from flowat_kernel.store import RunRecord, VersionRecord

__all__ = ["list_runs", "run_document", "start", "visible_run", "waited_reply"]

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
    return workspace(principal).record(run_id)


def start(
    principal: Principal,
    workflow: str,
    *,
    version: int | None,
    parameters: dict[str, Any],
    trigger: str,
    timeout_seconds: float | None = None,
    resolved: VersionRecord | None = None,
) -> RunRecord:
    """Start a run of the organization's ``workflow`` through the workspace; its record.

    ``resolved``: the version, when the caller read it already (not read again).
    """
    return workspace(principal).start(
        workflow,
        version=version,
        parameters=parameters,
        trigger=trigger,
        timeout=timeout_seconds,
        resolved=resolved,
    )


def _finished_reply(record: RunRecord) -> tuple[int, Any]:
    return (200 if record.finished else 202), run_document(record)


def waited_reply(
    principal: Principal, run_id: str, seconds: float, started: RunRecord | None = None
) -> Reply:
    """200 with the run's result once it finished within ``seconds``, else 202 with it as is.

    The wait holds no thread: it is a :class:`~flowat_kernel.server.call.Later` the HTTP
    layer awaits (through :meth:`Workspace.wait_record_async`). ``started``: the record
    the start just wrote, answered as it is when there is no wait (no second read).
    """
    seconds = min(max(seconds, 0.0), MAX_WAIT_SECONDS)
    if seconds <= 0:
        return _finished_reply(started or visible_run(principal, run_id))
    return Later(
        wait=lambda executor: workspace(principal).wait_record_async(
            run_id, seconds, executor=executor
        ),
        finish=_finished_reply,
        now=lambda: _finished_reply(visible_run(principal, run_id)),
    )


def _cursor(created_at: datetime, run_id: str) -> str:
    text = f"{created_at.isoformat()}|{run_id}"
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
    after = _decode_cursor(cursor) if cursor else None
    rows = runtime().store.page_runs(
        principal.owner,
        workflow=workflow,
        workflows=principal.workflows,
        status=status,
        trigger=trigger,
        after=after,
        limit=limit + 1,
    )
    queued = [row.run_id for row in rows[:limit] if row.status == "queued"]
    places = workspace(principal).queue_positions(queued) if queued else {}
    items = [
        {
            "run_id": row.run_id,
            "workflow": row.workflow,
            "version": row.version,
            "status": row.status,
            "trigger": row.trigger,
            "created_at": row.created_at.isoformat(),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            **({"queue_position": places[row.run_id]} if row.run_id in places else {}),
        }
        for row in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = _cursor(last.created_at, last.run_id) if last is not None else None
    return {"items": items, "next_cursor": next_cursor}
