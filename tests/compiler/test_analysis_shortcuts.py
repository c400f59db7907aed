"""The compiler's shortcuts give the answers of the long way round.

To compile a long notebook quickly, the analysis reads what a top-level ``def`` or
``class`` reads from the symbol table of the statement's own text (already built for
its names) instead of unparsing the tree and building another, and shares what it works
out for a node between the walks over one body. These tests hold each shortcut to the
long way on statements chosen to tell them apart.
"""

from __future__ import annotations

import ast
import symtable
import textwrap

import pytest

from flowat_kernel.compiler import flow
from flowat_kernel.compiler.names import analyse_step

DEFINITIONS = [
    "def f(x=a, *, y=b) -> c:\n    return x + d",
    "@decorate(e)\n@other\ndef f():\n    return g",
    "@decorate(\n    e,\n)\ndef f(x: h = i):\n    pass",
    "async def f(x=a):\n    await b",
    "def f(a=(b := c)):\n    return b",
    "def f(x=[y for y in z]):\n    return [w for w in x]",
    "def f(x=lambda: q):\n    return x",
    "class C(Base, metaclass=Meta):\n    size = limit\n    def m(self, v=default):\n"
    "        return other",
    "class C:\n    global counter\n    counter = counter + 1",
    "class C:\n    items = [n * factor for n in numbers]\n    names = {k: v for k, v in pairs}",
    "class C:\n    class Inner(Parent):\n        x = deep\n    y = lambda: later",
    "class C:\n    x: Annotated = value\n    def method(self) -> Returned:\n        return self",
    "class C:\n    match subject:\n        case Point(x=px):\n            found = px\n"
    "        case _:\n            found = None",
    "class C(*bases, **options):\n    try:\n        x = risky\n    except Problem as exc:\n"
    "        x = fallback",
    "def f():\n    global total\n    total = total + 1\n    return total",
    "def outer(a=x):\n    def inner(b=y):\n        return a + b + z\n    return inner",
]

#: Definitions whose reads all wait for a call.
READ_NOTHING_YET = {DEFINITIONS[6], DEFINITIONS[14]}


@pytest.mark.parametrize("source", DEFINITIONS)
def test_definition_reads_from_the_statement_text_match_the_unparsed_tree(source: str) -> None:
    node = ast.parse(source).body[0]
    long_way = flow._definition_reads(node)
    shortcut = flow.definition_reads(symtable.symtable(source, "<step>", "exec"))
    assert shortcut == long_way
    assert long_way or source in READ_NOTHING_YET, "a wrong answer must show"


@pytest.mark.parametrize("source", DEFINITIONS)
def test_a_definition_in_a_body_reads_as_it_did(source: str) -> None:
    """The step's analysis equals a fresh walk of each statement with nothing shared."""
    body = f"prepared = 1\n{source}\nresult = prepared\n"
    names = analyse_step(body)
    tree = ast.parse(body)
    for node, statement in zip(tree.body, names.statements, strict=True):
        found, _ = flow.reads_before_assignment([node])  # no cache: the long way
        assert statement.reads == {r.name for r in found}
    fresh, _ = flow.reads_before_assignment(ast.parse(body).body)
    required = {r.name for r in fresh if r.required}
    assert set(names.required) == required


def test_a_shared_cache_answers_as_a_fresh_walk_for_loops_and_try() -> None:
    body = textwrap.dedent(
        """
        for item in items:
            if item:
                del seen
            total = item
        while pending:
            count = count + 1
            break
        try:
            value = compute(total)
        except Exception as problem:
            value = None
        finally:
            done = value
        """
    )
    tree = ast.parse(body)
    cache: flow.WalkCache = {}
    for node in tree.body:
        assert flow.reads_before_assignment([node], cache) == flow.reads_before_assignment([node])
    assert flow.reads_before_assignment(tree.body, cache) == flow.reads_before_assignment(tree.body)
    assert {kind for kind, _ in cache} == {"stores", "removed", "every"}


@pytest.mark.parametrize(
    "line",
    ["step a", "step  spaced ", "step 'quoted name'", 'step ""', "step a=b", "step ü", "step 3"],
)
def test_a_step_line_with_a_name_alone_parses_as_the_parser_parses_it(line: str) -> None:
    """Such a line skips argparse; the header must equal what argparse makes of it."""
    import shlex

    from flowat_kernel.compiler import header

    parsed = header._parser().parse_args(shlex.split(line)[1:])
    direct = header.parse_step_header(line)
    assert direct.name == parsed.name
    assert direct == header.StepHeader(name=parsed.name)
    assert vars(parsed) == {**header._defaults(), "name": parsed.name}


@pytest.mark.parametrize("line", ["step -a", "step --after", "step --help"])
def test_a_lone_word_that_looks_like_an_option_still_goes_to_the_parser(line: str) -> None:
    from flowat_kernel.compiler.header import HeaderError, parse_step_header

    with pytest.raises(HeaderError):
        parse_step_header(line)


@pytest.mark.parametrize(("line", "name"), [("step -", "-"), ("step -- a", "a")])
def test_what_argparse_reads_as_a_name_is_the_name(line: str, name: str) -> None:
    from flowat_kernel.compiler.header import parse_step_header

    assert parse_step_header(line).name == name
