"""Every failure is an ExpressionError naming the step, the expression and the position."""

from __future__ import annotations

import pickle
from collections.abc import Mapping

import pytest

from flowat_kernel.errors import FlowAtError
from flowat_kernel.expressions import ExpressionError, evaluate, parse

CONTEXT = {"total": 10, "order": {"id": 1, "lines": [1, 2]}, "name": "x"}


def fail(
    text: str, context: Mapping[str, object] | None = None, step: str | None = "route"
) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        evaluate(text, CONTEXT if context is None else context, step=step)
    return info.value


def test_message_names_step_expression_and_position() -> None:
    error = fail("total >> 2")
    assert str(error) == (
        "step 'route': expression `total >> 2` at line 1, column 7: operator >> is not allowed"
    )
    assert (error.step, error.expression, error.line, error.column) == ("route", "total >> 2", 1, 7)
    assert error.reason == "operator >> is not allowed"
    assert isinstance(error, FlowAtError)


def test_without_a_step() -> None:
    error = fail("total << 1", step=None)
    assert str(error).startswith("expression `total << 1` at line 1, column 7:")
    assert error.step is None


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        # type errors point at the operator
        ("total + 'a'", 1, 7, "unsupported operand type(s) for +"),
        ("1 + (total * 'a' * 2.5)", 1, 18, "can't multiply sequence by non-int of type 'float'"),
        ("order['id'] / 0", 1, 13, "division by zero"),
        ("total < 'a'", 1, 7, "'<' not supported"),
        # missing data points at the subscript
        ("1 + order['nope']", 1, 5, "key 'nope' not found (keys: 'id', 'lines')"),
        ("order['lines'][5]", 1, 1, "index 5 out of range for a list of length 2"),
        ("[1, totl]", 1, 5, "name 'totl' is not defined (did you mean 'total'?)"),
        # forbidden constructs point at the node
        ("name.__class__", 1, 1, "attribute __class__ is not allowed"),
        ("1 + name.format(1)", 1, 5, "str.format is not allowed"),
        ("order.id", 1, 1, "attribute access .id is not allowed; to read a field write x['id']"),
        ("1 + foo(2)", 1, 5, "`foo` is not a helper function"),
        ("lenght(order)", 1, 1, "did you mean `length`?"),
        ("(y := 2)", 1, 2, "assignment expressions (:=) are not allowed"),
        ("len", 1, 1, "len is a helper function: call it"),
        ("name.upper", 1, 1, "method .upper must be called"),
        ("total.upper()", 1, 1, "int has no method .upper() here"),
        ("[1, 2].append(3)", 1, 1, "method .append() is not allowed"),
        ("b'x'", 1, 1, "bytes literals are not allowed"),
        ("1j", 1, 1, "complex literals are not allowed"),
        ("'%d' % total", 1, 6, "string formatting with % is not allowed"),
        ("int('x')", 1, 1, "invalid literal for int()"),
        ("json(float('nan'))", 1, 1, "Out of range float values are not JSON compliant"),
        # syntax errors
        ("total +", 1, 8, "invalid syntax"),
        ("total )", 1, 7, "unmatched ')'"),
        ("import os", 1, 1, "import statements are not allowed"),
        ("x = 1", 1, 1, "assignments are not allowed in an expression"),
        ("1; 2", 1, 4, "only one expression is allowed"),
        ("", 1, 1, "the expression is empty"),
        # multi-line: line and column in the text as written
        ("(total +\n   order['nope'])", 2, 4, "key 'nope' not found"),
        ("(total\n  >> 1)", 2, 3, "operator >> is not allowed"),
        ("  name + 1", 1, 8, "can only concatenate str"),
        ("\n\n  ('a' +\n 'é' + total)", 4, 6, "can only concatenate str"),
    ],
)
def test_positions(text: str, line: int, column: int, reason: str) -> None:
    error = fail(text)
    assert reason in error.reason
    assert (error.line, error.column) == (line, column), str(error)
    assert error.expression == text
    assert str(error).startswith("step 'route': expression `")


def test_unicode_columns_are_characters_not_bytes() -> None:
    error = fail("'ééé' + total")
    assert error.column == 7


def test_unknown_name_lists_at_most_ten_available_names() -> None:
    context = {f"name{i:02d}": i for i in range(15)}
    error = fail("nmae00 + 1", context)
    assert "available: name00, name01" in error.reason
    assert "name09 and 5 more" in error.reason
    assert "name10" not in error.reason


def test_unknown_name_in_an_empty_context() -> None:
    assert "the context is empty" in fail("x", {}).reason


def test_long_expressions_are_shortened_in_the_message_only() -> None:
    text = "[" + ", ".join(["1"] * 100) + ", nope]"
    error = fail(text)
    assert error.expression == text
    assert "..." in str(error)
    assert len(str(error)) < 300


def test_parse_refuses_at_publish_time_without_context() -> None:
    with pytest.raises(ExpressionError, match="operator >> is not allowed"):
        parse("a >> b", step="s")


def test_errors_pickle_for_temporal_and_processes() -> None:
    error = fail("total >> 2")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ExpressionError)
    assert str(copy) == str(error)
    assert (copy.step, copy.line, copy.column, copy.reason) == ("route", 1, 7, error.reason)


def test_limit_errors_name_the_limit() -> None:
    error = fail("10 ** 10 ** 10")
    assert error.limit == "max_power_exponent"
    assert "max_power_exponent" in str(error)
