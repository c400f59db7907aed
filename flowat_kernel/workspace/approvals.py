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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.engine.approval_links import ApprovalLink
    from flowat_kernel.store import RunRecord
    from flowat_kernel.store.approval_records import ApprovalLinkRecord
    from flowat_kernel.workspace.services import Services

__all__ = [
    "ApprovalUseCases",
    "ApprovalView",
    "LinkRefused",
    "link_rows",
    "masked_parameters",
]

#: How long a link works unless told otherwise, and at most.
DEFAULT_EXPIRY_SECONDS = 24 * 3600
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
        # Making links needs the engine: loaded here, so that listing runs never does.
        from flowat_kernel.engine.approval_links import MAX_EXPIRY_SECONDS, ApprovalLink, make_link

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
