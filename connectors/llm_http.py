"""One ``llm.chat`` request over HTTP, and how its failures are reported.

:func:`_post` sends the chat completions request (a transport failure is retryable);
:func:`_status_error` turns an error status into an
:class:`~flowat_kernel.sdk.ActionError` (408, 409, 425, 429 and 5xx retryable, with the
wait the server asks for; the API key cut out of the server's message); :func:`_parse`
and :func:`_usage` read the answer. :func:`_host_of` is the host the circuit breaker is
keyed on; ``llm.agent`` and the embedding actions use it and :func:`_status_error` too.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.egress import httpx_options

from .llm_models import ChatInput, Usage

_RETRYABLE_STATUS = {408, 409, 425, 429}
_MAX_DETAIL = 300


def _host_of(base_url: str) -> str:
    """The host (and port, if given) of a base URL, for the circuit breaker."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms``, ``Retry-After`` seconds or date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max((when - _server_now(headers)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _server_now(headers: httpx.Headers) -> datetime:
    """The response's ``Date`` (the server's clock, as Retry-After dates are), or now."""
    try:
        return parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def _detail(response: httpx.Response, key: str | None) -> str:
    """The server's own error message, shortened, with the key cut out if it echoes it."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            error = error.get("message") or error
        text = str(error or body)
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    if key:
        text = text.replace(key, "***")
    return text[:_MAX_DETAIL] + ("..." if len(text) > _MAX_DETAIL else "")


def _status_error(response: httpx.Response, host: str, key: str | None) -> ActionError:
    status = response.status_code
    detail = _detail(response, key)
    what = f"llm.chat: {host} answered {status} {response.reason_phrase}: {detail or '-'}"
    if status in _RETRYABLE_STATUS or status >= 500:
        wait = _retry_after(response.headers)
        later = f"; the server asks to retry after {math.ceil(wait)} s" if wait is not None else ""
        return ActionError(f"{what}{later}; retrying later may succeed", retryable=True, host=host)
    hint = {
        401: "check the secret given as api_key (`flowat secrets` lists them)",
        403: "the key lacks access to this model or endpoint; check its permissions",
        404: "check base_url (usually ending in /v1) and the model name",
    }.get(status, "fix the input named in the server's message")
    return ActionError(f"{what}; {hint}", retryable=False, host=host)


def _payload(params: ChatInput) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": params.model,
        "messages": [m.model_dump(exclude_unset=True) for m in params.messages],
    }
    if params.temperature is not None:
        payload["temperature"] = params.temperature
    if params.max_tokens is not None:
        payload["max_tokens"] = params.max_tokens
    if params.response_format == "json":
        payload["response_format"] = {"type": "json_object"}
    if params.tools:
        payload["tools"] = params.tools
    if params.tool_choice is not None:
        payload["tool_choice"] = params.tool_choice
    return payload


def _post(params: ChatInput, key: str | None, host: str) -> httpx.Response:
    """Send the request; transport failures become retryable errors."""
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = params.base_url.rstrip("/") + "/chat/completions"
    try:
        with httpx.Client(timeout=params.timeout, **httpx_options("llm.chat")) as client:
            return client.post(url, json=_payload(params), headers=headers)
    except httpx.TimeoutException as exc:
        raise ActionError(
            f"llm.chat: {host} did not answer within {params.timeout:g} s "
            f"({type(exc).__name__}); retrying later may succeed, or raise timeout",
            retryable=True,
            host=host,
        ) from exc
    except httpx.TransportError as exc:
        raise ActionError(
            f"llm.chat: could not reach {host} ({type(exc).__name__}: {exc}); "
            "check base_url and that the server is up",
            retryable=True,
            host=host,
        ) from exc


def _parse(
    response: httpx.Response, host: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The body, its first choice and that choice's message.

    Raises:
        ActionError: the answer is not in the chat completions format (not retryable).

    """
    try:
        body = response.json()
        choice = body["choices"][0]
        message = choice["message"]
        if not isinstance(body, dict) or not isinstance(message, dict):
            raise TypeError("not a JSON object")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ActionError(
            f"llm.chat: {host} answered {response.status_code} but not in the chat "
            f"completions format ({type(exc).__name__}: {exc}); check that base_url points "
            "at an OpenAI-compatible API (usually ending in /v1)",
            retryable=False,
            host=host,
        ) from None
    return body, choice, message


def _usage(body: dict[str, Any]) -> Usage:
    """The token counts; missing or malformed ones count as 0."""
    raw = body.get("usage")
    raw = raw if isinstance(raw, dict) else {}
    counts = {k: v for k, v in raw.items() if k in Usage.model_fields and isinstance(v, int)}
    usage = Usage(**counts)
    if not usage.total_tokens:
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
    return usage
