"""The compiler, table-driven: notebook cells in, a WorkflowSpec (or diagnostics) out."""

from __future__ import annotations

import os
import subprocess
import symtable
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from flowat_kernel.compiler import (
    Cell,
    compile_cells,
    compile_notebook_file,
    read_notebook_cells,
)
from flowat_kernel.errors import CompileError
from flowat_kernel.spec import Binding, Edge, InputSpec, WorkflowSpec

# A notebook is described as a list of items: a plain string is a code cell, a tuple
# ("markdown" | "raw" | "parameters", source) is a cell of that kind.
Item = str | tuple[str, str]


def cells(*items: Item) -> list[Cell]:
    result = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, str):
            result.append(Cell(item, position))
        elif item[0] == "parameters":
            result.append(Cell(item[1], position, tags=("parameters",)))
        else:
            result.append(Cell(item[1], position, cell_type=item[0]))
    return result


def compile_items(*items: Item, name: str = "wf") -> WorkflowSpec:
    return compile_cells(cells(*items), name)


def diagnostics(*items: Item, name: str = "wf") -> list[Any]:
    with pytest.raises(CompileError) as caught:
        compile_cells(cells(*items), name)
    return caught.value.diagnostics


def edges(spec: WorkflowSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(e.source, e.target, e.names) for e in spec.edges]


def step_input(name: str, step: str | None = None) -> Binding:
    if step is None:
        return Binding(name=name, source="input")
    return Binding(name=name, source="step", step=step)


# -- dependency edges ------------------------------------------------------------------


EDGE_CASES = [
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b\ny = x + 1"],
        [("a", "b", ("x",))],
        {"b": [step_input("x", "a")]},
        id="simple",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1",
            "%%flowat step b\nx = x + 1",
            "%%flowat step c\ny = x * 2",
        ],
        [("a", "b", ("x",)), ("b", "c", ("x",))],
        {"b": [step_input("x", "a")], "c": [step_input("x", "b")]},
        id="last-earlier-definer-wins",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1",
            "%%flowat step b\nz = 2",
            "%%flowat step c\ny = x + 1",
        ],
        [("a", "c", ("x",))],
        {"b": [], "c": [step_input("x", "a")]},
        id="skips-unrelated-step",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1",
            "%%flowat step b\ny = x",
            "%%flowat step c\nx = 5",
        ],
        [("a", "b", ("x",))],
        {"b": [step_input("x", "a")], "c": []},
        id="later-redefinition-does-not-matter",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1\nw = 0",
            "%%flowat step b\nz = 2",
            "%%flowat step c\ntotal = x + z + w",
        ],
        [("a", "c", ("w", "x")), ("b", "c", ("z",))],
        {"c": [step_input("w", "a"), step_input("x", "a"), step_input("z", "b")]},
        id="fan-in",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1",
            "%%flowat step b\ny = x",
            "%%flowat step c\nz = x",
        ],
        [("a", "b", ("x",)), ("a", "c", ("x",))],
        {"b": [step_input("x", "a")], "c": [step_input("x", "a")]},
        id="fan-out",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b\ny = x\nx = 2\nz = x"],
        [("a", "b", ("x",))],
        {"b": [step_input("x", "a")]},
        id="read-before-own-redefinition",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b\nx = 2\nz = x"],
        [],
        {"b": []},
        id="own-definition-shadows",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b\nprint(len([x]), range(2))"],
        [("a", "b", ("x",))],
        {"b": [step_input("x", "a")]},
        id="builtins-are-not-inputs",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b --after a\nprint('done')"],
        [("a", "b", ())],
        {"b": []},
        id="after-ordering-edge",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b --after a\ny = x"],
        [("a", "b", ("x",))],
        {"b": [step_input("x", "a")]},
        id="after-and-data-edge-merge",
    ),
    pytest.param(
        [
            "%%flowat step a\nx = 1",
            "%%flowat step b\ny = 2",
            "%%flowat step c --after a,b\nprint('end')",
        ],
        [("a", "c", ()), ("b", "c", ())],
        {"c": []},
        id="after-several",
    ),
    pytest.param(
        ["%%flowat step a --after b\nx = 1", "%%flowat step b\ny = 2"],
        [("b", "a", ())],
        {"a": [], "b": []},
        id="after-a-later-step",
    ),
]


