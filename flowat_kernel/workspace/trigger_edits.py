"""The workspace's edits of existing triggers: schedules' timing, webhooks' secrets.

A schedule keeps its id: its Temporal Schedule is updated in place (its timing, policy
and the launch request carrying the parameters), then its row. A webhook keeps its URL;
rotating its signing secret replaces the vault key, so the old secret stops verifying at
once, and the new one is in the result only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowat_kernel.access.errors import Conflict
from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.triggers.schedules import ScheduleInfo
    from flowat_kernel.triggers.webhooks import WebhookInfo
    from flowat_kernel.workspace.services import Services

__all__ = ["RotatedWebhookSecret", "TriggerEditUseCases"]

_UNSET: Any = object()


@dataclass(frozen=True)
class RotatedWebhookSecret:
    """A webhook's new signing secret, shown this once."""

    info: WebhookInfo
    secret: str

    def __repr__(self) -> str:
        return f"RotatedWebhookSecret(info={self.info!r}, secret=<hidden>)"


class TriggerEditUseCases:
    """Change schedules and webhooks that exist (create and delete: ``TriggerUseCases``)."""

    services: Services
    principal: Principal

    def update_schedule(
        self,
        schedule_id: str,
        *,
        cron: str | None = None,
        every: str | None = None,
        timezone: str | None = None,
        parameters: dict[str, Any] | None = None,
        version: int | None = _UNSET,
        overlap: str | None = None,
        catchup: str | None = None,
    ) -> ScheduleInfo:
        """Change a schedule's timing (cron or every), time zone, parameters or version.

        What is not given stays. Giving ``cron`` replaces an interval and ``every`` a cron
        expression; ``version=None`` follows the latest version.

        Raises:
            Forbidden: the principal may not write this workflow's schedules.
            NotFoundError: no such schedule, workflow or version.
            FlowAtError: both cron and every, an unknown time zone or overlap policy,
                parameters the workflow does not take, or timing Temporal refuses.

        """
        from temporalio.client import (
            ScheduleActionStartWorkflow,
            ScheduleIntervalSpec,
            ScheduleOverlapPolicy,
            ScheduleSpec,
            ScheduleUpdate,
            ScheduleUpdateInput,
        )
        from temporalio.service import RPCError

        from flowat_kernel.params import coerce_parameters
        from flowat_kernel.triggers.launcher import LAUNCHER_NAME, LaunchRequest
        from flowat_kernel.triggers.schedules import OVERLAP_POLICIES, Schedules, parse_duration
        from flowat_kernel.triggers.worker import trigger_queue

        who = self.principal
        registry = Schedules(self.services)
        current = registry.get(who.owner, schedule_id[:64])
        who.require("schedules:write", current.workflow)
        if cron is not None and every is not None:
            raise FlowAtError('give at most one of a cron expression ("0 * * * *") or every=')
        spec = dict(current.spec)
        if cron is not None:
            if not cron.strip():
                raise FlowAtError('the cron expression is empty; write for example "0 * * * *"')
            spec.pop("every", None)
            spec["cron"] = cron.strip()
        if every is not None:
            parse_duration(every)
            spec.pop("cron", None)
            spec["every"] = every
        if timezone is not None:
            _check_zone(timezone)
            spec["timezone"] = timezone
        if overlap is not None:
            if overlap not in OVERLAP_POLICIES:
                raise FlowAtError(f"overlap must be one of {', '.join(OVERLAP_POLICIES)}")
            spec["overlap"] = overlap
        if catchup is not None:
            parse_duration(catchup)
            spec["catchup"] = catchup
        pinned = current.version if version is _UNSET else version
        target = self.services.store.get_version(who.owner, current.workflow, pinned)
        given = dict(current.parameters if parameters is None else parameters)
        coerce_parameters(target.spec.inputs, given)  # refuse bad parameters now
        zone = str(spec.get("timezone", "UTC"))
        if "cron" in spec:
            timing = ScheduleSpec(cron_expressions=[str(spec["cron"])], time_zone_name=zone)
        else:
            interval = ScheduleIntervalSpec(every=parse_duration(str(spec["every"])))
            timing = ScheduleSpec(intervals=[interval], time_zone_name=zone)
        request = LaunchRequest(
            schedule_id=current.id,
            owner=who.owner,
            workflow=current.workflow,
            version=pinned,
            parameters=given,
        )
        action = ScheduleActionStartWorkflow(
            LAUNCHER_NAME,
            request,
            id=f"{current.id}-run",
            task_queue=trigger_queue(self.services.settings.task_queue),
        )

        def change(previous: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = previous.description.schedule
            schedule.spec = timing
            schedule.action = action
            schedule.policy.overlap = ScheduleOverlapPolicy[str(spec["overlap"]).upper()]
            schedule.policy.catchup_window = parse_duration(str(spec["catchup"]))
            return ScheduleUpdate(schedule=schedule)

        async def update() -> None:
            client = await self.services.client()
            await client.get_schedule_handle(current.id).update(change)

        try:
            self.services.call(update())
        except RPCError as exc:
            raise FlowAtError(f"Temporal refused the schedule: {exc.message}") from exc
        self.services.store.update_schedule_row(
            who.owner, current.id, version=pinned, spec=spec, parameters=given, actor=who.user
        )
        return registry.get(who.owner, current.id)

    def rotate_webhook_secret(self, webhook_id: str) -> RotatedWebhookSecret:
        """A new signing secret for a signed webhook; the old one stops verifying at once.

        Raises:
            Forbidden: the principal may not write this workflow's webhooks.
            NotFoundError: no such webhook.
            Conflict: the webhook is not signed.

        """
        from flowat_kernel.access.sealed_keys import add_key, drop_key
        from flowat_kernel.triggers import webhook_cache
        from flowat_kernel.triggers.signatures import encode_secret
        from flowat_kernel.triggers.webhooks import PURPOSE, Webhooks

        who = self.principal
        registry = Webhooks(self.services.vault)
        info = registry.get(who.owner, webhook_id[:64])
        who.require("webhooks:write", info.workflow)
        if not info.signed:
            raise Conflict("this webhook is not signed, so it has no secret to rotate")
        kid = f"wh-{info.id}"
        drop_key(self.services.vault, PURPOSE, kid)
        webhook_cache.forget(info.id)  # this process's resolved copy holds the old key
        _, key = add_key(self.services.vault, PURPOSE, kid=kid)
        webhook_cache.forget(info.id)  # a delivery resolved between the two: not kept
        self.services.store.webhook_secret_rotated(who.owner, info.id, who.user)
        return RotatedWebhookSecret(info, encode_secret(key))

    def set_webhook_batching(
        self, webhook_id: str, batch: int | None, batch_window: str | int | None = None
    ) -> WebhookInfo:
        """Batch a webhook's events (up to ``batch`` per run within ``batch_window``), or not.

        Raises:
            Forbidden: the principal may not write this workflow's webhooks.
            NotFoundError: no such webhook.
            FlowAtError: the workflow has no ``events`` input, or a bad size or window.

        """
        from flowat_kernel.triggers import webhook_cache
        from flowat_kernel.triggers.webhooks import (
            Webhooks,
            check_batch,
            parse_window,
            require_events_input,
        )

        who = self.principal
        registry = Webhooks(self.services.vault)
        info = registry.get(who.owner, webhook_id[:64])
        who.require("webhooks:write", info.workflow)
        window = None
        if batch is not None:
            version = self.services.store.get_version(who.owner, info.workflow, info.version)
            require_events_input(version)
            window = check_batch(batch, parse_window(batch_window))
        self.services.store.update_webhook_batching(
            who.owner, info.id, batch_size=batch, batch_window_ms=window, actor=who.user
        )
        webhook_cache.forget(info.id)  # deliveries here see the new batching at once
        return registry.get(who.owner, info.id)


def _check_zone(timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FlowAtError(f"unknown time zone {timezone!r}; use e.g. UTC or Europe/Paris") from None
