"""The llm connector against a real OpenAI-compatible HTTP server on loopback.

The server (``fake_openai.py``) speaks the chat completions format; the connector is
called directly (``flowat_kernel.testing.call``) and as an action step of a workflow
run on the Temporal dev server.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_connectors.llm import ChatOutput, connector, price
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionContext, ActionError
from flowat_kernel.testing import call
from tests.connectors.fake_openai import FakeOpenAI, summary

QUESTION = "FlowAt compiles notebook cells into versioned workflows that run durably on Temporal"
SYSTEM_WORDS = 3  # "You summarise text."
MESSAGES = [
    {"role": "system", "content": "You summarise text."},
    {"role": "user", "content": QUESTION},
]


@pytest.fixture
def api_key(temporal: str) -> tuple[str, str]:
    """A secret in the vault: its name and value."""
    name = f"openai_{uuid.uuid4().hex[:8]}"
    value = f"sk-test-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


@pytest.fixture
def fake(api_key: tuple[str, str]) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=api_key[1]) as server:
        yield server


def chat(fake: FakeOpenAI, key: tuple[str, str], /, **params: Any) -> ChatOutput:
    params = {
        "base_url": fake.base_url,
        "api_key": flowat.secret(key[0]),
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        **params,
    }
    output = call(connector, "chat", **params)
    assert isinstance(output, ChatOutput)
    return output


def test_chat_returns_the_answer_usage_and_cost(fake: FakeOpenAI, api_key: tuple[str, str]) -> None:
    output = chat(fake, api_key, temperature=0.2, max_tokens=50)

    assert output.content == summary(QUESTION)
    assert output.json_ is None and output.tool_calls == []
    assert output.model == "gpt-4o-mini-2024-07-18"  # as the server names it
    assert output.finish_reason == "stop"
    prompt = SYSTEM_WORDS + len(QUESTION.split())
    completion = len(summary(QUESTION).split())
    assert output.usage.model_dump() == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    # gpt-4o-mini: 0.15 USD per million prompt tokens, 0.60 per million completion tokens.
    assert output.cost_usd == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6)

    (request,) = fake.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == f"Bearer {api_key[1]}"
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_tokens": 50,
    }
    dumped = output.model_dump(mode="json")
    assert set(dumped) == {
        "content",
        "json",
        "tool_calls",
        "model",
        "finish_reason",
        "usage",
        "cost_usd",
    }


def test_usage_goes_into_the_context_for_analytics(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    spec = connector.actions["chat"]
    params = spec.input.model_validate(
        {
            "base_url": fake.base_url,
            "api_key": flowat.secret(api_key[0]),
            "model": "gpt-4o",
            "messages": MESSAGES,
        }
    )
    context = ActionContext(connector="llm", action="chat", idempotency_key="k")
    output = spec.function(context, params)
    assert context.usage == {
        "model": "gpt-4o",
        "tokens_in": output.usage.prompt_tokens,
        "tokens_out": output.usage.completion_tokens,
        "tokens_total": output.usage.total_tokens,
        "cost_usd": output.cost_usd,
    }
    assert output.cost_usd > 0


def test_json_response_format_asks_for_json_and_parses_it(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    output = chat(fake, api_key, response_format="json")
    assert fake.requests[0].json()["response_format"] == {"type": "json_object"}
    assert output.json_ == {"summary": summary(QUESTION), "words": len(QUESTION.split())}
    assert json.loads(output.content) == output.json_
    assert output.model_dump(mode="json")["json"] == output.json_


def test_json_requested_but_not_json_is_not_retryable(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    fake.content = "Sure! Here is your summary: it compiles notebooks."
    with pytest.raises(ActionError, match="not JSON") as caught:
        chat(fake, api_key, response_format="json")
    assert caught.value.retryable is False


def test_json_cut_off_at_max_tokens_says_so(fake: FakeOpenAI, api_key: tuple[str, str]) -> None:
    with pytest.raises(ActionError, match="max_tokens") as caught:
        chat(fake, api_key, response_format="json", max_tokens=2)
    assert caught.value.retryable is False


def test_tools_are_passed_through_and_tool_calls_returned(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "save_summary",
                "description": "Save a summary",
                "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
            },
        }
    ]
    output = chat(fake, api_key, tools=tools, tool_choice="auto")
    sent = fake.requests[0].json()
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert output.finish_reason == "tool_calls"
    assert output.content == ""
    (tool_call,) = output.tool_calls
    assert tool_call["function"]["name"] == "save_summary"
    assert json.loads(tool_call["function"]["arguments"]) == {"text": QUESTION}

    # The conversation continues with the tool's answer: the model now answers in text.
    followup = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": output.tool_calls},
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "saved"},
    ]
    answer = chat(fake, api_key, tools=tools, messages=followup)
    assert answer.finish_reason == "stop" and answer.content == summary(QUESTION)
    assert fake.requests[1].json()["messages"] == followup


@pytest.mark.parametrize(
    ("model", "overrides", "rates"),
    [
        ("gpt-4o-mini", {}, (0.15, 0.60)),
        ("gpt-4o", {}, (2.50, 10.00)),
        ("gpt-4o", {"price_in_per_million": 1.0}, (1.0, 10.00)),
        ("local-llama", {}, (0.0, 0.0)),
        ("local-llama", {"price_in_per_million": 0.5, "price_out_per_million": 2.0}, (0.5, 2.0)),
    ],
)
def test_cost_comes_from_the_price_table_or_the_overrides(
    fake: FakeOpenAI,
    api_key: tuple[str, str],
    model: str,
    overrides: dict[str, float],
    rates: tuple[float, float],
) -> None:
    output = chat(fake, api_key, model=model, **overrides)
    expected = (
        output.usage.prompt_tokens * rates[0] + output.usage.completion_tokens * rates[1]
    ) / 1e6
    assert output.cost_usd == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-08-06", (2.50, 10.00)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("openai/gpt-4.1-mini", (0.40, 1.60)),
        ("GPT-4o", (2.50, 10.00)),
        ("o1-mini-2024-09-12", (1.10, 4.40)),
        ("gpt-4-0613", (30.00, 60.00)),
        ("gpt-4omega", None),
        ("llama3", None),
    ],
)
def test_models_are_priced_by_their_longest_prefix(
    model: str, expected: tuple[float, float] | None
) -> None:
    assert price(model) == expected


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable", "words"),
    [
        (429, "7", True, ["429", "retry after 7 s"]),
        (500, None, True, ["500", "fake failure 500"]),
        (503, "2.5", True, ["503", "retry after 3 s"]),
        (400, None, False, ["400", "fix the input"]),
        (403, None, False, ["403", "permissions"]),
        (404, None, False, ["404", "base_url"]),
    ],
)
def test_status_codes_are_classified_for_retries(
    fake: FakeOpenAI,
    api_key: tuple[str, str],
    status: int,
    retry_after: str | None,
    retryable: bool,
    words: list[str],
) -> None:
    fake.fail(status, retry_after=retry_after)
    with pytest.raises(ActionError) as caught:
        chat(fake, api_key)
    error = caught.value
    assert error.retryable is retryable
    assert error.host == fake.base_url.split("//")[1].removesuffix("/v1")
    for word in words:
        assert word in str(error)
    assert api_key[1] not in str(error)
    # The next call succeeds: the failure was the server's, not the connector's state.
    assert chat(fake, api_key).content == summary(QUESTION)


def test_a_wrong_key_is_not_retryable_and_never_named(temporal: str) -> None:
    name, value = f"wrong_{uuid.uuid4().hex[:8]}", f"sk-wrong-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    with FakeOpenAI(api_key="sk-the-right-one") as server:
        # A server that echoes the key it got must not get it into the message either.
        server.fail(401, body={"error": {"message": f"Incorrect API key provided: {value}"}})
        with pytest.raises(ActionError, match="401") as caught:
            chat(server, (name, value))
    assert caught.value.retryable is False
    assert value not in str(caught.value)
    assert "api_key" in str(caught.value)


def test_a_gateway_page_instead_of_json_is_reported(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    fake.fail(502, body="<html><body>Bad Gateway</body></html>")
    with pytest.raises(ActionError, match="502 Bad Gateway: <html>") as caught:
        chat(fake, api_key)
    assert caught.value.retryable is True


def test_a_wrong_base_url_path_is_not_retryable(fake: FakeOpenAI, api_key: tuple[str, str]) -> None:
    with pytest.raises(ActionError, match="404") as caught:
        chat(fake, api_key, base_url=fake.base_url.removesuffix("/v1"))
    assert caught.value.retryable is False


def test_a_refused_connection_is_retryable(api_key: tuple[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ActionError, match="could not reach") as caught:
        call(
            connector,
            "chat",
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key=flowat.secret(api_key[0]),
            model="gpt-4o-mini",
            messages=MESSAGES,
        )
    assert caught.value.retryable is True
    assert caught.value.host == f"127.0.0.1:{port}"


def test_a_slow_server_times_out_retryably(api_key: tuple[str, str]) -> None:
    with (
        FakeOpenAI(api_key=api_key[1], delay=1.0) as slow,
        pytest.raises(ActionError, match=r"did not answer within 0\.2 s") as caught,
    ):
        chat(slow, api_key, timeout=0.2)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"api_key": "sk-plain-text"}, "api_key"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"response_format": "yaml"}, "response_format"),
        ({"temperature": 3}, "temperature"),
        ({"base_url": "api.openai.com/v1"}, "base_url"),
    ],
)
def test_invalid_input_is_refused_naming_the_field(
    fake: FakeOpenAI, api_key: tuple[str, str], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ActionError, match=f"invalid input: {field}") as caught:
        chat(fake, api_key, **change)
    assert caught.value.retryable is False
    assert "sk-plain-text" not in str(caught.value)
    assert fake.requests == []


def test_a_missing_secret_is_not_retryable(fake: FakeOpenAI, temporal: str) -> None:
    with pytest.raises(ActionError, match="no_such_key") as caught:
        chat(fake, ("no_such_key", ""))
    assert caught.value.retryable is False
    assert fake.requests == []


def test_a_server_without_auth_needs_no_key(temporal: str) -> None:
    with FakeOpenAI(api_key=None) as local:
        output = call(connector, "chat", base_url=local.base_url, model="llama3", messages=MESSAGES)
        assert "authorization" not in {k.lower() for k in local.requests[0].headers}
    assert isinstance(output, ChatOutput) and output.cost_usd == 0.0


# --- a workflow run on the Temporal dev server -------------------------------------------


def _cells(secret_name: str) -> list[Cell]:
    return [
        Cell('llm_url = "http://127.0.0.1:9/v1"\ntopic = "with retries"', 1, tags=("parameters",)),
        Cell(f'%%flowat step draft\ntext = "{QUESTION} " + topic', 2),
        Cell(
            "%%flowat step summary --action llm.chat --retries 2\n"
            "base_url = llm_url\n"
            f"api_key = flowat.secret({secret_name!r})\n"
            'model = "gpt-4o-mini"\n'
            'messages = [{"role": "system", "content": "You summarise text."},\n'
            '            {"role": "user", "content": text}]\n',
            3,
        ),
        Cell(
            "%%flowat step report\n"
            'report = {"summary": summary["content"], "tokens": summary["usage"]["total_tokens"]}',
            4,
        ),
    ]


def test_an_action_step_calls_the_model_in_a_workflow_run(
    fake: FakeOpenAI, api_key: tuple[str, str], workflow_name: str
) -> None:
    name, value = api_key
    flowat.publish(workflow_name, cells=_cells(name))
    fake.fail(500)  # the first attempt fails; the step's retry succeeds
    run = flowat.run(workflow_name, parameters={"llm_url": fake.base_url, "topic": "today"})

    assert run.status == "succeeded", run.error
    text = f"{QUESTION} today"
    result = run.outputs["summary"]["summary"]
    assert result["content"] == summary(text)
    prompt = SYSTEM_WORDS + len(text.split())
    completion = len(summary(text).split())
    assert result["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert result["cost_usd"] == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6)
    assert run.outputs["report"]["report"] == {
        "summary": summary(text),
        "tokens": prompt + completion,
    }
    assert {s["name"]: s["attempts"] for s in run.steps}["summary"] == 2
    assert len(fake.requests) == 2
    headers = {k.lower(): v for k, v in fake.requests[1].headers.items()}
    assert headers["authorization"] == f"Bearer {value}"  # the key was really revealed

    assert value not in json.dumps(run.to_json(), default=str)
    assert value not in run.record.model_dump_json()
    assert value not in flowat.get_run(run.run_id).record.model_dump_json()


def test_a_rejected_key_fails_the_step_without_retrying(
    api_key: tuple[str, str], workflow_name: str
) -> None:
    name, value = api_key
    flowat.publish(workflow_name, cells=_cells(name))
    with FakeOpenAI(api_key="sk-another-key") as server:
        run = flowat.run(workflow_name, parameters={"llm_url": server.base_url})
        assert len(server.requests) == 1  # 401 is final: no retry

    assert run.status == "failed"
    assert run.error is not None and run.error["step"] == "summary"
    assert "401" in run.error["message"]
    assert {s["name"]: s["attempts"] for s in run.steps}["summary"] == 1
    assert value not in json.dumps(run.to_json(), default=str)
    assert value not in run.record.model_dump_json()
