"""Sending an approval link to its reviewer through an alert action (chat, webhook, email).

The link goes out through the same connector actions alerts use (``http.request`` for a
chat or HTTP webhook, ``email.send`` with ``FLOWAT_ALERT_SMTP_*``), as a call of the
run's organization: its egress policy, its circuit breakers and rate limits. The link
(the credential) then reaches only the reviewer's channel, not the screen of whoever
asked for it.
"""

from __future__ import annotations

from flowat_kernel.engine.approval_links import message, send_link
from flowat_kernel.errors import FlowAtError

__all__ = ["DELIVERY_KINDS", "check_target", "message", "send_link"]

DELIVERY_KINDS = ("chat", "webhook", "email")


def check_target(kind: str, target: str) -> str:
    """The delivery target, checked like an alert's.

    Raises:
        FlowAtError: an unknown kind, or a target that is not a URL or an address.

    """
    from flowat_kernel.workspace.alerts import _check_target

    if kind not in DELIVERY_KINDS:
        raise FlowAtError(f"send a link by {', '.join(DELIVERY_KINDS)}, not {kind!r}")
    return _check_target(kind, target)
