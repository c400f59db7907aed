"""Publishing approval links when a ``--wait-for`` step starts waiting.

An alert ``--on approval`` of the workflow (or the organization's default) sends a
fresh approval link for each ``--wait-for`` step of each run, as soon as the step
waits: to a chat or HTTP webhook, or by email (the same actions as other alerts). The
worker does it when the workflow records the step as running. The link's id derives
from (alert, run, step), so a retried record never makes or sends a second link: at
most one message per alert, run and step. The link works until the step's
``--timeout`` (at most 30 days) and is made under ``FLOWAT_PUBLIC_URL``. Sending
happens in the background; whether it went out is in the audit log
(``approval.link_sent`` or ``approval.link_not_sent``, with the masked error).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from sqlalchemy.exc import IntegrityError

from flowat_kernel.store import Store

__all__ = ["APPROVAL_EVENT", "publish_links"]

APPROVAL_EVENT = "approval"
log = logging.getLogger(__name__)


def _link_id(alert_id: str, run_id: str, step: str) -> str:
    return hashlib.sha256(f"{alert_id}\n{run_id}\n{step}".encode()).hexdigest()[:32]


def publish_links(services: Any, owner: str | None, run_id: str, workflow: str, step: str) -> None:
    """Make and send the links the workflow's ``approval`` alerts ask for ``step``.

    ``services`` has the worker's ``store``, ``vault``, ``artifacts`` and ``breakers``.
    Nothing happens for a step that does not wait for a signal, or without such alerts.
    """
    from flowat_kernel.engine.approval_links import MAX_EXPIRY_SECONDS, make_link, send_link

    store: Store = services.store
    if owner is None:
        return
    alerts = [a for a in store.alerts_for(owner, workflow, APPROVAL_EVENT) if a.kind != "workflow"]
    if not alerts:
        return
    record = store.get_run(run_id)
    spec = store.get_version(owner, workflow, record.version).spec
    spec_step = next((s for s in spec.steps if s.name == step), None)
    if spec_step is None or spec_step.kind != "wait" or not spec_step.signal:
        return
    expires = min(max(spec_step.timeout_seconds, 60.0), float(MAX_EXPIRY_SECONDS))
    for alert in alerts:
        try:
            link = make_link(
                services,
                record,
                step,
                spec_step.signal,
                reviewer=alert.target if alert.kind == "email" else None,
                expires_seconds=expires,
                base_url=None,
                created_by=f"alert:{alert.id}",
                link_id=_link_id(alert.id, run_id, step),
            )
        except IntegrityError:  # made (and sent) by an earlier try of this record
            continue

        def send(alert: Any = alert, link: Any = link) -> None:
            from flowat_kernel.vault.redaction import redact_text

            detail = {"link": link.id, "kind": alert.kind, "target": alert.target}
            try:
                send_link(services, link, record, alert.kind, alert.target)
            except Exception as exc:
                error = redact_text(f"{type(exc).__name__}: {exc}")[:500]
                log.warning("approval link of run %s not sent: %s", run_id, error)
                store.add_audit(
                    owner, f"alert:{alert.id}", "approval.link_not_sent", run_id,
                    {**detail, "error": error},
                )  # fmt: skip
                return
            store.add_audit(owner, f"alert:{alert.id}", "approval.link_sent", run_id, detail)

        threading.Thread(target=send, name=f"flowat-approval-{link.id[:8]}", daemon=True).start()