@pytest.mark.parametrize(("notebook", "expected_edges", "expected_inputs"), EDGE_CASES)
def test_edges_and_bindings(
    notebook: list[str],
    expected_edges: list[tuple[str, str, tuple[str, ...]]],
    expected_inputs: dict[str, list[Binding]],
) -> None:
    spec = compile_items(*notebook)
    assert sorted(edges(spec)) == sorted(expected_edges)
    for step, inputs in expected_inputs.items():
        assert list(spec.step(step).inputs) == inputs, step


def test_after_is_recorded_on_the_step() -> None:
    spec = compile_items(
        "%%flowat step a\nx = 1", "%%flowat step b\ny = 2", "%%flowat step c --after 'a, b'\nz = 3"
    )
    assert spec.step("c").after == ("a", "b")
    assert spec.upstream_map()["c"] == {"a", "b"}


def test_edges_follow_notebook_order() -> None:
    spec = compile_items(
        "%%flowat step a\nx = 1",
        "%%flowat step b\ny = 2",
        "%%flowat step c\nz = y + x",
        "%%flowat step d\nw = z + x",
    )
    assert edges(spec) == [
        ("a", "c", ("x",)),
        ("b", "c", ("y",)),
        ("a", "d", ("x",)),
        ("c", "d", ("z",)),
    ]


# -- code travels as prelude ------------------------------------------------------------


PRELUDE_CASES = [
    pytest.param(
        ["%%flowat step a\nimport math\nx = 1", "%%flowat step b\ny = math.sqrt(4)"],
        "b",
        ["import math"],
        [],
        [("a", "b", ("math",))],
        id="import",
    ),
    pytest.param(
        [
            "%%flowat step a\nimport math\nrate = 2\ndef f(v):\n    return math.sqrt(v) * rate",
            "%%flowat step b\ny = f(4)",
        ],
        "b",
        ["import math", "def f(v):\n    return math.sqrt(v) * rate"],
        [step_input("rate", "a")],
        [("a", "b", ("f", "math", "rate"))],
        id="function-with-its-imports-and-globals",
    ),
    pytest.param(
        [
            "%%flowat step base\nbase = 10",
            "%%flowat step defs\ndef add(v):\n    return v + base",
            "%%flowat step use\ny = add(1)",
        ],
        "use",
        ["def add(v):\n    return v + base"],
        [step_input("base", "base")],
        [("base", "use", ("base",)), ("defs", "use", ("add",))],
        id="function-global-from-an-earlier-step",
    ),
    pytest.param(
        [
            "%%flowat step a\nclass Point:\n    def __init__(self, x):\n        self.x = x",
            "%%flowat step b\np = Point(1).x",
        ],
        "b",
        ["class Point:\n    def __init__(self, x):\n        self.x = x"],
        [],
        [("a", "b", ("Point",))],
        id="class",
    ),
    pytest.param(
        [
            "%%flowat step a\nfactor = 3\ntriple = lambda v: v * factor",
            "%%flowat step b\ny = triple(2)",
        ],
        "b",
        ["triple = lambda v: v * factor"],
        [step_input("factor", "a")],
        [("a", "b", ("factor", "triple"))],
        id="lambda",
    ),
    pytest.param(
        [
            "%%flowat step a\nimport functools\n@functools.lru_cache\ndef f(v):\n    return v",
            "%%flowat step b\ny = f(1)",
        ],
        "b",
        ["import functools", "@functools.lru_cache\ndef f(v):\n    return v"],
        [],
        [("a", "b", ("f", "functools"))],
        id="decorated-function",
    ),
    pytest.param(
        [
            "%%flowat step a\ndef helper(v):\n    return v + 1",
            "%%flowat step b\ndef outer(v):\n    return helper(v) * 2",
            "%%flowat step c\ny = outer(1)",
        ],
        "c",
        ["def helper(v):\n    return v + 1", "def outer(v):\n    return helper(v) * 2"],
        [],
        [("a", "c", ("helper",)), ("b", "c", ("outer",))],
        id="function-using-function-from-another-step",
    ),
    pytest.param(
        [
            "%%flowat step a\ntry:\n    import tomllib\nexcept ImportError:\n    import json",
            "%%flowat step b\ny = tomllib",
        ],
        "b",
        ["try:\n    import tomllib\nexcept ImportError:\n    import json"],
        [],
        [("a", "b", ("tomllib",))],
        id="try-import-block",
    ),
]


