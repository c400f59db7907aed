"""Endpoints: schedules, webhooks, and the webhook trigger URL itself."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from flowat_kernel.errors import NotFoundError
from flowat_kernel.params import coerce_parameters
from flowat_kernel.server import runs
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import PREFIX, Endpoint, Query, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import runtime, schedules, webhooks, workspace
from flowat_kernel.server.webhook_batches import deliver_batched
from flowat_kernel.triggers.payload import parameters_from_body
from flowat_kernel.triggers.schedules import parse_duration
from flowat_kernel.triggers.signatures import verify
from flowat_kernel.triggers.webhooks import MAX_BATCH, parse_window, require_events_input

__all__ = ["ENDPOINTS"]


class ScheduleBody(BaseModel):
    """A new schedule: cron (or every), time zone, overlap, catch-up, version, parameters."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=128)
    cron: str | None = Field(default=None, max_length=200)
    every: str | None = Field(default=None, max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    version: int | None = Field(default=None, ge=1, le=10**9)
    parameters: dict[str, Any] = {}
    overlap: str = "skip"
    catchup: str = Field(default="1m", max_length=20)
    paused: bool = False


class WebhookBody(BaseModel):
    """A new webhook for a workflow (pinned version or the latest), signed or not."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=128)
    version: int | None = Field(default=None, ge=1, le=10**9)
    signed: bool = True
    batch: int | None = Field(default=None, ge=1, le=MAX_BATCH)
    #: ``20ms``, ``0.5s`` or a number of milliseconds.
    batch_window: (
        Annotated[str, StringConstraints(max_length=20)]
        | Annotated[int, Field(ge=0, le=60_000)]
        | None
    ) = None


class ScheduleChange(BaseModel):
    """What to change in a schedule; what is not given stays."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, max_length=200)
    every: str | None = Field(default=None, max_length=20)
    timezone: str | None = Field(default=None, max_length=64)
    #: A version number, or ``"latest"`` to follow the latest version.
    version: Annotated[int, Field(ge=1, le=10**9)] | Literal["latest"] | None = None
    parameters: dict[str, Any] | None = None
    overlap: str | None = Field(default=None, max_length=32)
    catchup: str | None = Field(default=None, max_length=20)


class WebhookChange(BaseModel):
    """A webhook's batching: ``batch`` events per run within ``batch_window``, or null."""

    model_config = ConfigDict(extra="forbid")

    batch: int | None = Field(default=None, ge=1, le=MAX_BATCH)
    batch_window: (
        Annotated[str, StringConstraints(max_length=20)]
        | Annotated[int, Field(ge=0, le=60_000)]
        | None
    ) = None


def _schedule(call: Call) -> Any:
    info = schedules().get(call.who.owner, call.path["schedule_id"][:64])
    if not call.who.sees(info.workflow):
        raise NotFoundError("no such schedule in this organization")
    return info


@endpoint("GET", "/schedules", "schedules:read", "List schedules with their next firings")
def list_schedules(call: Call) -> Reply:
    items = [s.as_dict() for s in schedules().list(call.who.owner) if call.who.sees(s.workflow)]
    return 200, {"items": items}


@endpoint(
    "POST", "/schedules", "schedules:write", "Create a schedule", body=ScheduleBody, status=201
)
def add_schedule(call: Call) -> Reply:
    body = call.model(ScheduleBody)
    runtime().store.get_version(call.who.owner, body.workflow, body.version)
    info = schedules().add(
        call.who,
        body.workflow,
        cron=body.cron,
        every=body.every,
        timezone=body.timezone,
        version=body.version,
        parameters=body.parameters,
        overlap=body.overlap,
        catchup=body.catchup,
        paused=body.paused,
    )
    return 201, info.as_dict()


@endpoint("GET", "/schedules/{schedule_id}", "schedules:read", "One schedule")
def get_schedule(call: Call) -> Reply:
    return 200, _schedule(call).as_dict()


@endpoint(
    "PATCH",
    "/schedules/{schedule_id}",
    "schedules:write",
    "Change a schedule's cron or interval, time zone, version, parameters or policies",
    body=ScheduleChange,
)
def update_schedule(call: Call) -> Reply:
    body = call.model(ScheduleChange)
    info = _schedule(call)
    options: dict[str, Any] = {
        key: value
        for key, value in body.model_dump(exclude={"version"}).items()
        if value is not None
    }
    if body.version is not None:
        options["version"] = None if body.version == "latest" else body.version
    return 200, workspace(call.who).update_schedule(info.id, **options).as_dict()


@endpoint("DELETE", "/schedules/{schedule_id}", "schedules:write", "Delete a schedule")
def delete_schedule(call: Call) -> Reply:
    info = _schedule(call)
    schedules().delete(call.who, info.id)
    return 200, {"deleted": info.id}


@endpoint("POST", "/schedules/{schedule_id}/pause", "schedules:write", "Pause a schedule")
def pause_schedule(call: Call) -> Reply:
    return 200, schedules().pause(call.who, _schedule(call).id).as_dict()


@endpoint("POST", "/schedules/{schedule_id}/resume", "schedules:write", "Resume a schedule")
def resume_schedule(call: Call) -> Reply:
    return 200, schedules().resume(call.who, _schedule(call).id).as_dict()


@endpoint("POST", "/schedules/{schedule_id}/trigger", "schedules:write", "Fire a schedule now")
def trigger_schedule(call: Call) -> Reply:
    return 202, schedules().trigger(call.who, _schedule(call).id).as_dict()


def _webhook(call: Call) -> Any:
    info = webhooks().get(call.who.owner, call.path["webhook_id"][:64])
    if not call.who.sees(info.workflow):
        raise NotFoundError("no such webhook in this organization")
    return info


@endpoint("GET", "/webhooks", "webhooks:read", "List webhooks (never their tokens)")
def list_webhooks(call: Call) -> Reply:
    items = [w.as_dict() for w in webhooks().list(call.who.owner) if call.who.sees(w.workflow)]
    return 200, {"items": items}


@endpoint(
    "POST",
    "/webhooks",
    "webhooks:write",
    "Create a webhook; the URL and signing secret are shown once",
    body=WebhookBody,
    status=201,
)
def add_webhook(call: Call) -> Reply:
    body = call.model(WebhookBody)
    call.who.require("webhooks:write", body.workflow)
    version = runtime().store.get_version(call.who.owner, body.workflow, body.version)
    window = None
    if body.batch is not None:
        require_events_input(version)
        window = parse_window(body.batch_window)
    created = webhooks().create(
        call.who, body.workflow, body.version, body.signed, body.batch, window
    )
    document = created.info.as_dict()
    document["url"] = f"{call.base_url}{PREFIX}/hooks/{created.token}"
    document["path"] = f"{PREFIX}/hooks/{created.token}"
    document["secret"] = created.secret
    return 201, document


@endpoint("GET", "/webhooks/{webhook_id}", "webhooks:read", "One webhook")
def get_webhook(call: Call) -> Reply:
    return 200, _webhook(call).as_dict()


@endpoint(
    "PATCH",
    "/webhooks/{webhook_id}",
    "webhooks:write",
    "Change a webhook's batching (batch null: one run per delivery)",
    body=WebhookChange,
)
def update_webhook(call: Call) -> Reply:
    body = call.model(WebhookChange)
    info = _webhook(call)
    changed = workspace(call.who).set_webhook_batching(info.id, body.batch, body.batch_window)
    return 200, changed.as_dict()


@endpoint(
    "POST",
    "/webhooks/{webhook_id}/rotate-secret",
    "webhooks:write",
    "A new signing secret for a signed webhook, shown once; the old one stops at once",
    status=201,
)
def rotate_webhook_secret(call: Call) -> Reply:
    info = _webhook(call)
    rotated = workspace(call.who).rotate_webhook_secret(info.id)
    return 201, {**rotated.info.as_dict(), "secret": rotated.secret}


@endpoint("DELETE", "/webhooks/{webhook_id}", "webhooks:write", "Delete a webhook")
def delete_webhook(call: Call) -> Reply:
    info = _webhook(call)
    call.who.require("webhooks:write", info.workflow)
    webhooks().delete(call.who, info.id)
    return 200, {"deleted": info.id}


@endpoint(
    "POST",
    "/hooks/{token}",
    "public",
    "Trigger a workflow: the body (JSON, form, multipart or text) becomes its parameters",
    query=(Query("wait", description="wait up to this long for the result, e.g. 30s"),),
    status=202,
    raw_body=True,
    limit_by="token",
)
def deliver(call: Call) -> Reply:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.access.roles import Role

    hook, key = webhooks().resolve(call.path["token"])
    message_id = call.headers.get("webhook-id", "").strip() or None
    if key is not None:
        message_id, _ = verify(key, call.headers, call.body)
    wait = call.text("wait")
    seconds = parse_duration(wait).total_seconds() if wait else 0.0
    if hook.batch_size is not None:
        if message_id is not None and len(message_id) > 255:
            raise ApiError(400, "bad_request", "webhook-id is longer than 255 characters")
        return deliver_batched(call, hook, message_id, seconds)
    version = runtime().store.get_version(hook.owner, hook.workflow, hook.version)
    inputs = {i.name: i for i in version.spec.inputs}
    parameters = parameters_from_body(
        call.headers.get("content-type", ""), call.body, set(inputs), call.fields
    )
    coerce_parameters(inputs.values(), parameters)  # refuse bad input before claiming the id
    if message_id is not None:
        if len(message_id) > 255:
            raise ApiError(400, "bad_request", "webhook-id is longer than 255 characters")
        webhooks().claim_delivery(hook.id, message_id)
    acting = Principal(user=f"webhook:{hook.id}", owner=hook.owner, role=Role.EDITOR)
    try:
        started = runs.start(
            acting,
            hook.workflow,
            version=version.number,
            parameters=parameters,
            trigger="webhook",
            resolved=version,  # read above to parse the body: not read again
        )
    except Exception:
        if message_id is not None:
            webhooks().release_delivery(hook.id, message_id)
        raise
    webhooks().delivered(hook.id, message_id, started.run_id)
    return runs.waited_reply(acting, started.run_id, seconds, started)


@endpoint(
    "GET",
    "/webhooks/{webhook_id}/deliveries",
    "webhooks:read",
    "A webhook's recent deliveries: id, run, event index and outcome",
    query=(Query("limit", description="at most this many, newest first (100)"),),
)
def list_deliveries(call: Call) -> Reply:
    info = _webhook(call)
    limit = call.integer("limit", 100, 1, 1000)
    items = [
        {
            "message_id": d.message_id,
            "received_at": d.received_at.isoformat(),
            "run_id": d.run_id,
            "event": d.batch_index,
            "status": d.status,
        }
        for d in webhooks().deliveries(info.id, limit)
    ]
    return 200, {"items": items}


ENDPOINTS: list[Endpoint] = [
    list_schedules,
    add_schedule,
    get_schedule,
    update_schedule,
    delete_schedule,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
    list_webhooks,
    add_webhook,
    get_webhook,
    update_webhook,
    rotate_webhook_secret,
    delete_webhook,
    list_deliveries,
    deliver,
]
