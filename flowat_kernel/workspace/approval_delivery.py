"""Sending an approval link to its reviewer through an alert action (chat, webhook, email).

The link goes out through the same connector actions alerts use (``http.request`` for a
chat or HTTP webhook, ``email.send`` with ``FLOWAT_ALERT_SMTP_*``), as a call of the
run's organization: its egress policy, its circuit breakers and rate limits. The link
(the credential) then reaches only the reviewer's channel, not the screen of whoever
asked for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.store import RunRecord
    from flowat_kernel.workspace.approvals import ApprovalLink
    from flowat_kernel.workspace.services import Services

__all__ = ["DELIVERY_KINDS", "check_target", "message", "send_link"]

DELIVERY_KINDS = ("chat", "webhook", "email")
CALL_TIMEOUT = 20.0


def check_target(kind: str, target: str) -> str:
    """The delivery target, checked like an alert's.

    Raises:
        FlowAtError: an unknown kind, or a target that is not a URL or an address.

    """
    from flowat_kernel.workspace.alerts import _check_target

    if kind not in DELIVERY_KINDS:
        raise FlowAtError(f"send a link by {', '.join(DELIVERY_KINDS)}, not {kind!r}")
    return _check_target(kind, target)


def message(link: ApprovalLink, record: RunRecord) -> str:
    """The text the reviewer receives."""
    who = f" ({link.reviewer})" if link.reviewer else ""
    return (
        f"Approval needed{who}: workflow {record.workflow} (version {record.version}), "
        f"run {record.run_id}, step {link.step}. Open to approve or reject "
        f"(single use, until {link.expires_at:%Y-%m-%d %H:%M} UTC): {link.url}"
    )


def send_link(
    services: Services, link: ApprovalLink, record: RunRecord, kind: str, target: str
) -> None:
    """Send ``link`` to ``target`` by ``kind`` as a call of the run's organization.

    Raises:
        ActionError: the connector could not deliver it (the link stays valid).
        FlowAtError: email without ``FLOWAT_ALERT_SMTP_HOST`` on this process.

    """
    from flowat_kernel.engine.alert_activities import _smtp_settings
    from flowat_kernel.sdk.call import action
    from flowat_kernel.sdk.egress import organization_policy, run_trigger
    from flowat_kernel.sdk.rate_limits import HostRateLimits
    from flowat_kernel.step_context import StepScope, StepServices, step_scope
    from flowat_kernel.vault.scoped import OrganizationSecrets

    store = services.store
    owner = record.owner
    step_services = StepServices(
        owner=owner,
        secrets=OrganizationSecrets(services.vault, owner),
        breakers=getattr(services, "breakers"),  # noqa: B009 - the runtime's, not in the protocol
        files_dir=services.artifacts.root / "files",
        rate_limits=HostRateLimits(store, owner),
    )
    scope = StepScope(
        owner,
        record.workflow,
        record.run_id,
        f"approval-{link.id}",
        1,
        trigger=run_trigger(store, record.run_id),
        organization_egress=organization_policy(store, owner),
        services=step_services,
    )
    text = message(link, record)
    with step_scope(scope):
        if kind == "email":
            values: dict[str, Any] = {
                "workflow": record.workflow,
                "run_id": record.run_id,
                "status": "waiting for approval",
            }
            settings = _smtp_settings(values)
            action("email.send", text=text, to=[target], timeout=CALL_TIMEOUT, **settings)
            return
        body: dict[str, Any] = {"text": text}
        if kind == "webhook":
            body.update(
                kind="approval",
                url=link.url,
                run_id=record.run_id,
                workflow=record.workflow,
                step=link.step,
                reviewer=link.reviewer,
                expires_at=link.expires_at.isoformat(),
            )
        action(
            "http.request",
            url=target,
            method="POST",
            json_body=body,
            idempotency_header="Idempotency-Key",
            timeout=CALL_TIMEOUT,
        )