@pytest.mark.parametrize(("notebook", "step", "prelude", "inputs", "expected_edges"), PRELUDE_CASES)
def test_code_travels_as_prelude(
    notebook: list[str],
    step: str,
    prelude: list[str],
    inputs: list[Binding],
    expected_edges: list[tuple[str, str, tuple[str, ...]]],
) -> None:
    spec = compile_items(*notebook)
    assert list(spec.step(step).prelude) == prelude
    assert list(spec.step(step).inputs) == inputs
    assert [e for e in edges(spec) if e[1] == step] == expected_edges


def test_prelude_is_copied_once_even_when_read_twice() -> None:
    spec = compile_items(
        "%%flowat step a\nimport math\ndef f(v):\n    return math.floor(v)",
        "%%flowat step b\ny = f(1.5) + math.ceil(0.5)",
    )
    assert spec.step("b").prelude == ("import math", "def f(v):\n    return math.floor(v)")


@pytest.mark.parametrize(
    ("body", "exports"),
    [
        pytest.param("x = 1\ny = 2", ("x", "y"), id="sorted-data"),
        pytest.param("_tmp = 1\nx = _tmp + 1\n__y = 2", ("x",), id="private-not-exported"),
        pytest.param("import os\nx = os.sep", ("x",), id="imports-not-exported"),
        pytest.param("def f():\n    return 1\nv = f()", ("v",), id="functions-not-exported"),
        pytest.param("class K:\n    pass\nk = K()", ("k",), id="classes-not-exported"),
        pytest.param("g = lambda: 1\nv = g()", ("v",), id="lambdas-not-exported"),
        pytest.param("a, b = 1, 2\nprint(a)", ("a", "b"), id="unpacking"),
        pytest.param("print('side effect')", (), id="nothing"),
    ],
)
def test_exports(body: str, exports: tuple[str, ...]) -> None:
    spec = compile_items("%%flowat step a\n" + body)
    assert spec.step("a").exports == exports
    assert spec.step("a").source == body


# -- parameters --------------------------------------------------------------------------


PARAMETER_CASES = [
    pytest.param("n = 10", InputSpec(name="n", type="int", default=10), id="int"),
    pytest.param("rate = 0.5", InputSpec(name="rate", type="float", default=0.5), id="float"),
    pytest.param("label = 'hi'", InputSpec(name="label", type="str", default="hi"), id="str"),
    pytest.param("flag = True", InputSpec(name="flag", type="bool", default=True), id="bool"),
    pytest.param("off = False", InputSpec(name="off", type="bool", default=False), id="false"),
    pytest.param("items = [1, 2]", InputSpec(name="items", type="list", default=[1, 2]), id="list"),
    # A tuple default is no longer turned into a list silently: a diagnostic says to write
    # a list (tests/compiler/test_parameters_cells.py).
    pytest.param("pair = [1, 2]", InputSpec(name="pair", type="list", default=[1, 2]), id="list-2"),
    pytest.param(
        "opts = {'a': 1}", InputSpec(name="opts", type="dict", default={"a": 1}), id="dict"
    ),
    pytest.param("nothing = None", InputSpec(name="nothing", type="any", default=None), id="none"),
    pytest.param("limit: int = 5", InputSpec(name="limit", type="int", default=5), id="ann-int"),
    pytest.param(
        "ratio: float = 1", InputSpec(name="ratio", type="float", default=1.0), id="int-to-float"
    ),
    pytest.param(
        "names: list[str] = []", InputSpec(name="names", type="list", default=[]), id="ann-list"
    ),
    pytest.param(
        "cfg: dict[str, int] = {}", InputSpec(name="cfg", type="dict", default={}), id="ann-dict"
    ),
    pytest.param(
        "title: str = 'x'", InputSpec(name="title", type="str", default="x"), id="ann-str"
    ),
    pytest.param("thing: Any = 3", InputSpec(name="thing", type="any", default=3), id="ann-any"),
    pytest.param(
        "neg: float = -2", InputSpec(name="neg", type="float", default=-2.0), id="negative"
    ),
]


