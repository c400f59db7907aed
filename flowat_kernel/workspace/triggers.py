"""The workspace's triggers: schedules and webhooks of its organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.triggers.schedules import ScheduleInfo, Schedules
    from flowat_kernel.triggers.webhooks import CreatedWebhook, WebhookInfo, Webhooks
    from flowat_kernel.workspace.services import Services

__all__ = ["TriggerUseCases"]


class TriggerUseCases:
    """Schedules and webhooks; the registries check the principal's permissions."""

    services: Services
    principal: Principal

    @property
    def schedules(self) -> Schedules:
        """The schedule registry over this workspace's services."""
        from flowat_kernel.triggers.schedules import Schedules

        return Schedules(self.services)

    @property
    def webhooks(self) -> Webhooks:
        """The webhook registry over this workspace's vault."""
        from flowat_kernel.triggers.webhooks import Webhooks

        return Webhooks(self.services.vault)

    def add_schedule(self, workflow: str, **options: Any) -> ScheduleInfo:
        """Schedule ``workflow`` (see :func:`flowat_kernel.api.triggers.add_schedule`)."""
        return self.schedules.add(self.principal, workflow, **options)

    def list_schedules(self) -> list[ScheduleInfo]:
        """The organization's schedules with their state."""
        self.principal.require("schedules:read")
        return self.schedules.list(self.principal.owner)

    def schedule_action(self, schedule_id: str, action: str) -> ScheduleInfo:
        """``pause``, ``resume``, ``trigger`` or ``delete`` a schedule."""
        registry = self.schedules
        act = {
            "pause": registry.pause,
            "resume": registry.resume,
            "trigger": registry.trigger,
            "delete": registry.delete,
        }[action]
        return act(self.principal, schedule_id)

    def add_webhook(
        self,
        workflow: str,
        *,
        version: int | None = None,
        signed: bool = True,
        batch: int | None = None,
        batch_window: str | int | None = None,
    ) -> CreatedWebhook:
        """A webhook for ``workflow``; its token and secret are in the result only.

        ``batch``: group events arriving within ``batch_window`` into one run.
        """
        from flowat_kernel.triggers.webhooks import parse_window, require_events_input

        who = self.principal
        who.require("webhooks:write", workflow)
        found = self.services.store.get_version(who.owner, workflow, version)
        window = None
        if batch is not None:
            require_events_input(found)
            window = parse_window(batch_window)
        return self.webhooks.create(who, workflow, version, signed, batch, window)

    def list_webhooks(self) -> list[WebhookInfo]:
        """The organization's webhooks (no tokens)."""
        self.principal.require("webhooks:read")
        return self.webhooks.list(self.principal.owner)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook."""
        self.principal.require("webhooks:write")
        self.webhooks.delete(self.principal, webhook_id)
