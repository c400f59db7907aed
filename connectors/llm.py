"""The ``llm`` connector: chat completions from any OpenAI-compatible API.

``llm.chat`` posts to ``{base_url}/chat/completions`` (OpenAI, Azure-style gateways,
vLLM, Ollama, LiteLLM, ...) and returns the answer, any tool calls, the token usage and
what the call cost. Token counts, model and cost also go into the call's ``usage``
for analytics.

Errors are classified for the retry policy and the circuit breaker: 408, 409, 425, 429,
5xx, timeouts and lost connections may pass (retryable); any other 4xx, an answer
that is not the API's format, or ``response_format="json"`` content that is not JSON
will not (not retryable). The API key is never part of an error message.

Egress: the base URL's host passes FlowAt's egress policy
(:mod:`flowat_kernel.sdk.egress`); under ``public`` a model server on a private address
is refused unless an Administrator allows it (``FLOWAT_EGRESS_ALLOW``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from flowat_kernel.ai.prompt_library import resolve_prompt
from flowat_kernel.ai.prompts import render
from flowat_kernel.ai.structured import check, schema_of
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.sdk.egress import httpx_options
from flowat_kernel.vault.handles import SecretHandle

__all__ = [
    "PRICES",
    "ChatInput",
    "ChatOutput",
    "Message",
    "Usage",
    "chat",
    "connector",
    "price",
]

# USD per million (input, output) tokens, from the providers' public price lists in
# 2025. A model is priced by its longest matching prefix, so dated snapshots such as
# ``gpt-4o-2024-08-06`` find their family; pass ``price_in_per_million`` and
# ``price_out_per_million`` for other models or negotiated prices.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4": (30.00, 60.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

_RETRYABLE_STATUS = {408, 409, 425, 429}
_MAX_DETAIL = 300

connector = Connector(
    id="llm",
    name="LLM",
    description="Chat completions from OpenAI or any OpenAI-compatible API",
    icon="sparkles",
    auth=(
        AuthField(
            "api_key",
            "API key sent as a bearer token (optional for local servers that need none)",
            required=False,
        ),
    ),
)


class Message(BaseModel):
    """One chat message; extra fields (``name``, ``tool_calls``, ...) are passed on."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(
        description="who speaks: system/developer instructions, the user, the model, a tool"
    )
    content: str | list[dict[str, Any]] | None = Field(
        default=None,
        description="the text, or content parts (text, image_url) for multimodal models",
    )
    tool_call_id: str | None = Field(
        default=None, description="for role 'tool': the id of the tool call answered"
    )


class ChatInput(BaseModel):
    """Input of ``llm.chat``."""

    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="the API's base URL; /chat/completions is appended",
        pattern=r"^https?://",
    )
    api_key: SecretHandle | None = Field(
        default=None,
        description='flowat.secret("NAME") holding the API key; omit for servers without auth',
    )
    model: str = Field(min_length=1, description="model name, e.g. gpt-4o-mini")
    prompt: str | None = Field(
        default=None,
        description="a prompt template ({{ expression }} placeholders, FlowAt's expression "
        "language) rendered with `variables` and sent as the last user message",
    )
    prompt_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the name of a prompt template of the workflow (a `%%flowat prompt "
        "NAME` cell or prompts/NAME.md), captured into the version at publish; instead "
        "of `prompt`",
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="values for `prompt`")
    messages: list[Message] = Field(
        default_factory=list,
        validate_default=True,
        description="the conversation so far, oldest first: {role, content} (or give prompt)",
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="sampling temperature; the server's default if unset"
    )
    max_tokens: int | None = Field(
        default=None, gt=0, description="most tokens to generate; the server's default if unset"
    )
    response_format: Literal["text", "json"] = Field(
        default="text",
        description="'json' asks for a JSON object (JSON mode) and parses it into `json`; "
        "the messages must mention JSON, as the OpenAI API requires",
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None,
        description="tool definitions passed as they are ({type: function, function: {...}})",
    )
    tool_choice: str | dict[str, Any] | None = Field(
        default=None, description="'auto', 'none', 'required' or a specific tool; passed on"
    )
    timeout: float = Field(default=60.0, gt=0, description="seconds to wait for the answer")
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description="a pydantic model class or JSON schema the answer must match; the "
        "parsed answer is `json`, and an invalid answer is sent back to be corrected",
    )
    output_retries: int = Field(
        default=2, ge=0, le=10, description="re-asks when the answer does not match output_schema"
    )
    price_in_per_million: float | None = Field(
        default=None, ge=0, description="USD per million prompt tokens, overriding the table"
    )
    price_out_per_million: float | None = Field(
        default=None, ge=0, description="USD per million completion tokens, overriding the table"
    )

    @field_validator("output_schema", mode="before")
    @classmethod
    def _schema(cls, value: Any) -> Any:
        return None if value is None else schema_of(value)

    @field_validator("messages")
    @classmethod
    def _something_to_say(cls, messages: list[Message], info: ValidationInfo) -> list[Message]:
        prompt, named = info.data.get("prompt"), info.data.get("prompt_name")
        if prompt is not None and named is not None:
            raise ValueError("give prompt (a template) or prompt_name (a named one), not both")
        if not messages and prompt is None and named is None:
            raise ValueError("give messages, a prompt or a prompt_name")
        return messages


