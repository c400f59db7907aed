"""The workspace's alerts: what happens when a run fails, succeeds or times out.

An alert belongs to one workflow, or (``workflow=None``) is the organization's default
for workflows without an alert of their own for that event. Its action posts to a chat
or HTTP webhook, sends an email, or starts an error-handler workflow; delivery is the
worker's (:mod:`flowat_kernel.engine.alert_activities`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.store.alert_records import AlertDelivery, AlertInfo
    from flowat_kernel.workspace.services import Services

__all__ = ["ALERT_EVENTS", "ALERT_KINDS", "AlertUseCases"]

ALERT_EVENTS = ("failure", "success", "timeout", "approval")
ALERT_KINDS = ("webhook", "chat", "email", "workflow")


def _check_target(kind: str, target: str) -> str:
    from urllib.parse import urlsplit

    from flowat_kernel.ids import valid_name

    target = target.strip()
    if kind in ("webhook", "chat"):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FlowAtError(f"--{kind} needs an http:// or https:// URL, not {target!r}")
    elif kind == "email":
        local, _, domain = target.partition("@")
        if not local or "." not in domain.strip(".") or any(c in target for c in " ,;<>"):
            raise FlowAtError(f"--email needs one address such as ops@example.com, not {target!r}")
    elif not valid_name(target):
        raise FlowAtError(f"--workflow needs a workflow name, not {target!r}")
    return target


def _check_message(message: str) -> None:
    """Parse the template's fields now, so a bad one fails when the alert is added."""
    from flowat_kernel.engine.alert_activities import render_message

    try:
        render_message(message, None)
    except FlowAtError as exc:
        raise FlowAtError(f"the alert message does not render: {exc}") from None


class AlertUseCases:
    """Alerts of the workspace's organization (checked like workflows: read and write)."""

    services: Services
    principal: Principal

    def add_alert(
        self,
        workflow: str | None,
        *,
        on: str,
        kind: str,
        target: str,
        message: str | None = None,
    ) -> AlertInfo:
        """Add an alert to ``workflow`` (``None``: the organization's default).

        Args:
            workflow: a published workflow, or ``None`` for every workflow without an
                alert of its own for ``on``.
            on: ``failure``, ``success`` or ``timeout``.
            kind: ``webhook`` (JSON POST with the run's details), ``chat`` (a
                Slack-style ``{"text": ...}`` POST), ``email`` or ``workflow``.
            target: the URL, the address, or the handler workflow's name.
            message: a template whose ``{...}`` fields are FlowAt expressions over
                ``run_id``, ``workflow``, ``version``, ``status``, ``step``,
                ``error_type``, ``error``, ``parameters``, ``link``, ``event``.

        Raises:
            Forbidden: the principal may not write workflows.
            NotFoundError: ``workflow`` or the handler workflow is not published.
            FlowAtError: a bad event, kind, target or message.

        """
        who = self.principal
        who.require("workflows:write", workflow)
        if on not in ALERT_EVENTS:
            raise FlowAtError(f"--on must be one of {', '.join(ALERT_EVENTS)}, not {on!r}")
        if kind not in ALERT_KINDS:
            raise FlowAtError(f"an alert is one of {', '.join(ALERT_KINDS)}, not {kind!r}")
        target = _check_target(kind, target)
        store = self.services.store
        if workflow is not None:
            store.get_version(who.owner, workflow)  # NotFoundError names it
        if on == "approval" and kind == "workflow":
            raise FlowAtError(
                "an --on approval alert sends the step's approval link: use --chat, "
                "--webhook or --email"
            )
        if kind == "workflow":
            if target == workflow and on == "failure":
                raise FlowAtError("a workflow cannot be its own failure handler (it would loop)")
            store.get_version(who.owner, target)
        elif message is not None:
            _check_message(message)
        return store.add_alert(who.owner, workflow, on, kind, target, message, who.user)

    def alerts(self, workflow: str | None = None) -> list[AlertInfo]:
        """The organization's alerts (with ``workflow``: its own and the defaults)."""
        self.principal.require("workflows:read")
        return self.services.store.list_alerts(self.principal.owner, workflow)

    def remove_alert(self, alert_id: str) -> AlertInfo:
        """Remove an alert; deliveries already recorded stay as history.

        Raises:
            Forbidden: the principal may not write workflows.
            NotFoundError: no such alert in the organization.

        """
        self.principal.require("workflows:write")
        return self.services.store.remove_alert(self.principal.owner, alert_id)

    def alert_deliveries(
        self, run_id: str | None = None, alert_id: str | None = None
    ) -> list[AlertDelivery]:
        """Deliveries of the organization's alerts: status, attempts, last error."""
        self.principal.require("runs:read")
        return self.services.store.alert_deliveries(self.principal.owner, run_id, alert_id)