@pytest.mark.parametrize(("source", "expected"), PARAMETER_CASES)
def test_parameters_cell_gives_typed_inputs(source: str, expected: InputSpec) -> None:
    spec = compile_items(
        ("parameters", f"# run parameters\n{source}\n"),
        f"%%flowat step a\nvalue = {expected.name}",
    )
    assert spec.inputs == (expected,)
    assert type(spec.inputs[0].default) is type(expected.default)
    assert spec.step("a").inputs == (step_input(expected.name),)
    assert spec.edges == ()


def test_parameters_keep_cell_order_and_only_read_ones_bind() -> None:
    spec = compile_items(
        ("parameters", "rows = 4\nname = 'demo'\nscale: float = 2"),
        "%%flowat step a\nout = rows * scale",
    )
    assert [i.name for i in spec.inputs] == ["rows", "name", "scale"]
    assert spec.step("a").inputs == (step_input("rows"), step_input("scale"))


def test_step_value_overrides_parameter_for_later_steps() -> None:
    spec = compile_items(
        ("parameters", "rows = 4"),
        "%%flowat step a\nrows = rows * 2",
        "%%flowat step b\nout = rows",
    )
    assert spec.step("a").inputs == (step_input("rows"),)
    assert spec.step("b").inputs == (step_input("rows", "a"),)


def test_untagged_cell_is_not_the_parameters_cell() -> None:
    spec = compile_items("n = 10", "%%flowat step a\nx = 1")
    assert spec.inputs == ()


# -- non-step cells and options ------------------------------------------------------------


def test_non_step_cells_are_ignored() -> None:
    spec = compile_items(
        ("markdown", "# Title\n%%flowat step ghost\nnot python"),
        "%load_ext flowat_kernel",
        ("raw", "%%flowat step raw_ghost\nx = 1"),
        "%%flowat step load\nx = 1",
        "x.bit_length()\nscratch = 3",
        "%%time\nx + 1",
        "%%flowat status",
        "%%flowat step use\ny = x + 1",
    )
    assert [s.name for s in spec.steps] == ["load", "use"]
    assert edges(spec) == [("load", "use", ("x",))]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("", {"retries": 2, "attempts": 3, "timeout": 600.0}, id="defaults"),
        pytest.param("--retries 0", {"retries": 0, "attempts": 1}, id="no-retries"),
        pytest.param("--retries 5", {"retries": 5, "attempts": 6}, id="retries"),
        pytest.param("--timeout 5m", {"timeout": 300.0}, id="minutes"),
        pytest.param("--timeout 500ms", {"timeout": 0.5}, id="millis"),
        pytest.param("--timeout 90", {"timeout": 90.0}, id="plain-seconds"),
        pytest.param("--timeout 1h", {"timeout": 3600.0}, id="hours"),
        pytest.param("--local", {"local": True, "untrusted": False}, id="local"),
        pytest.param("--untrusted", {"local": False, "untrusted": True}, id="untrusted"),
    ],
)
def test_step_options(line: str, expected: dict[str, Any]) -> None:
    step = compile_items(f"%%flowat step a {line}\nx = 1").step("a")
    actual = {
        "retries": step.retry.retries,
        "attempts": step.retry.maximum_attempts,
        "timeout": step.timeout_seconds,
        "local": step.local,
        "untrusted": step.untrusted,
    }
    assert {k: actual[k] for k in expected} == expected


