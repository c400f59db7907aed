"""WorkflowSpec validation, retry bounds, canonical JSON and the JSON schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from flowat_kernel.errors import SpecError
from flowat_kernel.spec import (
    DEFAULT_NON_RETRYABLE,
    RetryPolicy,
    StepSpec,
    WorkflowSpec,
    json_schema,
)


def step(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "source": "x = 1", **fields}


def spec_data(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "wf",
        "inputs": [{"name": "rows", "type": "int", "default": 3}],
        "steps": [
            step("load", inputs=[{"name": "rows", "source": "input"}], exports=["frame"]),
            step(
                "report",
                prelude=["import math"],
                inputs=[{"name": "frame", "source": "step", "step": "load"}],
                retry={"retries": 4, "initial_interval_seconds": 0.5},
                timeout_seconds=30,
            ),
        ],
        "edges": [{"source": "load", "target": "report", "names": ["frame"]}],
    }
    data.update(fields)
    return data


def test_valid_spec_parses_from_dict_and_json() -> None:
    data = spec_data()
    spec = WorkflowSpec.parse(data)
    assert [s.name for s in spec.steps] == ["load", "report"]
    assert spec.step("report").retry.retries == 4
    assert spec.step("report").timeout_seconds == 30.0
    assert spec.upstream_map() == {"load": set(), "report": {"load"}}
    assert WorkflowSpec.parse(json.dumps(data)) == spec
    assert WorkflowSpec.parse(spec.canonical_json().encode()) == spec


# Each case: a change to the valid spec, then the fragments the SpecError must contain.
INVALID_CASES = [
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(retries=101),
        ["step 'report'", "retry.retries", "less than or equal to 100"],
        id="retries-above-bound",
    ),
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(retries=-1),
        ["step 'report'", "retry.retries", "greater than or equal to 0"],
        id="retries-negative",
    ),
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(retries=None),
        ["step 'report'", "retry.retries"],
        id="retries-none-is-not-unlimited",
    ),
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(backoff_coefficient=0.5),
        ["step 'report'", "retry.backoff_coefficient"],
        id="backoff-below-one",
    ),
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(initial_interval_seconds=0),
        ["step 'report'", "retry.initial_interval_seconds", "greater than 0"],
        id="interval-zero",
    ),
    pytest.param(
        lambda d: d["steps"][1]["retry"].update(maximum_interval_seconds=86401),
        ["step 'report'", "retry.maximum_interval_seconds"],
        id="max-interval-above-a-day",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(timeout_seconds=0),
        ["step 'load'", "timeout_seconds", "greater than 0"],
        id="timeout-zero",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(timeout_seconds=8 * 86400),
        ["step 'load'", "timeout_seconds"],
        id="timeout-above-a-week",
    ),
    pytest.param(
        lambda d: d["steps"][1].update(source=3),
        ["step 'report'", "source", "valid string"],
        id="source-not-text",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(bogus=True),
        ["step 'load'", "bogus", "Extra inputs"],
        id="unknown-field",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(name="bad name"),
        ["step 'bad name'", "name", "pattern"],
        id="bad-step-name",
    ),
    pytest.param(
        lambda d: d["steps"][1].pop("name"),
        ["step #2", "name", "Field required"],
        id="missing-step-name",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(exports=["not-an-identifier"]),
        ["step 'load'", "exports.0"],
        id="bad-export",
    ),
    pytest.param(
        lambda d: d["steps"][0].update(inputs=[{"name": "rows", "source": "input", "step": "x"}]),
        ["step 'load'", "inputs.0", "names a step exactly when its source is 'step'"],
        id="input-binding-with-step",
    ),
    pytest.param(
        lambda d: d["steps"][1].update(inputs=[{"name": "frame", "source": "step"}]),
        ["step 'report'", "inputs.0", "names a step exactly when its source is 'step'"],
        id="step-binding-without-step",
    ),
    pytest.param(
        lambda d: d["steps"][1].update(kind="sql"),
        ["step 'report'", "kind"],
        id="unknown-kind",
    ),
    pytest.param(
        lambda d: d["inputs"][0].update(type="decimal"),
        ["workflow", "inputs.0.type"],
        id="unknown-input-type",
    ),
    pytest.param(
        lambda d: d.update(name="1wf"),
        ["workflow", "name", "pattern"],
        id="bad-workflow-name",
    ),
    pytest.param(
        lambda d: d.update(spec_version=2),
        ["workflow", "spec_version"],
        id="future-spec-version",
    ),
    pytest.param(
        lambda d: d["steps"].append(step("load")),
        ["duplicate step names: load"],
        id="duplicate-steps",
    ),
    pytest.param(
        lambda d: d.update(steps=[]),
        ["at least one step"],
        id="no-steps",
    ),
    pytest.param(
        lambda d: d["edges"].append({"source": "load", "target": "ghost"}),
        ["edge load -> ghost names unknown step 'ghost'"],
        id="edge-unknown-target",
    ),
    pytest.param(
        lambda d: d["edges"].append({"source": "ghost", "target": "report"}),
        ["edge ghost -> report names unknown step 'ghost'"],
        id="edge-unknown-source",
    ),
    pytest.param(
        lambda d: d.update(edges=[]),
        ["step 'report' reads 'frame' from step 'load' without an edge from it"],
        id="binding-without-edge",
    ),
    pytest.param(
        lambda d: d.update(inputs=[]),
        ["step 'load' reads workflow input 'rows', which the workflow does not declare"],
        id="undeclared-input",
    ),
    pytest.param(
        lambda d: d["edges"].append({"source": "report", "target": "load"}),
        ["the steps form a cycle: load -> report -> load"],
        id="cycle",
    ),
    pytest.param(
        lambda d: d["edges"].append({"source": "load", "target": "load"}),
        ["the steps form a cycle: load -> load"],
        id="self-loop",
    ),
]


@pytest.mark.parametrize(("mutate", "fragments"), INVALID_CASES)
def test_validation_errors_name_the_step_and_field(mutate: Any, fragments: list[str]) -> None:
    data = spec_data()
    mutate(data)
    for raw in (data, json.dumps(data)):
        with pytest.raises(SpecError) as caught:
            WorkflowSpec.parse(raw)
        message = str(caught.value)
        assert message.startswith("invalid workflow spec:")
        for fragment in fragments:
            assert fragment in message, message
        assert isinstance(caught.value.__cause__, ValidationError)


def test_every_problem_is_listed() -> None:
    data = spec_data()
    data["steps"][0]["timeout_seconds"] = -1
    data["steps"][1]["retry"]["retries"] = 500
    message = str(_spec_error(data))
    assert "step 'load': timeout_seconds" in message
    assert "step 'report': retry.retries" in message


def _spec_error(data: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        WorkflowSpec.parse(data)
    return caught.value


def test_unreadable_json_is_a_spec_error() -> None:
    assert "Invalid JSON" in str(_spec_error("{not json"))


def test_step_lookup_names_the_known_steps() -> None:
    spec = WorkflowSpec.parse(spec_data())
    assert spec.step("load").exports == ("frame",)
    with pytest.raises(SpecError, match="has no step 'nope'; its steps are load, report"):
        spec.step("nope")


def test_specs_are_immutable() -> None:
    spec = WorkflowSpec.parse(spec_data())
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        spec.steps[0].retry.retries = 50  # type: ignore[misc]


# -- retry policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (2, 3), (7, 8), (100, 101)])
def test_maximum_attempts_is_retries_plus_one(retries: int, attempts: int) -> None:
    policy = RetryPolicy(retries=retries)
    assert policy.maximum_attempts == attempts
    assert 1 <= policy.maximum_attempts <= 101


def test_default_retry_policy_is_bounded() -> None:
    policy = StepSpec(name="s", source="x = 1").retry
    assert policy.retries == 2
    assert policy.maximum_attempts == 3
    assert policy.initial_interval_seconds == 1.0
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_interval_seconds == 60.0
    assert policy.non_retryable_errors == DEFAULT_NON_RETRYABLE
    assert {"SyntaxError", "NameError", "ModuleNotFoundError"} <= set(DEFAULT_NON_RETRYABLE)


@pytest.mark.parametrize("retries", [-1, 101, 10_000])
def test_retry_bounds_reject(retries: int) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(retries=retries)


# -- canonical JSON and hashing -----------------------------------------------------------------


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def test_canonical_json_is_sorted_and_compact() -> None:
    spec = WorkflowSpec.parse(spec_data())
    text = spec.canonical_json()
    assert " " not in text.replace("x = 1", "").replace("import math", "")
    loaded = json.loads(text)
    assert json.dumps(loaded, sort_keys=True, separators=(",", ":")) == text
    assert list(loaded) == sorted(loaded)


def test_hash_is_stable_under_key_order() -> None:
    data = spec_data()
    reordered = _reverse_keys(copy.deepcopy(data))
    assert list(reordered) != list(data)
    first, second = WorkflowSpec.parse(data), WorkflowSpec.parse(reordered)
    assert first.canonical_json() == second.canonical_json()
    assert first.content_hash() == second.content_hash()
    assert WorkflowSpec.parse(json.dumps(reordered, indent=4)).content_hash() == (
        first.content_hash()
    )


def test_hash_format_and_sensitivity() -> None:
    spec = WorkflowSpec.parse(spec_data())
    digest = spec.content_hash()
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    int(digest.removeprefix("sha256:"), 16)
    changed = spec_data()
    changed["steps"][0]["source"] = "x = 2"
    assert WorkflowSpec.parse(changed).content_hash() != digest
    # Explicit defaults hash like omitted ones: the hash covers the validated content.
    explicit = spec_data()
    explicit["steps"][0]["retry"] = RetryPolicy().model_dump(mode="json")
    explicit["spec_version"] = 1
    assert WorkflowSpec.parse(explicit).content_hash() == digest


def test_non_ascii_survives_canonical_json() -> None:
    data = spec_data()
    data["steps"][0]["source"] = "label = 'café ✓'"
    spec = WorkflowSpec.parse(data)
    assert "café ✓" in spec.canonical_json()
    assert WorkflowSpec.parse(spec.canonical_json()) == spec


# -- JSON schema ----------------------------------------------------------------------------------


def test_json_schema_shape() -> None:
    schema = json_schema()
    json.dumps(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert {"name", "steps"} <= set(schema["required"])
    steps = schema["properties"]["steps"]
    assert steps["type"] == "array"
    step_ref = steps["items"]["$ref"]
    assert step_ref == "#/$defs/StepSpec"
    step_schema = schema["$defs"]["StepSpec"]
    assert {"name", "source"} <= set(step_schema["required"])
    assert {"prelude", "inputs", "exports", "after", "retry", "timeout_seconds"} <= set(
        step_schema["properties"]
    )


def test_json_schema_accepts_valid_specs_and_rejects_invalid_ones() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    spec = WorkflowSpec.parse(spec_data())
    validator.validate(json.loads(spec.canonical_json()))
    validator.validate(spec_data())
    broken = spec_data()
    broken["steps"][0].pop("source")
    assert not validator.is_valid(broken)
    extra = spec_data()
    extra["steps"][0]["surprise"] = 1
    assert not validator.is_valid(extra)
