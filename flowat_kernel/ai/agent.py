"""The agent loop's plan, state and decisions: deterministic, no I/O.

An agent step asks a chat model, runs the tools the model calls, gives it the results
and asks again, until the model answers without calling a tool (and, with an output
schema, with valid JSON) or a budget is spent. The same decisions drive the loop in a
notebook (:func:`flowat_kernel.ai.turns.run_agent`) and in a workflow run, where the
graph workflow makes each model call and each tool call its own activity (see
``flowat_kernel/engine/agent_runner.py``); this module therefore only computes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowat_kernel.vault.handles import SecretHandle

__all__ = [
    "AgentInput",
    "AgentOutput",
    "AgentPlan",
    "AgentState",
    "Budget",
    "ModelTurn",
    "ToolResult",
    "ToolSpec",
    "absorb_model",
    "absorb_tool",
    "budget_spent",
    "chat_params",
    "finish",
    "tool_definitions",
    "tool_request",
]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: The longest tool result (characters) handed back to the model.
MAX_TOOL_RESULT = 20_000


class ToolSpec(BaseModel):
    """A connector action, a published workflow, or a step of this workflow, to call.

    ``defaults`` are inputs the step fixes (a base URL, ``flowat.secret(...)`` for
    credentials, a workflow parameter); the model cannot set or override them, and they
    are not shown to it. A workflow tool runs the workflow's latest version as a child
    run of the agent's run; its steps' outputs are the tool's result.
    """

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_.]*$",
        description="connector.action",
    )
    workflow: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$",
        description="a published workflow of the organization, run as a child run",
    )
    step: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="a `%%flowat step NAME --tool` step of this workflow, run as its own "
        "activity with the model's arguments",
    )
    name: str | None = Field(
        default=None,
        description="the function name the model sees; default: the action with '.' as '_'",
    )
    description: str | None = Field(default=None, description="what the tool does, for the model")
    defaults: dict[str, Any] = Field(default_factory=dict, description="inputs fixed by the step")
    parameters: dict[str, Any] | None = Field(
        default=None, description="JSON schema shown to the model; default: the action's input"
    )

    @model_validator(mode="after")
    def _one_target(self) -> ToolSpec:
        if [self.action, self.workflow, self.step].count(None) != 2:
            raise ValueError("a tool names one action, one workflow or one step")
        if self.step is not None and self.parameters is not None:
            raise ValueError("a step tool's parameters are its function's: leave out parameters")
        return self

    @property
    def function(self) -> str:
        """The name the model calls it by."""
        if self.name:
            return self.name
        if self.action is not None:
            return self.action.replace(".", "_")
        if self.step is not None:
            return self.step
        return re.sub(r"[^a-zA-Z0-9_-]", "_", str(self.workflow))[:64]

    @property
    def target(self) -> str:
        """``connector.action``, ``workflow:NAME`` or ``step:NAME``: its schema's key."""
        if self.action is not None:
            return self.action
        if self.step is not None:
            return f"step:{self.step}"
        return f"workflow:{self.workflow}"


class Budget(BaseModel):
    """Limits of one agent step; the first one reached stops the loop."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(default=10, ge=1, le=200, description="most model calls")
    max_tool_calls: int = Field(default=50, ge=0, le=1000, description="most tool calls")
    max_tokens: int | None = Field(
        default=None, gt=0, description="most tokens, all calls together"
    )
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="most USD, all calls together"
    )


class AgentInput(BaseModel):
    """Input of ``llm.agent``: a chat (as ``llm.chat`` takes it) plus tools and budgets."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="https://api.openai.com/v1", pattern=r"^https?://")
    api_key: SecretHandle | None = Field(
        default=None, description='flowat.secret("NAME") holding the API key'
    )
    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(
        default_factory=list, description="the conversation so far"
    )
    prompt: str | None = Field(
        default=None,
        description="a prompt template ({{ expression }} placeholders) rendered with "
        "`variables` and sent as the last user message",
    )
    prompt_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the name of a prompt template of the workflow (a `%%flowat prompt "
        "NAME` cell or prompts/NAME.md), captured into the version; instead of `prompt`",
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="values for `prompt`")
    tools: list[ToolSpec | str] = Field(
        default_factory=list,
        description="what the model may call: 'http.request', or dicts with an action, "
        "a workflow or a --tool step (and name, description, defaults, parameters)",
    )
    output_schema: Any = Field(
        default=None,
        description="a pydantic model class or JSON schema the final answer must match",
    )
    output_retries: int = Field(default=2, ge=0, le=10, description="re-asks on an invalid answer")
    budget: Budget = Field(default_factory=Budget)
    on_budget: Literal["fail", "return"] = Field(
        default="fail", description="when a budget is spent: fail the step, or return what there is"
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0, description="most tokens per answer")
    timeout: float = Field(default=60.0, gt=0)
    price_in_per_million: float | None = Field(default=None, ge=0)
    price_out_per_million: float | None = Field(default=None, ge=0)

    @field_validator("tools")
    @classmethod
    def _tools(cls, tools: list[ToolSpec | str]) -> list[ToolSpec | str]:
        names = [t if isinstance(t, str) else t.function for t in tools]
        for name in names:
            if not _TOOL_NAME.fullmatch(name.replace(".", "_")):
                raise ValueError(
                    f"tool name {name!r}: use letters, digits, '_' or '-' (64 at most)"
                )
        seen = [n.replace(".", "_") for n in names]
        if len(set(seen)) != len(seen):
            raise ValueError("two tools have the same name; give one a `name`")
        return tools


