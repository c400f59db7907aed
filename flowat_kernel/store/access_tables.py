"""Organizations, users, memberships, invitations, API keys and the audit log.

``owner`` is the organization's slug (migration 0004), as in every other table.

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["ApiKeyRow", "AuditRow", "InvitationRow", "MembershipRow", "OrganizationRow", "UserRow"]


class OrganizationRow(Base):
    """An organization: every workflow, run, secret and trigger belongs to one."""

    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    personal: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The organization's egress policy (``auto``, ``open``, ``public``); ``None``
    #: follows the installation's ``FLOWAT_EGRESS`` (migration 0007).
    egress: Mapped[str | None] = mapped_column(String(16), nullable=True)


class UserRow(Base):
    """A person (or service) that can be a member of organizations."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MembershipRow(Base):
    """A user's role in an organization."""

    __tablename__ = "memberships"

    owner: Mapped[str] = mapped_column(
        ForeignKey("organizations.slug", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(
        ForeignKey("users.name", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An API key: only its SHA-256 hash is stored, never the key."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_owner", "owner"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    workflows: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class InvitationRow(Base):
    """An invitation to join an organization with a role (single use, expiring)."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_owner", "owner"),
        UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    #: SHA-256 of the token; the token itself is shown once, to the inviter.
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    """One audited action: who did what to which object, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_owner_at", "owner", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
