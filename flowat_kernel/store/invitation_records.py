"""Invitations (``invitations``): who is invited where with which role, and their single use.

The token is stored only as its SHA-256 (:mod:`flowat_kernel.access.invitations` makes
and checks it). Redeeming is one compare-and-set update (not redeemed, not revoked, not
expired), so two redemptions of one token never both succeed. Creating, redeeming and
revoking write their ``audit_log`` entry in the same transaction; no entry names the
token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import InvitationRow
from flowat_kernel.store.transactions import Transactions

__all__ = ["InvitationRecord", "InvitationRecords"]


@dataclass(frozen=True)
class InvitationRecord:
    """One invitation's row (without its token's hash)."""

    id: str
    owner: str
    user: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    revoked_at: datetime | None


class InvitationRecords(Transactions):
    """The invitation half of :class:`~flowat_kernel.store.Store` (a mixin)."""

    def add_invitation(
        self,
        *,
        invitation_id: str,
        owner: str,
        user: str,
        role: str,
        token_hash: str,
        created_by: str,
        expires_at: datetime,
    ) -> InvitationRecord:
        """Store a new invitation (audited as ``invitation.created``)."""

        def work(session: Session) -> InvitationRecord:
            row = InvitationRow(
                id=invitation_id,
                owner=owner,
                user=user,
                role=role,
                token_hash=token_hash,
                created_by=created_by,
                created_at=utcnow(),
                expires_at=expires_at,
            )
            session.add(row)
            detail = {"user": user, "role": role, "expires_at": expires_at.isoformat()}
            write_audit(session, owner, created_by, "invitation.created", invitation_id, detail)
            session.flush()
            return _record(row)

        return self.transaction(work)

    def invitations(self, owner: str) -> list[InvitationRecord]:
        """The organization's invitations, newest first."""
        query = (
            select(InvitationRow)
            .where(InvitationRow.owner == owner)
            .order_by(InvitationRow.created_at.desc())
        )
        return self.transaction(lambda s: [_record(r) for r in s.scalars(query)])

    def find_invitation(self, token_hash: str) -> InvitationRecord | None:
        """The invitation whose token has this hash, in whatever state."""
        query = select(InvitationRow).where(InvitationRow.token_hash == token_hash)
        return self.transaction(lambda s: next((_record(r) for r in s.scalars(query)), None))

    def claim_invitation(self, invitation_id: str, now: datetime) -> bool:
        """Mark an open invitation redeemed; ``False`` if it was not open any more."""

        def work(session: Session) -> bool:
            changed = session.execute(
                update(InvitationRow)
                .where(
                    InvitationRow.id == invitation_id,
                    InvitationRow.redeemed_at.is_(None),
                    InvitationRow.revoked_at.is_(None),
                    InvitationRow.expires_at > now,
                )
                .values(redeemed_at=now)
            )
            return bool(getattr(changed, "rowcount", 0))

        return self.transaction(work)

    def release_invitation(self, invitation_id: str) -> None:
        """Open a claimed invitation again (its membership could not be made)."""

        def work(session: Session) -> None:
            session.execute(
                update(InvitationRow)
                .where(InvitationRow.id == invitation_id)
                .values(redeemed_at=None)
            )

        self.transaction(work)

    def invitation_redeemed(self, record: InvitationRecord) -> None:
        """Audit ``invitation.redeemed`` by the invited user."""

        def work(session: Session) -> None:
            detail = {"role": record.role, "invited_by": record.created_by}
            action = "invitation.redeemed"
            write_audit(session, record.owner, record.user, action, record.id, detail)

        self.transaction(work)

    def revoke_invitation(self, owner: str, invitation_id: str, actor: str) -> InvitationRecord:
        """Revoke an open invitation (audited); a redeemed one stays as it is.

        Raises:
            NotFoundError: no such invitation in this organization.

        """

        def work(session: Session) -> InvitationRecord:
            row = session.get(InvitationRow, invitation_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no invitation {invitation_id!r} in this organization")
            if row.redeemed_at is None and row.revoked_at is None:
                row.revoked_at = utcnow()
                detail = {"user": row.user, "role": row.role}
                write_audit(session, owner, actor, "invitation.revoked", invitation_id, detail)
            return _record(row)

        return self.transaction(work)


def _record(row: InvitationRow) -> InvitationRecord:
    return InvitationRecord(
        id=row.id,
        owner=row.owner,
        user=row.user,
        role=row.role,
        created_by=row.created_by,
        created_at=aware(row.created_at) or utcnow(),
        expires_at=aware(row.expires_at) or utcnow(),
        redeemed_at=aware(row.redeemed_at),
        revoked_at=aware(row.revoked_at),
    )