class AgentPlan(BaseModel):
    """What the loop needs, as plain JSON (it travels in the run's history)."""

    model_config = ConfigDict(frozen=True)

    chat: dict[str, Any]
    messages: list[dict[str, Any]]
    tools: list[ToolSpec] = []
    definitions: list[dict[str, Any]] = []
    output_schema: dict[str, Any] | None = None
    output_retries: int = 2
    budget: Budget = Budget()
    on_budget: Literal["fail", "return"] = "fail"


class ModelTurn(BaseModel):
    """One model call's answer, as the loop needs it."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = []
    model: str = ""
    finish_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    value: Any = None
    invalid: str | None = None


class ToolResult(BaseModel):
    """One tool call's result (``error`` set when it failed for good)."""

    call_id: str
    name: str
    output: Any = None
    error: str | None = None
    #: A workflow tool: the child run to start (a ``RunInput`` as JSON); the workflow
    #: runs it and puts its outputs into ``output``.
    child: dict[str, Any] | None = None


class AgentState(BaseModel):
    """The loop so far: the conversation and what was spent."""

    messages: list[dict[str, Any]]
    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    invalid_answers: int = 0
    calls: list[dict[str, Any]] = []


class AgentOutput(BaseModel):
    """Output of ``llm.agent``; serialised with the key ``json``."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    content: str = Field(description="the final answer's text")
    json_: Any = Field(
        default=None, alias="json", description="the answer parsed (with output_schema)"
    )
    stop_reason: str = Field(
        description="done, or the budget spent: max_steps, max_tool_calls, max_tokens, max_cost_usd"
    )
    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    messages: list[dict[str, Any]] = Field(
        default_factory=list, description="the whole conversation"
    )
    calls: list[dict[str, Any]] = Field(
        default_factory=list, description="each model and tool call"
    )


def tool_definitions(
    tools: list[ToolSpec], schemas: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` list: each tool's function, with its inputs less its defaults.

    ``schemas`` maps each action to its input's JSON schema.
    """
    definitions = []
    for tool in tools:
        schema = tool.parameters or _without(schemas[tool.target], set(tool.defaults))
        definitions.append(
            {
                "type": "function",
                "function": {
                    "name": tool.function,
                    "description": tool.description or schema.get("description") or tool.target,
                    "parameters": schema,
                },
            }
        )
    return definitions


def _without(schema: dict[str, Any], fixed: set[str]) -> dict[str, Any]:
    """``schema`` without the properties the step fixed (they are not the model's)."""
    properties = {k: v for k, v in (schema.get("properties") or {}).items() if k not in fixed}
    required = [r for r in schema.get("required") or [] if r not in fixed]
    out = {k: v for k, v in schema.items() if k not in ("properties", "required", "title")}
    out["type"] = "object"
    out["properties"] = properties
    if required:
        out["required"] = required
    return out


def budget_spent(plan: AgentPlan, state: AgentState) -> str | None:
    """The budget a next model call would exceed, or ``None``."""
    budget = plan.budget
    if state.model_calls >= budget.max_steps:
        return "max_steps"
    if budget.max_tokens is not None and state.tokens >= budget.max_tokens:
        return "max_tokens"
    if budget.max_cost_usd is not None and state.cost_usd >= budget.max_cost_usd:
        return "max_cost_usd"
    return None


