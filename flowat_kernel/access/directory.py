"""Organizations, users and memberships in the metadata store.

An organization's slug is the ``owner`` recorded on its workflows, runs and secrets.
The notebook user's personal organization has the user's name as slug, so everything
created before organizations existed belongs to it, and a single user sees no change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flowat_kernel.access.errors import Conflict, Forbidden
from flowat_kernel.access.roles import Role, within
from flowat_kernel.errors import FlowAtError
from flowat_kernel.store import Store
from flowat_kernel.store.access_records import MemberRecord, OrganizationRecord

__all__ = ["EGRESS_CHOICES", "Directory", "Member", "Organization", "check_name", "parse_egress"]

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
    #: The organization's egress policy, or ``None`` to follow the installation's.
    egress: str | None = None


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
        return _org(self.store.ensure_personal_organization(user, Role.OWNER.value))

    def create_organization(self, slug: str, name: str | None, owner_user: str) -> Organization:
        """Create organization ``slug`` with ``owner_user`` as its Owner.

        Raises:
            Conflict: the slug is taken.

        """
        check_name("organization", slug)
        check_name("user", owner_user)
        created = self.store.create_organization(slug, name or slug, owner_user, Role.OWNER.value)
        if created is None:
            raise Conflict(f"organization {slug!r} exists already")
        return _org(created)

    def organizations(self, user: str | None = None) -> list[Organization]:
        """Every organization, or those ``user`` is a member of."""
        return [_org(r) for r in self.store.organizations(user)]

    def organization(self, slug: str) -> Organization:
        """Organization ``slug``.

        Raises:
            NotFoundError: no such organization.

        """
        return _org(self.store.organization(slug))

    def set_egress(self, owner: str, egress: str | None, actor: str) -> Organization:
        """Set organization ``owner``'s egress policy (audited; the caller checked the role).

        Args:
            owner: the organization.
            egress: ``auto``, ``open`` or ``public``; ``installation`` (or ``None``) to
                follow the installation's ``FLOWAT_EGRESS`` again.
            actor: who changes it, for the audit log.

        Raises:
            FlowAtError: an unknown policy.
            NotFoundError: no such organization.

        """
        return _org(self.store.set_organization_egress(owner, parse_egress(egress), actor))

    def role_of(self, owner: str, user: str) -> Role | None:
        """The role of ``user`` in organization ``owner``, or ``None`` if not a member."""
        role = self.store.member_role(owner, user)
        return Role(role) if role is not None else None

    def members(self, owner: str) -> list[Member]:
        """The members of organization ``owner``."""
        return [_member(r) for r in self.store.members(owner)]

    def set_role(self, owner: str, user: str, role: Role, actor: str, actor_role: Role) -> Member:
        """Add ``user`` to the organization with ``role``, or change their role.

        Nobody grants a role above their own or changes the role of a member above them;
        only an Owner grants or takes away the Owner role, and the last Owner stays.

        Raises:
            Forbidden: an Administrator touching the Owner role, or any role climb.
            Conflict: the change would leave the organization without an Owner.

        """
        check_name("user", user)

        def guard(previous: str | None, holders: Callable[[str], int]) -> None:
            before = Role(previous) if previous is not None else None
            if Role.OWNER in (role, before) and actor_role is not Role.OWNER:
                raise Forbidden("only an owner may grant or take away the owner role")
            if not within(role, actor_role):
                raise Forbidden(
                    f"you are {actor_role.value} and cannot grant the {role.value} role, "
                    "which is above your own"
                )
            if before is not None and not within(before, actor_role):
                raise Forbidden(
                    f"{user!r} is {before.value}, above your own role ({actor_role.value}); "
                    "only someone with that role may change it"
                )
            if before is Role.OWNER and role is not Role.OWNER:
                _keep_an_owner(owner, holders)

        return _member(self.store.set_membership(owner, user, role.value, actor, guard))

    def remove_member(self, owner: str, user: str, actor: str, actor_role: Role) -> None:
        """Remove ``user`` from the organization (their keys stop working at once).

        Raises:
            NotFoundError: not a member.
            Forbidden: an Administrator removing an Owner (anyone removing a member above
                their own role).
            Conflict: the last Owner.

        """

        def guard(previous: str | None, holders: Callable[[str], int]) -> None:
            if previous == Role.OWNER.value:
                if actor_role is not Role.OWNER:
                    raise Forbidden("only an owner may remove an owner")
                _keep_an_owner(owner, holders)
            elif previous is not None and not within(Role(previous), actor_role):
                raise Forbidden(
                    f"{user!r} is {previous}, above your own role ({actor_role.value}); "
                    "only someone with that role may remove them"
                )

        self.store.remove_membership(owner, user, actor, guard)


def _keep_an_owner(owner: str, holders: Callable[[str], int]) -> None:
    if holders(Role.OWNER.value) <= 1:
        raise Conflict(f"{owner!r} would have no owner left; make someone else owner first")


#: What an organization's egress policy may be set to (``installation`` clears it).
EGRESS_CHOICES = ("auto", "open", "public", "installation")


def parse_egress(text: str | None) -> str | None:
    """An organization egress setting: ``auto``, ``open``, ``public`` or ``None``.

    Raises:
        FlowAtError: anything else.

    """
    if text is None:
        return None
    value = str(text).strip().lower()
    if value not in EGRESS_CHOICES:
        raise FlowAtError(
            f"unknown egress policy {text!r}; choose one of {', '.join(EGRESS_CHOICES)} "
            "(installation: follow FLOWAT_EGRESS)"
        )
    return None if value == "installation" else value


def _org(record: OrganizationRecord) -> Organization:
    return Organization(record.slug, record.name, record.personal, record.created_at, record.egress)


def _member(record: MemberRecord) -> Member:
    return Member(record.user, Role(record.role), record.created_at)
