"""Ordinary notebook code compiles, and runs in a workflow as it runs in the kernel.

Names a block both assigns and uses (inside ``if``, ``try``, ``with``, ``for``, ``while``,
comprehensions, ``match``) are not inputs; a name some path reads before assigning it is
an input when an earlier step defines it. Magics and ``!`` commands are accepted and
their names flow like plain code's (see docs/user-guide.md, "How names flow between
steps").

The semantic check runs the same cells two ways with plain ``exec``: as a kernel does
(one shared namespace, cells in order) and as a workflow does (each step in a fresh
namespace holding only its compiled inputs, its prelude and the exports of the steps it
binds), and requires the same values, or the same error, on every path.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.names import analyse_step
from flowat_kernel.errors import CompileError
from flowat_kernel.spec import WorkflowSpec


def compile_steps(*bodies: str, parameters: str | None = None) -> WorkflowSpec:
    cells = []
    if parameters is not None:
        cells.append(Cell(parameters, 1, tags=("parameters",)))
    for index, body in enumerate(bodies):
        cells.append(Cell(f"%%flowat step s{index}\n{body}", len(cells) + 1))
    return compile_cells(cells, "wf")


def inputs_of(spec: WorkflowSpec, step: str) -> dict[str, str | None]:
    found = next(s for s in spec.steps if s.name == step)
    return {b.name: b.step if b.source == "step" else "input" for b in found.inputs}


def undefined(*bodies: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(CompileError) as caught:
        compile_steps(*bodies)
    return [(d.step or "", d.line, d.message) for d in caught.value.diagnostics]


def run_like_kernel(bodies: list[str], parameters: dict[str, Any]) -> dict[str, Any] | str:
    namespace: dict[str, Any] = dict(parameters)
    try:
        for body in bodies:
            exec(compile(body, "<cell>", "exec"), namespace)
    except Exception as exc:
        return f"{type(exc).__name__}"
    return namespace


def run_like_workflow(spec: WorkflowSpec, parameters: dict[str, Any]) -> dict[str, Any] | str:
    exported: dict[str, dict[str, Any]] = {}
    last: dict[str, Any] = {}
    for step in spec.steps:
        namespace: dict[str, Any] = {}
        for binding in step.inputs:
            if binding.source == "input":
                namespace[binding.name] = parameters[binding.name]
            else:  # a name the earlier step did not assign on its path stays unbound
                assert binding.step is not None
                if binding.name in exported[binding.step]:
                    namespace[binding.name] = exported[binding.step][binding.name]
        try:
            for prelude in step.prelude:
                exec(compile(prelude, "<prelude>", "exec"), namespace)
            exec(compile(step.source, f"<{step.name}>", "exec"), namespace)
        except Exception as exc:
            return f"{type(exc).__name__}"
        exported[step.name] = {n: namespace[n] for n in step.exports if n in namespace}
        last = namespace
    return last


def same_outcome(
    bodies: list[str], parameters_cell: str, runs: list[dict[str, Any]], check: list[str]
) -> None:
    """Each run (parameter values) gives the same values of ``check`` (or error) both ways."""
    spec = compile_steps(*bodies, parameters=parameters_cell)
    for parameters in runs:
        kernel = run_like_kernel(bodies, parameters)
        workflow = run_like_workflow(spec, parameters)
        if isinstance(kernel, str) or isinstance(workflow, str):
            assert kernel == workflow, (parameters, kernel, workflow)
            continue
        assert {n: kernel.get(n) for n in check} == {n: workflow.get(n) for n in check}, parameters


# -- a block that imports or assigns a name and uses it: not an input ------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("if flag:\n    import math\n    r = math.pi\n", id="import-in-if"),
        pytest.param(
            "try:\n    import math\n    r = math.pi\nexcept ImportError:\n    r = 3\n",
            id="import-in-try",
        ),
        pytest.param(
            "try:\n    pass\nfinally:\n    import math\n    r = math.tau\n", id="import-in-finally"
        ),
        pytest.param(
            "try:\n    raise ValueError\nexcept ValueError:\n    import math\n    r = math.e\n",
            id="import-in-except",
        ),
        pytest.param(
            "import threading\nwith threading.Lock():\n    import math\n    r = math.pi\n",
            id="import-in-with",
        ),
        pytest.param(
            "with open(__file__ if False else '/dev/null') as fh:\n    text = fh.read()\n"
            "r = len(text)\n",
            id="with-target-then-body-then-after",
        ),
        pytest.param(
            "for i in range(2):\n    import math\n    r = math.floor(i)\n", id="import-in-for"
        ),
        pytest.param(
            "n = 2\nwhile n:\n    import math\n    r = math.sqrt(n)\n    n -= 1\n",
            id="import-in-while",
        ),
        pytest.param(
            "import math\nr = [math.sqrt(v) for v in range(3) if (w := v)]\nlast = w\n",
            id="comprehension-and-walrus",
        ),
        pytest.param(
            "match flag:\n    case True:\n        import math\n        r = math.pi\n"
            "    case _:\n        import math\n        r = math.e\nprint(math)\n",
            id="import-in-every-match-case",
        ),
        pytest.param(
            "if flag:\n    import math as m\nelse:\n    import cmath as m\nr = m.pi\n",
            id="import-in-both-branches-used-after",
        ),
        pytest.param(
            "def helper():\n    return total\ntotal = 3\nr = helper()\n",
            id="function-reads-a-name-defined-later-in-the-step",
        ),
        pytest.param(
            "class K:\n    import math\n    r = math.pi\nr = K.r\n", id="import-in-class-body"
        ),
        pytest.param(
            "try:\n    import ujson as js\nexcept ImportError:\n    import json as js\n"
            "r = js.dumps([1])\n",
            id="optional-import-fallback",
        ),
    ],
)
def test_names_a_block_assigns_and_uses_are_not_inputs(body: str) -> None:
    spec = compile_steps(body, parameters="flag = True")
    assert set(inputs_of(spec, "s0")) <= {"flag"}


def test_import_inside_if_used_in_the_same_block_is_not_an_undefined_name() -> None:
    # The reported case: "reads 'math', which no earlier step defines".
    spec = compile_steps("x = 2", "if x > 1:\n    import math\n    y = math.sqrt(x)\n")
    assert inputs_of(spec, "s1") == {"x": "s0"}


# -- a name some path reads before assigning it ----------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("if flag:\n    x = 2\nprint(x)\n", {"flag", "x"}, id="assigned-in-one-branch"),
        pytest.param(
            "if flag:\n    x = 2\nelse:\n    x = 3\nprint(x)\n", {"flag"}, id="assigned-in-both"
        ),
        pytest.param(
            "if flag:\n    print(x)\n    x = 2\n", {"flag", "x"}, id="read-in-branch-before-assign"
        ),
        pytest.param(
            "if flag:\n    x = 1\nelse:\n    print(x)\n", {"flag", "x"}, id="read-in-other-branch"
        ),
        pytest.param(
            "for i in range(n):\n    x = i\nprint(x)\n", {"n", "x"}, id="loop-may-not-run"
        ),
        pytest.param(
            "for i in range(n):\n    if i:\n        print(x)\n    x = i\n",
            {"n", "x"},
            id="read-on-a-later-iteration",
        ),
        pytest.param(
            "for i in range(n):\n    x = i\nelse:\n    x = -1\nprint(x)\n",
            {"n"},
            id="loop-else-assigns",
        ),
        pytest.param(
            "while True:\n    x = 1\n    break\nprint(x)\n", {"x"} - {"x"}, id="endless-loop-break"
        ),
        pytest.param(
            "while n:\n    x = n\n    n = 0\nprint(x)\n", {"n", "x"}, id="while-may-not-run"
        ),
        pytest.param(
            "try:\n    x = int('a')\nexcept ValueError:\n    pass\nprint(x)\n",
            {"x"},
            id="try-may-stop-before-assigning",
        ),
        pytest.param(
            "try:\n    x = int('1')\nexcept ValueError:\n    raise\nprint(x)\n",
            set(),
            id="handler-re-raises",
        ),
        pytest.param(
            "try:\n    x = 1\nfinally:\n    print(x)\n", {"x"}, id="finally-after-early-stop"
        ),
        pytest.param(
            "match flag:\n    case True:\n        x = 1\nprint(x)\n",
            {"flag", "x"},
            id="match-no-case-taken",
        ),
        pytest.param(
            "match flag:\n    case True:\n        x = 1\n"
            "    case other:\n        x = 2\nprint(x)\n",
            {"flag"},
            id="match-irrefutable-last-case",
        ),
        pytest.param(
            "y = [x for _ in range(n)]\n", {"n", "x"}, id="comprehension-reads-outer-name"
        ),
        pytest.param(
            "ok = flag and (x := 5)\nprint(x)\n", {"flag", "x"}, id="walrus-after-short-circuit"
        ),
        pytest.param("x += 1\n", {"x"}, id="augmented"),
        pytest.param(
            "from contextlib import suppress\nwith suppress(ValueError):\n    x = int('a')\n"
            "print(x)\n",
            {"x"},
            id="suppress-may-skip-the-rest",
        ),
        pytest.param(
            "try:\n    x\nexcept NameError:\n    x = 0\nprint(x)\n", {"x"}, id="defined-check-idiom"
        ),
    ],
)
def test_paths_that_read_before_assigning_take_the_earlier_value(
    body: str, expected: set[str]
) -> None:
    spec = compile_steps("x = 10\nn = 0", body, parameters="flag = False")
    assert set(inputs_of(spec, "s1")) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("if flag:\n    y = 2\nprint(y)\n", id="one-branch"),
        pytest.param("for i in range(3):\n    y = i\nprint(y)\n", id="loop"),
        pytest.param("try:\n    y\nexcept NameError:\n    y = 0\n", id="defined-check-idiom"),
        pytest.param("!echo {missing} $missing\n", id="expanded-in-a-command"),
    ],
)
def test_a_maybe_read_nothing_earlier_defines_is_not_an_error(body: str) -> None:
    # Like a fresh kernel: the path that reads it fails at run time, the others work.
    spec = compile_steps(body, parameters="flag = True")
    assert set(inputs_of(spec, "s0")) <= {"flag"}


@pytest.mark.parametrize(
    ("body", "name", "line"),
    [
        pytest.param("if flag:\n    print(y)\n", "y", 3, id="read-in-branch"),
        pytest.param("y += 1\n", "y", 2, id="augmented"),
        pytest.param("r = [math.sqrt(v) for v in [1]]\nimport math\n", "math", 2, id="too-early"),
        pytest.param("for i in range(2):\n    print(y)\n", "y", 3, id="in-loop"),
        pytest.param("%time r = missing + 1\n", "missing", 2, id="inside-time-magic"),
        pytest.param(
            "try:\n    r = missing\nexcept Exception:\n    r = 0\n", "missing", 3, id="try"
        ),
    ],
)
def test_a_name_nothing_assigns_before_the_read_is_still_an_error(
    body: str, name: str, line: int
) -> None:
    cells = [Cell("flag = True", 1, tags=("parameters",)), Cell(f"%%flowat step a\n{body}", 2)]
    with pytest.raises(CompileError) as caught:
        compile_cells(cells, "wf")
    (problem,) = caught.value.diagnostics
    assert problem.code == "undefined-name"
    assert f"reads {name!r}" in problem.message
    assert problem.line == line


# -- kernel and workflow agree -----------------------------------------------------------


@pytest.mark.parametrize(
    ("bodies", "check"),
    [
        pytest.param(
            ["x = 1", "if flag:\n    x = 2\ny = x * 10"], ["x", "y"], id="one-branch-assigns"
        ),
        pytest.param(
            ["x = 1", "if flag:\n    import math\n    x = math.floor(2.5)\ny = x"],
            ["y"],
            id="import-in-branch",
        ),
        pytest.param(
            ["total = 5", "for i in range(3 if flag else 0):\n    total += i\nr = total"],
            ["r"],
            id="accumulate-in-loop",
        ),
        pytest.param(
            [
                "x = 1",
                "try:\n    x = int('7' if flag else 'no')\nexcept ValueError:\n    pass\nr = x",
            ],
            ["r"],
            id="try-may-fail",
        ),
        pytest.param(
            ["x = 1", "try:\n    x\nexcept NameError:\n    x = 0\nr = x"],
            ["r"],
            id="defined-check-idiom-with-earlier-value",
        ),
        pytest.param(
            [
                "x = 3",
                "match flag:\n    case True:\n        x = 4\n    case _:\n        pass\nr = x",
            ],
            ["r"],
            id="match",
        ),
        pytest.param(
            ["x = 2", "n = 0\nwhile flag and n < 2:\n    n += 1\n    x = x * 3\nr = x"],
            ["r", "n"],
            id="while",
        ),
        pytest.param(
            ["if flag:\n    y = 1", "r = y"],
            ["r"],
            id="earlier-step-assigns-in-one-branch-only",
        ),
        pytest.param(
            ["import math\nx = 1", "if flag:\n    import cmath as math\nr = math.pi"],
            ["r"],
            id="import-shadowed-in-branch",
        ),
    ],
)
def test_kernel_and_workflow_give_the_same_result_on_every_path(
    bodies: list[str], check: list[str]
) -> None:
    same_outcome(bodies, "flag = True", [{"flag": True}, {"flag": False}], check)


# -- magics and ! commands ---------------------------------------------------------------


def test_magics_and_commands_compile_and_names_flow_through_them() -> None:
    spec = compile_steps(
        "x = 1\ndef f():\n    return 2",
        "%matplotlib inline\n%time y = f() + x\n!ls {x} $x\nfiles = !ls\n%timeit z = x\n",
        "print(y, files)",
    )
    # The step's source stays the user's text; names inside %time flow like code's.
    assert spec.steps[1].source.startswith("%matplotlib inline\n%time y")
    assert inputs_of(spec, "s1") == {"x": "s0"}
    assert spec.steps[1].prelude == ("def f():\n    return 2",)
    assert set(spec.steps[1].exports) == {"y", "files"}  # %timeit's z stays in timeit
    assert inputs_of(spec, "s2") == {"y": "s1", "files": "s1"}


def test_a_name_timeit_assigns_is_not_defined_for_later() -> None:
    (problem,) = [p for p in undefined("x = 1", "%timeit z = x + 1\nprint(z)")]
    assert problem[0] == "s1"
    assert "reads 'z'" in problem[2]


def test_capture_cell_magic_runs_its_body_in_the_namespace_and_defines_its_name() -> None:
    spec = compile_steps("x = 1", "%%capture out --no-stderr\nz = x + 1\nprint(z)", "r = (z, out)")
    assert inputs_of(spec, "s1") == {"x": "s0"}
    assert set(spec.steps[1].exports) == {"out", "z"}
    assert inputs_of(spec, "s2") == {"z": "s1", "out": "s1"}


@pytest.mark.parametrize(
    ("body", "reads", "defines"),
    [
        pytest.param("%time y = x\n", {"x"}, {"y"}, id="time"),
        pytest.param("%prun -s cumulative -q y = x\n", {"x"}, {"y"}, id="prun-with-options"),
        pytest.param("%timeit -n 3 -r 2 x + 1\n", {"x"}, set(), id="timeit-with-options"),
        pytest.param("%%time\ny = x\n", {"x"}, {"y"}, id="time-cell"),
        pytest.param("%%timeit x2 = x\nx2 + 1\n", {"x"}, set(), id="timeit-cell"),
        pytest.param("%%capture\ny = x\n", {"x"}, {"y"}, id="capture-no-name"),
        pytest.param("%%bash\necho $x\n", set(), set(), id="other-cell-magic-is-text"),
        pytest.param("%%writefile out.txt\n{x}\n", set(), set(), id="writefile"),
        pytest.param("%env HOME=$x\n", {"x"}, set(), id="line-magic-expands"),
        pytest.param("y = !echo {x + 1}\n", {"x"}, {"y"}, id="getoutput"),
        pytest.param("%matplotlib inline\n", set(), set(), id="plain-line-magic"),
        pytest.param("if x:\n    %time y = 1\n", {"x"}, {"y"}, id="indented-magic"),
        pytest.param("x?\n", set(), set(), id="help"),
    ],
)
def test_what_each_magic_reads_and_defines(body: str, reads: set[str], defines: set[str]) -> None:
    names = analyse_step(body)
    assert set(names.required) | set(names.optional) == reads
    assert {n for s in names.statements for n in s.defines} == defines


def test_magic_lines_keep_the_users_line_numbers() -> None:
    names = analyse_step("%time a = 1\n!echo \\\n  more\nb = missing\n%time c = other\n")
    assert names.required == {"missing": 4, "other": 5}
    assert [s.line for s in names.statements] == [1, 2, 4, 5]


def test_a_body_that_is_plain_python_is_not_transformed() -> None:
    # IPython is not involved (and changes nothing) when the body already parses.
    body = "y = (a\n% b)\n"
    (statement,) = analyse_step(body).statements
    assert statement.source == body.rstrip("\n")


def test_deeply_nested_loops_analyse_quickly() -> None:
    body, indent = "", ""
    for depth in range(40):
        body += f"{indent}for i{depth} in items:\n"
        indent += "    "
        body += f"{indent}try:\n{indent}    x{depth} = i{depth}\n"
        body += f"{indent}finally:\n{indent}    y = x{depth}\n"
    body += f"{indent}z = 1\n"
    names = analyse_step(body)
    assert set(names.required) == {"items"}
