"""Structured output and prompt templates, through ``llm.chat`` and on their own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

import flowat_kernel as flowat
from flowat_connectors.llm import ChatOutput, connector
from flowat_kernel.ai.prompts import TemplateError, placeholders, render
from flowat_kernel.ai.structured import check, schema_of
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError
from flowat_kernel.testing import call
from tests.connectors.fake_openai import FakeOpenAI


class Invoice(BaseModel):
    number: str
    total: float


def chat(fake: FakeOpenAI, key: tuple[str, str], /, **params: Any) -> ChatOutput:
    output = call(
        connector,
        "chat",
        base_url=fake.base_url,
        api_key=flowat.secret(key[0]),
        model="gpt-4o-mini",
        **params,
    )
    assert isinstance(output, ChatOutput)
    return output


def test_an_invalid_answer_is_sent_back_and_the_valid_one_returned(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    fake.script(
        {"content": "The invoice INV-7 totals 12.5 euros."},
        {"content": json.dumps({"number": "INV-7", "total": "twelve"})},
        {"content": "```json\n" + json.dumps({"number": "INV-7", "total": 12.5}) + "\n```"},
    )
    output = chat(
        fake,
        api_key,
        prompt="Extract the invoice from: {{ text }}",
        variables={"text": "INV-7, 12.5 EUR"},
        output_schema=Invoice,
    )
    assert output.json_ == {"number": "INV-7", "total": 12.5}
    assert len(fake.requests) == 3
    first, second, third = (r.json()["messages"] for r in fake.requests)
    assert first[0]["role"] == "system" and '"total"' in first[0]["content"]
    assert first[-1] == {"role": "user", "content": "Extract the invoice from: INV-7, 12.5 EUR"}
    assert "not JSON" in second[-1]["content"]
    assert "$.total: 'twelve' is not of type 'number'" in third[-1]["content"]
    # The usage and cost of all three calls are added up.
    prompt_words = sum(
        sum(len(str(m["content"]).split()) for m in b) for b in (first, second, third)
    )
    assert output.usage.prompt_tokens == prompt_words
    assert output.cost_usd > 0


def test_still_invalid_after_the_retries_is_a_final_error(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    fake.script(*[{"content": "no JSON here"}] * 3)
    with pytest.raises(ActionError, match="still did not match output_schema after 1") as caught:
        chat(
            fake,
            api_key,
            messages=[{"role": "user", "content": "hi"}],
            output_schema={"type": "object"},
            output_retries=1,
        )
    assert caught.value.retryable is False
    assert len(fake.requests) == 2 and fake.scripted_left == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"output_schema": {"type": "no-such-type"}}, "output_schema"),
        ({"output_schema": 42}, "output_schema"),
        ({"messages": [], "prompt": None}, "give messages, a prompt or a prompt_name"),
        ({"output_retries": 11}, "output_retries"),
        ({"prompt": "x", "prompt_name": "y"}, "not both"),
    ],
)
def test_bad_structured_input_is_refused(
    fake: FakeOpenAI, api_key: tuple[str, str], change: dict[str, Any], field: str
) -> None:
    params = {"messages": [{"role": "user", "content": "hi"}], **change}
    with pytest.raises(ActionError, match=field):
        chat(fake, api_key, **params)
    assert fake.requests == []


def test_a_prompt_that_fails_to_render_names_the_placeholder(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    with pytest.raises(ActionError, match=r"\{\{ missing \}\} failed") as caught:
        chat(fake, api_key, prompt="Hello {{ missing }}", variables={"name": "x"})
    assert caught.value.retryable is False
    assert fake.requests == []


def test_values_are_inserted_once_and_never_evaluated() -> None:
    hostile = "{{ __import__('os').system('touch /tmp/pwned') }} {{ secret }}"
    text = render(
        "Summarise: {{ doc }} ({{ n + 1 }} words)", {"doc": hostile, "n": 4, "secret": "s"}
    )
    assert text == f"Summarise: {hostile} (5 words)"
    assert (
        render("{{ items }}|{{ d['k'] }}", {"items": [1, "a"], "d": {"k": None}}) == '[1, "a"]|null'
    )
    assert placeholders("a {{ x }} b {{y['z']}}") == ["x", "y['z']"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ __import__('os') }}",
        "{{ doc.__class__ }}",
        "{{ open('/etc/passwd') }}",
        "{{ }}",
        "{{ undefined_name }}",
    ],
)
def test_code_in_a_template_is_refused(template: str) -> None:
    with pytest.raises(TemplateError, match="prompt template"):
        render(template, {"doc": "text"})


def test_schemas_from_models_and_dicts_and_checking() -> None:
    schema = schema_of(Invoice)
    assert schema["required"] == ["number", "total"]
    assert check('{"number": "1", "total": 2}', schema) == ({"number": "1", "total": 2}, None)
    value, why = check('{"number": 1}', schema)
    assert value is None and why is not None
    assert "'total' is a required property" in why and "$.number" in why
    with pytest.raises(ValueError, match="not a valid JSON schema"):
        schema_of({"type": 5})
    with pytest.raises(ValueError, match="pydantic model class or a JSON schema"):
        schema_of("Invoice")


def _prompt_cells(template: str) -> list[Cell]:
    return [
        Cell('llm_url = ""\ntopic = "tides"', 1, tags=("parameters",)),
        Cell(f"%%flowat step prompts\nexplain = {template!r}", 2),
        Cell(
            "%%flowat step ask --action llm.chat\n"
            "base_url = llm_url\n"
            f"api_key = flowat.secret({KEY_NAME!r})\n"
            'model = "gpt-4o-mini"\n'
            "prompt = explain\n"
            'variables = {"topic": topic}\n',
            3,
        ),
    ]


KEY_NAME = "prompt_versions_key"


def test_a_prompt_in_a_cell_is_versioned_with_the_workflow(
    fake: FakeOpenAI, api_key: tuple[str, str], workflow_name: str
) -> None:
    flowat.set_secret(KEY_NAME, api_key[1])
    first = flowat.publish(workflow_name, cells=_prompt_cells("Explain {{ topic }} simply."))
    again = flowat.publish(workflow_name, cells=_prompt_cells("Explain {{ topic }} simply."))
    second = flowat.publish(workflow_name, cells=_prompt_cells("Explain {{ topic }} in a poem."))
    assert (first.number, again.created, second.number) == (1, False, 2)
    assert first.version.spec_hash != second.version.spec_hash

    for version, expected in ((1, "Explain tides simply."), (2, "Explain tides in a poem.")):
        run = flowat.run(workflow_name, version=version, parameters={"llm_url": fake.base_url})
        assert run.status == "succeeded", run.error
        assert fake.requests[-1].json()["messages"][-1]["content"] == expected
