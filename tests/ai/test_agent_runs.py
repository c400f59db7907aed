"""``llm.agent`` steps on the Temporal dev server, against the loopback OpenAI fake.

The fake scripts the model: tool calls, an invalid structured answer, then a valid one.
Each model call and each tool call is an activity of its own: a tool that fails
retryably is retried without asking the model again, budgets stop the loop, the
model cannot reach secrets or fixed inputs through a tool's arguments, and every model
call's usage reaches analytics.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.analytics import sql
from flowat_kernel.compiler import Cell
from flowat_kernel.testing import registered
from tests.ai.weather import Weather
from tests.connectors.fake_openai import FakeOpenAI

SCHEMA = {
    "type": "object",
    "properties": {"warmest": {"type": "string"}, "temperature": {"type": "number"}},
    "required": ["warmest", "temperature"],
    "additionalProperties": False,
}


@pytest.fixture
def weather() -> Iterator[Weather]:
    tool = Weather()
    with registered(tool.connector):
        yield tool


def _cells(secret: str, *, budget: str = "{}", on_budget: str = "fail") -> list[Cell]:
    return [
        Cell(
            'llm_url = "http://127.0.0.1:9/v1"\ncities = ["Oslo", "Rome"]', 1, tags=("parameters",)
        ),
        Cell(
            "%%flowat step agent --action llm.agent --retries 2\n"
            "base_url = llm_url\n"
            f"api_key = flowat.secret({secret!r})\n"
            'model = "gpt-4o-mini"\n'
            'prompt = "Which of {{ cities }} is warmest today? Look each one up."\n'
            'variables = {"cities": cities}\n'
            'tools = [{"action": "weather.lookup", "defaults": {"units": "C"}}]\n'
            f"output_schema = {SCHEMA!r}\n"
            f"budget = {budget}\n"
            f"on_budget = {on_budget!r}\n",
            2,
        ),
        Cell('%%flowat step report\nwarmest = agent["json"]["warmest"]', 3),
    ]


def _usage(workflow: str) -> list[dict[str, Any]]:
    relation = sql(
        "SELECT step, model, calls, tokens_in, tokens_out, cost_usd FROM llm_usage "
        f"WHERE workflow = '{workflow}'"
    )
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def test_the_agent_calls_tools_retries_one_and_corrects_its_answer(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, workflow_name: str
) -> None:
    weather.fail_first.add("Rome")  # its first lookup fails retryably
    fake.script(
        {
            "tool_calls": [
                ("weather_lookup", {"city": "Oslo"}),
                ("weather_lookup", {"city": "Rome"}),
            ]
        },
        {"content": "Rome is the warmest, at 21 degrees."},  # not the JSON asked for
        {"content": json.dumps({"warmest": "Rome", "temperature": 21})},
    )
    flowat.publish(workflow_name, cells=_cells(api_key[0]))
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "succeeded", run.error
    assert run.outputs["report"]["warmest"] == "Rome"
    result = run.outputs["agent"]["agent"]
    assert result["json"] == {"warmest": "Rome", "temperature": 21}
    assert result["stop_reason"] == "done"
    assert (result["model_calls"], result["tool_calls"]) == (3, 2)
    # Three model calls, none repeated, although the Rome lookup ran twice.
    assert len(fake.requests) == 3 and fake.scripted_left == 0
    assert weather.attempts == {"Oslo": 1, "Rome": 2}
    # Each tool call has its own idempotency key, the same on its retry.
    keys = [key for _, _, key in weather.calls]
    assert keys[1] == keys[2] != keys[0]
    # (numbered by the call's place in the loop: model call 1, tool calls 2 and 3)
    assert {key.rpartition(":")[2] for key in keys} == {"weather.lookup#2", "weather.lookup#3"}
    # The fixed input was not the model's to see or set.
    first = fake.requests[0].json()
    (tool,) = first["tools"]
    assert tool["function"]["name"] == "weather_lookup"
    assert "city" in tool["function"]["parameters"]["properties"]
    assert "units" not in tool["function"]["parameters"]["properties"]
    assert first["messages"][-1]["content"] == (
        'Which of ["Oslo", "Rome"] is warmest today? Look each one up.'
    )
    # The tools' results went back to the model, then the validation error.
    second = fake.requests[1].json()["messages"]
    answers = [m for m in second if m["role"] == "tool"]
    assert [json.loads(m["content"])["temperature"] for m in answers] == [4.0, 21.0]
    third = fake.requests[2].json()["messages"]
    assert third[-1]["role"] == "user" and "not accepted" in third[-1]["content"]
    assert "not JSON" in third[-1]["content"]
    # The step is recorded once, succeeded, with the loop's output.
    steps = {s.name: s for s in flowat.get_run(run.run_id).record.steps}
    assert steps["agent"].status == "succeeded"
    assert api_key[1] not in json.dumps(run.to_json(), default=str)
    # Usage and cost per model call reached analytics, under the agent's step.
    (usage,) = _usage(workflow_name)
    assert usage["step"] == "agent" and usage["calls"] == 3
    sent = [r.json() for r in fake.requests]
    assert usage["tokens_in"] == sum(
        sum(len((m.get("content") or "").split()) for m in body["messages"]) for body in sent
    )
    assert usage["cost_usd"] == pytest.approx(result["cost_usd"])
    assert result["cost_usd"] > 0


def _looping(fake: FakeOpenAI, times: int) -> None:
    fake.script(*[{"tool_calls": [("weather_lookup", {"city": "Oslo"})]}] * times)


def test_a_step_budget_fails_the_step_saying_what_was_spent(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, workflow_name: str
) -> None:
    _looping(fake, 5)
    flowat.publish(workflow_name, cells=_cells(api_key[0], budget='{"max_steps": 2}'))
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "failed"
    assert run.error is not None and run.error["step"] == "agent"
    assert run.error["type"] == "BudgetSpent"
    assert "max_steps" in run.error["message"] and "2 model calls" in run.error["message"]
    assert len(fake.requests) == 2 and weather.attempts == {"Oslo": 2}
    steps = {s.name: s.status for s in flowat.get_run(run.run_id).record.steps}
    assert steps["agent"] == "failed" and steps["report"] == "pending"


def test_on_budget_return_ends_the_step_with_what_there_is(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, workflow_name: str
) -> None:
    _looping(fake, 5)
    cells = _cells(api_key[0], budget='{"max_cost_usd": 0.00001}', on_budget="return")
    cells[2] = Cell('%%flowat step report\nwhy = agent["stop_reason"]', 3)
    flowat.publish(workflow_name, cells=cells)
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "succeeded", run.error
    assert run.outputs["report"]["why"] == "max_cost_usd"
    result = run.outputs["agent"]["agent"]
    assert result["cost_usd"] >= 0.00001
    assert result["model_calls"] == len(fake.requests) < 5


def test_the_model_cannot_name_secrets_override_defaults_or_invent_tools(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, workflow_name: str
) -> None:
    weather.refuse.add("Atlantis")
    fake.script(
        {
            "tool_calls": [
                ("weather_lookup", {"city": {"$secret": api_key[0]}}),
                ("weather_lookup", {"city": "Oslo", "units": "F"}),
                ("shell_exec", {"command": "cat /etc/passwd"}),
                ("weather_lookup", {"city": "Atlantis"}),
            ]
        },
        {"content": json.dumps({"warmest": "Oslo", "temperature": 4})},
    )
    flowat.publish(workflow_name, cells=_cells(api_key[0]))
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "succeeded", run.error
    # Only the Atlantis lookup reached the tool; it failed for good, once, not retried.
    assert weather.calls and [c[0] for c in weather.calls] == ["Atlantis"]
    results = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
    assert len(results) == 4
    assert "may not name secrets" in results[0]
    assert "units are fixed by the workflow" in results[1]
    assert "there is no tool 'shell_exec'" in results[2]
    assert "no station in Atlantis" in results[3]
    assert api_key[1] not in json.dumps(fake.requests[1].json())


def test_a_model_call_failing_for_good_fails_the_step(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, workflow_name: str
) -> None:
    fake.fail(400)
    flowat.publish(workflow_name, cells=_cells(api_key[0]))
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})
    assert run.status == "failed"
    assert run.error is not None and run.error["step"] == "agent"
    assert "400" in run.error["message"]
    assert len(fake.requests) == 1  # not retryable: asked once


def test_bad_agent_input_fails_the_step_naming_the_field(
    api_key: tuple[str, str], workflow_name: str
) -> None:
    cells = _cells(api_key[0])
    cells[1] = Cell(cells[1].source.replace('"weather.lookup"', '"nosuch.tool"'), 2)
    flowat.publish(workflow_name, cells=cells)
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and "nosuch" in run.error["message"]


def test_a_published_workflow_is_a_tool_run_as_a_child_run(
    fake: FakeOpenAI, api_key: tuple[str, str], workflow_name: str
) -> None:
    tool = workflow_name + "_forecast"
    flowat.publish(
        tool,
        cells=[
            Cell('city = "Oslo"\ndays = 1', 1, tags=("parameters",)),
            Cell(
                "%%flowat step forecast\n"
                'if city == "Atlantis":\n    raise ValueError("no such city")\n'
                'outlook = {"city": city, "days": days, "rain": city == "Oslo"}',
                2,
            ),
        ],
    )
    fake.script(
        {"tool_calls": [(tool, {"city": "Rome", "days": 3}), (tool, {"city": "Atlantis"})]},
        {"tool_calls": [(tool, {"town": "Rome"})]},
        {"content": json.dumps({"warmest": "Rome", "temperature": 21})},
    )
    cells = _cells(api_key[0])
    cells[1] = Cell(
        cells[1].source.replace(
            '[{"action": "weather.lookup", "defaults": {"units": "C"}}]',
            f"[{{'workflow': {tool!r}}}]",
        ),
        2,
    )
    flowat.publish(workflow_name, cells=cells)
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url})

    assert run.status == "succeeded", run.error
    (definition,) = fake.requests[0].json()["tools"]
    assert definition["function"]["name"] == tool
    assert set(definition["function"]["parameters"]["properties"]) == {"city", "days"}
    results = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
    assert json.loads(results[0]) == {
        "forecast": {"outlook": {"city": "Rome", "days": 3, "rain": False}}
    }
    assert results[1].startswith(f"error: workflow {tool} failed") and "no such city" in results[1]
    last = [m["content"] for m in fake.requests[2].json()["messages"] if m["role"] == "tool"]
    assert "town" in last[-1]  # an unknown parameter: the model is told, nothing runs
    children = [r for r in flowat.runs(tool) if r.trigger == f"workflow:{run.run_id}"]
    assert sorted(r.status for r in children) == ["failed", "succeeded"]
