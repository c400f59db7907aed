"""Approval links: a reviewer approves or rejects a ``--wait-for`` step from a web page.

``approval_link`` (``runs:write``) makes a signed, expiring, single-use link bound to one
run, one waiting step and its signal. Whoever holds the link needs no FlowAt account:
the link is the credential, like a webhook's token. Opening it (GET) only shows what is
being approved; the page's form (POST, with its own form token) acts once: the run
receives the step's signal with ``{"approved": true|false, "decision", "by", "link",
"at"}`` as the payload (the step's export, so the run records who decided), and the
audit log records the decision under the reviewer's name.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.store import RunRecord
    from flowat_kernel.store.approval_records import ApprovalLinkRecord
    from flowat_kernel.workspace.services import Services

__all__ = [
    "ApprovalLink",
    "ApprovalUseCases",
    "ApprovalView",
    "LinkRefused",
    "approval_page",
    "decide_approval",
]

#: How long a link works unless told otherwise, and at most.
DEFAULT_EXPIRY_SECONDS = 24 * 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
_SENSITIVE = re.compile(r"pass|secret|token|key|auth|cred|private", re.IGNORECASE)
_REVIEWER = re.compile(r"^[\w .@+-]{1,64}$")


class LinkRefused(FlowAtError):
    """The link cannot be used: invalid, expired, used already, or its run has moved on.

    The message never says which of invalid and unknown it was.
    """

    usage = True

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


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


@dataclass(frozen=True)
class ApprovalView:
    """What the link's page shows."""

    workflow: str
    version: int
    run_id: str
    step: str
    signal: str
    reviewer: str | None
    expires_at: datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    form_token: str = ""
    decision: str | None = None
    decided_by: str | None = None


def masked_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters fit for a reviewer's page: secrets and sensitive-looking names masked."""
    from flowat_kernel.vault.redaction import redact_data

    shown: dict[str, Any] = {}
    for name, value in sorted(redact_data(parameters).items()):
        if _SENSITIVE.search(name):
            shown[name] = "***"
        else:
            text = value if isinstance(value, str) else repr(value)
            shown[name] = text if len(text) <= 200 else text[:200] + "…"
    return shown


def _waiting_step(services: Services, record: RunRecord, step: str) -> str:
    """The signal ``step`` of the run's version waits for.

    Raises:
        FlowAtError: no such step, or not a ``--wait-for`` step.

    """
    version = services.store.get_version(record.owner, record.workflow, record.version)
    spec_step = next((s for s in version.spec.steps if s.name == step), None)
    if spec_step is None:
        names = ", ".join(s.name for s in version.spec.steps)
        raise FlowAtError(f"run {record.run_id} has no step {step!r} (its steps: {names})")
    if spec_step.kind != "wait" or not spec_step.signal:
        raise FlowAtError(
            f"step {step!r} does not wait for a signal: an approval link needs a "
            "`--wait-for SIGNAL` step"
        )
    return spec_step.signal


class ApprovalUseCases:
    """Making approval links for runs the principal may change."""

    services: Services
    principal: Principal

    if TYPE_CHECKING:  # provided by the Workspace

        def record(self, run_id: str) -> RunRecord:
            """A visible run's record."""
            ...

    def approval_link(
        self,
        run_id: str,
        step: str,
        *,
        reviewer: str | None = None,
        expires_seconds: float = DEFAULT_EXPIRY_SECONDS,
        base_url: str | None = None,
        send: tuple[str, str] | None = None,
    ) -> ApprovalLink:
        """A signed, single-use approve/reject link for ``step`` of run ``run_id``.

        Args:
            run_id: a queued or running run (full id or a unique prefix).
            step: a ``--wait-for SIGNAL`` step of its version.
            reviewer: the name the decision is recorded under (default: "reviewer").
            expires_seconds: how long the link works (at most 30 days).
            base_url: where ``flowat serve`` or Jupyter answers (default:
                ``FLOWAT_PUBLIC_URL``, else ``http://127.0.0.1:8765``); under Jupyter,
                its base URL (e.g. ``http://host:8888/``).
            send: ``(kind, target)``: send the link to the reviewer through an alert
                action, ``chat`` or ``webhook`` (a URL) or ``email`` (an address),
                instead of only returning it.

        Raises:
            NotFoundError: no such run here.
            Forbidden: the principal may not change runs of its workflow.
            FlowAtError: the run has finished, the step does not wait for a signal, or a
                bad reviewer name, expiry or delivery target.
            ActionError: the link could not be sent (it stays valid until it expires).

        """
        record = self.record(run_id)
        self.principal.require("runs:write", record.workflow)
        if record.finished:
            raise FlowAtError(f"run {record.run_id} has finished ({record.status}): nothing waits")
        signal = _waiting_step(self.services, record, step)
        if reviewer is not None and not _REVIEWER.match(reviewer):
            raise FlowAtError("--reviewer: a name of 1 to 64 letters, digits, spaces and . @ + - _")
        if not 60 <= expires_seconds <= MAX_EXPIRY_SECONDS:
            raise FlowAtError("--expires must be between 1 minute and 30 days")
        if send is not None:
            from flowat_kernel.workspace.approval_delivery import check_target

            send = (send[0], check_target(*send))
        made = make_link(
            self.services,
            record,
            step,
            signal,
            reviewer=reviewer,
            expires_seconds=expires_seconds,
            base_url=base_url,
            created_by=self.principal.user,
        )
        store = self.services.store
        if send is not None:
            from flowat_kernel.workspace.approval_delivery import send_link

            send_link(self.services, made, record, *send)
            store.add_audit(
                record.owner,
                self.principal.user,
                "approval.link_sent",
                record.run_id,
                {"link": made.id, "kind": send[0], "target": send[1]},
            )
            return ApprovalLink(
                made.id, "", made.run_id, step, signal, reviewer, made.expires_at, sent_to=send
            )
        return made

    def approval_links(self, run_id: str) -> list[dict[str, Any]]:
        """The approval links made for a run: who made them, and how each was used."""
        record = self.record(run_id)
        return link_rows(self.services.store.approval_links(record.owner, record.run_id))


