"""``llm.agent``: a chat model that calls tools (other connectors' actions) in a loop.

In a workflow run the graph workflow carries out the loop itself, one activity per
model call and per tool call (recorded, retried and replayed like steps; see
``flowat_kernel/engine/agent_runner.py``); called from a notebook or a step's code with
``flowat.action("llm.agent", ...)`` the same loop runs in the calling process.
"""

from __future__ import annotations

from flowat_kernel.ai.agent import AgentInput, AgentOutput
from flowat_kernel.ai.turns import run_agent
from flowat_kernel.sdk import ActionContext

from .llm import _host_of, connector

__all__ = ["agent"]


@connector.action(
    "agent",
    input=AgentInput,
    output=AgentOutput,
    # Model calls change nothing; tools are guarded by their own actions' retry rules.
    retry_safe=True,
    target=lambda params: _host_of(params.base_url),
)
def agent(ctx: ActionContext, params: AgentInput) -> AgentOutput:
    """Let a chat model call tools until it answers or a budget is spent."""
    # Each model call is an llm.chat call of its own, with its own usage for analytics.
    return run_agent(params)
