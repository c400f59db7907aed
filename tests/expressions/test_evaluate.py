"""Behaviour: operators, data access, methods, helpers, comprehensions, f-strings, names."""

from __future__ import annotations

from typing import Any

import pytest

from flowat_kernel.expressions import (
    FUNCTIONS,
    Expression,
    ExpressionError,
    evaluate,
    parse,
)

CONTEXT: dict[str, Any] = {
    "order": {"id": "A-1", "total": 120.5, "qty": 3, "tags": ["new", "vip"], "note": None},
    "orders": [{"total": 10}, {"total": 25}, {"total": 7}],
    "name": "  Ada Lovelace ",
    "n": 7,
    "flag": True,
    "empty": [],
    "matrix": [[1, 2], [3, 4]],
    "when": "2024-05-01T12:30:00Z",
}


def ev(text: str, **extra: Any) -> Any:
    return evaluate(text, {**CONTEXT, **extra})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("-n", -7),
        ("+n", 7),
        ("~n", -8),
        ("6 & 3", 2),
        ("6 | 3", 7),
        ("6 ^ 3", 5),
        ("{1, 2} | {3}", {1, 2, 3}),
        ("{'a': 1} | {'b': 2}", {"a": 1, "b": 2}),
        ("'ab' + 'cd'", "abcd"),
        ("'ab' * 3", "ababab"),
        ("3 * [0]", [0, 0, 0]),
        ("[1] + [2]", [1, 2]),
        ("(1,) + (2,)", (1, 2)),
        ("{1, 2, 3} - {2}", {1, 3}),
        ("1 < n <= 7", True),
        ("1 < n < 5", False),
        ("n == 7 and n != 8", True),
        ("n > 10 or n < 0", False),
        ("not flag", False),
        ("0 or 'x'", "x"),
        ("'' and 'x'", ""),
        ("'vip' in order['tags']", True),
        ("'gold' not in order['tags']", True),
        ("order['note'] is None", True),
        ("order['id'] is not None", True),
        ("'yes' if n > 5 else 'no'", "yes"),
        ("'yes' if n > 50 else 'no'", "no"),
        ("True", True),
        ("None", None),
        ("1.5e3", 1500.0),
    ],
)
def test_operators(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order['total']", 120.5),
        ("orders[0]['total']", 10),
        ("orders[-1]['total']", 7),
        ("orders[1:]", [{"total": 25}, {"total": 7}]),
        ("orders[::2][1]['total']", 7),
        ("order['tags'][0][1:]", "ew"),
        ("'abcdef'[::-1]", "fedcba"),
        ("matrix[1][0]", 3),
        ("[1, 2, *order['tags']]", [1, 2, "new", "vip"]),
        ("(*matrix[0], 9)", (1, 2, 9)),
        ("{*matrix[0], 9}", {1, 2, 9}),
        ("{'a': 1, **order}['id']", "A-1"),
        ("{'k': [1, {'x': n}]}", {"k": [1, {"x": 7}]}),
        ("max(*matrix[1])", 4),
        ("dict(**{'a': 1}, b=2)", {"a": 1, "b": 2}),
    ],
)
def test_data_access(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name.strip()", "Ada Lovelace"),
        ("name.strip().upper()", "ADA LOVELACE"),
        ("name.lower().strip()", "ada lovelace"),
        ("name.split()", ["Ada", "Lovelace"]),
        ("'a,b'.split(',')", ["a", "b"]),
        ("'abc'.startswith('ab')", True),
        ("'abc'.endswith('bc')", True),
        ("'a-b'.replace('-', '+')", "a+b"),
        ("', '.join(order['tags'])", "new, vip"),
        ("'7'.zfill(3)", "007"),
        ("'x'.center(5, '*')", "**x**"),
        ("'abc'.find('c')", 2),
        ("'Hello'.count('l')", 2),
        ("'invoice.pdf'.removesuffix('.pdf')", "invoice"),
        ("order.get('qty')", 3),
        ("order.get('missing', 0)", 0),
        ("sorted(order.keys())", ["id", "note", "qty", "tags", "total"]),
        ("len(order.values())", 5),
        ("order.items()[0]", ("id", "A-1")),
        ("order['tags'].index('vip')", 1),
        ("order['tags'].count('new')", 1),
        ("(1, 2, 2).count(2)", 2),
        ("n.bit_length()", 3),
        ("(2.0).is_integer()", True),
    ],
)
def test_methods(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(orders)", 3),
        ("length('abc')", 3),
        ("min(3, 1, 2)", 1),
        ("max([o['total'] for o in orders])", 25),
        ("max([], default=0)", 0),
        ("sum(o['total'] for o in orders)", 42),
        ("sum([0.5, 0.25], 1)", 1.75),
        ("abs(-2.5)", 2.5),
        ("round(2.675, 2)", 2.67),
        ("round(1234, -2)", 1200),
        ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
        ("any(o['total'] > 20 for o in orders)", True),
        ("all(o['total'] > 20 for o in orders)", False),
        ("int('42')", 42),
        ("int('ff', 16)", 255),
        ("float('1.5')", 1.5),
        ("str(12)", "12"),
        ("str([1, 'a'])", "[1, 'a']"),
        ("bool('')", False),
        ("list('ab')", ["a", "b"]),
        ("dict([('a', 1)])", {"a": 1}),
        ("tuple([1, 2])", (1, 2)),
        ("set([1, 1, 2])", {1, 2}),
        ("range(3)", [0, 1, 2]),
        ("range(1, 10, 4)", [1, 5, 9]),
        ("enumerate(['a', 'b'], 1)", [(1, "a"), (2, "b")]),
        ("zip([1, 2], 'ab')", [(1, "a"), (2, "b")]),
        ("reversed([1, 2, 3])", [3, 2, 1]),
        ("default(order['note'], 'none')", "none"),
        ("default(order['qty'], 0)", 3),
        ("default(order['missing'], 0)", 0),
        ("default(orders[10]['total'], -1)", -1),
        ("default(nothing_here, 'fallback')", "fallback"),
        ("join(order['tags'], ', ')", "new, vip"),
        ("join([1, 2, 3])", "123"),
        ("json({'b': 1, 'a': [1, None]})", '{"a": [1, null], "b": 1}'),
        ("from_json('{\"a\": [1, 2]}')['a'][1]", 2),
        ("format_date(when, '%d %b %Y %H:%M')", "01 May 2024 12:30"),
        ("format_date(0, '%Y-%m-%dT%H:%M:%S%z')", "1970-01-01T00:00:00+0000"),
        ("format_date('2024-05-01')", "2024-05-01T00:00:00"),
        ("parse_date(when)", "2024-05-01T12:30:00+00:00"),
        ("parse_date('01/05/2024', '%d/%m/%Y')", "2024-05-01T00:00:00"),
        ("parse_date(86400)", "1970-01-02T00:00:00+00:00"),
        ("lower('AbC')", "abc"),
        ("upper('AbC')", "ABC"),
        ("strip(name)", "Ada Lovelace"),
        ("split('a b')", ["a", "b"]),
        ("replace('aXa', 'X', '-')", "a-a"),
        ("startswith('abc', 'a')", True),
        ("endswith('abc', 'x')", False),
        ("contains(order['tags'], 'vip')", True),
        ("contains('haystack', 'st')", True),
        ("contains(order, 'id')", True),
        ("keys({'a': 1})", ["a"]),
        ("values({'a': 1})", [1]),
        ("items({'a': 1})", [("a", 1)]),
        ("pick(order, 'id', 'qty', 'nope')", {"id": "A-1", "qty": 3}),
        ("sorted(omit(order, 'tags', 'note'))", ["id", "qty", "total"]),
        ("flatten(matrix)", [1, 2, 3, 4]),
        ("flatten([[1], 2, (3, 4)])", [1, 2, 3, 4]),
        ("unique([1, 2, 1, 3, 2])", [1, 2, 3]),
        ("unique([{'a': 1}, {'a': 1}, [1], [1], {'a': 2}])", [{"a": 1}, [1], {"a": 2}]),
    ],
)
def test_helpers(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_every_helper_is_exercised() -> None:
    """A new helper needs a behaviour test (and a line in docs/expressions.md)."""
    with open(__file__, encoding="utf-8") as file:
        source = file.read()
    untested = sorted(name for name in FUNCTIONS if f"{name}(" not in source)
    assert not untested


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[o['total'] for o in orders]", [10, 25, 7]),
        ("[o['total'] for o in orders if o['total'] > 8]", [10, 25]),
        ("[x * y for x in [1, 2] for y in [10, 100]]", [10, 100, 20, 200]),
        ("[y for row in matrix for y in row if y % 2]", [1, 3]),
        ("[[c * 2 for c in row] for row in matrix]", [[2, 4], [6, 8]]),
        ("{k: v for k, v in order.items() if k in ['id', 'qty']}", {"id": "A-1", "qty": 3}),
        ("{x % 3 for x in range(10)}", {0, 1, 2}),
        ("list(x + 1 for x in [1, 2])", [2, 3]),
        ("[i for i, t in enumerate(order['tags']) if t == 'vip']", [1]),
        ("[(a, b) for (a, b) in zip('xy', [1, 2])]", [("x", 1), ("y", 2)]),
        ("[n for n in range(3)] + [n]", [0, 1, 2, 7]),
        ("[[n for n in range(2)] for _ in range(2)]", [[0, 1], [0, 1]]),
        ("sum(x for x in [])", 0),
    ],
)
def test_comprehensions(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_comprehension_variable_does_not_leak() -> None:
    with pytest.raises(ExpressionError, match="name 'q' is not defined"):
        ev("[q for q in [1]] and q")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f'{n} items'", "7 items"),
        ("f'{order[\"id\"]}-{n + 1}'", "A-1-8"),
        ("f'{order[\"total\"]:.2f}'", "120.50"),
        ("f'{n:>4}|'", "   7|"),
        ("f'{n:05d}'", "00007"),
        ("f'{1234567:,}'", "1,234,567"),
        ("f'{n!r}'", "7"),
        ("f'{\"a\"!r}'", "'a'"),
        ("f'{order[\"tags\"]}'", "['new', 'vip']"),
        ("f'{0.25:.1%}'", "25.0%"),
    ],
)
def test_f_strings(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("1 + 2", set()),
        ("order['total'] * rate", {"order", "rate"}),
        ("[o['total'] for o in orders if o['total'] > limit]", {"orders", "limit"}),
        ("[x for x in xs for y in x]", {"xs"}),
        ("{k: v for k, v in d.items()}", {"d"}),
        ("len(items) + max(a, b)", {"items", "a", "b"}),
        ("default(missing, 0)", {"missing"}),
        ("name.upper()", {"name"}),
        ("f'{greeting}, {who}'", {"greeting", "who"}),
        ("[x for x in x]", {"x"}),  # the first iterable is read in the enclosing scope
        ("[y for y in [1]] + [y]", {"y"}),
        ("len", {"len"}),  # a bare helper name is a (failing) context read
    ],
)
def test_names(text: str, names: set[str]) -> None:
    expression = parse(text)
    assert isinstance(expression, Expression)
    assert expression.names == frozenset(names)