# -- diagnostics -----------------------------------------------------------------------------

# Each case: the notebook, then the expected diagnostics as (code, step, cell, line,
# fragments of the message).
ERROR_CASES = [
    pytest.param(
        ["%%flowat step a --after b\nx = 1", "%%flowat step b --after a\ny = 2"],
        [("cycle", "a", 1, 1, ["a (cell 1) -> b (cell 2) -> a (cell 1)", "--after"])],
        id="cycle-after-only",
    ),
    pytest.param(
        ["%%flowat step a --after b\nx = 1", "%%flowat step b\ny = x"],
        [("cycle", "a", 1, 1, ["cycle", "a (cell 1) -> b (cell 2) -> a (cell 1)"])],
        id="cycle-after-against-data",
    ),
    pytest.param(
        ["%%flowat step a\ny = missing + 1"],
        [("undefined-name", "a", 1, 2, ["'missing'", "define it in an earlier step"])],
        id="undefined-name",
    ),
    pytest.param(
        ["# intro", "%%flowat step a\n\nx = 1\ny = x + nope"],
        [("undefined-name", "a", 2, 4, ["'nope'"])],
        id="undefined-name-line-in-cell",
    ),
    pytest.param(
        ["%%flowat step a\ny = x", "%%flowat step b\nx = 1"],
        [("undefined-name", "a", 1, 2, ["'x'", "step 'b' defines it later", "move that cell"])],
        id="undefined-name-defined-later",
    ),
    pytest.param(
        ["scratch = 3", "%%flowat step a\ny = scratch"],
        [("undefined-name", "a", 2, 2, ["'scratch'"])],
        id="exploration-cells-define-nothing",
    ),
    pytest.param(
        ["%%flowat step a\nx = one\ny = two"],
        [
            ("undefined-name", "a", 1, 2, ["'one'"]),
            ("undefined-name", "a", 1, 3, ["'two'"]),
        ],
        id="every-undefined-name",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1", "%%flowat step b\ny = 2", "%%flowat step a\nz = 3"],
        [("duplicate-step", "a", 3, 1, ["'a'", "already used by cell 1"])],
        id="duplicate-step",
    ),
    pytest.param(
        ["%%flowat step a\nx = 1\ny = (", "%%flowat step b\nz = 1"],
        [("syntax-error", "a", 1, 3, ["syntax error"])],
        id="syntax-error",
    ),
    pytest.param(
        # Magics are accepted (tests/compiler/test_ordinary_code.py); a real syntax error
        # after one is reported on the user's line.
        ["%%flowat step a\n%matplotlib inline\nx = 1\ny = ("],
        [("syntax-error", "a", 1, 4, ["syntax error"])],
        id="syntax-error-after-magic",
    ),
    pytest.param(
        # IPython joins the continued magic line: the error still names the user's line.
        ["%%flowat step a\n!pip install \\\n  pandas\nx = 1\ny = ("],
        [("syntax-error", "a", 1, 5, ["syntax error"])],
        id="syntax-error-after-continued-command",
    ),
    pytest.param(
        ["# intro", "%%flowat step a --frobnicate\nx = 1"],
        [("unknown-option", None, 2, 1, ["unknown option", "--frobnicate"])],
        id="unknown-option",
    ),
    pytest.param(
        ["%%flowat step a --retries x\nx = 1"],
        [("bad-option", None, 1, 1, ["--retries", "'x'"])],
        id="retries-not-a-number",
    ),
    pytest.param(
        ["%%flowat step a --retries 101\nx = 1"],
        [("bad-option", None, 1, 1, ["--retries 101", "0 to 100"])],
        id="retries-too-many",
    ),
    pytest.param(
        ["%%flowat step a --timeout 3x\nx = 1"],
        [("bad-option", None, 1, 1, ["--timeout", "'3x' is not a duration"])],
        id="timeout-malformed",
    ),
    pytest.param(
        ["%%flowat step a --timeout 0s\nx = 1"],
        [("bad-option", None, 1, 1, ["--timeout", "more than zero"])],
        id="timeout-zero",
    ),
    pytest.param(
        ["%%flowat step 1st\nx = 1"],
        [("bad-option", None, 1, 1, ["'1st' is not a valid step name"])],
        id="invalid-step-name",
    ),
    pytest.param(
        ["%%flowat step\nx = 1"],
        [("bad-option", None, 1, 1, ["needs a name"])],
        id="missing-step-name",
    ),
    pytest.param(
        ["%%flowat step a --after nowhere\nx = 1"],
        [("unknown-step", "a", 1, 1, ["unknown step 'nowhere'", "steps are: a"])],
        id="after-unknown-step",
    ),
    pytest.param(
        ["%%flowat step a --after a\nx = 1"],
        [("unknown-step", "a", 1, 1, ["--after names itself"])],
        id="after-itself",
    ),
    pytest.param(
        [("parameters", "n = 1\nsize = len('abc')"), "%%flowat step a\nx = n"],
        [("bad-parameter", None, 1, 2, ["parameter 'size'", "must be a literal", "len('abc')"])],
        id="non-literal-parameter",
    ),
    pytest.param(
        [("parameters", "print('hello')"), "%%flowat step a\nx = 1"],
        [("bad-parameter", None, 1, 1, ["only hold assignments"])],
        id="parameters-cell-statement",
    ),
    pytest.param(
        [("parameters", "n = (")],
        [("syntax-error", None, 1, 1, ["parameters cell"])],
        id="parameters-cell-syntax",
    ),
    pytest.param(
        [("markdown", "# nothing"), "x = 1", "%load_ext flowat_kernel"],
        [("no-steps", None, None, None, ["%%flowat step NAME"])],
        id="no-steps",
    ),
    pytest.param(
        [
            "%%flowat step a --bogus\nx = 1",
            "%%flowat step b --timeout soon\ny = 2",
            "%%flowat step c\nz = (",
        ],
        [
            ("unknown-option", None, 1, 1, ["--bogus"]),
            ("bad-option", None, 2, 1, ["--timeout"]),
            ("syntax-error", "c", 3, 2, ["syntax error"]),
        ],
        id="all-problems-at-once",
    ),
]


