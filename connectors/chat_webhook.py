"""The ``chat-webhook`` connector: post a message to a Slack-style incoming webhook.

Works with Slack incoming webhooks and the chat tools that copied their format
(Mattermost, Rocket.Chat, ...): a JSON POST of ``text`` with optional ``blocks``,
``attachments``, ``username`` and ``icon_emoji``; any 2xx answer means posted.

A webhook URL is a credential (whoever has it can post), so pass it as
``flowat.secret("NAME")``; a plain string works too. Error messages name only the
webhook's host, never its path.

Retries: a webhook cannot deduplicate, so the action is not ``retry_safe``; yet errors
after which the message may have been posted (a 5xx, a timeout) are retryable, like
those that prove it was not (a refused connection, 429): for a notification, a rare
duplicate is better than a lost message. 4xx answers (Slack's ``invalid_payload``,
``no_service``, ``channel_is_archived``...) are not retryable.

Egress: the webhook's host passes FlowAt's egress policy (:mod:`flowat_kernel.sdk.egress`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.sdk.egress import httpx_options
from flowat_kernel.vault.handles import SecretHandle

from .http import Secret, status_error, transport_error

__all__ = ["ChatPost", "ChatPosted", "connector"]

connector = Connector(
    id="chat-webhook",
    name="Chat webhook",
    description="Post a message to a Slack-style incoming webhook (Slack, Mattermost, ...).",
    auth=(AuthField("url", "the incoming webhook's URL: flowat.secret(...)"),),
)


class ChatPost(BaseModel):
    """The input of ``chat-webhook.post``."""

    model_config = ConfigDict(extra="forbid")

    url: Secret | str = Field(
        description='the webhook URL; best kept as a secret: flowat.secret("NAME")'
    )
    text: str = Field(min_length=1, description="the message (the fallback when blocks are set)")
    blocks: list[dict[str, JsonValue]] | None = Field(default=None, description="Block Kit blocks")
    attachments: list[dict[str, JsonValue]] | None = Field(
        default=None, description="legacy message attachments"
    )
    username: str | None = Field(default=None, description="display name, if the webhook allows it")
    icon_emoji: str | None = Field(default=None, description="icon such as :robot_face:")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds to connect, send, read")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretHandle | str) -> SecretHandle | str:
        if isinstance(value, str):
            _check_url(value)
        return value


class ChatPosted(BaseModel):
    """The output of ``chat-webhook.post``."""

    ok: bool = Field(description="the webhook accepted the message (a 2xx answer)")
    status: int = Field(description="HTTP status code")


def _check_url(url: str) -> str:
    """The URL's host; raises ``ValueError`` (which never repeats the URL) if unusable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL must be an http:// or https:// URL with a host")
    return parts.hostname


def _target(params: ChatPost) -> str | None:
    """The webhook's host (the circuit breaker's key)."""
    try:
        url = params.url.reveal() if isinstance(params.url, SecretHandle) else params.url
        return _check_url(url)
    except (FlowAtError, ValueError):
        return None  # the action itself reports the problem


@connector.action(
    "post",
    input=ChatPost,
    output=ChatPosted,
    retry_safe=False,
    target=_target,
    description="Post a message to a Slack-style incoming webhook.",
)
def post(ctx: ActionContext, params: ChatPost) -> ChatPosted:
    """Post ``text`` (and blocks, attachments) to the webhook.

    Raises:
        ActionError: the webhook answered 4xx (not retryable) or 5xx, timed out or could
            not be reached (retryable); or the URL secret is missing or not a URL.

    """
    try:
        url = ctx.reveal(params.url)
    except FlowAtError as exc:
        raise ActionError(f"chat-webhook.post: {exc}", retryable=False) from exc
    try:
        host = _check_url(url)
    except ValueError as exc:
        name = params.url.name if isinstance(params.url, SecretHandle) else None
        whose = f"the secret {name!r}: " if name else ""
        raise ActionError(f"chat-webhook.post: {whose}{exc}", retryable=False) from None
    label = f"chat-webhook.post to {host}"
    payload: dict[str, JsonValue] = {"text": params.text}
    for field in ("blocks", "attachments", "username", "icon_emoji"):
        value = getattr(params, field)
        if value is not None:
            payload[field] = value
    try:
        with httpx.Client(
            timeout=params.timeout, follow_redirects=False, **httpx_options(label)
        ) as client:
            response = client.post(url, json=payload)
    except httpx.InvalidURL:
        raise ActionError(f"{label}: the webhook URL is not valid", retryable=False) from None
    except httpx.HTTPError as exc:
        raise transport_error(exc, label, "POST", True, params.timeout, host) from exc
    if response.status_code >= 300:
        raise status_error(label, response, response.content, True, host)
    return ChatPosted(ok=True, status=response.status_code)
