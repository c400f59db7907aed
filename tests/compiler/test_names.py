"""``analyse_source``: statement kinds, what each statement defines and reads (symtable)."""

from __future__ import annotations

import pytest

from flowat_kernel.compiler.names import RUNTIME_NAMES, StepSyntaxError, analyse_source


def _one(source: str):
    statements = analyse_source(source)
    assert len(statements) == 1, [s.source for s in statements]
    return statements[0]


@pytest.mark.parametrize(
    ("source", "kind", "defines", "reads", "deferred"),
    [
        pytest.param("import os, numpy as np", "code", {"os", "np"}, set(), set(), id="import"),
        pytest.param("import a.b.c", "code", {"a"}, set(), set(), id="dotted-import"),
        pytest.param(
            "from json import dumps as d, loads", "code", {"d", "loads"}, set(), set(), id="from"
        ),
        pytest.param(
            "def f(x, y=default):\n    return x + helper(y)",
            "code",
            {"f"},
            {"default"},
            {"helper"},
            id="def-default-read-now-body-deferred",
        ),
        pytest.param(
            "async def run():\n    await go()", "code", {"run"}, set(), {"go"}, id="async-def"
        ),
        pytest.param(
            "class K(Base, metaclass=Meta):\n    attr = val\n"
            "    def m(self):\n        return other",
            "code",
            {"K"},
            {"Base", "Meta", "val"},
            {"other"},
            id="class-body-immediate-method-deferred",
        ),
        pytest.param("f = lambda v: v * rate", "code", {"f"}, set(), {"rate"}, id="lambda"),
        pytest.param(
            "g: object = lambda: k", "code", {"g"}, {"object"}, {"k"}, id="annotated-lambda"
        ),
        pytest.param(
            "try:\n    import ujson as json\nexcept ImportError:\n    import json",
            "code",
            {"json"},
            {"ImportError"},
            set(),
            id="try-of-imports-is-code",
        ),
        pytest.param(
            "try:\n    import ujson as json\nexcept ImportError:\n    json = None",
            "data",
            {"json"},
            {"ImportError"},
            set(),
            id="try-with-assignment-is-data",
        ),
        pytest.param(
            "if flag:\n    import a\nelse:\n    pass",
            "code",
            {"a"},
            {"flag"},
            set(),
            id="if-of-imports-is-code",
        ),
        pytest.param("x = y + 1", "data", {"x"}, {"y"}, set(), id="assign"),
        pytest.param("x: int = 5", "data", {"x"}, {"int"}, set(), id="annotated-assign"),
        pytest.param("a, (b, c) = t", "data", {"a", "b", "c"}, {"t"}, set(), id="unpacking"),
        pytest.param("(w := compute())", "data", {"w"}, {"compute"}, set(), id="walrus"),
        pytest.param(
            "with open(p) as fh:\n    data = fh.read()",
            "data",
            {"fh", "data"},
            {"open", "p"},  # fh is bound by the with statement before it is read
            set(),
            id="with",
        ),
        pytest.param("obj.attr = value", "data", set(), {"obj", "value"}, set(), id="attr-store"),
        pytest.param("table[key] = 1", "data", set(), {"table", "key"}, set(), id="item-store"),
        pytest.param("total += i", "data", {"total"}, {"total", "i"}, set(), id="augmented"),
        pytest.param("print(display)", "data", set(), {"print", "display"}, set(), id="call"),
    ],
)
def test_statement_classification(
    source: str, kind: str, defines: set[str], reads: set[str], deferred: set[str]
) -> None:
    statement = _one(source)
    assert statement.kind == kind
    assert statement.defines == defines
    assert statement.reads == reads
    assert statement.deferred_reads == deferred
    assert statement.all_reads == reads | deferred
    assert statement.line == 1
    assert statement.source == source


@pytest.mark.parametrize(
    ("source", "reads", "deferred"),
    [
        pytest.param("ys = [x * k for x in xs if x > lim]", {"k", "lim", "xs"}, set(), id="list"),
        pytest.param("s = {x % k for x in xs}", {"k", "xs"}, set(), id="set"),
        pytest.param("d = {k: v * w for k, v in items}", {"items", "w"}, set(), id="dict"),
        pytest.param("g = (x * k for x in xs)", {"k", "xs"}, set(), id="genexpr"),
        pytest.param(
            "m = [[a * b for a in row] for row in grid]", {"b", "grid"}, set(), id="nested"
        ),
        pytest.param(
            "def f():\n    return [x * k for x in xs]", set(), {"k", "xs"}, id="inside-function"
        ),
        pytest.param("h = lambda: [x * k for x in xs]", set(), {"k", "xs"}, id="inside-lambda"),
    ],
)
def test_comprehension_reads(source: str, reads: set[str], deferred: set[str]) -> None:
    statement = _one(source)
    assert statement.reads == reads
    assert statement.deferred_reads == deferred
    # The comprehension variables are local to the comprehension: never defined outside.
    assert not statement.defines & {"x", "k", "v", "a", "row"}


@pytest.mark.parametrize(
    ("source", "defines", "reads", "deferred", "line"),
    [
        pytest.param(
            "@cache\ndef f():\n    return 1", {"f"}, {"cache"}, set(), 1, id="plain-decorator"
        ),
        pytest.param(
            "@tools.wraps(arg)\n@deco\ndef f(x):\n    return x + base",
            {"f"},
            {"tools", "arg", "deco"},
            {"base"},
            1,
            id="decorator-call",
        ),
        pytest.param(
            "x = 1\n@dataclass\nclass P:\n    n: int = 0",
            {"P"},
            {"dataclass", "int"},
            set(),
            2,
            id="decorated-class-second",
        ),
    ],
)
def test_decorators_are_immediate_reads_and_part_of_the_source(
    source: str, defines: set[str], reads: set[str], deferred: set[str], line: int
) -> None:
    statement = analyse_source(source)[-1]
    assert statement.kind == "code"
    assert statement.defines == defines
    assert statement.reads == reads
    assert statement.deferred_reads == deferred
    # The statement starts at its first decorator, and its source includes the decorators.
    assert statement.line == line
    assert statement.source.startswith("@")
    assert statement.source == "\n".join(source.splitlines()[line - 1 :])


