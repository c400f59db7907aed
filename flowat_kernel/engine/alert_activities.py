"""Alerts: after a run's end is recorded, its alerts are delivered, each at most once.

The graph workflow (guarded by :data:`PATCH_ALERTS`) runs two activities once the run's
end is in the store:

- ``flowat.alerts_due`` (local, bookkeeping): finds the alerts the run's event sets off
  (the workflow's own, else the organization's defaults) and records one delivery row
  per (alert, run, event) — the row's id is unique, so a retried or replayed call
  records nothing new;
- ``flowat.send_alerts``: sends every delivery not yet delivered, through the
  connectors as a step calls them (the run's organization, egress policy and secret
  handles apply), with the delivery's id as idempotency key (``Idempotency-Key``
  header, a fixed email Message-ID), and records each attempt. Temporal retries it
  (:data:`ALERT_RETRY`) on any worker of the run's task queue, so a receiver that is
  down, or a worker killed mid-way, delays an alert but never doubles or loses it.

An alert of kind ``workflow`` starts the named error-handler workflow through the
:class:`~flowat_kernel.workspace.Workspace` of the run's organization; the composition
root provides that door with :func:`provide_handler_starter`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from flowat_kernel.errors import FlowAtError
from flowat_kernel.store import RunRecord, Store
from flowat_kernel.store.alert_records import AlertDelivery, AlertInfo
from flowat_kernel.vault.redaction import redact_data, redact_text

__all__ = [
    "ALERTS_DUE",
    "ALERT_RETRY",
    "ALERT_TIMEOUT",
    "EVENTS",
    "PATCH_ALERTS",
    "SEND_ALERTS",
    "AlertActivities",
    "AlertBatch",
    "AlertsDue",
    "HandlerStarter",
    "alert_values",
    "provide_handler_starter",
    "render_message",
]

log = logging.getLogger(__name__)

#: ``workflow.patched`` id: the graph workflow delivers alerts after recording its end.
PATCH_ALERTS = "flowat-graph-alerts"
ALERTS_DUE = "flowat.alerts_due"
SEND_ALERTS = "flowat.send_alerts"
#: A run's final status -> the alert event it sets off (a cancelled run sets off none).
EVENTS = {"failed": "failure", "succeeded": "success", "timed_out": "timeout"}
#: Each sending attempt's time limit (a worker killed mid-way: retried after this).
ALERT_TIMEOUT = timedelta(seconds=20)
#: Seconds each connector call of an alert may take (several fit in one attempt).
CALL_TIMEOUT = 8.0
#: Sending is retried for about ten minutes (1 s, 2 s, 4 s, ... at most a minute apart).
ALERT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=15,
)
#: The message of an alert that sets none (a FlowAt expression template).
DEFAULT_MESSAGE = (
    "FlowAt: run {run_id} of {workflow} v{version} {status}"
    "{(' at step ' + step) if step else ''}"
    "{(': ' + error_type + ': ' + error) if error else ''} - {link}"
)

#: ``(owner, handler workflow, input parameters, delivery id) -> run id`` of the handler.
HandlerStarter = Callable[[str, str, dict[str, Any], str], str]
_handler_starter: HandlerStarter | None = None


def provide_handler_starter(starter: HandlerStarter | None) -> None:
    """Set how ``workflow`` alerts start their handler (the runtime sets the Workspace's)."""
    global _handler_starter
    _handler_starter = starter


class AlertsDue(BaseModel):
    """Input of ``flowat.alerts_due``: the run and the event its end sets off."""

    run_id: str
    event: str


class AlertBatch(BaseModel):
    """Input of ``flowat.send_alerts``: the run, its event and its delivery ids."""

    run_id: str
    event: str
    deliveries: list[str]


def run_link(run_id: str) -> str:
    """Where a person sees the run: ``FLOWAT_PUBLIC_URL`` (the REST API's address)."""
    base = os.environ.get("FLOWAT_PUBLIC_URL", "http://127.0.0.1:8765").rstrip("/")
    return f"{base}/api/v1/runs/{run_id}"


def alert_values(record: RunRecord, event: str) -> dict[str, Any]:
    """What an alert's message template (and a handler's input) may use; errors masked."""
    error = redact_data(record.error or {})
    step = error.get("step") if isinstance(error, dict) else None
    detail = error.get("detail") or error.get("message") if isinstance(error, dict) else None
    return {
        "event": event,
        "run_id": record.run_id,
        "workflow": record.workflow,
        "version": record.version,
        "status": record.status,
        "trigger": record.trigger,
        "step": step or "",
        "error_type": str(error.get("type") or "") if isinstance(error, dict) else "",
        "error": redact_text(str(detail or "")),
        "parameters": redact_data(dict(record.parameters)),
        "link": run_link(record.run_id),
    }


def render_message(template: str, values: dict[str, Any] | None) -> str:
    """Fill ``{expression}`` fields of ``template`` with FlowAt's expression language.

    ``{{`` and ``}}`` are literal braces. Every field is evaluated in the expression
    sandbox against ``values`` (no attributes, imports or calls beyond its helpers);
    with ``values=None`` the fields are only parsed (a check when an alert is added).

    Raises:
        ExpressionError: a field does not parse or fails.
        FlowAtError: a brace is not closed.

    """
    from flowat_kernel.expressions import parse

    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i : i + 2] in ("{{", "}}"):
            out.append(char)
            i += 2
            continue
        if char == "}":
            raise FlowAtError(f"alert message: a lone '}}' at position {i}; write '}}}}'")
        if char != "{":
            out.append(char)
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(template) and depth:
            depth += {"{": 1, "}": -1}.get(template[j], 0)
            j += 1
        if depth:
            raise FlowAtError(f"alert message: the '{{' at position {i} is never closed")
        field = parse(template[i + 1 : j - 1], step="alert message")
        value = field.evaluate(values) if values is not None else ""
        out.append(value if isinstance(value, str) else str(value))
        i = j
    return redact_text("".join(out))


