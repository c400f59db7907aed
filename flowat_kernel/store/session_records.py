"""Session tokens as issued (``sessions``): bound to the key that asked for them.

A session token is a signed JWT; its row here is what lets it be revoked, and what ties
it to the API key (``key_id``) and the session (``parent``) it was minted with. The
access layer (:mod:`flowat_kernel.access.sessions`) checks the row, the key and the
membership on every request; this module owns the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Index, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import Base
from flowat_kernel.store.transactions import Transactions

__all__ = ["SessionRecord", "SessionRecords", "SessionRow"]

#: Rows of sessions that ended this long ago are deleted when new sessions are issued.
_KEEP_ENDED = timedelta(days=1)


class SessionRow(Base):
    """One issued session token (never the token itself)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_owner", "owner"),
        Index("ix_sessions_key_id", "key_id"),
        Index("ix_sessions_parent", "parent"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    parent: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class SessionRecord:
    """A session as stored."""

    id: str
    owner: str
    user: str
    key_id: str | None
    parent: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and self.expires_at > utcnow()


class SessionRecords(Transactions):
    """The sessions half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    def add_session(
        self,
        *,
        session_id: str,
        owner: str,
        user: str,
        key_id: str | None,
        parent: str | None,
        expires_at: datetime,
    ) -> SessionRecord:
        """Record a new session (and forget sessions that ended more than a day ago)."""

        def work(session: Session) -> SessionRecord:
            now = utcnow()
            session.execute(delete(SessionRow).where(SessionRow.expires_at < now - _KEEP_ENDED))
            row = SessionRow(
                id=session_id,
                owner=owner,
                user=user,
                key_id=key_id,
                parent=parent,
                created_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return _record(row)

        return self.transaction(work)

    def find_session(self, session_id: str) -> SessionRecord | None:
        """The session with this id in any organization (one read, no transaction)."""
        rows = self.read(select(SessionRow).where(SessionRow.id == session_id))
        return _record(rows[0]) if rows else None

    def sessions(self, owner: str, user: str | None = None) -> list[SessionRecord]:
        """The organization's sessions that have not expired (or one member's), newest first."""
        query = select(SessionRow).where(
            SessionRow.owner == owner, SessionRow.expires_at > utcnow()
        )
        if user is not None:
            query = query.where(SessionRow.user == user)
        query = query.order_by(SessionRow.created_at.desc())
        return self.transaction(lambda s: [_record(r) for r in s.scalars(query)])

    def revoke_session(self, owner: str, session_id: str, actor: str) -> list[str]:
        """Revoke a session and every session minted with it (audited).

        Returns:
            The ids of the sessions this revoked (empty when all were revoked already).

        Raises:
            NotFoundError: no such session in this organization.

        """

        def work(session: Session) -> list[str]:
            row = session.get(SessionRow, session_id)
            if row is None or row.owner != owner:
                raise NotFoundError(f"no session {session_id!r} in this organization")
            now = utcnow()
            revoked: list[str] = []
            frontier = [row]
            while frontier:
                current = frontier.pop()
                if current.revoked_at is None:
                    current.revoked_at = now
                    revoked.append(current.id)
                children = select(SessionRow).where(SessionRow.parent == current.id)
                frontier.extend(session.scalars(children))
            if revoked:
                detail = {"user": row.user, "key": row.key_id, "sessions": len(revoked)}
                write_audit(session, owner, actor, "session.revoked", session_id, detail)
            return revoked

        return self.transaction(work)


def _record(row: Any) -> SessionRecord:
    """From a ``SessionRow`` or a row of its columns."""
    return SessionRecord(
        id=row.id,
        owner=row.owner,
        user=row.user,
        key_id=row.key_id,
        parent=row.parent,
        created_at=aware(row.created_at) or utcnow(),
        expires_at=aware(row.expires_at) or utcnow(),
        revoked_at=aware(row.revoked_at),
    )
