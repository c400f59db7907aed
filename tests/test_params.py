"""Run parameters: ``-p key=value`` parsing and coercion to the workflow's typed inputs."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.errors import ParameterError
from flowat_kernel.params import coerce_parameters, parse_assignments
from flowat_kernel.spec import InputSpec

INPUTS = (
    InputSpec(name="rows", type="int", default=4),
    InputSpec(name="rate", type="float", default=0.5),
    InputSpec(name="label", type="str", default="demo"),
    InputSpec(name="deep", type="bool", default=False),
    InputSpec(name="items", type="list", default=[1]),
    InputSpec(name="opts", type="dict", default={"a": 1}),
    InputSpec(name="extra", type="any", default=None),
)
DEFAULTS = {i.name: i.default for i in INPUTS}
LISTING = (
    'rows (int, default 4), rate (float, default 0.5), label (str, default "demo"), '
    'deep (bool, default false), items (list, default [1]), opts (dict, default {"a": 1}), '
    "extra (any, default null)"
)


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        pytest.param("rows", "10", 10, id="int"),
        pytest.param("rows", " -3 ", -3, id="int-spaces-negative"),
        pytest.param("rows", 7, 7, id="int-value"),
        pytest.param("rate", "2.5", 2.5, id="float"),
        pytest.param("rate", "2", 2.0, id="float-from-int-text"),
        pytest.param("rate", 3, 3.0, id="float-from-int-value"),
        pytest.param("rate", "1e-3", 0.001, id="float-exponent"),
        pytest.param("label", "10", "10", id="str-keeps-digits"),
        pytest.param("label", "  padded ", "  padded ", id="str-kept-verbatim"),
        pytest.param("label", "", "", id="str-empty"),
        pytest.param("items", "[1, 2, 3]", [1, 2, 3], id="list-json"),
        pytest.param("items", (1, 2), [1, 2], id="list-from-tuple"),
        pytest.param("items", ["a"], ["a"], id="list-value"),
        pytest.param("opts", '{"k": [1, 2]}', {"k": [1, 2]}, id="dict-json"),
        pytest.param("opts", {"k": 1}, {"k": 1}, id="dict-value"),
        pytest.param("extra", "12", 12, id="any-json-number"),
        pytest.param("extra", '{"x": null}', {"x": None}, id="any-json-object"),
        pytest.param("extra", "hello", "hello", id="any-plain-text"),
        pytest.param("extra", [1, "a"], [1, "a"], id="any-value"),
    ],
)
def test_coercion(name: str, given: Any, expected: Any) -> None:
    values = coerce_parameters(INPUTS, {name: given})
    assert values[name] == expected
    assert type(values[name]) is type(expected)
    assert values == {**DEFAULTS, name: expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("YES", True),
        ("1", True),
        ("on", True),
        (" yes ", True),
        ("false", False),
        ("FALSE", False),
        ("no", False),
        ("0", False),
        ("off", False),
    ],
)
def test_bool_words(text: str, expected: bool) -> None:
    assert coerce_parameters(INPUTS, {"deep": text})["deep"] is expected


@pytest.mark.parametrize("value", [True, False])
def test_bool_values_pass(value: bool) -> None:
    assert coerce_parameters(INPUTS, {"deep": value})["deep"] is value


@pytest.mark.parametrize(
    ("name", "given", "reason"),
    [
        pytest.param("rows", "3.5", "'3.5' is not a whole number", id="int-from-decimal-text"),
        pytest.param("rows", "ten", "'ten' is not a whole number", id="int-from-word"),
        pytest.param("rows", 3.5, "expected int, got float", id="int-from-float"),
        pytest.param("rows", True, "a bool is not a number", id="int-from-bool"),
        pytest.param("rows", [1], "expected int, got list", id="int-from-list"),
        pytest.param("rate", "fast", "'fast' is not a decimal number", id="float-from-word"),
        pytest.param("rate", False, "a bool is not a number", id="float-from-bool"),
        pytest.param("label", 5, "expected str, got int", id="str-from-int"),
        pytest.param("deep", "maybe", "'maybe' is not true or false", id="bool-from-word"),
        pytest.param("deep", 1, "expected bool, got int", id="bool-from-int"),
        pytest.param("items", "1,2", "Extra data", id="list-not-json"),
        pytest.param("items", '{"a": 1}', "expected list, got dict", id="list-from-object"),
        pytest.param("items", {"a": 1}, "expected list, got dict", id="list-from-dict"),
        pytest.param("opts", "[1]", "expected dict, got list", id="dict-from-array"),
        pytest.param("opts", "{bad", "Expecting property name", id="dict-not-json"),
    ],
)
def test_wrong_types(name: str, given: Any, reason: str) -> None:
    kind = next(i.type for i in INPUTS if i.name == name)
    with pytest.raises(ParameterError) as caught:
        coerce_parameters(INPUTS, {name: given})
    message = str(caught.value)
    assert message.startswith(f"parameter {name}={given!r} is not a valid {kind} (")
    assert reason in message
    assert message.endswith("parameters are: " + LISTING)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes"], ids=["object", "set", "bytes"])
def test_values_that_cannot_travel_as_json_are_parameter_errors(value: Any) -> None:
    with pytest.raises(ParameterError, match="extra"):
        coerce_parameters(INPUTS, {"extra": value})


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"row": "1"}, "row"),
        ({"zeta": 1, "alpha": 2, "rows": 3}, "alpha, zeta"),
    ],
)
def test_unknown_names_list_the_parameters(given: dict[str, Any], names: str) -> None:
    with pytest.raises(ParameterError) as caught:
        coerce_parameters(INPUTS, given)
    assert str(caught.value) == (
        f"unknown parameter {names}; this workflow's parameters are: " + LISTING
    )


def test_workflow_without_parameters() -> None:
    assert coerce_parameters([], {}) == {}
    with pytest.raises(ParameterError) as caught:
        coerce_parameters([], {"x": "1"})
    assert "none: the notebook has no cell tagged `parameters`" in str(caught.value)


def test_defaults_fill_what_is_not_given() -> None:
    assert coerce_parameters(INPUTS, {}) == DEFAULTS
    values = coerce_parameters(INPUTS, {"rows": "1", "deep": "yes", "items": "[]"})
    assert values == {**DEFAULTS, "rows": 1, "deep": True, "items": []}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nan", "not a decimal number"),
        ("inf", "not a decimal number"),
        ("-inf", "not a decimal number"),
        ("1e999", "too large for a float"),
    ],
)
def test_non_finite_floats_are_refused_since_json_cannot_carry_them(text: str, reason: str) -> None:
    with pytest.raises(ParameterError, match=reason):
        coerce_parameters(INPUTS, {"rate": text})


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_float_values_cannot_travel_as_json(value: float) -> None:
    with pytest.raises(ParameterError, match="cannot travel as JSON"):
        coerce_parameters(INPUTS, {"rate": value})


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(["rows=10"], {"rows": "10"}, id="one"),
        pytest.param(["a=1", "b=two"], {"a": "1", "b": "two"}, id="two"),
        pytest.param(["query=x=y"], {"query": "x=y"}, id="value-with-equals"),
        pytest.param([" key =value "], {"key": "value "}, id="key-stripped-value-kept"),
        pytest.param(["empty="], {"empty": ""}, id="empty-value"),
        pytest.param(["a=1", "a=2"], {"a": "2"}, id="last-wins"),
        pytest.param(['opts={"k": 1}'], {"opts": '{"k": 1}'}, id="json-value"),
    ],
)
def test_parse_assignments(items: list[str], expected: dict[str, str]) -> None:
    assert parse_assignments(items) == expected


@pytest.mark.parametrize("item", ["rows", "=1", "  =1", ""])
def test_parse_assignments_rejects(item: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_assignments(["ok=1", item])
    assert str(caught.value) == f"parameter {item!r} must look like key=value"


def test_parse_then_coerce() -> None:
    given = parse_assignments(["rows=12", "rate=0.25", "deep=off", 'opts={"z": true}'])
    assert coerce_parameters(INPUTS, given) == {
        **DEFAULTS,
        "rows": 12,
        "rate": 0.25,
        "deep": False,
        "opts": {"z": True},
    }


# -- the conversion table of docs/user-guide.md, walked row by row ----------------------

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
ROW = re.compile(r"^\| `(\w+)` \| (.+?) \| (.+?) \|$")


def _table() -> list[tuple[str, str, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("#### Parameters on the command line")
    section = text[start : text.index("\n### ", start)]
    rows = []
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            kind, given, result = match.groups()
            given = "" if given == "(empty)" else given.removeprefix("`").removesuffix("`")
            rows.append((kind, given, result))
    return rows


TABLE = _table()


def test_the_table_covers_every_input_type() -> None:
    assert len(TABLE) >= 40
    assert {kind for kind, _, _ in TABLE} == {"int", "float", "str", "bool", "list", "dict", "any"}
    assert any(r.startswith("error") for _, _, r in TABLE)


@pytest.mark.parametrize(("kind", "given", "result"), TABLE, ids=[f"{k}:{g}" for k, g, _ in TABLE])
def test_conversion_table_row(kind: str, given: str, result: str) -> None:
    spec = InputSpec(name="x", type=kind, default=None)  # type: ignore[arg-type]
    if result.startswith("error: "):
        with pytest.raises(ParameterError) as caught:
            coerce_parameters([spec], {"x": given})
        assert result.removeprefix("error: ") in str(caught.value)
        return
    expected = ast.literal_eval(result.strip("`"))
    value = coerce_parameters([spec], {"x": given})["x"]
    assert value == expected
    assert type(value) is type(expected)
    assert repr(value) == repr(expected)  # -0.0 stays negative


@pytest.mark.parametrize("kind", ["int", "float", "bool", "list", "dict", "any"])
def test_spaces_around_the_text_are_ignored_except_for_str(kind: str) -> None:
    rows = [(g, r) for k, g, r in TABLE if k == kind and g and not r.startswith("error")]
    if kind == "any":  # text that is not JSON is kept as it is, spaces included
        rows = [(g, r) for g, r in rows if not r.startswith("`'") or g.startswith('"')]
    spec = InputSpec(name="x", type=kind, default=None)  # type: ignore[arg-type]
    for given, _ in rows:
        padded = coerce_parameters([spec], {"x": f"  {given} "})["x"]
        assert padded == coerce_parameters([spec], {"x": given})["x"]


def test_typed_values_are_not_read_as_text_when_the_caller_says_so() -> None:
    # Callers that hold Python values (not -p text): a string stays the string it is.
    values = coerce_parameters(INPUTS, {"extra": "42", "label": "x"}, from_text=False)
    assert values["extra"] == "42"
    with pytest.raises(ParameterError, match="expected int, got str"):
        coerce_parameters(INPUTS, {"rows": "5"}, from_text=False)
    assert coerce_parameters(INPUTS, {"extra": '"Hello"'})["extra"] == "Hello"
    assert coerce_parameters(INPUTS, {"extra": '"Hello"'}, from_text=False)["extra"] == '"Hello"'
