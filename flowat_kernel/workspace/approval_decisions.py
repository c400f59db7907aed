"""Using an approval link: the page (GET, never acts) and the decision (POST, once).

The link's token is the credential, as a webhook's is: these functions take the
process's services, check the token, and act through the one door as the link
(``Workspace`` with an Editor of the run's organization named ``approval:<who>``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.errors import FlowAtError
from flowat_kernel.workspace.approvals import ApprovalView, LinkRefused, masked_parameters

if TYPE_CHECKING:
    from flowat_kernel.store.approval_records import ApprovalLinkRecord
    from flowat_kernel.workspace.services import Services

__all__ = ["approval_page", "decide_approval"]


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
