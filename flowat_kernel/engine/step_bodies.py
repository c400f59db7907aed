"""Steps whose body sets something other than exports: an action's inputs, an agent's plan.

An action step's body (or a sub-workflow step's, see
:meth:`~flowat_kernel.engine.activities.StepActivities`) runs for the values of a given
set of names, as code in a step's process or, for an untrusted step, confined
(:func:`~flowat_kernel.engine.trust.run_confined_body`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from temporalio.exceptions import CancelledError

from flowat_kernel.ai.agent import AgentInput
from flowat_kernel.ai.turns import make_plan
from flowat_kernel.engine.agent_messages import AGENT_ACTION
from flowat_kernel.engine.cells import run_code
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.messages import StepOutcome
from flowat_kernel.engine.trust import run_confined_body
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk.call import action as call_action
from flowat_kernel.sdk.call import input_names, validate_input
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope

__all__ = ["plan_agent", "run_action", "run_body"]


def run_action(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
) -> ExecutionResult:
    """An action step: its body sets the action's inputs; the output is its one export.

    A confined body (an untrusted step) is evaluated as expressions, not as Python.

    Raises:
        StepCodeError: the body raised, the action is unknown, or the call failed.

    """
    assert step.action is not None
    try:
        spec = get_action(step.action)
    except FlowAtError as exc:
        error = ActionError(str(exc), retryable=False)
        raise StepCodeError(step.name, error, None, "", "") from None
    result = run_body(step, inputs, confined, scope, deadline, tuple(input_names(spec.input)))
    try:
        output = call_action(step.action, **result.exports)
    except ActionError as exc:
        trace = "".join(traceback.format_exception(exc))
        raise StepCodeError(step.name, exc, None, trace, result.logs) from None
    return ExecutionResult({step.name: output.model_dump(mode="json")}, result.logs, {})


def run_body(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
    names: tuple[str, ...],
) -> ExecutionResult:
    """Run a step's body for the values of ``names``, confined or as code.

    ``names``: an action's or a sub-workflow's inputs; ``confined``: the body runs in
    the sandbox (``FLOWAT_UNTRUSTED_CODE``).
    """
    if confined:
        return run_confined_body(step, inputs, names)
    return run_code(step, inputs, scope, names, deadline=deadline, passthrough=(CancelledError,))


def plan_agent(
    step: StepSpec,
    inputs: dict[str, Any],
    confined: bool,
    scope: StepScope,
    deadline: float | None,
    schema: Callable[[str], dict[str, Any]],
    tools: Callable[[str], dict[str, Any]],
) -> StepOutcome:
    """An ``llm.agent`` step: evaluate its body into the loop's plan; the workflow runs it.

    ``schema(workflow)`` gives a workflow tool's parameters, ``tools(step)`` a step
    tool's (a ``--tool`` step of the run's version).

    The step's record stays ``running`` until the loop ends (the workflow records it).

    Raises:
        StepCodeError: the body raised, or its inputs do not make a plan.

    """
    result = run_body(step, inputs, confined, scope, deadline, tuple(input_names(AgentInput)))
    try:
        spec = get_action(AGENT_ACTION)
        plan = make_plan(validate_input(spec, result.exports), schema, tools)  # type: ignore[arg-type]
    except (ActionError, FlowAtError) as exc:
        error = exc if isinstance(exc, ActionError) else ActionError(str(exc), retryable=False)
        raise StepCodeError(step.name, error, None, "", result.logs) from None
    return StepOutcome(exports={}, step=step.name, agent=plan)
