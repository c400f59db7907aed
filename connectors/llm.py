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
from typing import Any

from flowat_kernel.ai.prompt_library import resolve_prompt
from flowat_kernel.ai.prompts import render
from flowat_kernel.ai.structured import check
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField

from .llm_http import _host_of as _host_of
from .llm_http import _parse, _post, _usage
from .llm_http import _status_error as _status_error
from .llm_models import ChatInput, ChatOutput, Message, Usage
from .llm_prices import PRICES, _cost, price

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


def _host(params: ChatInput) -> str:
    """The host (and port, if given) of the base URL, for the circuit breaker."""
    return _host_of(params.base_url)


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
