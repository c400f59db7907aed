"""``llm.agent`` called in-process (a notebook, or ``flowat.action`` in a step's code)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_connectors.llm import connector
from flowat_kernel.sdk import ActionError
from flowat_kernel.testing import LoopbackHTTPServer, Reply, call, registered
from tests.ai.weather import Weather
from tests.connectors.fake_openai import FakeOpenAI


@pytest.fixture
def weather() -> Iterator[Weather]:
    tool = Weather()
    with registered(tool.connector):
        yield tool


def agent(fake: FakeOpenAI, key: tuple[str, str], /, **params: Any) -> Any:
    defaults: dict[str, Any] = {
        "base_url": fake.base_url,
        "api_key": flowat.secret(key[0]),
        "model": "gpt-4o-mini",
        "prompt": "Is it warm in {{ city }}?",
        "variables": {"city": "Cairo"},
        "tools": ["weather.lookup"],
    }
    return call(connector, "agent", **{**defaults, **params})


def test_the_loop_runs_in_the_calling_process(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather
) -> None:
    fake.script(
        {"tool_calls": [("weather_lookup", {"city": "Cairo", "units": "F"})]},
        {"content": "Yes: 86 F."},
    )
    output = agent(fake, api_key)
    assert output.content == "Yes: 86 F." and output.stop_reason == "done"
    assert weather.calls[0][:2] == ("Cairo", "F")  # no defaults: the model sets units
    (sent,) = [m for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
    assert json.loads(sent["content"])["temperature"] == 86.0
    assert output.model_calls == 2 and output.tool_calls == 1 and output.cost_usd > 0


def test_budgets_apply_in_process_too(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather
) -> None:
    fake.script(*[{"tool_calls": [("weather_lookup", {"city": "Oslo"})]}] * 4)
    with pytest.raises(ActionError, match="budget max_tool_calls spent") as caught:
        agent(fake, api_key, budget={"max_tool_calls": 2})
    assert caught.value.retryable is False
    assert weather.attempts["Oslo"] == 2
    kept = agent(fake, api_key, budget={"max_steps": 1}, on_budget="return")
    assert kept.stop_reason == "max_steps" and kept.model_calls == 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"tools": ["llm.agent"]}, "cannot be its own tool"),
        ({"tools": ["weather.lookup", "weather.lookup"]}, "same name"),
        ({"tools": [{"workflow": "nightly"}]}, "workflow tools run in workflow runs"),
        (
            {"tools": [{"action": "weather.lookup", "workflow": "x"}]},
            "one action, one workflow or one step",
        ),
        ({"tools": [{"action": "nosuch.thing"}]}, "no connector 'nosuch'"),
        ({"budget": {"max_steps": 0}}, "budget.max_steps"),
        ({"prompt": "{{ city.upper }}"}, "prompt template"),
    ],
)
def test_bad_agent_input_is_refused_before_any_call(
    fake: FakeOpenAI, api_key: tuple[str, str], weather: Weather, change: dict[str, Any], words: str
) -> None:
    with pytest.raises(ActionError, match=words) as caught:
        agent(fake, api_key, **change)
    assert caught.value.retryable is False
    assert fake.requests == [] and weather.calls == []


def test_a_secret_fixed_in_a_tool_reaches_the_tool_but_never_the_model(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    flowat.set_secret("inventory_token", token)
    with LoopbackHTTPServer(lambda r: Reply(200, {"seen": r.headers.get("Authorization")})) as api:
        fake.script(
            {"tool_calls": [("inventory", {"url": f"{api.url}/stock"})]},
            {"content": "done"},
        )
        output = agent(
            fake,
            api_key,
            tools=[
                {
                    "action": "http.request",
                    "name": "inventory",
                    "defaults": {"method": "GET", "auth": flowat.secret("inventory_token")},
                }
            ],
        )
        assert api.requests[0].headers["Authorization"] == f"Bearer {token}"
    properties = fake.requests[0].json()["tools"][0]["function"]["parameters"]["properties"]
    assert "auth" not in properties and "method" not in properties and "url" in properties
    assert output.content == "done"
    for request in fake.requests:
        assert token not in request.body.decode()