@pytest.mark.parametrize(("notebook", "expected"), ERROR_CASES)
def test_compile_errors(notebook: list[Item], expected: list[tuple[Any, ...]]) -> None:
    found = diagnostics(*notebook)
    assert [d.code for d in found] == [e[0] for e in expected]
    for diagnostic, (_, _, _, _, fragments) in zip(found, expected, strict=True):
        for fragment in fragments:
            assert fragment in diagnostic.message, diagnostic
    assert [(d.code, d.step, d.cell, d.line) for d in found] == [e[:4] for e in expected]


def test_compile_error_message_lists_every_problem_with_its_location() -> None:
    with pytest.raises(CompileError) as caught:
        compile_items("%%flowat step a\nx = one\ny = two")
    message = str(caught.value)
    assert message.startswith("the notebook does not compile (2 problems):")
    assert "step 'a', cell 1, line 2: reads 'one'" in message
    assert "step 'a', cell 1, line 3: reads 'two'" in message


def test_invalid_workflow_name() -> None:
    found = diagnostics("%%flowat step a\nx = 1", name="no spaces allowed")
    assert [(d.code, d.step, d.cell) for d in found] == [("bad-option", None, None)]
    assert "'no spaces allowed' is not a valid workflow name" in found[0].message


# -- names that must be available when the step runs -------------------------------------


def _top_level_names(source: str) -> set[str]:
    table = symtable.symtable(source, "<prelude>", "exec")
    return {
        s.get_name()
        for s in table.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    }


