"""The agent loop in the graph workflow: one activity per model call and per tool call.

An ``llm.agent`` step's activity (``flowat.run_step``) only evaluates the step's body and
returns the loop's plan (:class:`~flowat_kernel.ai.agent.AgentPlan`). The workflow then
asks the model (``flowat.agent_model``), runs each tool the model calls
(``flowat.agent_tool``), hands the results back and asks again, until the model answers
or a budget is spent. A workflow tool's call records its child run in the activity and
the workflow runs it as a child workflow. Each call is an activity of its own: recorded
in the run's history, retried by the step's retry policy, and never repeated once it
finished, also when the worker restarts in the middle of the loop (the history replays
it). The
decisions themselves are :mod:`flowat_kernel.ai.agent`'s, deterministic.

Guarded by :data:`PATCH_AGENT`; a history without agent steps never reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from flowat_kernel.ai.agent import (
        AgentOutput,
        AgentPlan,
        AgentState,
        ModelTurn,
        ToolResult,
        absorb_model,
        absorb_tool,
        budget_spent,
        finish,
    )
    from flowat_kernel.ai.step_tools import TOOL_RESULT, step_tool_request
    from flowat_kernel.engine.agent_messages import AGENT_MODEL, AGENT_TOOL, AgentCall, ToolTask
    from flowat_kernel.engine.logic import LogicFailure
    from flowat_kernel.engine.messages import RunInput, RunOutcome, StepOutcome, StepTask
    from flowat_kernel.engine.values import Value
    from flowat_kernel.spec import StepSpec

__all__ = ["PATCH_AGENT", "PATCH_STEP_TOOLS", "run_agent_loop"]

#: ``workflow.patched`` id: an ``llm.agent`` step runs its loop as activities.
PATCH_AGENT = "flowat-graph-agent-loop"
#: ``workflow.patched`` id: a call of a ``--tool`` step runs that step as an activity
#: (``flowat.run_step``) from the workflow, with no ``agent_tool`` activity.
PATCH_STEP_TOOLS = "flowat-graph-step-tools"
#: The graph workflow's name (``step_runner.WORKFLOW_NAME``): workflow tools run as it.
GRAPH_WORKFLOW = "flowat.graph"


async def run_agent_loop(
    run: RunInput,
    step: StepSpec,
    plan: AgentPlan,
    timeout: timedelta,
    retry: TemporalRetryPolicy,
    step_retry: Callable[[StepSpec], TemporalRetryPolicy] | None = None,
    states: dict[str, str] | None = None,
) -> AgentOutput:
    """Carry out the loop; the step's output.

    ``step_retry(tool_step)`` is a ``--tool`` step's own retry policy; ``states`` (the
    workflow's view of each step) gets a called tool step's last outcome.

    Raises:
        LogicFailure: a budget was spent (``on_budget="fail"``) or the answer stayed
            invalid after its re-asks.
        ActivityError: a model call failed for good.

    """
    state = AgentState(messages=list(plan.messages))
    number = 0
    heartbeat = timedelta(seconds=run.heartbeat_seconds) if run.heartbeat_seconds else None

    def base() -> dict[str, object]:
        nonlocal number
        number += 1
        return {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "version": run.version,
            "owner": run.owner,
            "step": step.name,
            "plan": plan,
            "number": number,
        }

    while True:
        spent = budget_spent(plan, state)
        if spent is not None:
            return _stopped(step, plan, state, spent)
        turn: ModelTurn = await workflow.execute_activity(
            AGENT_MODEL,
            AgentCall(state=state, **base()),  # type: ignore[arg-type]
            result_type=ModelTurn,
            start_to_close_timeout=timeout,
            retry_policy=retry,
            heartbeat_timeout=heartbeat,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        decision = absorb_model(plan, state, turn)
        if decision == "done":
            return finish(state, "done")
        if decision == "invalid":
            return _stopped(step, plan, state, "invalid")
        if decision != "tools":
            continue
        for call in turn.tool_calls:
            if state.tool_calls >= plan.budget.max_tool_calls:
                return _stopped(step, plan, state, "max_tool_calls")
            tool = next((t for t in plan.tools if t.function == _called(call)), None)
            step_tool = tool.step if tool is not None else None
            try:
                if step_tool is not None and workflow.patched(PATCH_STEP_TOOLS):
                    name = step_tool
                    try:
                        result = await _run_step_tool(run, step, plan, call, step_retry)
                    except ActivityError:
                        if states is not None:
                            states[name] = "failed"
                        raise
                    if states is not None and result.error is None:
                        states[name] = "succeeded"
                    absorb_tool(state, result)
                    continue
                result = await workflow.execute_activity(
                    AGENT_TOOL,
                    ToolTask(call=call, **base()),  # type: ignore[arg-type]
                    result_type=ToolResult,
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                    heartbeat_timeout=heartbeat,
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
                if result.child is not None:
                    result = await _run_workflow_tool(result)
            except ActivityError as error:
                # Retries spent: the model hears that the tool failed, and may go on.
                cause = error.cause
                why = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
                name = str((call.get("function") or {}).get("name") or "")
                result = ToolResult(
                    call_id=str(call.get("id") or ""),
                    name=name,
                    error=f"the tool failed after its retries: {why}",
                )
            absorb_tool(state, result)


def _called(call: dict[str, Any]) -> str:
    """The function name a model's tool call names."""
    return str((call.get("function") or {}).get("name") or "")


