"""Approval links as the engine makes and sends them (the use cases check who asks).

:func:`make_link` records and signs a link for one waiting step of one run;
:func:`send_link` sends it through the actions alerts use (a chat or HTTP webhook,
email), as a call of the run's organization. The workspace
(:mod:`flowat_kernel.workspace.approvals`) and the worker's publisher
(:mod:`flowat_kernel.engine.approval_publisher`) both use them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.store import RunRecord

__all__ = [
    "CALL_TIMEOUT",
    "MAX_EXPIRY_SECONDS",
    "ApprovalLink",
    "make_link",
    "message",
    "send_link",
]

#: How long a link may work at most.
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
CALL_TIMEOUT = 20.0


@dataclass(frozen=True)
class ApprovalLink:
    """A new link: its ``url`` (the credential: hand it only to the reviewer)."""

    id: str
    url: str
    run_id: str
    step: str
    signal: str
    reviewer: str | None
    expires_at: datetime
    #: ``(kind, target)`` it was sent to; its ``url`` is then not handed back (``""``).
    sent_to: tuple[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``url`` only when the link was not sent on)."""
        return {
            "id": self.id,
            **({"url": self.url} if self.url else {}),
            **(
                {"sent_to": {"kind": self.sent_to[0], "target": self.sent_to[1]}}
                if self.sent_to
                else {}
            ),
            "run_id": self.run_id,
            "step": self.step,
            "signal": self.signal,
            "reviewer": self.reviewer,
            "expires_at": self.expires_at.isoformat(),
        }


def make_link(
    services: Any,
    record: RunRecord,
    step: str,
    signal: str,
    *,
    reviewer: str | None,
    expires_seconds: float,
    base_url: str | None,
    created_by: str,
    link_id: str | None = None,
) -> ApprovalLink:
    """Record and sign a link (the caller checked who asks, the run and the step).

    ``link_id`` (32 hex characters) makes automatic links idempotent: a second call
    with the same id fails in the store (``IntegrityError``) and records nothing.
    """
    import os

    from flowat_kernel.access.approval_tokens import ApprovalKeys
    from flowat_kernel.store.approval_records import ApprovalLinkRecord
    from flowat_kernel.store.clock import utcnow

    now = utcnow().replace(microsecond=0)
    keys = ApprovalKeys(services.vault)
    link = ApprovalLinkRecord(
        id=link_id or uuid.uuid4().hex,
        owner=record.owner,
        run_id=record.run_id,
        step=step,
        signal=signal,
        key_id=keys.current(),
        reviewer=reviewer,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(seconds=int(expires_seconds)),
        consumed_at=None,
        decision=None,
        decided_by=None,
    )
    store = services.store
    store.add_approval_link(link)
    store.add_audit(
        record.owner,
        created_by,
        "approval.link_created",
        record.run_id,
        {"step": step, "signal": signal, "link": link.id, "reviewer": reviewer or ""},
    )
    base = base_url or os.environ.get("FLOWAT_PUBLIC_URL") or "http://127.0.0.1:8765"
    url = f"{base.rstrip('/')}/flowat/approvals/{record.run_id}/{keys.sign(link)}"
    return ApprovalLink(link.id, url, record.run_id, step, signal, reviewer, link.expires_at)


def message(link: ApprovalLink, record: RunRecord) -> str:
    """The text the reviewer receives."""
    who = f" ({link.reviewer})" if link.reviewer else ""
    return (
        f"Approval needed{who}: workflow {record.workflow} (version {record.version}), "
        f"run {record.run_id}, step {link.step}. Open to approve or reject "
        f"(single use, until {link.expires_at:%Y-%m-%d %H:%M} UTC): {link.url}"
    )


def send_link(services: Any, link: ApprovalLink, record: RunRecord, kind: str, target: str) -> None:
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
