"""Payloads of the agent loop's activities (pydantic, JSON on the wire)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from flowat_kernel.ai.agent import AgentPlan, AgentState

__all__ = ["AGENT_ACTION", "AGENT_MODEL", "AGENT_TOOL", "AgentCall", "ToolTask"]

#: The action whose steps the graph workflow runs as an agent loop.
AGENT_ACTION = "llm.agent"
#: The activity of one model call of an agent step.
AGENT_MODEL = "flowat.agent_model"
#: The activity of one tool call of an agent step.
AGENT_TOOL = "flowat.agent_tool"


class _Call(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    version: int
    owner: str | None = None  # informational: the activity reads the run's owner from the store
    step: str
    plan: AgentPlan
    number: int  # the call's number in the step, from 1


class AgentCall(_Call):
    """One model call: the plan and the conversation so far."""

    state: AgentState


class ToolTask(_Call):
    """One tool call the model asked for."""

    call: dict[str, Any]
