"""Set Variable cells: `name = expression` lines, in order."""

from __future__ import annotations

import pytest

from flowat_kernel.expressions import ExpressionError, parse_assignments, run_assignments

CELL = """\
# prices in cents
subtotal = sum(line["price"] * line["qty"] for line in order["lines"])

tax = round(subtotal * rate)   # rate comes from the parameters
total = subtotal + tax
label = f"{order['id']}: {total}"
"""


def test_assignments_in_order_each_seeing_the_earlier_ones() -> None:
    context = {"order": {"id": "A1", "lines": [{"price": 100, "qty": 2}]}, "rate": 0.2}
    result = run_assignments(CELL, context, step="totals")
    assert result == {"subtotal": 200, "tax": 40, "total": 240, "label": "A1: 240"}
    assert list(result) == ["subtotal", "tax", "total", "label"]
    assert "order" not in result  # only what the cell assigns


def test_parsed_once_run_many() -> None:
    parsed = parse_assignments(CELL, step="totals")
    assert [name for name, _ in parsed] == ["subtotal", "tax", "total", "label"]
    assert parsed[0][1].text == 'sum(line["price"] * line["qty"] for line in order["lines"])'
    assert parsed[0][1].names == frozenset({"order"})
    assert parsed[2][1].names == frozenset({"subtotal", "tax"})
    for qty in (1, 3):
        context = {"order": {"id": "B", "lines": [{"price": 10, "qty": qty}]}, "rate": 0.5}
        assert run_assignments(parsed, context)["total"] == 15 * qty


def test_reassignment_keeps_the_last_value_and_can_read_the_context_value() -> None:
    assert run_assignments("x = x + 1\nx = x * 10", {"x": 1}) == {"x": 20}


def test_context_is_not_changed() -> None:
    context = {"x": 1}
    run_assignments("x = 5\ny = x", context)
    assert context == {"x": 1}


@pytest.mark.parametrize(
    ("source", "line", "column", "reason"),
    [
        ("a = 1\nb = a +", 2, 8, "invalid syntax"),
        ("a = 1\nprint(a)", 2, 1, "an expression is not allowed here"),
        ("a = 1\n\nimport os", 3, 1, "a import statement is not allowed here"),
        ("a, b = 1, 2", 1, 1, "assign to one simple name"),
        ("a = b = 1", 1, 1, "assign to one simple name"),
        ("a.x = 1", 1, 1, "assign to one simple name"),
        ("d['k'] = 1", 1, 1, "assign to one simple name"),
        ("a += 1", 1, 1, "augmented assignment is not allowed: write a = a ..."),
        ("a: int = 1", 1, 1, "annotations are not allowed"),
        ("len = 3", 1, 1, "len is a helper function; choose another name"),
        ("__builtins__ = 1", 1, 1, "no names starting with __"),
        ("x = 1\ny = x.__class__", 2, 5, "attribute __class__ is not allowed"),
        ("x = 1\nif x:\n    y = 2", 2, 1, "a if statement is not allowed here"),
        ("def f(): pass", 1, 1, "functiondef statement is not allowed"),
        ("# only a comment\n", 1, 1, "the cell is empty"),
    ],
)
def test_refused_at_parse_time_with_position(
    source: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_assignments(source, step="vars")
    assert reason in info.value.reason
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert info.value.step == "vars"


def test_runtime_error_position_is_in_the_cell() -> None:
    with pytest.raises(ExpressionError) as info:
        run_assignments("a = 1\nb = {'k': 1}\nc = a + b['nope']", {}, step="vars")
    error = info.value
    assert (error.line, error.column) == (3, 9)
    assert error.expression == "a + b['nope']"
    assert str(error).startswith("step 'vars': expression `a + b['nope']` at line 3, column 9")


def test_later_names_are_not_visible_earlier() -> None:
    with pytest.raises(ExpressionError, match="name 'b' is not defined"):
        run_assignments("a = b\nb = 1", {})
