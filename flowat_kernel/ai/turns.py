"""One model call, one tool call, and the whole agent loop in-process.

:func:`model_turn` and :func:`tool_turn` are what the engine's agent activities run
(one activity each); :func:`run_agent` drives the same decisions
(:mod:`flowat_kernel.ai.agent`) in one process, for ``llm.agent`` called from a
notebook or from a step's code with ``flowat.action``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from flowat_kernel.ai.agent import (
    AgentInput,
    AgentOutput,
    AgentPlan,
    AgentState,
    ModelTurn,
    ToolResult,
    ToolSpec,
    absorb_model,
    absorb_tool,
    budget_spent,
    chat_params,
    finish,
    tool_definitions,
    tool_request,
)
from flowat_kernel.ai.prompt_library import resolve_prompt
from flowat_kernel.ai.prompts import render
from flowat_kernel.ai.structured import check, schema_of
from flowat_kernel.sdk.call import action as call_action
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.vault.redaction import redact_data, redact_text

__all__ = ["CHAT", "BudgetSpent", "make_plan", "model_turn", "run_agent", "tool_turn"]

#: The action each model call makes.
CHAT = "llm.chat"
_CHAT_FIELDS = (
    "base_url",
    "api_key",
    "model",
    "temperature",
    "max_tokens",
    "timeout",
    "price_in_per_million",
    "price_out_per_million",
)


class BudgetSpent(ActionError):
    """The loop stopped at a budget (``on_budget="fail"``), or on output still invalid."""


def make_plan(
    params: AgentInput,
    workflow_schema: Callable[[str], dict[str, Any]] | None = None,
    step_schema: Callable[[str], dict[str, Any]] | None = None,
) -> AgentPlan:
    """The plan of an agent step: chat settings, first messages, tools, schema, budget.

    ``workflow_schema(name)`` gives a workflow tool's parameters as a JSON schema (the
    engine reads the published version; outside a run there are no workflow tools);
    ``step_schema(name)`` a ``--tool`` step's parameters, from the run's version.

    Raises:
        ActionError: not retryable: no messages or prompt, an unknown tool action, a
            tool that is the agent itself, a bad schema, or a prompt that fails to render.

    """
    messages = [dict(m) for m in params.messages]
    if params.prompt is not None and params.prompt_name is not None:
        raise ActionError(
            "llm.agent: give prompt (a template) or prompt_name (a named one), not both",
            retryable=False,
        )
    try:
        template = params.prompt
        if params.prompt_name is not None:
            template = resolve_prompt(params.prompt_name)
        if template is not None:
            messages.append({"role": "user", "content": render(template, params.variables)})
        schema = schema_of(params.output_schema) if params.output_schema is not None else None
    except (ValueError, Exception) as exc:
        raise ActionError(f"llm.agent: {exc}", retryable=False) from None
    if not messages:
        raise ActionError("llm.agent: give messages, a prompt or a prompt_name", retryable=False)
    if schema is not None:
        messages.insert(
            0,
            {
                "role": "system",
                "content": "Your final answer must be one JSON value matching this JSON "
                "schema, with no other text: " + json.dumps(schema, sort_keys=True),
            },
        )
    tools = [ToolSpec(action=t) if isinstance(t, str) else t for t in params.tools]
    schemas: dict[str, dict[str, Any]] = {}
    for tool in tools:
        if tool.step is not None and "$secret" in json.dumps(_plain(tool.defaults)):
            raise ActionError(
                f"llm.agent: tool step {tool.step!r}: defaults are plain values; a tool "
                "step reads its secrets itself, with flowat.secret(NAME) in its cell",
                retryable=False,
            )
        if tool.step is not None:
            schemas[tool.target] = _run_tool_schema("step", tool.step, step_schema)
            continue
        if tool.workflow is not None:
            schemas[tool.target] = _run_tool_schema("workflow", tool.workflow, workflow_schema)
            continue
        assert tool.action is not None
        if tool.action.startswith("llm.agent"):
            raise ActionError("llm.agent: an agent cannot be its own tool", retryable=False)
        try:
            schemas[tool.target] = get_action(tool.action).input.model_json_schema()
        except Exception as exc:
            raise ActionError(f"llm.agent: tool {tool.action!r}: {exc}", retryable=False) from None
    chat = params.model_dump(mode="json", include=set(_CHAT_FIELDS), exclude_none=True)
    return AgentPlan(
        chat=chat,
        messages=messages,
        tools=[t.model_copy(update={"defaults": _plain(t.defaults)}) for t in tools],
        definitions=tool_definitions(tools, schemas),
        output_schema=schema,
        output_retries=params.output_retries,
        budget=params.budget,
        on_budget=params.on_budget,
    )


def _run_tool_schema(
    kind: str, name: str, lookup: Callable[[str], dict[str, Any]] | None
) -> dict[str, Any]:
    """The parameters' schema of tool ``kind`` (``step`` or ``workflow``) ``name``.

    Raises:
        ActionError: outside a workflow run (``lookup`` is ``None``: such tools run as
            activities of the run), or the lookup failed (not retryable).

    """
    if lookup is None:
        raise ActionError(
            f"llm.agent: tool {kind} {name!r}: {kind} tools run in workflow runs (an "
            "llm.agent action step), not from a notebook",
            retryable=False,
        )
    try:
        return lookup(name)
    except Exception as exc:
        raise ActionError(f"llm.agent: tool {kind} {name!r}: {exc}", retryable=False) from None


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults as JSON (a secret handle becomes ``{"$secret": NAME}``, never its value)."""
    from flowat_kernel.vault.handles import SecretHandle

    def plain(value: Any) -> Any:
        if isinstance(value, SecretHandle):
            return value.to_json()
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in values.items()}