@pytest.mark.parametrize(
    ("source", "defines", "deferred"),
    [
        pytest.param(
            "def setup():\n    global counter\n    counter = 0\n    return seen",
            {"setup", "counter"},
            {"seen"},
            id="global-assigned-is-defined",
        ),
        pytest.param(
            "def show():\n    global shown\n    return shown",
            {"show"},
            {"shown"},
            id="global-only-read-is-deferred-read",
        ),
        pytest.param(
            "def outer():\n    def inner():\n"
            "        global deep\n        deep = 1\n    return inner",
            {"outer", "deep"},
            set(),
            id="nested-global",
        ),
        pytest.param(
            "def f():\n    local = 1\n    return local",
            {"f"},
            set(),
            id="locals-are-not-globals",
        ),
    ],
)
def test_global_declarations(source: str, defines: set[str], deferred: set[str]) -> None:
    statement = _one(source)
    # names a function assigns through `global` are data the step defines once called
    assert statement.defines | statement.side_defines == defines
    assert not statement.side_defines & statement.defines
    assert statement.reads == set()
    assert statement.deferred_reads == deferred


@pytest.mark.parametrize(
    ("source", "deferred"),
    [
        pytest.param("def f():\n    return later", {"later"}, id="function-body"),
        pytest.param(
            "def outer():\n    def inner():\n        return deep\n    return inner",
            {"deep"},
            id="nested-function",
        ),
        pytest.param("f = lambda: g(y)", {"g", "y"}, id="lambda"),
        pytest.param(
            "class C:\n    def m(self):\n        return helper(self)", {"helper"}, id="method"
        ),
    ],
)
def test_deferred_reads_inside_functions(source: str, deferred: set[str]) -> None:
    statement = _one(source)
    assert statement.reads == set()
    assert statement.deferred_reads == deferred


def test_a_name_read_now_is_not_also_deferred() -> None:
    statement = _one("f = make(lambda: make)")
    assert statement.reads == {"make"}
    assert statement.deferred_reads == set()


def test_statements_in_order_with_lines_and_exact_source() -> None:
    body = (
        "import math\n\nrate = 2\ndef area(r):\n    return math.pi * r ** rate\nresult = area(3)\n"
    )
    statements = analyse_source(body)
    assert [(s.line, s.kind) for s in statements] == [
        (1, "code"),
        (3, "data"),
        (4, "code"),
        (6, "data"),
    ]
    assert [s.source for s in statements] == [
        "import math",
        "rate = 2",
        "def area(r):\n    return math.pi * r ** rate",
        "result = area(3)",
    ]
    assert statements[2].deferred_reads == {"math", "rate"}
    assert statements[3].reads == {"area"}


def test_statements_sharing_a_line_are_unparsed_separately() -> None:
    first, second = analyse_source("x = 1; y = x")
    assert (first.source, first.line, first.defines) == ("x = 1", 1, {"x"})
    assert (second.source, second.line, second.reads) == ("y = x", 1, {"x"})


def test_indented_block_source_is_dedented_statement_text() -> None:
    statements = analyse_source("if True:\n    import os\nvalue = 1")
    assert statements[0].source == "if True:\n    import os"
    assert statements[0].kind == "code"
    assert statements[1].defines == {"value"}


@pytest.mark.parametrize(
    ("body", "line"),
    [
        pytest.param("x = (", 1, id="unclosed"),
        pytest.param("x = 1\ny = = 2", 2, id="second-line"),
        pytest.param("%matplotlib inline\nx = 1\ny = = 2", 3, id="after-a-line-magic"),
        pytest.param("!pip install \\\n  pandas\ny = = 2", 3, id="after-a-continued-command"),
        pytest.param("x = 1\n  y = 2", 2, id="indent"),
        pytest.param("x = 1\ny = 2\x00", 2, id="nul-character"),
    ],
)
def test_syntax_errors_carry_the_users_body_line(body: str, line: int) -> None:
    # Magics and ! commands are accepted (test_ordinary_code.py); lines stay the user's.
    with pytest.raises(StepSyntaxError) as caught:
        analyse_source(body)
    assert caught.value.line == line
    assert str(caught.value).startswith("syntax error: ")


def test_empty_body_has_no_statements() -> None:
    assert analyse_source("") == []
    assert analyse_source("# only a comment\n\n") == []


def test_runtime_names_cover_builtins_and_display() -> None:
    assert {"print", "len", "range", "ImportError", "display"} <= RUNTIME_NAMES
    assert "pd" not in RUNTIME_NAMES


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("for p in ps:\n    r = str(p)\n    out.append(r)\n", {"ps", "out", "str"}),
        ("for p in ps:\n    out.append(r)\n    r = p\n", {"ps", "out", "r"}),
        ("for x in xs:\n    total = total + x\n", {"xs", "total"}),
        ("if c:\n    y = 1\n    z = y + 1\n", {"c"}),
        ("while n:\n    n = n - 1\n", {"n"}),
    ],
)
def test_names_set_before_they_are_read_inside_a_block_are_not_inputs(
    source: str, expected: set[str]
) -> None:
    (statement,) = analyse_source(source)
    assert set(statement.reads) == expected