async def _run_step_tool(
    run: RunInput,
    agent: StepSpec,
    plan: AgentPlan,
    call: dict[str, Any],
    step_retry: Callable[[StepSpec], TemporalRetryPolicy] | None,
) -> ToolResult:
    """Run one call of a ``--tool`` step as that step's activity; its return value.

    Arguments that do not fit the step's parameters go back to the model and nothing
    runs. The step runs as its own activity, checked against the published step like any
    other (its record shows the latest call; retried by its own policy, with its own
    timeout); a result that holds a secret the step revealed is not shown to the model.

    Raises:
        ActivityError: the step failed for good (the caller tells the model).

    """
    call_id = str(call.get("id") or "")
    request = step_tool_request(plan, call)
    if isinstance(request, str):
        return ToolResult(call_id=call_id, name=_called(call), error=request)
    tool, arguments = request
    assert tool.step is not None
    published = run.graph.step(tool.step)
    task = StepTask(
        run_id=run.run_id,
        workflow=run.workflow,
        version=run.version,
        step=published,
        inputs={
            b.name: Value(inline=run.parameters.get(b.name))
            for b in published.inputs
            if b.source == "input"
        },
        owner=run.owner,
        heartbeat_seconds=run.heartbeat_seconds,
        tool_arguments=arguments,
    )
    heartbeat = run.heartbeat_seconds
    outcome: StepOutcome = await workflow.execute_activity(
        "flowat.run_step",
        task,
        result_type=StepOutcome,
        start_to_close_timeout=timedelta(seconds=published.timeout_seconds),
        retry_policy=step_retry(published) if step_retry is not None else None,
        heartbeat_timeout=timedelta(seconds=heartbeat) if heartbeat else None,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary=f"tool step {published.name} (called by {agent.name})",
    )
    value = outcome.exports.get(TOOL_RESULT, Value(inline=None))
    if value.secrets:
        return ToolResult(
            call_id=call_id,
            name=tool.function,
            error=f"{tool.function}'s result holds a secret value, so it is not shown to the "
            "model; return what the model may read",
        )
    return ToolResult(call_id=call_id, name=tool.function, output=_plain(value))


async def _run_workflow_tool(result: ToolResult) -> ToolResult:
    """Run a workflow tool's child run; its steps' outputs (or its failure) are the result."""
    assert result.child is not None
    child = RunInput.model_validate(result.child)
    try:
        outcome: RunOutcome = await workflow.execute_child_workflow(
            GRAPH_WORKFLOW,
            child,
            id=f"flowat-{child.workflow}-{child.run_id}",
            task_queue=workflow.info().task_queue,
            result_type=RunOutcome,
        )
    except ChildWorkflowError as error:
        cause = error.cause
        why = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
        return ToolResult(
            call_id=result.call_id,
            name=result.name,
            error=f"workflow {child.workflow} failed: {why}",
        )
    outputs = {
        step: {name: _plain(value) for name, value in values.items()}
        for step, values in outcome.outputs.items()
    }
    return ToolResult(call_id=result.call_id, name=result.name, output=outputs)


def _plain(value: Value) -> Any:
    """A child's output as the model reads it: JSON, or what a stored value is."""
    if value.outputs is not None:
        return {s: {n: _plain(v) for n, v in vs.items()} for s, vs in value.outputs.items()}
    if value.ref is not None:
        return f"(stored artifact: {value.ref.description})"
    if value.handle is not None:
        return "(a secret handle)"
    if value.items is not None:
        return [_plain(v) for v in value.items]
    return value.inline


def _stopped(step: StepSpec, plan: AgentPlan, state: AgentState, reason: str) -> AgentOutput:
    """The output at a budget, or the step's failure."""
    if reason == "invalid":
        raise LogicFailure(
            step.name,
            "InvalidOutput",
            f"the answer still did not match output_schema after {plan.output_retries} "
            f"re-asks: {state.calls[-1].get('invalid')}",
        )
    if plan.on_budget == "fail":
        raise LogicFailure(
            step.name,
            "BudgetSpent",
            f"budget {reason} spent before the model finished ({state.model_calls} model "
            f"calls, {state.tool_calls} tool calls, {state.tokens} tokens, "
            f"{state.cost_usd:.6f} USD); raise budget.{reason} or set on_budget='return'",
        )
    return finish(state, reason)