def model_turn(plan: AgentPlan, state: AgentState) -> ModelTurn:
    """Ask the model once (``llm.chat``); check a final answer against the output schema.

    Raises:
        ActionError: the call failed (retryable or not, as ``llm.chat`` says).

    """
    output: Any = call_action(CHAT, **chat_params(plan, state))
    turn = ModelTurn(
        content=output.content,
        tool_calls=output.tool_calls,
        model=output.model,
        finish_reason=output.finish_reason,
        tokens_in=output.usage.prompt_tokens,
        tokens_out=output.usage.completion_tokens,
        cost_usd=output.cost_usd,
    )
    if plan.output_schema is not None and not turn.tool_calls:
        value, why = check(turn.content, plan.output_schema)
        turn = turn.model_copy(update={"value": value, "invalid": why})
    return turn


def tool_turn(plan: AgentPlan, call: dict[str, Any]) -> ToolResult:
    """Run one of the model's tool calls.

    A call the model got wrong (unknown tool, bad arguments, invalid input) and a
    non-retryable failure come back as the result's ``error``, for the model to read.
    Secret values the tool revealed are masked in what goes back to the model.

    Raises:
        ActionError: a retryable failure (the caller retries the call).

    """
    call_id = str(call.get("id") or "")
    name = str((call.get("function") or {}).get("name") or "")
    request = tool_request(plan, call)
    if isinstance(request, str):
        return ToolResult(call_id=call_id, name=name, error=request)
    tool, params = request
    if tool.action is None:  # a workflow tool: the engine starts it (agent_activities)
        return ToolResult(call_id=call_id, name=name, error="workflow tools run in workflow runs")
    try:
        output = call_action(tool.action, **params)
    except ActionError as exc:
        if exc.retryable:
            raise
        return ToolResult(call_id=call_id, name=name, error=redact_text(str(exc)))
    # What a tool returns goes to the model: secrets it revealed are masked first (an
    # API that echoes the token it was sent must not hand it to the model).
    data = redact_data(output.model_dump(mode="json"))
    return ToolResult(call_id=call_id, name=name, output=data)


def stopped(plan: AgentPlan, state: AgentState, reason: str) -> AgentOutput:
    """The output when the loop stops at a budget; raises when the step says ``fail``.

    Raises:
        BudgetSpent: ``on_budget`` is ``fail``, or the output was still invalid.

    """
    if reason == "invalid":
        raise BudgetSpent(
            f"llm.agent: the answer still did not match the output schema after "
            f"{plan.output_retries} re-asks: {state.calls[-1].get('invalid')}",
            retryable=False,
        )
    if plan.on_budget == "fail":
        raise BudgetSpent(
            f"llm.agent: budget {reason} spent before the model finished "
            f"({state.model_calls} model calls, {state.tool_calls} tool calls, "
            f"{state.tokens} tokens, {state.cost_usd:.6f} USD); raise budget.{reason} "
            "or set on_budget='return'",
            retryable=False,
        )
    return finish(state, reason)


def run_agent(params: AgentInput) -> AgentOutput:
    """The whole loop in this process (``llm.agent`` outside a workflow run)."""
    plan = make_plan(params)
    state = AgentState(messages=list(plan.messages))
    while True:
        spent = budget_spent(plan, state)
        if spent is not None:
            return stopped(plan, state, spent)
        turn = model_turn(plan, state)
        step = absorb_model(plan, state, turn)
        if step == "done":
            return finish(state, "done")
        if step == "invalid":
            return stopped(plan, state, "invalid")
        if step == "tools":
            for call in turn.tool_calls:
                if state.tool_calls >= plan.budget.max_tool_calls:
                    return stopped(plan, state, "max_tool_calls")
                absorb_tool(state, tool_turn(plan, call))
