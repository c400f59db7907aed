"""Steps of the agent's own workflow as tools: schemas, argument checks, the call.

A ``%%flowat step NAME --tool`` cell defines ``def NAME(param: type, ...)``. An
``llm.agent`` step lists it as ``{"step": "NAME"}``; the model is shown its parameters
(from the annotations; :func:`~flowat_kernel.compiler.tool_steps.tool_signature`), and
each call it makes is checked here against them before anything runs. The graph workflow
then runs the step as its own activity (recorded, retried by the step's policy) with
the arguments bound (:func:`tool_call_step`); its return value goes back to
the model. Deterministic and free of I/O: the workflow calls these.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flowat_kernel.ai.agent import AgentPlan, ToolSpec, tool_request
from flowat_kernel.compiler.tool_steps import ToolSignatureError, tool_signature
from flowat_kernel.errors import SpecError
from flowat_kernel.spec import StepSpec, WorkflowSpec

__all__ = [
    "TOOL_ARGUMENTS",
    "TOOL_RESULT",
    "check_arguments",
    "step_schemas",
    "step_tool_request",
    "tool_call_step",
]

#: The names a tool call binds its arguments to, and collects the function's result as.
TOOL_ARGUMENTS = "flowat_tool_arguments"
TOOL_RESULT = "flowat_tool_result"

_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def step_schemas(spec: WorkflowSpec) -> Callable[[str], dict[str, Any]]:
    """``schema(name)``: the parameters of ``spec``'s ``--tool`` step ``name``.

    The returned function raises ``SpecError`` for a step that does not exist or is not
    a tool, naming the tool steps there are.
    """

    def schema(name: str) -> dict[str, Any]:
        tools = ", ".join(s.name for s in spec.steps if s.tool) or "none"
        try:
            step = spec.step(name)
        except SpecError:
            raise SpecError(
                f"workflow {spec.name!r} has no step {name!r} (its --tool steps: {tools})"
            ) from None
        if not step.tool:
            raise SpecError(
                f"step {name!r} is not a tool: mark its cell `%%flowat step {name} --tool` "
                f"(the --tool steps: {tools})"
            )
        try:
            return tool_signature(step.source, step.name)
        except ToolSignatureError as exc:
            raise SpecError(f"step {name!r}: {exc}") from None

    return schema


def check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """What is wrong with ``arguments`` for a tool step's ``schema``; ``None`` if nothing.

    Every required parameter must be there, no other name may be, and each value must
    have its parameter's type (an integer is a number; ``true`` is not an integer).
    """
    properties: dict[str, Any] = schema.get("properties") or {}
    problems = []
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        problems.append(
            f"unknown parameters {', '.join(unknown)} (the parameters: "
            f"{', '.join(properties) or 'none'})"
        )
    missing = [n for n in schema.get("required") or [] if n not in arguments]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    for name, value in arguments.items():
        kind = (properties.get(name) or {}).get("type")
        if kind in _CHECKS and not _CHECKS[kind](value):
            problems.append(f"{name} must be {kind}, not {json.dumps(value)[:60]}")
    return "; ".join(problems) or None


def step_tool_request(
    plan: AgentPlan, call: dict[str, Any]
) -> tuple[ToolSpec, dict[str, Any]] | str:
    """The step tool and its arguments for one of the model's tool calls, or what is wrong.

    The checks of :func:`~flowat_kernel.ai.agent.tool_request` (a JSON object, no
    secrets, no overriding of ``defaults``), then the model's arguments against the
    parameters it was shown. What is wrong goes back to the model as the tool's error.
    """
    request = tool_request(plan, call)
    if isinstance(request, str):
        return request
    tool, arguments = request
    shown: dict[str, Any] = next(
        (
            d["function"]["parameters"]
            for d in plan.definitions
            if d["function"]["name"] == tool.function
        ),
        {},
    )
    own = {k: v for k, v in arguments.items() if k not in tool.defaults}
    wrong = check_arguments(shown, own)
    if wrong is not None:
        return f"the arguments of {tool.function} do not fit its parameters: {wrong}"
    return tool, arguments


def tool_call_step(step: StepSpec) -> StepSpec:
    """``step`` with one line added that calls its function with the call's arguments.

    The line comes after the cell, so the cell's own line numbers stay as they are; the
    result is the step's one export, :data:`TOOL_RESULT`. The step reads the arguments
    as the input :data:`TOOL_ARGUMENTS`.
    """
    call = f"\n{TOOL_RESULT} = {step.name}(**{TOOL_ARGUMENTS})"
    return step.model_copy(update={"source": step.source + call, "exports": (TOOL_RESULT,)})
