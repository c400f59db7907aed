"""The workspace's members: invitations to the organization, and redeeming one."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowat_kernel.access.directory import Member
    from flowat_kernel.access.invitations import CreatedInvitation, InvitationInfo, Invitations
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.workspace.services import Services

__all__ = ["MemberUseCases"]


class MemberUseCases:
    """Invite users, list and revoke invitations, redeem one (see ``access.invitations``)."""

    services: Services
    principal: Principal

    @property
    def _invitations(self) -> Invitations:
        from flowat_kernel.access.invitations import Invitations

        return Invitations(self.services.store)

    def invite(
        self, user: str, role: str, expires_in_seconds: int | None = None
    ) -> CreatedInvitation:
        """Invite ``user`` with ``role``; the token is in the result only.

        Raises:
            Forbidden: the principal may not write members or grant ``role``.
            Conflict: ``user`` is a member already.
            FlowAtError: an unknown role, a bad user name or lifetime.

        """
        from flowat_kernel.access.invitations import DEFAULT_LIFETIME
        from flowat_kernel.access.roles import Role

        lifetime = DEFAULT_LIFETIME
        if expires_in_seconds is not None:
            lifetime = timedelta(seconds=expires_in_seconds)
        return self._invitations.invite(self.principal, user, Role.parse(role), lifetime)

    def invitations(self) -> list[InvitationInfo]:
        """The organization's invitations, newest first (never their tokens)."""
        return self._invitations.list(self.principal)

    def revoke_invitation(self, invitation_id: str) -> InvitationInfo:
        """Revoke an open invitation."""
        return self._invitations.revoke(self.principal, invitation_id)

    def redeem_invitation(self, token: str) -> tuple[str, Member]:
        """Join the organization that invited this principal's user; its slug and membership."""
        return self._invitations.redeem(self.principal, token)
