"""Invitations: an Administrator or Owner invites a user, who redeems a one-time token.

The token (``fi_`` and 43 random characters) is shown once, to the inviter; the store
keeps only its SHA-256. It works once, for the invited user only, until it expires
(seven days by default, thirty at most), and not after it was revoked. Nobody invites
anyone to a role above their own, only an Owner invites an Owner, and when the token is
redeemed the inviter must still hold a role that may grant it: a demoted or removed
inviter's invitations stop working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowat_kernel.access.directory import Directory, Member, check_name
from flowat_kernel.access.errors import Conflict, Forbidden
from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import Role, within
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.store import Store
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.invitation_records import InvitationRecord

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "CreatedInvitation",
    "InvitationInfo",
    "Invitations",
    "may_grant",
]

TOKEN_PREFIX = "fi_"
#: How long an invitation works when the inviter does not say.
DEFAULT_LIFETIME = timedelta(days=7)
#: The longest an invitation may work.
MAX_LIFETIME = timedelta(days=30)
_MIN_LIFETIME = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_grant(granter: Role, role: Role) -> str | None:
    """Why ``granter`` may not grant ``role`` (``None`` when they may)."""
    if role is Role.OWNER and granter is not Role.OWNER:
        return "only an owner may invite an owner"
    if not within(role, granter):
        return f"a {granter.value} cannot grant the {role.value} role, which is above their own"
    return None


@dataclass(frozen=True)
class InvitationInfo:
    """An invitation as the API shows it (never its token)."""

    record: InvitationRecord

    @property
    def status(self) -> str:
        """``open``, ``redeemed``, ``revoked`` or ``expired``."""
        found = self.record
        if found.redeemed_at is not None:
            return "redeemed"
        if found.revoked_at is not None:
            return "revoked"
        return "expired" if found.expires_at <= utcnow() else "open"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able metadata."""
        found = self.record

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": found.id,
            "user": found.user,
            "role": found.role,
            "status": self.status,
            "created_by": found.created_by,
            "created_at": found.created_at.isoformat(),
            "expires_at": found.expires_at.isoformat(),
            "redeemed_at": when(found.redeemed_at),
            "revoked_at": when(found.revoked_at),
        }


@dataclass(frozen=True)
class CreatedInvitation:
    """A new invitation; ``token`` is shown this once."""

    info: InvitationInfo
    token: str

    def __repr__(self) -> str:
        return f"CreatedInvitation(info={self.info!r}, token=<hidden>)"


class Invitations:
    """Invites users to an organization, lists, revokes and redeems invitations.

    Args:
        store: the metadata store.

    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.directory = Directory(store)

    def invite(
        self,
        actor: Principal,
        user: str,
        role: Role,
        expires_in: timedelta = DEFAULT_LIFETIME,
    ) -> CreatedInvitation:
        """Invite ``user`` to the actor's organization with ``role``.

        Raises:
            Forbidden: the actor may not write members, or may not grant ``role``.
            Conflict: ``user`` is a member already (change their role instead).
            FlowAtError: a bad user name or lifetime.

        """
        actor.require("members:write")
        check_name("user", user)
        refused = may_grant(actor.role, role)
        if refused is not None:
            raise Forbidden(f"{refused}; you are {actor.role.value}")
        if not _MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
            raise FlowAtError("an invitation expires after 1 minute to 30 days")
        if self.directory.role_of(actor.owner, user) is not None:
            raise Conflict(f"{user!r} is a member already; change their role instead")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = self.store.add_invitation(
            invitation_id=secrets.token_hex(8),
            owner=actor.owner,
            user=user,
            role=role.value,
            token_hash=_hash(token),
            created_by=actor.user,
            expires_at=utcnow() + expires_in,
        )
        return CreatedInvitation(InvitationInfo(record), token)

    def list(self, actor: Principal) -> list[InvitationInfo]:
        """The organization's invitations, newest first (tokens never)."""
        actor.require("members:write")
        return [InvitationInfo(r) for r in self.store.invitations(actor.owner)]

    def revoke(self, actor: Principal, invitation_id: str) -> InvitationInfo:
        """Revoke an open invitation: its token stops working at once.

        Raises:
            NotFoundError: no such invitation in this organization.
            Forbidden: it invites to a role above the actor's own.

        """
        actor.require("members:write")
        invitation_id = invitation_id[:64]
        found = [r for r in self.store.invitations(actor.owner) if r.id == invitation_id]
        if not found:
            raise NotFoundError(f"no invitation {invitation_id!r} in this organization")
        refused = may_grant(actor.role, Role(found[0].role))
        if refused is not None:
            raise Forbidden(f"{refused}; so only such a member may revoke this invitation")
        return InvitationInfo(self.store.revoke_invitation(actor.owner, invitation_id, actor.user))

    def redeem(self, who: Principal, token: str) -> tuple[str, Member]:
        """Join the inviting organization with the invitation's role, as ``who.user``.

        Returns:
            The organization's slug and the new membership.

        Raises:
            NotFoundError: no open invitation for this user with this token.
            Conflict: the invitation was redeemed, revoked or has expired.
            Forbidden: the inviter no longer may grant its role.

        """
        unknown = NotFoundError("no invitation for you with this token; ask for a new one")
        token = token.strip()
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise unknown
        found = self.store.find_invitation(_hash(token))
        if found is None or found.user != who.user:
            raise unknown
        status = InvitationInfo(found).status
        if status != "open":
            raise Conflict(f"this invitation was {status}; ask for a new one")
        role = Role(found.role)
        granter = self.directory.role_of(found.owner, found.created_by)
        if granter is None or may_grant(granter, role) is not None:
            raise Forbidden(
                f"{found.created_by!r} no longer may grant the {role.value} role; "
                "ask an administrator of the organization for a new invitation"
            )
        if not self.store.claim_invitation(found.id, utcnow()):
            raise Conflict("this invitation was used or revoked meanwhile; ask for a new one")
        try:
            member = self.directory.set_role(found.owner, who.user, role, found.created_by, granter)
        except Exception:
            self.store.release_invitation(found.id)
            raise
        self.store.invitation_redeemed(found)
        return found.owner, member
