"""The audit log: who did what, when, in an organization.

Actions taken through the REST API and the access CLI (keys, members, webhooks,
schedules, runs they start) are written to the ``audit_log`` table by the store
methods that make them (see :mod:`flowat_kernel.store.audit_records`). Publishes, secret
changes and runs started from the notebook or the CLI are read from the records the
store keeps anyway (versions, secret events, runs), so the log is complete whichever
path made the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowat_kernel.store import Store
from flowat_kernel.store.clock import aware, utcnow

__all__ = ["API_TRIGGERS", "AuditEntry", "query", "record_now"]

AuditEntry = dict[str, Any]

#: Run triggers that write their own audit entry (with the caller as actor).
API_TRIGGERS = frozenset({"rest", "webhook", "schedule"})


def record_now(
    store: Store, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add an entry in a transaction of its own.

    Changes made through the store's access and trigger methods write their entry in
    their own transaction; this is for actions recorded nowhere else (runs started).
    """
    store.add_audit(owner, actor, action, target, detail)


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
    entries = [
        _entry(e.at, e.actor, e.action, e.target, e.detail)
        for e in store.audit_sources(
            owner, limit=limit, before=before, logged_triggers=API_TRIGGERS
        )
    ]
    if action:
        entries = [e for e in entries if e["action"].startswith(action)]
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries[:limit]