@pytest.mark.parametrize(
    ("notebook", "step", "name"),
    [
        pytest.param(
            ["%%flowat step a\n_tmp = 2\nx = 1", "%%flowat step b\ny = _tmp"],
            "b",
            "_tmp",
            id="private-name-read-later",
        ),
        pytest.param(
            [
                "%%flowat step a\ndef setup():\n    global counter\n    counter = 0\nsetup()",
                "%%flowat step b\ny = counter",
            ],
            "b",
            "counter",
            id="global-set-by-a-function",
        ),
    ],
)
def test_a_read_name_is_bound_or_rejected(notebook: list[str], step: str, name: str) -> None:
    """A name a step reads must reach it (exported input or top-level prelude) or not compile."""
    try:
        spec = compile_items(*notebook)
    except CompileError as exc:
        assert any(d.step == step and repr(name) in d.message for d in exc.diagnostics)
        return
    target = spec.step(step)
    bound = {b.name: b for b in target.inputs}
    if name in bound:
        origin = bound[name].step
        assert origin is not None
        assert name in spec.step(origin).exports, (
            f"step {step!r} reads {name!r} from step {origin!r}, which does not export it"
        )
        return
    defined = set().union(*(_top_level_names(p) for p in target.prelude))
    assert name in defined, f"step {step!r} reads {name!r} but neither an input nor its prelude"


def test_augmented_assignment_reads_the_earlier_value() -> None:
    spec = compile_items("%%flowat step a\ntotal = 0", "%%flowat step b\ntotal += 5")
    assert spec.step("b").inputs == (step_input("total", "a"),)
    assert edges(spec) == [("a", "b", ("total",))]


@pytest.mark.parametrize(
    ("body", "exports"),
    [
        pytest.param(
            "total = 0\nfor i in range(3):\n    total = total + i", ("i", "total"), id="for"
        ),
        pytest.param(
            "with open(__file__) as fh:\n    size = len(fh.read())", ("fh", "size"), id="with-as"
        ),
        pytest.param(
            "try:\n    v = int('x')\nexcept ValueError as exc:\n    v = str(exc)",
            ("v",),
            id="except-as",
        ),
    ],
)
def test_names_bound_by_a_block_are_not_external_reads(body: str, exports: tuple[str, ...]) -> None:
    spec = compile_items("%%flowat step a\n" + body)
    assert spec.step("a").inputs == ()
    assert set(exports) <= set(spec.step("a").exports)


# -- determinism and the .ipynb path ------------------------------------------------------

RICH_NOTEBOOK: list[Item] = [
    ("markdown", "# Sales report\nThis notebook is also a workflow."),
    "%load_ext flowat_kernel",
    ("parameters", "rows = 4\nregion: str = 'eu'\nscale: float = 2\nopts = {'deep': [1, 2]}"),
    "%%flowat step load --retries 3 --timeout 2m\nimport math\nimport json as js\n"
    "data = list(range(rows))\n_cache = {}\n",
    "%%flowat step helpers\ndef norm(v):\n    return math.sqrt(v) * scale\n"
    "class Box:\n    def __init__(self, v):\n        self.v = norm(v)\n"
    "shift = lambda v: v + offset\noffset = 1\n",
    "data[:2]",
    "%%flowat step transform --local\nboxes = [Box(v).v for v in data]\nmoved = shift(3)\n",
    "%%flowat step side --untrusted\nlabel = region.upper() + js.dumps(opts)\n",
    "%%flowat step report --after side\nreport = {'n': len(boxes), 'moved': moved}\n",
    ("markdown", "## Done"),
]


def _write_ipynb(items: list[Item], path: Path) -> None:
    nb_cells = []
    for item in items:
        if isinstance(item, str):
            nb_cells.append(new_code_cell(item))
        elif item[0] == "parameters":
            nb_cells.append(new_code_cell(item[1], metadata={"tags": ["parameters"]}))
        elif item[0] == "markdown":
            nb_cells.append(new_markdown_cell(item[1]))
        else:
            nb_cells.append(new_raw_cell(item[1]))
    nbformat.write(new_notebook(cells=nb_cells), str(path))


