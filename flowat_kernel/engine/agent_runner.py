"""The agent loop in the graph workflow: one activity per model call and per tool call.

An ``llm.agent`` step's activity (``flowat.run_step``) only evaluates the step's body and
returns the loop's plan (:class:`~flowat_kernel.ai.agent.AgentPlan`). The workflow then
asks the model (``flowat.agent_model``), runs each tool the model calls
(``flowat.agent_tool``), hands the results back and asks again, until the model answers
or a budget is spent. Each call is an activity of its own: recorded in the run's
history, retried by the step's retry policy, and never repeated once it finished, also
when the worker restarts in the middle of the loop (the history replays it). The
decisions themselves are :mod:`flowat_kernel.ai.agent`'s, deterministic.

Guarded by :data:`PATCH_AGENT`; a history without agent steps never reaches it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
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
    from flowat_kernel.engine.agent_messages import AGENT_MODEL, AGENT_TOOL, AgentCall, ToolTask
    from flowat_kernel.engine.logic import LogicFailure
    from flowat_kernel.engine.messages import RunInput
    from flowat_kernel.spec import StepSpec

__all__ = ["PATCH_AGENT", "run_agent_loop"]

#: ``workflow.patched`` id: an ``llm.agent`` step runs its loop as activities.
PATCH_AGENT = "flowat-graph-agent-loop"


async def run_agent_loop(
    run: RunInput,
    step: StepSpec,
    plan: AgentPlan,
    timeout: timedelta,
    retry: TemporalRetryPolicy,
) -> AgentOutput:
    """Carry out the loop; the step's output.

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
            try:
                result: ToolResult = await workflow.execute_activity(
                    AGENT_TOOL,
                    ToolTask(call=call, **base()),  # type: ignore[arg-type]
                    result_type=ToolResult,
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                    heartbeat_timeout=heartbeat,
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
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
