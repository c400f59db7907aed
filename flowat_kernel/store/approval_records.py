"""Approval links (``approval_links``): what each link is bound to, and its single use.

The signature and its checks are :mod:`flowat_kernel.access.approval_tokens`'s; the
use cases are :mod:`flowat_kernel.workspace.approvals`'s. Using a link is one
compare-and-set update (``consumed_at IS NULL`` and not expired), so two clicks, two
tabs or two servers never both act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import ApprovalLinkRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["ApprovalLinkRecord", "ApprovalRecords"]


@dataclass(frozen=True)
class ApprovalLinkRecord:
    """One approval link's row."""

    id: str
    owner: str
    run_id: str
    step: str
    signal: str
    key_id: str
    reviewer: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    decision: str | None
    decided_by: str | None


def _record(row: ApprovalLinkRow) -> ApprovalLinkRecord:
    return ApprovalLinkRecord(
        id=row.id,
        owner=row.owner,
        run_id=row.run_id,
        step=row.step,
        signal=row.signal,
        key_id=row.key_id,
        reviewer=row.reviewer,
        created_by=row.created_by,
        created_at=aware(row.created_at) or utcnow(),
        expires_at=aware(row.expires_at) or utcnow(),
        consumed_at=aware(row.consumed_at),
        decision=row.decision,
        decided_by=row.decided_by,
    )


class ApprovalRecords(Transactions):
    """The approval-link half of :class:`~flowat_kernel.store.Store` (a mixin)."""

    def add_approval_link(self, link: ApprovalLinkRecord) -> None:
        """Store a new link."""
        self.transaction(
            lambda s: s.add(
                ApprovalLinkRow(
                    id=link.id,
                    owner=link.owner,
                    run_id=link.run_id,
                    step=link.step,
                    signal=link.signal,
                    key_id=link.key_id,
                    reviewer=link.reviewer,
                    created_by=link.created_by,
                    created_at=link.created_at,
                    expires_at=link.expires_at,
                )
            )
        )

    def approval_link(self, link_id: str) -> ApprovalLinkRecord | None:
        """The link's row, or ``None``."""

        def work(session: Session) -> ApprovalLinkRecord | None:
            row = session.get(ApprovalLinkRow, link_id)
            return _record(row) if row is not None else None

        return self.transaction(work)

    def approval_links(self, owner: str, run_id: str) -> list[ApprovalLinkRecord]:
        """The links made for a run, oldest first."""
        return self.transaction(
            lambda s: [
                _record(row)
                for row in s.scalars(
                    select(ApprovalLinkRow)
                    .where(ApprovalLinkRow.owner == owner, ApprovalLinkRow.run_id == run_id)
                    .order_by(ApprovalLinkRow.created_at)
                )
            ]
        )

    def consume_approval_link(
        self, link_id: str, decision: str, decided_by: str, now: datetime
    ) -> bool:
        """Use the link once: ``True`` for the one caller whose update won (and in time)."""

        def work(session: Session) -> int:
            result = session.execute(
                update(ApprovalLinkRow)
                .where(
                    ApprovalLinkRow.id == link_id,
                    ApprovalLinkRow.consumed_at.is_(None),
                    ApprovalLinkRow.expires_at > now,
                )
                .values(consumed_at=now, decision=decision, decided_by=decided_by[:128])
            )
            return int(getattr(result, "rowcount", 0) or 0)

        return bool(self.transaction(work))

    def note_approval_outcome(self, link_id: str, decision: str) -> None:
        """Replace a used link's decision (e.g. ``approve-failed`` when the run had ended)."""
        self.transaction(
            lambda s: s.execute(
                update(ApprovalLinkRow)
                .where(ApprovalLinkRow.id == link_id)
                .values(decision=decision)
            )
        )