class Usage(BaseModel):
    """Token counts as the server reports them."""

    prompt_tokens: int = Field(default=0, description="tokens in the request")
    completion_tokens: int = Field(default=0, description="tokens generated")
    total_tokens: int = Field(default=0, description="both together")


class ChatOutput(BaseModel):
    """Output of ``llm.chat``; serialised with the key ``json`` (attribute ``json_``)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    content: str = Field(description="the answer's text ('' when the model only calls tools)")
    json_: Any = Field(
        default=None,
        alias="json",
        description="the content parsed as JSON when response_format is 'json', else null",
    )
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="tool calls the model asks for: {id, type, function: {name, arguments}}",
    )
    model: str = Field(description="the model that answered, as the server names it")
    finish_reason: str | None = Field(
        default=None, description="stop, length, tool_calls, content_filter, ..."
    )
    usage: Usage = Field(default_factory=Usage, description="token counts")
    cost_usd: float = Field(
        default=0.0, description="what the call cost from the price table; 0 when unknown"
    )


def _host_of(base_url: str) -> str:
    """The host (and port, if given) of a base URL, for the circuit breaker."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    return f"{host}:{parts.port}" if parts.port else host


def _host(params: ChatInput) -> str:
    """The host (and port, if given) of the base URL, for the circuit breaker."""
    return _host_of(params.base_url)


