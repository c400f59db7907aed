"""Patching a workflow's spec with edited step cells (what ``%flowat resume`` publishes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.compiler.cells import Cell
    from flowat_kernel.spec import WorkflowSpec

__all__ = ["patched_spec"]


def patched_spec(spec: WorkflowSpec, cells: Sequence[Cell]) -> WorkflowSpec:
    """``spec`` with the step cells in ``cells`` put in place of the steps of their names.

    Step cells of new names are added at the end; a ``parameters`` cell replaces the
    inputs. Steps the cells do not mention keep their code, so a kernel that re-ran
    only the fixed cell still publishes the whole workflow; so do prompts (a prompt cell
    or file among ``cells`` replaces the one of its name).

    Raises:
        CompileError: the result does not compile (each problem names its step).

    """
    from flowat_kernel.compiler.cells import split_step_cell
    from flowat_kernel.compiler.draft import Draft, DraftStep
    from flowat_kernel.compiler.header import HeaderError, parse_step_header
    from flowat_kernel.compiler.parameters import parse_parameters
    from flowat_kernel.errors import CompileError

    draft = Draft.from_spec(spec)
    for cell in cells:
        if cell.is_parameters:
            inputs, problems = parse_parameters(cell.source, cell.position)
            if problems:
                raise CompileError(problems)
            draft.inputs = tuple(inputs)
            continue
        split = split_step_cell(cell.source)
        if split is None:
            continue
        try:
            header = parse_step_header(split[0])
        except HeaderError as exc:
            raise FlowAtError(f"cell {cell.position}: {exc}") from None
        if header.name in draft.names:
            step = draft.step(header.name)
            step.header, step.body = header, split[1]
        else:
            draft.steps.append(DraftStep(header, split[1], cell.cell_id))
    from flowat_kernel.compiler import compile_cells

    return compile_cells([*draft.cells(), *_prompts(spec, cells)], spec.name)


def _prompts(spec: WorkflowSpec, cells: Sequence[Cell]) -> list[Cell]:
    """The prompt cells among ``cells``, and the spec's other prompts as cells."""
    from flowat_kernel.compiler.cells import PROMPT_FILE, STEP_MAGIC, Cell, split_prompt_cell

    given: dict[str, Cell] = {}
    for cell in cells:
        split = split_prompt_cell(cell.source) if cell.cell_type in ("code", PROMPT_FILE) else None
        if split is not None:
            given.setdefault(split[0], cell)
    kept = [
        Cell(
            source=f"{STEP_MAGIC} prompt {p.name}\n{p.text}",
            position=200_000 + index,
            cell_type="code" if p.file is None else PROMPT_FILE,
            cell_id=p.file,
        )
        for index, p in enumerate(spec.prompts)
        if p.name not in given
    ]
    return [*given.values(), *kept]
