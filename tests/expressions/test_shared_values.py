"""Values that share references are counted whole: the attacks of issue 16, item 5.

``[[[[0]] * 1000] * 1000] * 1000`` holds three small lists in memory and a billion
items for ``==``, ``sorted``, ``max``, a set, ``contains`` or ``json`` to touch. Each
attack here used to spin inside one C call (or build gigabytes of JSON); now it is
refused with an ``ExpressionError`` naming the limit, the step and the position. The
timeout marker turns a hang into a failure of that test alone; no timing is asserted.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowat_kernel.expressions import (
    ExpressionError,
    Limits,
    OperationMeter,
    evaluate,
    parse,
    run_assignments,
)
from flowat_kernel.expressions.sizes import Walker

#: The issue's value, built with ``*``.
NESTED = "[[[[0]] * 1000] * 1000] * 1000"
#: The same shape built without ``*``: comprehensions that repeat one bound value, so
#: only the consumers (not the repetition check) can stop it. Each text builds new,
#: distinct but equal lists (of distinct int objects), so comparing two of them cannot
#: shortcut on identity: Python would make 10**9 comparisons.
SHARED = (
    "[[c for j in range(1000)] for c in "
    "[[b for i in range(1000)] for b in [list(range(1000, 2000))]]][0]"
)
#: Tuples (hashing walks a tuple whole, and does not cache it).
TUPLES = (
    "[tuple(c for j in range(1000)) for c in "
    "[tuple(b for i in range(1000)) for b in [tuple(range(1000))]]][0]"
)
#: Strings: 1000 x 1000 references to one 1000-character string.
STRINGS = "[[s for j in range(1000)] for s in ['x' * 1000]][0]"
#: A dict whose values share one big list.
DICTS = "{i: b for i in range(1000) for b in [[[0] * 1000 for k in range(1)][0]]}"


def _shared_context() -> dict[str, Any]:
    """Shared values handed in by a notebook (Python-built): ``n == m`` is 10**9 steps."""

    def nested() -> list[Any]:
        return [[[[0]] * 1000] * 1000] * 1000

    def tuples() -> tuple[Any, ...]:
        return ((((0,),) * 1000,) * 1000,) * 1000

    return {
        "n": nested(),
        "m": nested(),
        "t": tuples(),
        "u": tuples(),
        "s": [["x" * 1000] * 1000] * 1000,
        "d": {"k": [[[0] * 1000] * 1000] * 1000},
        "e": {"k": [[[0] * 1000] * 1000] * 1000},
    }


CONTEXT = _shared_context()

ATTACKS: list[tuple[str, str, set[str]]] = [
    # (id, expression, acceptable limits) -- built with `*`: refused at the repetition
    ("issue_eq", f"{NESTED} == {NESTED}", {"max_length"}),
    ("issue_sorted", f"sorted({NESTED})", {"max_length"}),
    ("issue_max", f"max({NESTED})", {"max_length"}),
    ("issue_set_literal", f"{{ {NESTED} }}", {"max_length"}),
    ("issue_contains", f"contains([{NESTED}], [[[0]]])", {"max_length"}),
    ("repeat_strings", "[['a' * 1000] * 1000] * 1000", {"max_length"}),
    ("repeat_tuples", "((('x',) * 1000,) * 1000,) * 1000", {"max_length"}),
    ("repeat_dicts", "[{'k': [[0] * 1000] * 1000}] * 10", {"max_length"}),
    ("repeat_left", "1000 * [1000 * [[0] * 1000]]", {"max_length"}),
    # built by comprehensions, consumed in the same expression
    ("eq", f"{SHARED} == {SHARED}", {"max_operations"}),
    ("ne", f"{SHARED} != {SHARED}", {"max_operations"}),
    ("lt", f"{SHARED} < {SHARED}", {"max_operations"}),
    ("ge", f"{SHARED} >= {SHARED}", {"max_operations"}),
    ("in_list", f"{SHARED} in [1, {SHARED}]", {"max_operations"}),
    ("not_in_list", f"{SHARED} not in [{SHARED}]", {"max_operations"}),
    ("contains", f"contains([{SHARED}], {SHARED})", {"max_operations"}),
    ("sorted", f"sorted([{SHARED}, {SHARED}])", {"max_operations"}),
    ("max", f"max({SHARED}, {SHARED})", {"max_operations"}),
    ("min", f"min([{SHARED}, {SHARED}])", {"max_operations"}),
    ("list_count", f"[{SHARED}].count({SHARED})", {"max_operations"}),
    ("list_index", f"[{SHARED}].index({SHARED})", {"max_operations"}),
    ("set_call", f"set([{TUPLES}, {TUPLES}])", {"max_operations"}),
    ("set_literal", f"{{ {TUPLES}, {TUPLES} }}", {"max_operations"}),
    ("set_comprehension", f"{{x for x in [{TUPLES}]}}", {"max_operations"}),
    ("dict_key", f"{{ {TUPLES}: 1 }}", {"max_operations"}),
    ("dict_comprehension_key", f"{{x: 1 for x in [{TUPLES}]}}", {"max_operations"}),
    ("dict_call", f"dict([({TUPLES}, 1)])", {"max_operations"}),
    ("dict_lookup", f"{{1: 2}}.get({TUPLES})", {"max_operations"}),
    ("dict_subscript", f"{{1: 2}}[{TUPLES}]", {"max_operations"}),
    ("in_dict", f"{TUPLES} in {{1: 2}}", {"max_operations"}),
    ("pick", f"pick({{}}, {TUPLES})", {"max_operations"}),
    ("omit", f"omit({{}}, {TUPLES})", {"max_operations"}),
    ("set_union", f"{{ {TUPLES} }} | {{1}}", {"max_operations"}),
    ("len_json", f"len(json({SHARED}))", {"max_length"}),
    ("len_json_strings", f"len(json({STRINGS}))", {"max_length"}),
    ("str", f"len(str({STRINGS}))", {"max_length"}),
    ("fstring", f"len(f'{{ {SHARED} }}')", {"max_length"}),
    ("join_helper", f"len(join({STRINGS}, ','))", {"max_length"}),
    ("join_method", f"len(','.join([json({SHARED})]))", {"max_length"}),
    ("unique", f"unique([{SHARED}, {SHARED}])", {"max_length"}),
    ("dict_values_eq", f"{DICTS} == {DICTS}", {"max_operations"}),
    ("dict_result", DICTS, {"max_length"}),
    ("result", SHARED, {"max_length"}),
    ("result_concat", f"{SHARED} + {SHARED}", {"max_length"}),
    ("result_wrapped", f"[{STRINGS}]", {"max_length"}),
    ("concat_compare", f"[{SHARED}] + [1] == [{SHARED}] + [1]", {"max_operations"}),
]


def _refused(text: str, context: dict[str, Any]) -> ExpressionError:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate(text, context, step="check", limits=Limits(max_seconds=None))
    print(f"refused in {(time.perf_counter() - started) * 1000:.1f} ms: {info.value.reason}")
    return info.value


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("text", "limits"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_shared_values_built_in_an_expression_are_refused(text: str, limits: set[str]) -> None:
    # The wall clock is off, as in workflow code: only the deterministic budget holds.
    error = _refused(text, {})
    assert error.limit in limits, str(error)
    assert error.limit in error.reason
    assert str(error).startswith("step 'check': expression `")
    assert error.line == 1 and error.column >= 1


CONTEXT_ATTACKS: list[tuple[str, str, str]] = [
    ("eq", "n == m", "max_operations"),
    ("lt", "n < m", "max_operations"),
    ("nested_eq", "[n, m] == [m, n]", "max_operations"),
    ("dict_eq", "d == e", "max_operations"),
    ("in_list", "m in [1, n]", "max_operations"),
    ("contains", "contains([n], m)", "max_operations"),
    ("sorted", "sorted([n, m])", "max_operations"),
    ("max", "max(n, m)", "max_operations"),
    ("min", "min([n, m])", "max_operations"),
    ("set_literal", "{t, u}", "max_operations"),
    ("set_call", "set([t, u])", "max_operations"),
    ("in_dict", "t in {u: 1}", "max_operations"),
    ("count", "[n].count(m)", "max_operations"),
    ("json", "len(json(n))", "max_length"),
    ("str", "len(str(s))", "max_length"),
    ("result", "n", "max_length"),
    ("repeat", "n * 2", "max_length"),
    ("repeat_inner", "[n[0]] * 2", "max_length"),
    ("comprehension", "[x == y for x in n for y in m]", "max_operations"),
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("text", "limit"), [a[1:] for a in CONTEXT_ATTACKS], ids=[a[0] for a in CONTEXT_ATTACKS]
)
def test_shared_values_from_the_context_are_refused(text: str, limit: str) -> None:
    error = _refused(text, CONTEXT)
    assert error.limit == limit, str(error)
    assert limit in str(error)


@pytest.mark.timeout(20)
def test_set_variable_cell_of_nested_repeated_strings() -> None:
    """The one-line ``--set`` that made the worker build about 200 GB of JSON."""
    one_line = "x = json([[['y' * 1000] * 1000] * 1000] * 200)"
    with pytest.raises(ExpressionError) as info:
        run_assignments(one_line, {}, step="blow", limits=Limits(max_seconds=None))
    assert info.value.limit == "max_length" and info.value.step == "blow"
    # Without `*` and without json(): the line's result itself is bounded (the engine
    # encodes every result as JSON).
    lines = (
        "a = 'y' * 500\n"
        "b = [a for i in range(1000)]\n"
        "c = [b for i in range(1000)]\n"
        "d = [c for i in range(200)]"
    )
    with pytest.raises(ExpressionError) as info:
        run_assignments(lines, {}, step="blow", limits=Limits(max_seconds=None))
    assert (info.value.limit, info.value.line) == ("max_length", 3), str(info.value)


def test_ordinary_values_still_work() -> None:
    assert evaluate("[[0] * 100] * 100 == [[0] * 100] * 100", {}) is True
    assert evaluate("sorted([[2, 'b'], [1, 'a']])", {}) == [[1, "a"], [2, "b"]]
    assert evaluate("max([[1], [3], [2]])", {}) == [3]
    assert evaluate("{(1, 2): 'x'}[(1, 2)]", {}) == "x"
    assert evaluate("{(1, (2, 3))} | {(4,)}", {}) == {(1, (2, 3)), (4,)}
    assert evaluate("[1, 2] in [[0], [1, 2]]", {}) is True
    assert evaluate("contains({'a': [1] * 1000}, 'a')", {}) is True
    assert evaluate("len(json([['ab'] * 100] * 100))", {}) == len(
        '[["ab"' + ', "ab"' * 99 + "]" + (', ["ab"' + ', "ab"' * 99 + "]") * 99 + "]"
    )
    assert evaluate("len([[0] * 1000] * 999)", {}) == 999
    rows = [{"id": i, "tags": ["a", "b"], "total": i * 1.5} for i in range(1000)]
    assert evaluate("rows == copy", {"rows": rows, "copy": [dict(r) for r in rows]}) is True
    assert evaluate("sorted(rows, reverse=True)[0]", {"rows": [[1], [3]]}) == [3]
    assert evaluate("max(r['total'] for r in rows)", {"rows": rows}) == 999 * 1.5
    assert evaluate("rows", {"rows": rows}) is rows


def test_deep_repetition_limit_is_exact() -> None:
    # [[0] * 1000] * 999 holds 999 + 999 * 1000 = 999,999 items; one more copy is over.
    assert evaluate("len([[0] * 1000] * 999)", {}) == 999
    with pytest.raises(ExpressionError) as info:
        evaluate("[[0] * 1000] * 1000", {})
    assert info.value.limit == "max_length"
    assert "counted deep" in info.value.reason


def test_refusals_are_deterministic() -> None:
    limits = Limits(max_seconds=None)
    messages = set()
    for _ in range(3):
        with pytest.raises(ExpressionError) as info:
            evaluate(f"{SHARED} == {SHARED}", {}, limits=limits)
        messages.add(str(info.value))
    assert len(messages) == 1


class TestWalker:
    def test_shared_parts_count_every_time(self) -> None:
        inner = [0] * 1000
        assert Walker().size([inner] * 1000, 10**9) == 1000 + 1000 * 1000
        assert Walker().size({"a": "xyz", "b": ["xy", 1]}, 100) == 2 + 2 + 3 + 2 + 2
        assert Walker().size(("ab",) * 3, 100) == 3 + 6

    def test_the_walk_stops_at_the_cap(self) -> None:
        walker = Walker()
        value = [[[[0] * 1000] * 1000] * 1000] * 1000
        assert walker.size(value, 5_000) == 5_001
        assert walker.work < 50_000  # it never walks the logical size

    def test_a_value_that_contains_itself_is_infinite(self) -> None:
        loop: list[Any] = [1]
        loop.append([loop])
        assert Walker().size(loop, 10**6) == 10**6 + 1

    def test_non_plain_values(self) -> None:
        with pytest.raises(TypeError, match="not plain data"):
            Walker().size([object()], 100)
        assert Walker().size([object(), "ab"], 100, strict=False) == 4


def test_a_cell_shares_one_operation_allowance() -> None:
    line = "len([1 for a in range(200) for b in range(200)])"
    cell = "\n".join(f"x{i} = {line}" for i in range(40))
    with pytest.raises(ExpressionError) as info:
        run_assignments(cell, {}, limits=Limits(max_seconds=None))
    assert info.value.limit == "max_total_operations"
    assert "max_total_operations=1,000,000" in str(info.value)
    assert 10 <= info.value.line <= 15  # each line is about 80,000 operations
    assert run_assignments(cell, {}, limits=Limits(max_total_operations=10**7))["x39"] == 40_000


def test_an_operation_meter_is_shared_across_evaluations() -> None:
    meter = OperationMeter(250)
    expression = parse("[i for i in range(50)]")
    expression.evaluate({}, meter=meter)
    assert meter.used > 50
    expression.evaluate({}, meter=meter)
    with pytest.raises(ExpressionError) as info:
        for _ in range(10):
            expression.evaluate({}, meter=meter)
    assert info.value.limit == "max_total_operations"
    assert meter.remaining == 0
    with pytest.raises(ValueError, match="max_total_operations"):
        Limits(max_operations=10, max_total_operations=5)


@pytest.mark.timeout(30)
def test_a_cell_of_many_short_lines_parses_in_linear_time() -> None:
    """Finding each line's text used to re-split the whole cell: quadratic."""
    cell = "\n".join(f"v{i}={i}" for i in range(9_000))
    assert len(cell) < 100_000
    assert run_assignments(cell, {})["v8999"] == 8999