class AlertActivities:
    """The alert activities, over the worker's store (and its breakers and vault)."""

    def __init__(self, store: Store, services_for: Callable[[str | None], Any]) -> None:
        self.store = store
        self.services_for = services_for

    def all(self) -> list[Any]:
        """Both activities, for ``Worker(activities=...)``."""
        return [self.alerts_due, self.send_alerts]

    @activity.defn(name=ALERTS_DUE)
    def alerts_due(self, due: AlertsDue) -> list[str]:
        """Record one delivery per alert the run's event sets off; return their ids."""
        record = self.store.get_run(due.run_id)
        alerts = self.store.alerts_for(record.owner, record.workflow, due.event)
        return [self.store.open_delivery(a, due.run_id, due.event).id for a in alerts]

    @activity.defn(name=SEND_ALERTS)
    def send_alerts(self, batch: AlertBatch) -> None:
        """Send each delivery not yet delivered; record every attempt.

        Raises:
            ApplicationError: some delivery failed and attempts remain (Temporal retries;
                delivered ones are not sent again).

        """
        attempt = activity.info().attempt
        final = attempt >= (ALERT_RETRY.maximum_attempts or attempt)
        record = self.store.get_run(batch.run_id)
        values = alert_values(record, batch.event)
        alerts = {a.id: a for a in self.store.list_alerts(record.owner)}
        failed: list[str] = []
        for key in batch.deliveries:
            delivery = self.store.delivery(key)
            if delivery.status in ("delivered", "failed", "removed"):
                continue
            alert = alerts.get(delivery.alert_id)
            if alert is None:  # removed since the run ended
                self.store.delivery_attempted(key, "removed", "the alert was removed")
                continue
            self.store.delivery_attempted(key, "sending")
            try:
                handler_run = self._deliver(alert, delivery, record, values)
            except Exception as exc:
                message = redact_text(f"{type(exc).__name__}: {exc}")[:2000]
                retryable = getattr(exc, "retryable", True) is not False
                status = "retrying" if retryable and not final else "failed"
                self.store.delivery_attempted(key, status, message)
                log.warning("alert %s of run %s not sent: %s", alert.id, record.run_id, message)
                if status == "retrying":
                    failed.append(message)
                continue
            self.store.delivery_attempted(key, "delivered", handler_run_id=handler_run)
        if failed:
            raise ApplicationError(
                f"{len(failed)} alert(s) of run {batch.run_id} not delivered yet: {failed[0]}",
                type="AlertNotDelivered",
            )

    def _deliver(
        self, alert: AlertInfo, delivery: AlertDelivery, record: RunRecord, values: dict[str, Any]
    ) -> str | None:
        """Send one alert; returns the handler's run id for a ``workflow`` alert."""
        if alert.kind == "workflow":
            if _handler_starter is None:
                raise FlowAtError("this worker cannot start workflows (no handler starter)")
            payload = {k: values[k] for k in ("run_id", "workflow", "step", "parameters")}
            payload.update(
                version=values["version"],
                event=values["event"],
                error={"type": values["error_type"], "message": values["error"]},
            )
            return _handler_starter(record.owner, alert.target, payload, delivery.id)
        text = render_message(alert.message or DEFAULT_MESSAGE, values)
        _send(alert, delivery, record, text, values, self.services_for(record.owner), self.store)
        return None