def chat_params(plan: AgentPlan, state: AgentState) -> dict[str, Any]:
    """``llm.chat``'s input for the next model call."""
    params = dict(plan.chat, messages=state.messages)
    if plan.definitions:
        params["tools"] = plan.definitions
    return params


def absorb_model(plan: AgentPlan, state: AgentState, turn: ModelTurn) -> str:
    """Add a model's answer to ``state``; what comes next.

    Returns ``"tools"`` (run ``turn.tool_calls``), ``"again"`` (the answer did not match
    the output schema: the error was added for the model; ask again), ``"done"``, or
    ``"invalid"`` (still invalid after ``output_retries`` re-asks).
    """
    state.model_calls += 1
    state.tokens += turn.tokens_in + turn.tokens_out
    state.cost_usd = round(state.cost_usd + turn.cost_usd, 8)
    state.calls.append(
        {
            "kind": "model",
            "model": turn.model,
            "tokens_in": turn.tokens_in,
            "tokens_out": turn.tokens_out,
            "cost_usd": turn.cost_usd,
            "tool_calls": [c.get("function", {}).get("name") for c in turn.tool_calls],
            "invalid": turn.invalid,
            "value": turn.value if turn.invalid is None else None,
        }
    )
    message: dict[str, Any] = {"role": "assistant", "content": turn.content or None}
    if turn.tool_calls:
        message["tool_calls"] = turn.tool_calls
        state.messages.append(message)
        return "tools"
    state.messages.append(message)
    if turn.invalid is None:
        return "done"
    state.invalid_answers += 1
    if state.invalid_answers > plan.output_retries:
        return "invalid"
    state.messages.append(
        {
            "role": "user",
            "content": f"Your answer was not accepted: {turn.invalid}. "
            "Answer again with JSON matching the schema, and nothing else.",
        }
    )
    return "again"


def tool_request(plan: AgentPlan, call: dict[str, Any]) -> tuple[ToolSpec, dict[str, Any]] | str:
    """The tool and the input for one of the model's tool calls, or why it cannot run.

    The model's arguments must be a JSON object; they may not name secrets
    (``{"$secret": ...}``) and cannot override the step's ``defaults``.
    """
    function = call.get("function") or {}
    name = function.get("name")
    tool = next((t for t in plan.tools if t.function == name), None)
    if tool is None:
        known = ", ".join(t.function for t in plan.tools) or "none"
        return f"there is no tool {name!r}; the tools are: {known}"
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError as exc:
        return f"the arguments of {name} are not JSON ({exc}); send a JSON object"
    if not isinstance(arguments, dict):
        return f"the arguments of {name} must be a JSON object"
    if _names_secret(arguments):
        return f"the arguments of {name} may not name secrets ($secret)"
    overridden = sorted(set(arguments) & set(tool.defaults))
    if overridden:
        return f"{name}: {', '.join(overridden)} are fixed by the workflow; leave them out"
    return tool, {**arguments, **tool.defaults}


def _names_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return "$secret" in value or any(_names_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_names_secret(v) for v in value)
    return False


def absorb_tool(state: AgentState, result: ToolResult) -> None:
    """Add a tool's result (or error) to the conversation."""
    state.tool_calls += 1
    if result.error is not None:
        text = f"error: {result.error}"
    else:
        output = result.output
        text = output if isinstance(output, str) else json.dumps(output, default=str)
    if len(text) > MAX_TOOL_RESULT:
        text = text[:MAX_TOOL_RESULT] + f"... ({len(text) - MAX_TOOL_RESULT} characters cut)"
    state.calls.append({"kind": "tool", "tool": result.name, "error": result.error})
    state.messages.append({"role": "tool", "tool_call_id": result.call_id, "content": text})


def finish(state: AgentState, reason: str) -> AgentOutput:
    """The step's output once the loop stopped for ``reason``."""
    last: dict[str, Any] = next(
        (m for m in reversed(state.messages) if m.get("role") == "assistant"), {}
    )
    value = None
    for call in reversed(state.calls):
        if call["kind"] == "model":
            value = call.get("value")
            break
    return AgentOutput(
        content=str(last.get("content") or ""),
        json=value,
        stop_reason=reason,
        model_calls=state.model_calls,
        tool_calls=state.tool_calls,
        tokens=state.tokens,
        cost_usd=state.cost_usd,
        messages=state.messages,
        calls=state.calls,
    )
