"""Limits: blow-ups are refused quickly, with an ExpressionError naming the limit.

No timing assertions: each case is measured (shown with ``-rP``/``-s``), and the
timeout marker catches an evaluator that hangs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowat_kernel.expressions import (
    DEFAULT_LIMITS,
    ExpressionError,
    Limits,
    evaluate,
    run_assignments,
)

BIG: dict[str, Any] = {"big": list(range(1_000_000)), "text": "a" * 1_000_000}

CASES = [
    ("pow_tower", "10**10**10", "max_power_exponent"),
    ("pow_exponent", "2 ** 100000", "max_power_exponent"),
    ("pow_float", "1.5 ** 10**9", "max_power_exponent"),
    ("pow_bits", "(10**1000) ** 1000", "max_int_bits"),
    ("int_mult_bits", "(7**900) * (7**900) * (7**900) * (7**900)", "max_int_bits"),
    ("str_repeat", "'a' * 10**10", "max_length"),
    ("str_repeat_left", "10**10 * 'a'", "max_length"),
    ("list_repeat", "[0] * 10**10", "max_length"),
    ("tuple_repeat", "(1, 2) * 10**9", "max_length"),
    ("concat", "text + text", "max_length"),
    ("join_method", "'x'.join(['a' * 10**5] * 10**3)", "max_length"),
    ("join_helper", "join(['a' * 10**5] * 10**3, ',')", "max_length"),
    ("replace_growth", "('a' * 2000).replace('a', 'b' * 2000)", "max_length"),
    ("replace_helper", "replace('a' * 2000, 'a', 'b' * 2000)", "max_length"),
    ("center", "'a'.center(10**9)", "max_length"),
    ("zfill", "'1'.zfill(10**9)", "max_length"),
    ("str_of_shared_refs", "str([['a' * 1000] * 1000] * 1000)", "max_length"),
    ("json_of_shared_refs", "json([[0] * 10**5] * 10**5)", "max_length"),
    ("fstring_of_shared_refs", "f'{[[0] * 10**5] * 10**5}'", "max_length"),
    ("flatten_shared_refs", "flatten([[0] * 10**5] * 10**5)", "max_length"),
    ("unique_shared_refs", "unique([[0] * 10**5] * 10**5)", "max_length"),
    ("range_huge", "range(10**12)", "max_length"),
    ("range_in_list", "list(range(10**10))", "max_length"),
    ("star_growth", "[*big, *big]", "max_length"),
    ("set_union", "set(big) | set(range(-1, -10**5, -1))", "max_operations"),
    ("round_digits", "round(1, -10**9)", "max_power_exponent"),
    (
        "comprehension_nesting",
        "[[[0 for a in range(100)] for b in range(100)] for c in range(100)]",
        "max_operations",
    ),
    (
        "comprehension_cartesian",
        "len([1 for a in range(1000) for b in range(1000)])",
        "max_operations",
    ),
    ("repeated_big_scans", "[sorted(big) for i in range(1000)]", "max_operations"),
    ("repeated_big_sums", "sum(sum(big) for i in range(1000))", "max_operations"),
    ("repeated_membership", "[-1 in big for i in range(1000)]", "max_operations"),
    ("long_source", "<=".join(["1"] * 150_000), "max_source_length"),
    ("nested_lists_1000", "[" * 1000 + "]" * 1000, "max_depth"),
    ("nested_parens_1000", "(" * 1000 + "1" + ")" * 1000, "max_depth"),
    ("not_chain_10k", "not " * 10_000 + "1", "max_depth"),
    ("neg_chain_10k", "-" * 10_000 + "1", "max_depth"),
    ("sum_chain_40k", "+".join(["1"] * 40_000), "max_depth"),
    ("subscript_chain_10k", "big" + "[0]" * 10_000, "max_depth"),
    ("nested_65", "[" * 65 + "]" * 65, "max_depth"),
    ("ifexp_chain", "1 if big else " * 5000 + "2", "max_depth"),
    ("calls_1000", "abs(" * 1000 + "1" + ")" * 1000, "max_depth"),
    ("lambda_chain", "lambda: " * 5000 + "1", "max_depth"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("text", "limit"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_blowups_are_refused(text: str, limit: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate(text, BIG, step="s")
    elapsed = time.perf_counter() - started
    print(f"refused in {elapsed * 1000:.1f} ms: {info.value.reason}")
    assert info.value.limit == limit, str(info.value)
    assert limit in str(info.value)


@pytest.mark.timeout(10)
def test_set_variable_cells_cannot_grow_values_line_by_line() -> None:
    strings = "a = 'x' * 1000\nb = a * 1000\nc = b + b"
    with pytest.raises(ExpressionError) as info:
        run_assignments(strings, {})
    assert (info.value.limit, info.value.line) == ("max_length", 3)
    ints = "a = 10 ** 1000\nb = a * a\nc = b * b\nd = c * c"
    with pytest.raises(ExpressionError) as info:
        run_assignments(ints, {})
    assert (info.value.limit, info.value.line) == ("max_int_bits", 3)


def test_within_the_limits_is_fine() -> None:
    assert len(evaluate("'a' * 10**6", {})) == 10**6
    assert evaluate("2 ** 1000", {}) == 2**1000
    assert evaluate("len(range(10**6))", {}) == 10**6
    assert evaluate("sum(big)", BIG) == sum(BIG["big"])
    assert evaluate("len([x for x in range(40_000)])", {}) == 40_000
    assert evaluate("[" * 60 + "1" + "]" * 60, {}) is not None


def test_custom_limits() -> None:
    with pytest.raises(ExpressionError, match="max_operations=50"):
        evaluate("[i for i in range(10) for j in range(10)]", {}, limits=Limits(max_operations=50))
    with pytest.raises(ExpressionError, match="max_length=10"):
        evaluate("'abc' * 4", {}, limits=Limits(max_length=10))
    with pytest.raises(ExpressionError, match="max_source_length=10"):
        evaluate("'a long expression text'", {}, limits=Limits(max_source_length=10))
    with pytest.raises(ExpressionError, match="max_depth=3"):
        evaluate("[[[[1]]]]", {}, limits=Limits(max_depth=3))
    with pytest.raises(ExpressionError, match="max_power_exponent=8"):
        evaluate("2 ** 9", {}, limits=Limits(max_power_exponent=8))
    assert evaluate("2 ** 8", {}, limits=Limits(max_power_exponent=8)) == 256
    with pytest.raises(ExpressionError, match="max_int_bits=64"):
        evaluate("2 ** 40 * 2 ** 40", {}, limits=Limits(max_int_bits=64))


def test_depth_is_checked_against_the_evaluation_limits_too() -> None:
    from flowat_kernel.expressions import parse

    expression = parse("[[[[1]]]]")
    with pytest.raises(ExpressionError, match="max_depth=2"):
        expression.evaluate({}, Limits(max_depth=2))


@pytest.mark.timeout(10)
def test_wall_clock_backstop() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("[i * 2 for i in range(20_000)]", {}, limits=Limits(max_seconds=1e-9))
    assert info.value.limit == "max_seconds"


def test_wall_clock_can_be_turned_off_for_workflow_code() -> None:
    no_clock = Limits(max_seconds=None)
    assert evaluate("len([i for i in range(20_000)])", {}, limits=no_clock) == 20_000


def test_budget_is_deterministic() -> None:
    """The same expression hits the operation limit at the same point every time."""
    limits = Limits(max_operations=5_000, max_seconds=None)
    messages = set()
    for _ in range(3):
        with pytest.raises(ExpressionError) as info:
            evaluate("[x for x in range(10_000)]", {}, limits=limits)
        messages.add(str(info.value))
    assert len(messages) == 1
    assert evaluate("len([x for x in range(2_000)])", {}, limits=limits) == 2_000


@pytest.mark.parametrize(
    "bad",
    [
        {"max_operations": 0},
        {"max_length": 0},
        {"max_depth": 0},
        {"max_depth": 500},
        {"max_power_exponent": 0},
        {"max_int_bits": 8},
        {"max_seconds": 0},
        {"max_source_length": 0},
    ],
)
def test_limits_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Limits"):
        Limits(**bad)


def test_defaults() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_operations == 100_000
    assert DEFAULT_LIMITS.max_length == 1_000_000
    assert DEFAULT_LIMITS.max_depth == 64
    assert DEFAULT_LIMITS.max_seconds == 1.0