def test_rich_notebook_compiles_as_expected() -> None:
    spec = compile_items(*RICH_NOTEBOOK, name="sales")
    assert [s.name for s in spec.steps] == ["load", "helpers", "transform", "side", "report"]
    assert [i.name for i in spec.inputs] == ["rows", "region", "scale", "opts"]
    assert edges(spec) == [
        ("load", "helpers", ("math",)),
        ("load", "transform", ("data", "math")),
        ("helpers", "transform", ("Box", "norm", "offset", "shift")),
        ("load", "side", ("js",)),
        ("transform", "report", ("boxes", "moved")),
        ("side", "report", ()),
    ]
    transform = spec.step("transform")
    assert transform.prelude == (
        "import math",
        "def norm(v):\n    return math.sqrt(v) * scale",
        "class Box:\n    def __init__(self, v):\n        self.v = norm(v)",
        "shift = lambda v: v + offset",
    )
    assert transform.inputs == (
        step_input("data", "load"),
        step_input("offset", "helpers"),
        step_input("scale"),
    )
    assert spec.step("load").exports == ("data",)
    assert spec.step("helpers").exports == ("offset",)
    assert spec.step("helpers").prelude == ("import math",)
    assert spec.step("helpers").inputs == (step_input("scale"),)
    assert spec.step("side").inputs == (step_input("opts"), step_input("region"))
    assert spec.step("side").prelude == ("import json as js",)
    assert spec.step("load").retry.maximum_attempts == 4
    assert spec.step("load").timeout_seconds == 120.0


def test_compile_is_deterministic() -> None:
    first = compile_items(*RICH_NOTEBOOK, name="sales")
    second = compile_items(*RICH_NOTEBOOK, name="sales")
    assert first == second
    assert first.canonical_json() == second.canonical_json()
    assert first.content_hash() == second.content_hash()
    changed = list(RICH_NOTEBOOK)
    changed[-2] = "%%flowat step report --after side\nreport = {'n': len(boxes)}\n"
    assert compile_items(*changed, name="sales").content_hash() != first.content_hash()


def test_compile_is_deterministic_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "sales.ipynb"
    _write_ipynb(RICH_NOTEBOOK, path)
    expected = compile_items(*RICH_NOTEBOOK, name="sales").content_hash()
    script = (
        "import sys\nfrom flowat_kernel.compiler import compile_notebook_file\n"
        "print(compile_notebook_file(sys.argv[1], 'sales').content_hash())"
    )
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert result.stdout.strip() == expected, f"PYTHONHASHSEED={seed}"


def test_ipynb_file_compiles_to_the_identical_spec(tmp_path: Path) -> None:
    path = tmp_path / "sales.ipynb"
    _write_ipynb(RICH_NOTEBOOK, path)
    from_file = read_notebook_cells(path)
    in_memory = cells(*RICH_NOTEBOOK)
    assert [(c.source, c.position, c.cell_type, c.tags) for c in from_file] == [
        (c.source, c.position, c.cell_type, c.tags) for c in in_memory
    ]
    assert all(c.cell_id for c in from_file)
    file_spec = compile_cells(from_file, "sales")
    memory_spec = compile_cells(in_memory, "sales")
    assert file_spec == memory_spec
    assert file_spec.canonical_json() == memory_spec.canonical_json()
    assert compile_notebook_file(str(path), "sales").content_hash() == memory_spec.content_hash()


def test_trailing_whitespace_does_not_change_the_spec() -> None:
    clean = compile_items("%%flowat step a\nx = 1\ny = x")
    messy = compile_items("%%flowat step a   \nx = 1   \ny = x\n\n\n")
    assert messy.content_hash() == clean.content_hash()


def test_edge_type_is_the_spec_edge() -> None:
    spec = compile_items("%%flowat step a\nx = 1", "%%flowat step b\ny = x")
    assert spec.edges == (Edge(source="a", target="b", names=("x",)),)
