"""The agent loop's activities: one model call, one tool call (see ``agent_runner``).

Each runs in the step's scope (the run's organization, its secrets, egress policy and
circuit breakers, read from the store by the run's id, never from the payload), is
retried by the step's retry policy when the failure is retryable, and reports its
usage (model, tokens, cost) as an ``action`` analytics event of the step. Revealed
secrets are masked in what goes back to the workflow.

The loop's n-th call (model and tool calls counted together) gets the idempotency
key ``flowat:<run>:<step>:<action>#<n>``, the same on every retry of that call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from flowat_kernel.ai.agent import ModelTurn, ToolResult, tool_request
from flowat_kernel.ai.turns import CHAT, model_turn, tool_turn
from flowat_kernel.analytics.events import event
from flowat_kernel.engine.agent_messages import AGENT_MODEL, AGENT_TOOL, AgentCall, ToolTask
from flowat_kernel.engine.heartbeat import heartbeating
from flowat_kernel.engine.messages import StepTask
from flowat_kernel.engine.subworkflow import child_input, child_version
from flowat_kernel.engine.trust import ForgedTask, verify_run
from flowat_kernel.errors import ParameterError
from flowat_kernel.sdk.egress import organization_policy, run_trigger
from flowat_kernel.sdk.errors import ActionError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope, StepServices, step_scope
from flowat_kernel.store import Store
from flowat_kernel.vault.redaction import redact_data, redact_text

__all__ = ["AgentActivities"]

log = logging.getLogger(__name__)


class AgentActivities:
    """The two activities, bound to the worker's store, services and event writer."""

    def __init__(
        self,
        store: Store,
        services_for: Callable[[str | None], StepServices],
        emit: Callable[..., None],
        record_usage: Callable[[set[str], str, str | None], None] | None = None,
    ) -> None:
        self.store = store
        self.services_for = services_for
        self.emit = emit
        self.record_usage = record_usage

    def all(self) -> list[Any]:
        """Both activities, for ``Worker(activities=...)``."""
        return [self.agent_model, self.agent_tool]

    def _scope(self, call: AgentCall | ToolTask, action: str) -> StepScope:
        try:
            owner = verify_run(self.store, call.run_id, call.workflow).owner
        except ForgedTask as exc:
            log.error("%s", exc)
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        scope = StepScope(
            owner,
            call.workflow,
            call.run_id,
            call.step,
            activity.info().attempt,
            trigger=run_trigger(self.store, call.run_id),
            organization_egress=organization_policy(self.store, owner),
            services=self.services_for(owner),
        )
        scope.calls[action] = call.number - 1  # this call is the step's n-th
        return scope

    def _events(self, call: AgentCall | ToolTask, scope: StepScope) -> None:
        rows = []
        for made in scope.actions:
            usage = made.get("usage") or {}
            connector, _, name = str(made["action"]).partition(".")
            rows.append(
                event(
                    "action",
                    run_id=call.run_id,
                    workflow=call.workflow,
                    version=call.version,
                    owner=scope.owner,
                    step=call.step,
                    attempt=scope.attempt,
                    connector=connector,
                    action=name,
                    host=made.get("host"),
                    status=made.get("outcome"),
                    duration_ms=1000 * float(made.get("seconds") or 0),
                    model=usage.get("model"),
                    tokens_in=usage.get("tokens_in"),
                    tokens_out=usage.get("tokens_out"),
                    cost_usd=usage.get("cost_usd"),
                )
            )
        self.emit(*rows)
        if scope.revealed and self.record_usage is not None and scope.owner is not None:
            self.record_usage(scope.revealed, call.workflow, scope.owner)

    @activity.defn(name=AGENT_MODEL)
    def agent_model(self, call: AgentCall) -> ModelTurn:
        """Ask the model once; a retryable failure is retried, another fails the step."""
        scope = self._scope(call, CHAT)
        with step_scope(scope), heartbeating():
            try:
                turn = model_turn(call.plan, call.state)
            except ActionError as exc:
                raise _failure(exc, call) from None
            finally:
                self._events(call, scope)
        return ModelTurn.model_validate(redact_data(turn.model_dump(mode="json")))

    @activity.defn(name=AGENT_TOOL)
    def agent_tool(self, call: ToolTask) -> ToolResult:
        """Run one tool call; only retryable failures raise (and are retried).

        A workflow tool is not run here: its child run is recorded and handed to the
        workflow to start (``ToolResult.child``).
        """
        name = str((call.call.get("function") or {}).get("name") or "")
        tool = next((t for t in call.plan.tools if t.function == name), None)
        if tool is not None and tool.workflow is not None:
            return self._workflow_tool(call, tool.workflow)
        scope = self._scope(call, tool.target if tool is not None else name)
        with step_scope(scope), heartbeating():
            try:
                result = tool_turn(call.plan, call.call)
            except ActionError as exc:
                raise _failure(exc, call) from None
            finally:
                self._events(call, scope)
        return ToolResult.model_validate(redact_data(result.model_dump(mode="json")))

    def _workflow_tool(self, call: ToolTask, workflow: str) -> ToolResult:
        """Record the child run of a workflow tool call; a bad call is the model's error."""
        call_id = str(call.call.get("id") or "")
        name = str((call.call.get("function") or {}).get("name") or "")
        request = tool_request(call.plan, call.call)
        if isinstance(request, str):
            return ToolResult(call_id=call_id, name=name, error=request)
        try:
            owner = verify_run(self.store, call.run_id, call.workflow).owner
        except ForgedTask as exc:
            raise ApplicationError(str(exc), type="ForgedTask", non_retryable=True) from None
        # The child's run id derives from this step and call: a retry records it once.
        step = StepSpec(
            name=f"{call.step}.tool{call.number}", kind="workflow", workflow=workflow, source=""
        )
        task = StepTask(
            run_id=call.run_id,
            workflow=call.workflow,
            version=call.version,
            step=step,
            inputs={},
            owner=owner,
        )
        try:
            version = child_version(self.store, task)
            child = child_input(self.store, task, version, request[1])
        except ParameterError as exc:
            return ToolResult(call_id=call_id, name=name, error=str(exc))
        return ToolResult(call_id=call_id, name=name, child=child.model_dump(mode="json"))


def workflow_schema(store: Store, owner: str | None) -> Callable[[str], dict[str, Any]]:
    """``schema(name)``: the parameters of ``owner``'s workflow ``name`` as a JSON schema."""
    types = {
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "str": {"type": "string"},
        "bool": {"type": "boolean"},
        "list": {"type": "array"},
        "dict": {"type": "object"},
        "any": {},
    }

    def schema(name: str) -> dict[str, Any]:
        version = store.get_version(owner or "", name, None)
        properties = {
            i.name: {**types[i.type], "description": f"default: {json.dumps(i.default)}"}
            for i in version.spec.inputs
        }
        return {
            "type": "object",
            "description": f"runs workflow {name} (version {version.number}); parameters "
            "left out take their defaults; the result is each step's outputs",
            "properties": properties,
        }

    return schema


def _failure(exc: ActionError, call: AgentCall | ToolTask) -> ApplicationError:
    message = redact_text(str(exc))
    details = {"step": call.step, "type": "ActionError", "message": message}
    return ApplicationError(message, details, type="ActionError", non_retryable=not exc.retryable)
