"""The audit log: who did what, when, in an organization.

Actions taken through the REST API and the access CLI (keys, members, webhooks,
schedules, runs they start) are written to the ``audit_log`` table. Publishes, secret
changes and runs started from the notebook or the CLI are read from the records the
store keeps anyway (versions, secret events, runs), so the log is complete whichever
path made the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowat_kernel.store import Store
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import (
    AuditRow,
    RunRow,
    SecretEventRow,
    VersionRow,
    WorkflowRow,
)

__all__ = ["API_TRIGGERS", "AuditEntry", "query", "record", "record_now"]

AuditEntry = dict[str, Any]

#: Run triggers that write their own audit entry (with the caller as actor).
API_TRIGGERS = frozenset({"rest", "webhook", "schedule"})


def record(
    session: Session, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add an entry inside the caller's transaction (so it commits with the change)."""
    session.add(
        AuditRow(
            owner=owner,
            at=utcnow(),
            actor=actor[:128],
            action=action,
            target=target[:255],
            detail=detail,
        )
    )


def record_now(
    store: Store, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add an entry in a transaction of its own."""
    store.transaction(lambda s: record(s, owner, actor, action, target, detail))


def _entry(at: datetime | None, actor: str, action: str, target: str, detail: Any) -> AuditEntry:
    stamp = aware(at) or utcnow()
    return {
        "at": stamp.isoformat(),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail or {},
    }


def query(
    store: Store,
    owner: str,
    *,
    limit: int = 50,
    before: datetime | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The organization's entries, newest first.

    Args:
        store: the metadata store.
        owner: the organization's slug.
        limit: at most this many entries.
        before: only entries strictly older than this (the ``at`` of the last entry of
            the previous page).
        action: only entries whose action starts with this (``run``, ``key.created``).

    """

    def work(session: Session) -> list[AuditEntry]:
        entries: list[AuditEntry] = []
        q1 = select(AuditRow).where(AuditRow.owner == owner)
        if before is not None:
            q1 = q1.where(AuditRow.at < before)
        for a in session.scalars(q1.order_by(AuditRow.at.desc()).limit(limit)):
            entries.append(_entry(a.at, a.actor, a.action, a.target, a.detail))
        q2 = select(SecretEventRow).where(SecretEventRow.owner == owner)
        if before is not None:
            q2 = q2.where(SecretEventRow.at < before)
        for e in session.scalars(q2.order_by(SecretEventRow.at.desc()).limit(limit)):
            entries.append(
                _entry(e.at, e.actor, f"secret.{e.action}", e.name, {"version": e.version})
            )
        q3 = (
            select(VersionRow, WorkflowRow.name)
            .join(WorkflowRow, WorkflowRow.id == VersionRow.workflow_id)
            .where(WorkflowRow.owner == owner)
        )
        if before is not None:
            q3 = q3.where(VersionRow.created_at < before)
        for v, name in session.execute(q3.order_by(VersionRow.created_at.desc()).limit(limit)):
            detail = {"version": v.number, "spec_hash": v.spec_hash}
            entries.append(_entry(v.created_at, v.created_by, "workflow.published", name, detail))
        q4 = (
            select(RunRow, WorkflowRow.name)
            .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
            .where(RunRow.owner == owner, RunRow.trigger.not_in(sorted(API_TRIGGERS)))
        )
        if before is not None:
            q4 = q4.where(RunRow.created_at < before)
        for r, name in session.execute(q4.order_by(RunRow.created_at.desc()).limit(limit)):
            detail = {"run_id": r.id, "version": r.version_number, "trigger": r.trigger}
            entries.append(_entry(r.created_at, r.owner, "run.started", name, detail))
        if action:
            entries = [e for e in entries if e["action"].startswith(action)]
        entries.sort(key=lambda e: e["at"], reverse=True)
        return entries[:limit]

    return store.transaction(work)
