"""Deliveries to a batching webhook: each request's event joins its webhook's open batch.

The request is answered once the batch's run has started (202 with the run id and the
event's index), or, with ``?wait=``, with the event's own result when it ends within
the wait (200). See :mod:`flowat_kernel.triggers.batching` for what is durable when.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from concurrent.futures import Executor
from typing import Any

from flowat_kernel.access.principal import Principal
from flowat_kernel.access.roles import Role
from flowat_kernel.errors import ParameterError
from flowat_kernel.runtime import Runtime, get_runtime
from flowat_kernel.server import runs
from flowat_kernel.server.call import Call, Later, Reply
from flowat_kernel.server.state import webhooks, workspace
from flowat_kernel.store import RunRecord
from flowat_kernel.store.trigger_records import WebhookRecord
from flowat_kernel.triggers.batching import EVENTS, Batcher, Outcome, Placement, Ticket
from flowat_kernel.triggers.payload import PAYLOAD, parameters_from_body

__all__ = ["batcher", "deliver_batched", "event_from_body"]

#: How long a batch's supervisor waits for its run (it then records it as it stands).
RUN_WAIT_SECONDS = 24 * 3600.0

_made: weakref.WeakKeyDictionary[Runtime, Batcher] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def acting(hook: WebhookRecord) -> Principal:
    """Who a webhook's runs act as: an Editor of its organization."""
    return Principal(user=f"webhook:{hook.id}", owner=hook.owner, role=Role.EDITOR)


def _start(hook: WebhookRecord, events: list[Any]) -> str:
    return runs.start(
        acting(hook),
        hook.workflow,
        version=hook.version,
        parameters={EVENTS: events},
        trigger="webhook",
    ).run_id


#: How often a supervisor re-reads its batch run's record while the run is open. It
#: wakes as soon as the run's workflow closes anyway; a batch run's record carries a
#: step record per event, so frequent reads would only cost the store.
POLL_SECONDS = 2.0


def _wait(hook: WebhookRecord, run_id: str) -> RunRecord:
    place = workspace(acting(hook))
    place.record(run_id)  # the webhook's principal may see it (as wait_record checks)
    return place.launcher.wait(run_id, timeout=RUN_WAIT_SECONDS, poll_interval=POLL_SECONDS)


def _releaser(registry: Any) -> Any:
    def release(webhook_id: str, message_ids: list[str]) -> None:
        for message_id in message_ids:
            registry.release_delivery(webhook_id, message_id)

    return release


def batcher() -> Batcher:
    """The process's batcher (one per runtime)."""
    current = get_runtime()
    with _lock:
        found = _made.get(current)
        if found is None:
            registry = webhooks()
            store = registry.store
            found = _made[current] = Batcher(
                claim=registry.claim_batch,
                placed=store.webhook_batch_placed,
                outcomes=store.webhook_delivery_outcomes,
                release=_releaser(registry),
                start=_start,
                wait=_wait,
            )
        return found


def event_from_body(content_type: str, body: bytes, fields: dict[str, bytes]) -> Any:
    """One event as plain data: JSON as sent, form fields as an object, else the text.

    Raises:
        ParameterError: the body cannot be read as its content type says.

    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"the body is not valid JSON ({exc})") from None
    found = parameters_from_body(content_type, body, {PAYLOAD}, fields)
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return found
    return found.get(PAYLOAD, "")


def _placed_reply(ticket: Ticket, placement: Placement) -> tuple[int, Any]:
    return 202, {
        "run_id": placement.run_id,
        "event": placement.index,
        "message_id": ticket.message_id,
        "status": "queued",
        "batched": True,
    }


def _outcome_reply(ticket: Ticket, outcome: Outcome) -> tuple[int, Any]:
    return 200, {
        "run_id": outcome.run_id,
        "event": outcome.index,
        "message_id": ticket.message_id,
        "status": outcome.status,
        "outputs": outcome.outputs,
        "error": outcome.error,
        "batched": True,
    }


def deliver_batched(
    call: Call, hook: WebhookRecord, message_id: str | None, seconds: float
) -> Reply:
    """Add the request's event to the webhook's batch; answer once its run started."""
    event = event_from_body(call.headers.get("content-type", ""), call.body, call.fields)
    ticket = batcher().submit(hook, message_id, event)
    seconds = min(max(seconds, 0.0), runs.MAX_WAIT_SECONDS)

    async def wait(_: Executor) -> Any:
        placement = await asyncio.wrap_future(ticket.placed)
        if seconds <= 0:
            return placement
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(ticket.done)), seconds)
        except TimeoutError:
            return placement

    def finish(value: Any) -> tuple[int, Any]:
        if isinstance(value, Outcome):
            return _outcome_reply(ticket, value)
        return _placed_reply(ticket, value)

    def now() -> tuple[int, Any]:  # no wait slot free: block this thread until it started
        return _placed_reply(ticket, ticket.placed.result())

    return Later(wait=wait, finish=finish, now=now)