def test_parse_once_evaluate_many() -> None:
    expression = parse("x * 2")
    assert [expression.evaluate({"x": i}) for i in range(3)] == [0, 2, 4]
    assert expression.text == "x * 2"
    assert "x * 2" in repr(expression)


def test_context_is_not_mutated() -> None:
    data = {"d": {"a": [1, 2]}}
    evaluate("[d['a'] + [3], {**d, 'b': 1}, sorted(d['a'], reverse=True)]", data)
    assert data == {"d": {"a": [1, 2]}}


def test_leading_whitespace_is_allowed_like_eval() -> None:
    assert evaluate("   n + 1", {"n": 1}) == 2
    assert evaluate("\n  (n +\n 1)\n", {"n": 1}) == 2


def test_functions_work_directly_in_the_kernel() -> None:
    assert FUNCTIONS["join"](["a", "b"], "-") == "a-b"
    assert FUNCTIONS["default"](None, 3) == 3
    assert FUNCTIONS["format_date"]("2024-01-02", "%Y/%m/%d") == "2024/01/02"


def test_python_parity_on_a_sample() -> None:
    """The same text gives the same value as plain Python (where Python has the helper)."""
    context = {"orders": [{"total": t, "ok": t % 2 == 0} for t in range(20)], "k": 3}
    for text in [
        "[o['total'] * k for o in orders if o['ok']]",
        "sum(o['total'] for o in orders) / len(orders)",
        "{o['total']: o['ok'] for o in orders[:5]}",
        "sorted([o['total'] for o in orders], reverse=True)[:3]",
        "'even' if orders[k]['ok'] else 'odd'",
        'f"{k:>3}-{len(orders)}"',
        "max(o['total'] for o in orders if not o['ok'])",
        "any(o['total'] > 18 for o in orders) and not all(o['ok'] for o in orders)",
    ]:
        assert evaluate(text, context) == eval(text, dict(context)), text
