"""The workflow papermill's engine builds: cells as a chain of steps, parameters as given."""

from __future__ import annotations

import nbformat
import pytest

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.engine.messages import StepLimits
from flowat_kernel.errors import ParameterError
from flowat_kernel.papermill.parameters import run_parameters
from flowat_kernel.papermill.workflow import NO_TIMEOUT_SECONDS, papermill_workflow
from flowat_kernel.spec import RetryPolicy


def _cells(*sources: str, parameters: str | None = None) -> list[Cell]:
    cells = [Cell(source=s, position=i + 1) for i, s in enumerate(sources)]
    if parameters is not None:
        cells.insert(0, Cell(source=parameters, position=0, tags=("parameters",)))
    return cells


def test_code_cells_become_a_chain_of_one_attempt_steps() -> None:
    plan = papermill_workflow(_cells("x = 1", "   \n", "y = x + 1", "print(y)"), "w", {})
    assert [s.name for s in plan.spec.steps] == ["cell_1", "cell_2", "cell_3"]
    assert [s.after for s in plan.spec.steps] == [(), ("cell_1",), ("cell_2",)]
    assert plan.cell_steps == {0: "cell_1", 2: "cell_2", 3: "cell_3"}  # the blank cell is none
    # papermill's one attempt and no timeout are the run's limits; the spec is the plain one
    assert all(s.retry == RetryPolicy() and s.timeout_seconds == 600 for s in plan.spec.steps)
    assert plan.limits == dict.fromkeys(
        ["cell_1", "cell_2", "cell_3"], StepLimits(attempts=1, timeout_seconds=NO_TIMEOUT_SECONDS)
    )
    assert not plan.exports
    timed = papermill_workflow(_cells("x = 1"), "w", {}, execution_timeout=7)
    assert timed.limits["cell_1"].timeout_seconds == 7
    assert timed.spec == papermill_workflow(_cells("x = 1"), "w", {}).spec
    longest = papermill_workflow(_cells("x = 1"), "w", {}, execution_timeout=10**9)
    assert longest.limits["cell_1"].timeout_seconds == NO_TIMEOUT_SECONDS


def test_a_step_line_keeps_its_own_retries_and_timeout() -> None:
    cells = _cells("%%flowat step a --retries 3 --timeout 9s\nx = 1", "%%flowat step b\ny = x")
    plan = papermill_workflow(cells, "w", {}, execution_timeout=5)
    a, b = plan.spec.steps
    assert (a.retry.retries, a.timeout_seconds) == (3, 9)
    assert (b.retry, b.timeout_seconds) == (RetryPolicy(), 600)  # the notebook's own spec
    assert plan.spec == compile_cells(cells, "w")
    assert plan.limits == {"b": StepLimits(attempts=1, timeout_seconds=5)}  # a asks for its own
    only_retries = _cells(
        "%%flowat step a --retries 1\nx = 1", "%%flowat step b --timeout 4s\ny = x"
    )
    assert papermill_workflow(only_retries, "w", {}).limits == {
        "a": StepLimits(timeout_seconds=NO_TIMEOUT_SECONDS),
        "b": StepLimits(attempts=1),
    }
    assert plan.cell_steps is None and plan.exports


def test_cells_the_compiler_refuses_raise_when_reached() -> None:
    plan = papermill_workflow(
        _cells("ok = 1", 'print "py2"', "_hidden = 2", "print(_hidden)", "print(nowhere)"), "w", {}
    )
    sources = [s.source for s in plan.spec.steps]
    assert sources[0] == "ok = 1"
    assert sources[1].startswith("raise SyntaxError(")
    assert sources[3].strip() == "raise NameError(\"name '_hidden' is not defined\")"
    assert sources[4].strip() == "raise NameError(\"name 'nowhere' is not defined\")"


def test_a_notebook_with_nothing_to_run_still_gets_a_run() -> None:
    plan = papermill_workflow(_cells("", "# just a comment\n"), "w", {})
    assert [s.name for s in plan.spec.steps] == ["cell_1"]  # the comment cell
    empty = papermill_workflow(_cells(""), "w", {})
    assert [s.name for s in empty.spec.steps] == ["notebook"] and empty.cell_steps == {}


def test_given_values_keep_papermills_types() -> None:
    cells = _cells("print(name, n, msg, extra)", parameters="name = 'x'\nn = 1\nmsg = None")
    given = {"name": 2024, "n": 5.0, "msg": '"Hello"', "extra": "42"}
    inputs = {i.name: i for i in papermill_workflow(cells, "w", given).spec.inputs}
    assert {k: (v.type, v.default) for k, v in inputs.items()} == {
        "name": ("any", "x"),  # an int for a str parameter: taken as it is
        "n": ("any", 1),  # a float for an int one
        "msg": ("str", None),  # a string for `any` is not decoded
        "extra": ("str", None),  # not declared: declared for this run
    }
    untouched = papermill_workflow(cells, "w", {"n": 2})
    assert {i.name: i.type for i in untouched.spec.inputs}["n"] == "int"


def _notebook(injected: str | None, metadata: object) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": metadata}
    if injected is not None:
        cell = nbformat.v4.new_code_cell(injected)
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.append(cell)
    return nb


def test_parameters_are_this_runs_never_stale_metadata() -> None:
    fresh = {"msg": '"Hello"', "n": float("nan"), "when": [1, {"a": None}]}
    from papermill.translators import translate_parameters

    source = translate_parameters("python3", "python", fresh, "Parameters")
    got = run_parameters(_notebook(source, fresh), "python3", "python")
    assert got["msg"] == '"Hello"' and got["when"] == [1, {"a": None}]
    # metadata left by an earlier run, no injected cell: no parameters
    assert run_parameters(_notebook(None, {"msg": "stale"}), "python3", "python") == {}
    # an injected cell an earlier run left (a kernel executes it): its literals
    left = _notebook('# Parameters\nmsg = "cell"\nn = 2\n', {"msg": "other"})
    assert run_parameters(left, "python3", "python") == {"msg": "cell", "n": 2}
    with pytest.raises(ParameterError, match="line 2"):
        run_parameters(_notebook("a = 1\nb = f(a)\n", {}), "python3", "python")