def price(model: str) -> tuple[float, float] | None:
    """USD per million (input, output) tokens of ``model``, by longest prefix; or ``None``."""
    name = model.lower().rpartition("/")[2]  # "openai/gpt-4o" as gateways name it
    matches = [p for p in PRICES if name == p or name.startswith(p + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def _cost(params: ChatInput, models: tuple[str, ...], usage: Usage) -> float:
    table = next((p for p in map(price, models) if p is not None), (0.0, 0.0))
    rate_in = params.price_in_per_million
    rate_out = params.price_out_per_million
    rate_in = table[0] if rate_in is None else rate_in
    rate_out = table[1] if rate_out is None else rate_out
    cost = (usage.prompt_tokens * rate_in + usage.completion_tokens * rate_out) / 1_000_000
    return round(cost, 8)


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


@connector.action(
    "chat",
    input=ChatInput,
    output=ChatOutput,
    # A completion changes nothing outside: repeating one costs tokens, not correctness.
    retry_safe=True,
    target=_host,
)
def chat(ctx: ActionContext, params: ChatInput) -> ChatOutput:
    """Ask a chat model: messages in, the answer, tool calls, token usage and cost out.

    With ``prompt``, the template is rendered with ``variables`` and sent as the last user
    message. With ``output_schema``, an answer that is not JSON matching it is sent back
    with what is wrong, up to ``output_retries`` times; the usage and cost of every call
    are added up.
    """
    host = _host(params)
    try:
        key = ctx.reveal(params.api_key) if params.api_key is not None else None
    except FlowAtError as exc:  # a missing secret: retrying will not create it
        raise ActionError(f"llm.chat: {exc}", retryable=False, host=host) from None
    if params.prompt is not None or params.prompt_name is not None:
        try:
            template = params.prompt
            if template is None:
                template = resolve_prompt(str(params.prompt_name))
            text = render(template, params.variables)
        except FlowAtError as exc:
            raise ActionError(f"llm.chat: {exc}", retryable=False, host=host) from None
        messages = [*params.messages, Message(role="user", content=text)]
        params = params.model_copy(update={"messages": messages})
    schema = params.output_schema
    if schema is not None:
        rule = "Answer with one JSON value matching this JSON schema, and nothing else: "
        system = Message(role="system", content=rule + json.dumps(schema, sort_keys=True))
        params = params.model_copy(update={"messages": [system, *params.messages]})
    spent = Usage()
    cost = 0.0
    for attempt in range(params.output_retries + 1):
        output = _ask(params, key, host)
        spent = Usage(
            prompt_tokens=spent.prompt_tokens + output.usage.prompt_tokens,
            completion_tokens=spent.completion_tokens + output.usage.completion_tokens,
            total_tokens=spent.total_tokens + output.usage.total_tokens,
        )
        cost = round(cost + output.cost_usd, 8)
        if schema is None or output.tool_calls:
            break
        value, why = check(output.content, schema)
        if why is None:
            output.json_ = value
            break
        if attempt == params.output_retries:
            _account(ctx, output.model, spent, cost)
            raise ActionError(
                f"llm.chat: {output.model}'s answer still did not match output_schema after "
                f"{params.output_retries} re-asks: {why}",
                retryable=False,
                host=host,
            )
        retry = [
            *params.messages,
            Message(role="assistant", content=output.content),
            Message(
                role="user",
                content=f"Your answer was not accepted: {why}. Answer again with JSON "
                "matching the schema, and nothing else.",
            ),
        ]
        params = params.model_copy(update={"messages": retry})
    _account(ctx, output.model, spent, cost)
    ctx.log.info("llm.chat %s model=%s tokens=%d", host, output.model, spent.total_tokens)
    return output.model_copy(update={"usage": spent, "cost_usd": cost})


def _account(ctx: ActionContext, model: str, usage: Usage, cost: float) -> None:
    """Put the call's usage into the context, for analytics."""
    ctx.usage.update(
        model=model,
        tokens_in=usage.prompt_tokens,
        tokens_out=usage.completion_tokens,
        tokens_total=usage.total_tokens,
        cost_usd=cost,
    )


def _ask(params: ChatInput, key: str | None, host: str) -> ChatOutput:
    """One request to the model.

    Raises:
        ActionError: the call failed, or the answer is not in the expected format.

    """
    response = _post(params, key, host)
    if response.status_code >= 400:
        raise _status_error(response, host, key)
    body, choice, message = _parse(response, host)
    content = message.get("content") or ""
    if not isinstance(content, str):  # content parts: keep the text ones
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    finish = choice.get("finish_reason")
    data: Any = None
    if params.response_format == "json":
        try:
            data = json.loads(content)
        except ValueError as exc:
            cut = " (cut off at max_tokens: raise it)" if finish == "length" else ""
            raise ActionError(
                f"llm.chat: response_format is 'json' but {params.model}'s answer is not "
                f"JSON{cut}: {exc}; say in the messages which JSON object to return",
                retryable=False,
                host=host,
            ) from None
    usage = _usage(body)
    model = str(body.get("model") or params.model)
    return ChatOutput(
        content=content,
        json=data,
        tool_calls=list(message.get("tool_calls") or []),
        model=model,
        finish_reason=finish,
        usage=usage,
        cost_usd=_cost(params, (params.model, model), usage),
    )


# Register llm.agent, llm.embed, llm.index and llm.search on this connector.
from . import llm_agent as _llm_agent  # noqa: E402
from . import llm_vectors as _llm_vectors  # noqa: E402

_ = (_llm_agent, _llm_vectors)
