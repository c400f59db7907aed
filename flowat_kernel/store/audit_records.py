"""The audit log (``audit_log``) and the other records the audit view reads.

Entries are written by the store methods that make the audited change, in the same
transaction (:func:`write_audit`), or on their own (:meth:`AuditRecords.add_audit`).
While a request is served, :func:`credential_context` names the credential it came with
(``via`` and the key used); every entry written meanwhile records it in its detail.
Publishes, secret changes and runs started outside the REST API are not logged twice:
:meth:`AuditRecords.audit_sources` reads them from the versions, secret events and runs
the store keeps anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, insert, select, true
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import AuditRow, RunRow, SecretEventRow, VersionRow, WorkflowRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["AuditRecord", "AuditRecords", "credential_context", "write_audit"]

_credential: ContextVar[dict[str, str] | None] = ContextVar("flowat_audit_credential", default=None)


@contextmanager
def credential_context(detail: dict[str, str]) -> Iterator[None]:
    """Record ``detail`` (``via``, ``key``) in every audit entry written inside the block."""
    token = _credential.set(dict(detail))
    try:
        yield
    finally:
        _credential.reset(token)


@dataclass(frozen=True)
class AuditRecord:
    """One audited action, from the log or from the records of its change."""

    at: datetime | None
    actor: str
    action: str
    target: str
    detail: Any


#: One audit entry, built once (``owner, at, actor, action, target, detail`` bound).
_INSERT_AUDIT = insert(AuditRow.metadata.tables[AuditRow.__tablename__])


def write_audit(
    session: Session, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
) -> None:
    """Add an entry inside a store transaction (so it commits with the change)."""
    credential = _credential.get()
    if credential:
        detail = {**{k: v for k, v in credential.items() if k not in detail}, **detail}
    session.connection().execute(
        _INSERT_AUDIT,
        {
            "owner": owner,
            "at": utcnow(),
            "actor": actor[:128],
            "action": action,
            "target": target[:255],
            "detail": detail,
        },
    )


class AuditRecords(Transactions):
    """The audit half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    def add_audit(
        self, owner: str, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        """Add an entry in a transaction of its own."""
        self.transaction(lambda s: write_audit(s, owner, actor, action, target, detail))

    def audit_sources(
        self,
        owner: str,
        *,
        limit: int,
        before: datetime | None,
        logged_triggers: Iterable[str],
        action: str | None = None,
    ) -> list[AuditRecord]:
        """Up to ``limit`` newest entries of each source, unsorted, read in one transaction.

        The sources are the audit log, secret events (``secret.<action>``), published
        versions (``workflow.published``) and runs (``run.started``) whose trigger is not
        in ``logged_triggers`` (those triggers write their own log entry).

        Args:
            owner: the organization's slug.
            limit: at most this many entries per source.
            before: only entries strictly older than this.
            logged_triggers: run triggers already in the audit log.
            action: only entries whose action starts with this; applied in each source's
                query, before its limit.

        """
        logged = sorted(logged_triggers)
        prefix = action or ""

        def work(session: Session) -> list[AuditRecord]:
            entries: list[AuditRecord] = []
            q1 = select(AuditRow).where(AuditRow.owner == owner)
            if prefix:
                q1 = q1.where(AuditRow.action.startswith(prefix, autoescape=True))
            if before is not None:
                q1 = q1.where(AuditRow.at < before)
            for a in session.scalars(q1.order_by(AuditRow.at.desc()).limit(limit)):
                entries.append(AuditRecord(aware(a.at), a.actor, a.action, a.target, a.detail))
            secret_filter = _derived_filter(prefix, "secret.", SecretEventRow.action)
            q2 = select(SecretEventRow).where(SecretEventRow.owner == owner, secret_filter)
            if before is not None:
                q2 = q2.where(SecretEventRow.at < before)
            for e in session.scalars(q2.order_by(SecretEventRow.at.desc()).limit(limit)):
                entries.append(
                    AuditRecord(
                        aware(e.at), e.actor, f"secret.{e.action}", e.name, {"version": e.version}
                    )
                )
            q3 = (
                select(VersionRow, WorkflowRow.name)
                .join(WorkflowRow, WorkflowRow.id == VersionRow.workflow_id)
                .where(WorkflowRow.owner == owner, _fixed_filter(prefix, "workflow.published"))
            )
            if before is not None:
                q3 = q3.where(VersionRow.created_at < before)
            for v, name in session.execute(q3.order_by(VersionRow.created_at.desc()).limit(limit)):
                detail = {"version": v.number, "spec_hash": v.spec_hash}
                entries.append(
                    AuditRecord(
                        aware(v.created_at), v.created_by, "workflow.published", name, detail
                    )
                )
            q4 = (
                select(RunRow, WorkflowRow.name)
                .join(WorkflowRow, WorkflowRow.id == RunRow.workflow_id)
                .where(
                    RunRow.owner == owner,
                    RunRow.trigger.not_in(logged),
                    _fixed_filter(prefix, "run.started"),
                )
            )
            if before is not None:
                q4 = q4.where(RunRow.created_at < before)
            for r, name in session.execute(q4.order_by(RunRow.created_at.desc()).limit(limit)):
                detail = {"run_id": r.id, "version": r.version_number, "trigger": r.trigger}
                entries.append(
                    AuditRecord(aware(r.created_at), r.owner, "run.started", name, detail)
                )
            return entries

        return self.transaction(work)


def _fixed_filter(prefix: str, name: str) -> ColumnElement[bool]:
    """The whole source, or nothing, for a source whose entries all have action ``name``."""
    return true() if name.startswith(prefix) else false()


def _derived_filter(prefix: str, namespace: str, column: Any) -> ColumnElement[bool]:
    """Entries whose action is ``namespace`` + ``column`` and starts with ``prefix``."""
    if namespace.startswith(prefix):
        return true()
    if prefix.startswith(namespace):
        condition: ColumnElement[bool] = column.startswith(
            prefix[len(namespace) :], autoescape=True
        )
        return condition
    return false()
