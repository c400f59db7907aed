"""The workspace's organization: what it is, and its settings (the egress policy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.access.directory import Directory, Organization

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.workspace.services import Services

__all__ = ["OrganizationUseCases"]


class OrganizationUseCases:
    """The organization the workspace acts in."""

    services: Services
    principal: Principal

    def organization(self) -> Organization:
        """The workspace's organization, with its settings."""
        self.principal.require("organization:read")
        return Directory(self.services.store).organization(self.principal.owner)

    def set_egress(self, policy: str | None) -> Organization:
        """Set where the organization's network connectors may connect (Owner only).

        Args:
            policy: ``public`` (public addresses only, for every run), ``auto`` (public
                for runs not started locally), ``open`` (anywhere), or ``installation``
                / ``None`` to follow ``FLOWAT_EGRESS`` again. ``FLOWAT_EGRESS=public``
                on the installation is never loosened by an organization.

        Raises:
            Forbidden: the caller is not an Owner, or the key lacks ``organization:write``.
            FlowAtError: an unknown policy.

        """
        from flowat_kernel.sdk.egress import forget_organization

        who = self.principal
        who.require("organization:write")
        changed = Directory(self.services.store).set_egress(who.owner, policy, who.user)
        forget_organization(who.owner)  # this process's worker applies it at once
        return changed
