"""Organizations, users and memberships in the metadata store.

An organization's slug is the ``owner`` recorded on its workflows, runs and secrets.
The notebook user's personal organization has the user's name as slug, so everything
created before organizations existed belongs to it, and a single user sees no change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flowat_kernel.access.audit import record
from flowat_kernel.access.errors import Conflict
from flowat_kernel.access.roles import Role
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.store import Store
from flowat_kernel.store.clock import aware, utcnow
from flowat_kernel.store.tables import MembershipRow, OrganizationRow, UserRow

__all__ = ["Directory", "Member", "Organization", "check_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


def check_name(kind: str, name: object) -> str:
    """Validate a user name or organization slug.

    Raises:
        FlowAtError: empty, too long, or with characters other than letters, digits, ``_.@-``.

    """
    text = str(name)
    if not _NAME.match(text):
        raise FlowAtError(
            f"{kind} {text!r} is not valid: use 1-128 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return text


@dataclass(frozen=True)
class Organization:
    """An organization as the API shows it."""

    slug: str
    name: str
    personal: bool
    created_at: datetime


@dataclass(frozen=True)
class Member:
    """A user's membership in an organization."""

    user: str
    role: Role
    created_at: datetime


class Directory:
    """Reads and changes organizations, users and memberships.

    Args:
        store: the metadata store.

    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def ensure_personal(self, user: str) -> Organization:
        """The personal organization of ``user`` (created, with the user as Owner, if new)."""
        check_name("user", user)

        def work(session: Session) -> OrganizationRow:
            now = utcnow()
            if session.get(UserRow, user) is None:
                session.add(UserRow(name=user, created_at=now))
            org = session.get(OrganizationRow, user)
            if org is None:
                org = OrganizationRow(slug=user, name=user, personal=True, created_at=now)
                session.add(org)
                session.flush()
                session.add(
                    MembershipRow(owner=user, user=user, role=Role.OWNER.value, created_at=now)
                )
            return org

        return _org(self.store.transaction(work, retry_conflicts=True))

    def create_organization(self, slug: str, name: str | None, owner_user: str) -> Organization:
        """Create organization ``slug`` with ``owner_user`` as its Owner.

        Raises:
            Conflict: the slug is taken.

        """
        check_name("organization", slug)
        check_name("user", owner_user)

        def work(session: Session) -> OrganizationRow:
            if session.get(OrganizationRow, slug) is not None:
                raise Conflict(f"organization {slug!r} exists already")
            now = utcnow()
            if session.get(UserRow, owner_user) is None:
                session.add(UserRow(name=owner_user, created_at=now))
            org = OrganizationRow(slug=slug, name=name or slug, personal=False, created_at=now)
            session.add(org)
            session.flush()
            session.add(
                MembershipRow(owner=slug, user=owner_user, role=Role.OWNER.value, created_at=now)
            )
            record(session, slug, owner_user, "organization.created", slug, {})
            return org

        return _org(self.store.transaction(work))

    def organizations(self, user: str | None = None) -> list[Organization]:
        """Every organization, or those ``user`` is a member of."""
        query = select(OrganizationRow).order_by(OrganizationRow.slug)
        if user is not None:
            query = query.join(MembershipRow, MembershipRow.owner == OrganizationRow.slug).where(
                MembershipRow.user == user
            )
        return self.store.transaction(lambda s: [_org(r) for r in s.scalars(query)])

    def role_of(self, owner: str, user: str) -> Role | None:
        """The role of ``user`` in organization ``owner``, or ``None`` if not a member."""
        rows = self.store.read(
            select(MembershipRow.role).where(
                MembershipRow.owner == owner, MembershipRow.user == user
            )
        )
        return Role(rows[0][0]) if rows else None

    def members(self, owner: str) -> list[Member]:
        """The members of organization ``owner``."""
        query = (
            select(MembershipRow).where(MembershipRow.owner == owner).order_by(MembershipRow.user)
        )
        return self.store.transaction(
            lambda s: [
                Member(r.user, Role(r.role), aware(r.created_at) or utcnow())
                for r in s.scalars(query)
            ]
        )

    def set_role(self, owner: str, user: str, role: Role, actor: str, actor_role: Role) -> Member:
        """Add ``user`` to the organization with ``role``, or change their role.

        Only an Owner grants or takes away the Owner role, and the last Owner stays.

        Raises:
            Forbidden: an Administrator touching the Owner role.
            Conflict: the change would leave the organization without an Owner.

        """
        check_name("user", user)
        from flowat_kernel.access.errors import Forbidden

        def work(session: Session) -> Member:
            if session.get(OrganizationRow, owner) is None:
                raise NotFoundError(f"no organization {owner!r}")
            row = session.get(MembershipRow, (owner, user))
            before = Role(row.role) if row is not None else None
            if Role.OWNER in (role, before) and actor_role is not Role.OWNER:
                raise Forbidden("only an owner may grant or take away the owner role")
            if before is Role.OWNER and role is not Role.OWNER:
                _keep_an_owner(session, owner)
            now = utcnow()
            if session.get(UserRow, user) is None:
                session.add(UserRow(name=user, created_at=now))
                session.flush()
            if row is None:
                row = MembershipRow(owner=owner, user=user, role=role.value, created_at=now)
                session.add(row)
            else:
                row.role = role.value
            detail = {"role": role.value, "previous": before.value if before else None}
            record(session, owner, actor, "member.role_changed", user, detail)
            return Member(user, role, aware(row.created_at) or now)

        return self.store.transaction(work)

    def remove_member(self, owner: str, user: str, actor: str, actor_role: Role) -> None:
        """Remove ``user`` from the organization (their keys stop working at once).

        Raises:
            NotFoundError: not a member.
            Forbidden: an Administrator removing an Owner.
            Conflict: the last Owner.

        """
        from flowat_kernel.access.errors import Forbidden

        def work(session: Session) -> None:
            row = session.get(MembershipRow, (owner, user))
            if row is None:
                raise NotFoundError(f"{user!r} is not a member of {owner!r}")
            if row.role == Role.OWNER.value:
                if actor_role is not Role.OWNER:
                    raise Forbidden("only an owner may remove an owner")
                _keep_an_owner(session, owner)
            session.delete(row)
            record(session, owner, actor, "member.removed", user, {"role": row.role})

        self.store.transaction(work)


def _keep_an_owner(session: Session, owner: str) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(MembershipRow)
        .where(MembershipRow.owner == owner, MembershipRow.role == Role.OWNER.value)
    )
    if (owners or 0) <= 1:
        raise Conflict(f"{owner!r} would have no owner left; make someone else owner first")


def _org(row: OrganizationRow) -> Organization:
    return Organization(row.slug, row.name, row.personal, aware(row.created_at) or utcnow())
