"""A notebook without step cells as a workflow: one step per code cell, in order.

What papermill's engine does with a notebook that has no ``%%flowat step`` cells: each
code cell (but blank ones and the ``parameters`` and ``injected-parameters`` cells) becomes step
``cell_N`` (N counts those cells from 1) that runs after ``cell_{N-1}``, so the cells run
one after the other and names flow from cell to cell as in a kernel. A cell the
compiler refuses (a syntax error, a name no earlier cell defines) still becomes a step:
one that raises the compiler's finding when the run reaches it, as a kernel raises when
it executes the cell, so the cells before it run first. A notebook with no code to run
gets one step, ``notebook``, that does nothing (a run is always recorded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flowat_kernel.compiler import Cell, compile_cells
from flowat_kernel.compiler.cells import split_step_cell
from flowat_kernel.errors import CompileError
from flowat_kernel.spec import WorkflowSpec

__all__ = ["Plan", "has_step_cells", "plan_cells_as_steps"]

_PARAMETER_TAGS = ("parameters", "injected-parameters")

#: The one step of a notebook with no code to execute (it is no cell's step).
_NOTHING = "%%flowat step notebook"

#: The exception a refused cell raises at run time, by the compiler's diagnostic code
#: (any other finding raises ``RuntimeError`` with the compiler's message).
_RAISES = {
    "syntax-error": "SyntaxError",
    "undefined-name": "NameError",
    "private-name": "NameError",
}


@dataclass
class Plan:
    """The compiled workflow and which notebook cell (0-based index) each step is."""

    spec: WorkflowSpec
    cell_steps: dict[int, str] = field(default_factory=dict)


def has_step_cells(cells: Sequence[Cell]) -> bool:
    """Whether any code cell is a ``%%flowat step`` cell."""
    return any(c.cell_type == "code" and split_step_cell(c.source) is not None for c in cells)


def _is_step(cell: Cell) -> bool:
    """A code cell with code, but the parameters cells (a kernel skips blank cells)."""
    return (
        cell.cell_type == "code"
        and bool(cell.source.strip())
        and not any(tag in cell.tags for tag in _PARAMETER_TAGS)
    )


def _raising(code: str, message: str) -> str:
    """A step body that raises what the compiler found, as Python would name it."""
    kind = _RAISES.get(code)
    name = re.match(r"reads '(\w+)'", message)
    if kind == "NameError" and name:
        message = f"name {name.group(1)!r} is not defined"
    if kind is None:
        kind, message = "RuntimeError", f"FlowAt cannot run this cell as a step: {message}"
    return f"raise {kind}({message!r})\n"


def plan_cells_as_steps(cells: Sequence[Cell], workflow: str) -> Plan:
    """Compile ``cells`` (indexed as in the notebook) with every code cell as a step.

    Raises:
        CompileError: a problem outside the generated steps (the parameters cell).

    """
    steps: dict[int, str] = {}
    bodies: dict[int, str] = {}
    for index, cell in enumerate(cells):
        if _is_step(cell):
            steps[index] = f"cell_{len(steps) + 1}"
            bodies[index] = cell.source
    positions = {cells[i].position: i for i in steps}
    if not steps:  # nothing to execute: a run of one step that does nothing
        last = max((c.position for c in cells), default=0) + 1
        cells = [*cells, Cell(source=f"{_NOTHING}\npass\n", position=last)]
    # Each pass turns the steps the compiler refused into raising steps; a refused step
    # may leave later cells reading names it no longer defines, found on the next pass.
    for _ in range(len(steps) + 1):
        generated = [_generated(cells, i, steps, bodies) for i in range(len(cells))]
        try:
            spec = compile_cells(generated, workflow)
        except CompileError as exc:
            refused = _refused(exc, positions, steps)
            if not refused or any(i not in bodies for i in refused):
                raise
            for index, (code, message) in refused.items():
                bodies[index] = _raising(code, message)
            continue
        return Plan(spec=spec, cell_steps=steps)
    raise AssertionError("unreachable: each pass refuses at least one more step")


def _generated(
    cells: Sequence[Cell], index: int, steps: Mapping[int, str], bodies: Mapping[int, str]
) -> Cell:
    cell = cells[index]
    if index not in steps:
        return cell
    name = steps[index]
    number = int(name.split("_")[1])
    header = f"%%flowat step {name}" + (f" --after cell_{number - 1}" if number > 1 else "")
    return Cell(
        source=f"{header}\n{bodies[index]}",
        position=cell.position,
        cell_type="code",
        tags=cell.tags,
        cell_id=cell.cell_id,
    )


def _refused(
    exc: CompileError, positions: Mapping[int, int], steps: Mapping[int, str]
) -> dict[int, tuple[str, str]]:
    """The notebook index of each generated step a diagnostic names, with its finding."""
    names = {name: index for index, name in steps.items()}
    found: dict[int, tuple[str, str]] = {}
    for problem in exc.diagnostics:
        index = names.get(problem.step or "")
        if index is None and problem.cell is not None:
            index = positions.get(problem.cell)
        if index is None:
            return {-1: (problem.code, problem.message)}  # not a generated step
        if index not in found:
            found[index] = (problem.code, problem.message)
    return found