def _send(
    alert: AlertInfo,
    delivery: AlertDelivery,
    record: RunRecord,
    text: str,
    values: dict[str, Any],
    services: Any,
    store: Store,
) -> None:
    """Call the alert's connector action as the run's step would (scope, egress, keys)."""
    from flowat_kernel.sdk.call import action
    from flowat_kernel.sdk.egress import organization_policy, run_trigger
    from flowat_kernel.step_context import StepScope, step_scope

    scope = StepScope(
        record.owner,
        record.workflow,
        record.run_id,
        f"alert-{delivery.id}",  # the idempotency key: the same on every attempt
        delivery.attempts,
        trigger=run_trigger(store, record.run_id),
        organization_egress=organization_policy(store, record.owner),
        services=services,
    )
    with step_scope(scope):
        if alert.kind == "email":
            settings = _smtp_settings(values)
            action("email.send", text=text, to=[alert.target], timeout=CALL_TIMEOUT, **settings)
            return
        body: dict[str, Any] = {"text": text}
        if alert.kind == "webhook":
            body.update(values)
            body["alert_id"] = alert.id
            body["delivery_id"] = delivery.id
        action(
            "http.request",
            url=alert.target,
            method="POST",
            json_body=body,
            idempotency_header="Idempotency-Key",
            timeout=CALL_TIMEOUT,
            headers={"X-FlowAt-Alert": delivery.id},
        )


def _smtp_settings(values: dict[str, Any]) -> dict[str, Any]:
    """``email.send`` inputs from ``FLOWAT_ALERT_SMTP_*`` (host[:port], from, login, TLS)."""
    from flowat_kernel.vault.handles import secret

    server = os.environ.get("FLOWAT_ALERT_SMTP_HOST", "")
    if not server:
        raise FlowAtError(
            "email alerts need FLOWAT_ALERT_SMTP_HOST (host or host:port) on the worker"
        )
    host, _, port = server.rpartition(":") if ":" in server else (server, "", "")
    settings: dict[str, Any] = {
        "host": host,
        "port": int(port) if port else None,
        "from_addr": os.environ.get("FLOWAT_ALERT_SMTP_FROM", "flowat@localhost"),
        "subject": f"FlowAt: {values['workflow']} run {values['run_id']} {values['status']}",
        "starttls": os.environ.get("FLOWAT_ALERT_SMTP_TLS", "starttls") == "starttls",
        "ssl": os.environ.get("FLOWAT_ALERT_SMTP_TLS") == "ssl",
    }
    if user := os.environ.get("FLOWAT_ALERT_SMTP_USER"):
        settings["username"] = user
        name = os.environ.get("FLOWAT_ALERT_SMTP_PASSWORD_SECRET")
        if name:
            settings["password"] = secret(name)
    return settings