def make_link(
    services: Services,
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


def link_rows(links: list[ApprovalLinkRecord]) -> list[dict[str, Any]]:
    """Links as JSON-ready rows (never their tokens)."""
    return [
        {
            "id": link.id,
            "step": link.step,
            "signal": link.signal,
            "reviewer": link.reviewer,
            "created_by": link.created_by,
            "created_at": link.created_at.isoformat(),
            "expires_at": link.expires_at.isoformat(),
            "used_at": link.consumed_at.isoformat() if link.consumed_at else None,
            "decision": link.decision,
            "decided_by": link.decided_by,
        }
        for link in links
    ]


def _usable(services: Services, run_id: str, token: str) -> ApprovalLinkRecord:
    """The link ``token`` names, checked: signature (under ``run_id``), expiry, unused.

    Raises:
        LinkRefused: invalid (one message for malformed, unknown, tampered, another
            run's), expired, or used.

    """
    from flowat_kernel.access.approval_tokens import ApprovalKeys, BadToken, split_token
    from flowat_kernel.store.clock import utcnow

    invalid = LinkRefused("this approval link is not valid", 404)
    try:
        link_id, signature = split_token(token)
        link = services.store.approval_link(link_id)
        if link is None:
            raise invalid
        ApprovalKeys(services.vault).check(link, signature, run_id)
    except BadToken:
        raise invalid from None
    if link.consumed_at is not None:
        raise LinkRefused(
            f"this approval link was used already ({link.decision} by {link.decided_by})", 410
        )
    if utcnow() >= link.expires_at:
        raise LinkRefused("this approval link has expired", 410)
    return link


def _view(services: Services, link: ApprovalLinkRecord) -> ApprovalView:
    from flowat_kernel.access.approval_tokens import ApprovalKeys

    record = services.store.get_run(link.run_id)
    return ApprovalView(
        workflow=record.workflow,
        version=record.version,
        run_id=record.run_id,
        step=link.step,
        signal=link.signal,
        reviewer=link.reviewer,
        expires_at=link.expires_at,
        parameters=masked_parameters(record.parameters),
        form_token=ApprovalKeys(services.vault).form_token(link),
        decision=link.decision,
        decided_by=link.decided_by,
    )


def approval_page(services: Services, run_id: str, token: str) -> ApprovalView:
    """What the link shows (GET): never acts.

    Raises:
        LinkRefused: the link cannot be used.

    """
    return _view(services, _usable(services, run_id, token))


def decide_approval(
    services: Services,
    run_id: str,
    token: str,
    form_token: str,
    decision: str,
    signed_in: str | None = None,
) -> ApprovalView:
    """Approve or reject (POST): uses the link once, signals the run, audits who decided.

    Args:
        services: the process's services.
        run_id: the run in the link's URL.
        token: the token in the link's URL.
        form_token: the token of the link's page form.
        decision: ``approve`` or ``reject``.
        signed_in: the user the page's server authenticated (a Jupyter user), recorded
            instead of the link's reviewer name.

    Raises:
        LinkRefused: the link cannot be used, the form token is wrong (403), or the
            run no longer waits (409).
        FlowAtError: ``decision`` is neither ``approve`` nor ``reject``.

    """
    from flowat_kernel.access.approval_tokens import ApprovalKeys
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.access.roles import Role
    from flowat_kernel.store.clock import utcnow
    from flowat_kernel.workspace.workspace import Workspace

    if decision not in ("approve", "reject"):
        raise FlowAtError("the decision is approve or reject")
    link = _usable(services, run_id, token)
    if not ApprovalKeys(services.vault).check_form(link, form_token):
        raise LinkRefused("the form is not this link's: open the link again and decide there", 403)
    who = signed_in or link.reviewer or "reviewer"
    now = utcnow()
    if not services.store.consume_approval_link(link.id, decision, who, now):
        raise LinkRefused("this approval link was used already", 410)
    approved = decision == "approve"
    payload = {
        "approved": approved,
        "decision": decision,
        "by": who,
        "link": link.id,
        "at": now.isoformat(),
    }
    acting = Principal(
        user=f"approval:{who}", owner=link.owner, role=Role.EDITOR, via=f"approval:{link.id}"
    )
    try:
        Workspace(services, acting).signal(link.run_id, link.signal, payload)
    except FlowAtError as exc:
        services.store.note_approval_outcome(link.id, f"{decision}-failed")
        raise LinkRefused(f"the run did not take the decision: {exc}", 409) from None
    services.store.add_audit(
        link.owner,
        who,
        "approval.approved" if approved else "approval.rejected",
        link.run_id,
        {"step": link.step, "signal": link.signal, "link": link.id, "via": "approval-link"},
    )
    return _view(services, services.store.approval_link(link.id) or link)
