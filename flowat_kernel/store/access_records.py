"""Organizations, users, memberships and API keys.

The access layer (:mod:`flowat_kernel.access`) owns the rules (roles, scopes, who may
change what); these methods own the SQL. Where a rule depends on what the transaction
reads (the role a member had, how many owners are left), the method takes a *guard*,
a callable run inside the transaction at that point: if it raises, nothing is written.
Changes that are audited write their ``audit_log`` entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from flowat_kernel.errors import NotFoundError
from flowat_kernel.store.audit_records import write_audit
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import ApiKeyRow, MembershipRow, OrganizationRow, UserRow
from flowat_kernel.store.transactions import Transactions

__all__ = [
    "AccessRecords",
    "ApiKeyRecord",
    "MemberRecord",
    "MembershipGuard",
    "OrganizationRecord",
]

#: ``guard(previous_role, holders)``: ``previous_role`` is the member's role before the
#: change (``None`` for a new member); ``holders(role)`` counts the organization's
#: members holding ``role`` right now. Raise to refuse the change.
MembershipGuard = Callable[[str | None, Callable[[str], int]], None]


@dataclass(frozen=True)
class OrganizationRecord:
    """An organization as stored."""

    slug: str
    name: str
    personal: bool
    created_at: datetime
    #: ``auto``, ``open`` or ``public``; ``None`` follows the installation's setting.
    egress: str | None = None


@dataclass(frozen=True)
class MemberRecord:
    """A membership as stored (``role`` is the role's value)."""

    user: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key's row: its hash and metadata (the key itself is never stored)."""

    id: str
    owner: str
    user: str
    name: str
    key_hash: str
    scopes: tuple[str, ...]
    workflows: tuple[str, ...] | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None


# What every API call's authentication reads, built once: bound values only.
_API_KEY = select(ApiKeyRow).where(ApiKeyRow.id == bindparam("b_key"))
_MEMBER_ROLE = select(MembershipRow.role).where(
    MembershipRow.owner == bindparam("b_owner"), MembershipRow.user == bindparam("b_user")
)


class AccessRecords(Transactions):
    """The access half of :class:`~flowat_kernel.store.Store` (a mixin over its transactions)."""

    # -- organizations and members ---------------------------------------------------

    def ensure_personal_organization(self, user: str, owner_role: str) -> OrganizationRecord:
        """The personal organization of ``user``, created with them as ``owner_role`` if new."""

        def work(session: Session) -> OrganizationRecord:
            now = utcnow()
            if session.get(UserRow, user) is None:
                session.add(UserRow(name=user, created_at=now))
            org = session.get(OrganizationRow, user)
            if org is None:
                org = OrganizationRow(slug=user, name=user, personal=True, created_at=now)
                session.add(org)
                session.flush()
                session.add(MembershipRow(owner=user, user=user, role=owner_role, created_at=now))
            return _organization(org)

        return self.transaction(work, retry_conflicts=True)

    def create_organization(
        self, slug: str, name: str, owner_user: str, owner_role: str
    ) -> OrganizationRecord | None:
        """Create organization ``slug`` with ``owner_user`` as ``owner_role`` (audited).

        Returns ``None``, writing nothing, when the slug is taken.
        """

        def work(session: Session) -> OrganizationRecord | None:
            if session.get(OrganizationRow, slug) is not None:
                return None
            now = utcnow()
            if session.get(UserRow, owner_user) is None:
                session.add(UserRow(name=owner_user, created_at=now))
            org = OrganizationRow(slug=slug, name=name, personal=False, created_at=now)
            session.add(org)
            session.flush()
            session.add(MembershipRow(owner=slug, user=owner_user, role=owner_role, created_at=now))
            write_audit(session, slug, owner_user, "organization.created", slug, {})
            return _organization(org)

        return self.transaction(work)

    def organizations(self, user: str | None = None) -> list[OrganizationRecord]:
        """Every organization, or those ``user`` is a member of, by slug."""
        query = select(OrganizationRow).order_by(OrganizationRow.slug)
        if user is not None:
            query = query.join(MembershipRow, MembershipRow.owner == OrganizationRow.slug).where(
                MembershipRow.user == user
            )
        return self.transaction(lambda s: [_organization(r) for r in s.scalars(query)])

    def organization(self, slug: str) -> OrganizationRecord:
        """Organization ``slug``.

        Raises:
            NotFoundError: no such organization.

        """
        return self.transaction(lambda session: _organization(_org_row(session, slug)))

    def set_organization_egress(
        self, slug: str, egress: str | None, actor: str
    ) -> OrganizationRecord:
        """Set (or with ``None`` clear) organization ``slug``'s egress policy (audited).

        Raises:
            NotFoundError: no such organization.

        """

        def work(session: Session) -> OrganizationRecord:
            row = _org_row(session, slug)
            before = row.egress
            row.egress = egress
            detail = {"from": before or "installation", "to": egress or "installation"}
            write_audit(session, slug, actor, "organization.egress", slug, detail)
            return _organization(row)

        return self.transaction(work)

    def member_role(self, owner: str, user: str) -> str | None:
        """The role of ``user`` in organization ``owner``, or ``None`` if not a member."""
        rows = self.read(_MEMBER_ROLE, {"b_owner": owner, "b_user": user})
        return str(rows[0][0]) if rows else None

    def members(self, owner: str) -> list[MemberRecord]:
        """The members of organization ``owner``, by user name."""
        query = (
            select(MembershipRow).where(MembershipRow.owner == owner).order_by(MembershipRow.user)
        )
        return self.transaction(
            lambda s: [
                MemberRecord(r.user, r.role, aware(r.created_at) or utcnow())
                for r in s.scalars(query)
            ]
        )

    def set_membership(
        self, owner: str, user: str, role: str, actor: str, guard: MembershipGuard
    ) -> MemberRecord:
        """Add ``user`` to the organization with ``role``, or change their role (audited).

        Raises:
            NotFoundError: no such organization.
            Exception: whatever ``guard`` raises (then nothing is written).

        """

        def work(session: Session) -> MemberRecord:
            if session.get(OrganizationRow, owner) is None:
                raise NotFoundError(f"no organization {owner!r}")
            row = session.get(MembershipRow, (owner, user))
            before = row.role if row is not None else None
            guard(before, lambda held: _holders(session, owner, held))
            now = utcnow()
            if session.get(UserRow, user) is None:
                session.add(UserRow(name=user, created_at=now))
                session.flush()
            if row is None:
                row = MembershipRow(owner=owner, user=user, role=role, created_at=now)
                session.add(row)
            else:
                row.role = role
            detail = {"role": role, "previous": before}
            write_audit(session, owner, actor, "member.role_changed", user, detail)
            return MemberRecord(user, role, aware(row.created_at) or now)

        return self.transaction(work)

    def remove_membership(self, owner: str, user: str, actor: str, guard: MembershipGuard) -> None:
        """Remove ``user`` from the organization (audited).

        Raises:
            NotFoundError: not a member.
            Exception: whatever ``guard`` raises (then nothing is written).

        """

        def work(session: Session) -> None:
            row = session.get(MembershipRow, (owner, user))
            if row is None:
                raise NotFoundError(f"{user!r} is not a member of {owner!r}")
            guard(row.role, lambda held: _holders(session, owner, held))
            session.delete(row)
            write_audit(session, owner, actor, "member.removed", user, {"role": row.role})

        self.transaction(work)

    # -- API keys --------------------------------------------------------------------

    def add_api_key(
        self,
        *,
        key_id: str,
        owner: str,
        user: str,
        name: str,
        key_hash: str,
        scopes: list[str],
        workflows: list[str] | None,
        created_by: str,
        expires_in: timedelta | None,
        guard: Callable[[], None],
        role_guard: Callable[[str], None] | None = None,
    ) -> ApiKeyRecord:
        """Store a new key of member ``user`` (audited as ``key.created`` by ``created_by``).

        Raises:
            NotFoundError: ``user`` is not a member of ``owner``.
            Exception: whatever ``guard`` raises once membership is confirmed, or
                ``role_guard`` given the role ``user`` holds now.

        """

        def work(session: Session) -> ApiKeyRecord:
            member = session.get(MembershipRow, (owner, user))
            if member is None:
                raise NotFoundError(f"{user!r} is not a member of {owner!r}")
            guard()
            if role_guard is not None:
                role_guard(member.role)
            now = utcnow()
            row = ApiKeyRow(
                id=key_id,
                owner=owner,
                user=user,
                name=name,
                key_hash=key_hash,
                scopes=scopes,
                workflows=workflows,
                created_at=now,
                created_by=created_by,
                expires_at=now + expires_in if expires_in is not None else None,
            )
            session.add(row)
            detail = {"name": name, "user": user, "scopes": scopes, "workflows": workflows}
            write_audit(session, owner, created_by, "key.created", key_id, detail)
            session.flush()
            return _api_key(row)

        return self.transaction(work)

    def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id in any organization (one read, no transaction)."""
        rows = self.read(_API_KEY, {"b_key": key_id})
        return _api_key(rows[0]) if rows else None  # a row of columns, read outside the ORM

    def touch_api_key(self, key_id: str, now: datetime) -> None:
        """Note that the key was used at ``now``."""

        def work(session: Session) -> None:
            row = session.get(ApiKeyRow, key_id)
            if row is not None:
                row.last_used_at = now

        self.transaction(work)

    def api_keys(self, owner: str, user: str | None = None) -> list[ApiKeyRecord]:
        """The organization's keys (or one member's), newest first."""
        query = select(ApiKeyRow).where(ApiKeyRow.owner == owner)
        if user is not None:
            query = query.where(ApiKeyRow.user == user)
        query = query.order_by(ApiKeyRow.created_at.desc())
        return self.transaction(lambda s: [_api_key(r) for r in s.scalars(query)])

    def api_key(self, owner: str, key_id: str) -> ApiKeyRecord:
        """One key of the organization.

        Raises:
            NotFoundError: no such key in this organization.

        """
        return self.transaction(lambda s: _api_key(_key_row(s, owner, key_id)))

    def revoke_api_key(self, owner: str, key_id: str, actor: str) -> ApiKeyRecord:
        """Revoke a key (audited the first time).

        Raises:
            NotFoundError: no such key in this organization.

        """

        def work(session: Session) -> ApiKeyRecord:
            row = _key_row(session, owner, key_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                write_audit(session, owner, actor, "key.revoked", key_id, {"name": row.name})
            return _api_key(row)

        return self.transaction(work)

    def replace_api_key(
        self, owner: str, key_id: str, replaced_by: str, overlap: timedelta, actor: str
    ) -> None:
        """Let a rotated key expire ``overlap`` from now (sooner if it did already; audited).

        Raises:
            NotFoundError: no such key in this organization.

        """

        def work(session: Session) -> None:
            row = _key_row(session, owner, key_id)
            ends = utcnow() + overlap
            current = aware(row.expires_at)
            row.expires_at = ends if current is None or ends < current else current
            row.replaced_by = replaced_by
            detail = {"replaced_by": replaced_by, "overlap_seconds": overlap.total_seconds()}
            write_audit(session, owner, actor, "key.rotated", key_id, detail)

        self.transaction(work)


def _holders(session: Session, owner: str, role: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(MembershipRow)
        .where(MembershipRow.owner == owner, MembershipRow.role == role)
    )
    return count or 0


def _org_row(session: Session, slug: str) -> OrganizationRow:
    row = session.get(OrganizationRow, slug)
    if row is None:
        raise NotFoundError(f"no organization {slug!r}")
    return row


def _organization(row: OrganizationRow) -> OrganizationRecord:
    return OrganizationRecord(
        row.slug, row.name, row.personal, aware(row.created_at) or utcnow(), row.egress
    )


def _key_row(session: Session, owner: str, key_id: str) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.owner != owner:
        raise NotFoundError(f"no API key {key_id!r} in this organization")
    return row


def _api_key(row: Any) -> ApiKeyRecord:
    """From an ``ApiKeyRow`` or a row of its columns."""
    return ApiKeyRecord(
        id=row.id,
        owner=row.owner,
        user=row.user,
        name=row.name,
        key_hash=row.key_hash,
        scopes=tuple(row.scopes),
        workflows=tuple(row.workflows) if row.workflows is not None else None,
        created_at=aware(row.created_at) or utcnow(),
        created_by=row.created_by,
        expires_at=aware(row.expires_at),
        last_used_at=aware(row.last_used_at),
        revoked_at=aware(row.revoked_at),
        replaced_by=row.replaced_by,
    )
