"""Parameters cells: every cell Python accepts compiles to typed inputs or a diagnostic
naming its line; nothing crashes the compiler and no default changes silently.

"Survives" means: the spec's default, after the spec travels as JSON (as it does into the
store, the REST API and Temporal), is the value the cell assigns, of the same type.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.parameters import parse_parameters
from flowat_kernel.errors import CompileError
from flowat_kernel.spec import InputSpec, WorkflowSpec

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the test extras
    given = None  # type: ignore[assignment]


def identical(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down; ``-0.0`` differs from ``0.0``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    return bool(a == b)


def compiled(source: str) -> WorkflowSpec:
    cells = [Cell(source, 1, tags=("parameters",)), Cell("%%flowat step a\ny = 1", 2)]
    spec = compile_cells(cells, "wf")
    return WorkflowSpec.model_validate_json(spec.model_dump_json())  # as the store keeps it


def refused(source: str) -> list[tuple[str, int | None, str]]:
    cells = [Cell(source, 1, tags=("parameters",)), Cell("%%flowat step a\ny = 1", 2)]
    with pytest.raises(CompileError) as caught:
        compile_cells(cells, "wf")
    return [(d.code, d.line, d.message) for d in caught.value.diagnostics]


# -- values that survive exactly ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "default"),
    [
        pytest.param("x = 1", "int", 1, id="int"),
        pytest.param("x = -0.0", "float", -0.0, id="negative-zero"),
        pytest.param("x = 1e308", "float", 1e308, id="largest-floats"),
        pytest.param("x = 5e-324", "float", 5e-324, id="smallest-float"),
        pytest.param("x = 10000000000000000000000000000001", "int", 10**31 + 1, id="big-int"),
        pytest.param("x = -(-3)", "int", 3, id="nested-sign"),
        pytest.param("x = None", "any", None, id="none"),
        pytest.param("x = 'a' 'b'", "str", "ab", id="implicit-concatenation"),
        pytest.param("x = f'plain'", "str", "plain", id="f-string-without-fields"),
        pytest.param("x = 'é\\x00\\n'", "str", "é\x00\n", id="unicode-nul-newline"),
        pytest.param(
            "x = [1, [2.5, None], {'k': [True]}]",
            "list",
            [1, [2.5, None], {"k": [True]}],
            id="nested",
        ),
        pytest.param("x = {'a': {'b': {}}}", "dict", {"a": {"b": {}}}, id="nested-dict"),
        pytest.param("x = {'a': 1, 'a': 2}", "dict", {"a": 2}, id="duplicate-key-last-wins"),
        pytest.param("x: float = 2", "float", 2.0, id="annotated-float-from-int"),
        pytest.param("x: int = None", "int", None, id="annotated-none"),
        pytest.param("x: list[int] = []", "list", [], id="generic-annotation"),
        pytest.param("x: Any = (1)", "any", 1, id="any-annotation"),
        pytest.param("y = [1, 'a']\nx = y", "list", [1, "a"], id="name-of-earlier-parameter"),
        pytest.param("x = 1\nx = 'two'", "str", "two", id="reassigned-last-wins"),
    ],
)
def test_defaults_survive_exactly(source: str, kind: str, default: Any) -> None:
    spec = compiled(source)
    (found,) = [i for i in spec.inputs if i.name == "x"]
    assert found.type == kind
    assert identical(found.default, default), (found.default, default)


def test_chained_and_tuple_assignments_set_each_name() -> None:
    spec = compiled("a = b = 1\nc, d = 'x', [2]\n'''a docstring'''\npass  # nothing\n")
    assert [(i.name, i.type, i.default) for i in spec.inputs] == [
        ("a", "int", 1),
        ("b", "int", 1),
        ("c", "str", "x"),
        ("d", "list", [2]),
    ]


def test_a_name_copies_the_default_not_a_reference() -> None:
    spec = compiled("base = {'k': [1]}\ncopy = base")
    assert spec.inputs[1].default == {"k": [1]}
    assert spec.inputs[0].default is not spec.inputs[1].default


# -- values that cannot be inputs: a diagnostic that says why and what to write ----------


@pytest.mark.parametrize(
    ("source", "line", "fragments"),
    [
        pytest.param("x = {[1]: 2}", 1, ["dict key [1]", "write string keys"], id="unhashable-key"),
        pytest.param(
            "x = {1: 'a'}", 1, ['arrive as the string "1"', "write string keys"], id="int-key"
        ),
        pytest.param("x = ...", 1, ["`...`", "write None"], id="ellipsis"),
        pytest.param("x = 1e999", 1, ["1e999 is inf", "write a finite number"], id="infinite"),
        pytest.param("x = -1e999", 1, ["1e999 is inf"], id="negative-infinite"),
        pytest.param("x = b'ab'", 1, ["bytes (b'ab')", ".encode()"], id="bytes"),
        pytest.param("x = 1j", 1, ["complex number (1j)", "complex(re, im)"], id="imaginary"),
        pytest.param("x = 1 + 2j", 1, ["complex number", "complex(re, im)"], id="complex"),
        pytest.param("x = (1, 2)", 1, ["tuple", "arrive as a list", "write a list"], id="tuple"),
        pytest.param("x = ()", 1, ["tuple"], id="empty-tuple"),
        pytest.param("x = {1, 2}", 1, ["a set", "set(...)"], id="set"),
        pytest.param("x = {'a': [1, (2, 3)]}", 1, ["tuple ((2, 3))"], id="nested-tuple"),
        pytest.param("x = [{1}]", 1, ["a set"], id="nested-set"),
        pytest.param("x = f'{n}'", 1, ["f-string", "formatted when the cell runs"], id="f-string"),
        pytest.param("x = y", 1, ["`y` is not a parameter assigned above"], id="unknown-name"),
        pytest.param("x = y\ny = 1", 1, ["`y` is not a parameter assigned above"], id="later-name"),
        pytest.param(
            "import datetime\nx = datetime.date(2024, 1, 1)",
            2,
            ["computed when the cell runs", "'2024-01-01'", "fromisoformat"],
            id="date-call",
        ),
        pytest.param("x = 10 ** 30", 1, ["computed when the cell runs"], id="arithmetic"),
        pytest.param("x = -True", 1, ["computed when the cell runs"], id="negated-bool"),
        pytest.param("x = [*a]", 1, ["unpacks"], id="starred"),
        pytest.param("x = {**a}", 1, ["unpacks"], id="dict-unpacking"),
        pytest.param("x = '\\ud800'", 1, ["lone surrogate"], id="lone-surrogate"),
        pytest.param("x = 0x" + "f" * 4000, 1, ["4300", "int()"], id="huge-int"),
        pytest.param(
            "x: int = 'a'", 1, ["is a str, not an int as annotated"], id="annotation-clash"
        ),
        pytest.param("x: bool = 1", 1, ["is an int, not a bool"], id="int-for-bool"),
        pytest.param(
            "x: float = 9007199254740993", 1, ["not exactly a float"], id="2**53+1-as-float"
        ),
        pytest.param(
            "x: float = " + "9" * 400, 1, ["not exactly a float"], id="int-overflows-float"
        ),
        pytest.param("x: int", 1, ["has no default", "x: int = <default>"], id="no-default"),
        pytest.param("x += 1", 1, ["changes a parameter"], id="augmented"),
        pytest.param("a, *b = 1, 2", 1, ["does not assign plain names"], id="star-target"),
        pytest.param("a, b = c = 1, 2", 1, ["parameter 'c'", "tuple"], id="chain-gives-c-a-tuple"),
        pytest.param("x.y = 1", 1, ["does not assign plain names"], id="attribute"),
        pytest.param("é = 1", 1, ["ASCII"], id="non-ascii-name"),
        pytest.param("print('hi')", 1, ["only hold assignments", "move `print('hi')`"], id="call"),
        pytest.param("if True:\n    x = 1", 1, ["only hold assignments"], id="if-block"),
        pytest.param("x = 1\n%load_ext foo", 2, ["parameters cell"], id="magic"),
        pytest.param("x = (", 1, ["parameters cell"], id="syntax-error"),
        pytest.param("x = 1\x00", 1, ["null"], id="nul-character"),
        pytest.param("x = " + "[" * 300 + "]" * 300, 1, ["nested"], id="too-deep"),
    ],
)
def test_defaults_that_cannot_be_inputs_are_diagnosed_on_their_line(
    source: str, line: int, fragments: list[str]
) -> None:
    problems = refused(source)
    assert problems, source
    code, _, message = next(p for p in problems if p[1] == line)
    assert code in ("bad-parameter", "syntax-error")
    for fragment in fragments:
        assert fragment in message, message


def test_every_bad_line_is_reported_and_good_lines_still_parse() -> None:
    source = "a = 1\nb = (1,)\nc = 'ok'\nd = b'x'\ne = a\n"
    inputs, problems = parse_parameters(source, 4)
    assert [(i.name, i.default) for i in inputs] == [("a", 1), ("c", "ok"), ("e", 1)]
    assert [(p.line, p.cell, p.code) for p in problems] == [
        (2, 4, "bad-parameter"),
        (4, 4, "bad-parameter"),
    ]
    assert all(p.message.startswith(("parameter 'b'", "parameter 'd'")) for p in problems)


def test_a_refused_parameter_is_not_copied_by_a_later_name() -> None:
    _, problems = parse_parameters("a = (1,)\nb = a\n", 1)
    assert [p.line for p in problems] == [1, 2]


# -- property: generated literals ----------------------------------------------------------

if given is not None:
    text = st.text(alphabet=st.characters(exclude_categories=["Cs"]))  # no lone surrogates
    travelling = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.text(alphabet=st.characters(exclude_categories=["Cs"])), inner, max_size=4
            )
        ),
        max_leaves=12,
    )

    anything = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text()
        | st.binary(max_size=4)
        | st.complex_numbers()
        | st.just(Ellipsis),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.frozensets(st.integers() | st.text(max_size=3), max_size=3)
            | st.dictionaries(
                st.integers() | st.text(max_size=3) | st.booleans(), inner, max_size=3
            )
        ),
        max_leaves=10,
    )

    @settings(max_examples=300, deadline=None)
    @given(travelling)
    def test_every_json_value_written_as_a_literal_survives(value: Any) -> None:
        spec = compiled(f"x = {value!r}")
        assert identical(spec.inputs[0].default, value), (value, spec.inputs[0].default)

    @settings(max_examples=400, deadline=None)
    @given(anything)
    def test_any_literal_survives_exactly_or_is_diagnosed(value: Any) -> None:
        source = f"first = 1\nx = {value!r}\n"
        inputs, problems = parse_parameters(source, 1)
        found = [i for i in inputs if i.name == "x"]
        if found:
            assert not problems
            (spec,) = found
            back = InputSpec.model_validate_json(spec.model_dump_json())
            assert identical(back.default, value), (value, back.default)
        else:
            ((line, code),) = [(p.line, p.code) for p in problems]
            assert (line, code) == (2, "bad-parameter")

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def test_no_text_crashes_the_parameters_reader(source: str) -> None:
        inputs, problems = parse_parameters(source, 1)
        assert all(p.code in ("bad-parameter", "syntax-error") for p in problems)
        assert all(isinstance(i.name, str) for i in inputs)
