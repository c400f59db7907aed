"""What the kernel knows of its notebook: the step cells it ran, and the notebook file.

Step cells register when they run (``%%flowat step``). The cell tagged ``parameters``
cannot be seen from the kernel, so it is read from the notebook file: the path comes
from ``%flowat publish W --notebook PATH``, the kernel's ``__session__`` or
``JPY_SESSION_NAME`` (set by Jupyter). When the file is known, cells are ordered as in
the file and a cell's latest executed source wins over the saved one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowat_kernel.compiler import Cell, read_notebook_cells
from flowat_kernel.compiler.cells import STEP_MAGIC, prompt_file_cells

__all__ = ["KernelNotebook", "RegisteredStep"]

#: Registered prompt cells are kept with the steps under this prefix (no step has it).
_PROMPT = "prompt:"


@dataclass(frozen=True)
class RegisteredStep:
    """A step cell as the kernel last ran it."""

    name: str
    source: str
    cell_id: str | None
    order: int


class KernelNotebook:
    """The kernel-side view of one notebook."""

    def __init__(self) -> None:
        self._steps: dict[str, RegisteredStep] = {}
        self._executed: dict[str, str] = {}
        self._counter = 0

    def record_execution(self, cell_id: str | None, raw_cell: str) -> None:
        """Remember the latest source of an executed cell (from ``pre_run_cell``)."""
        if cell_id:
            self._executed[cell_id] = raw_cell

    def register_step(self, name: str, line: str, body: str, cell_id: str | None) -> None:
        """Register (or replace) a step cell; a re-run cell keeps its place."""
        key = cell_id or f"name:{name}"
        previous = self._steps.get(key)
        for other_key, step in list(self._steps.items()):
            if step.name == name and other_key != key:
                del self._steps[other_key]
        self._counter += 1
        order = previous.order if previous else self._counter
        source = f"{STEP_MAGIC} {line.strip()}\n{body}"
        self._steps[key] = RegisteredStep(name=name, source=source, cell_id=cell_id, order=order)

    def register_prompt(self, name: str, body: str, cell_id: str | None) -> None:
        """Register (or replace) a ``%%flowat prompt NAME`` cell, kept with the steps."""
        self.register_step(f"{_PROMPT}{name}", f"prompt {name}", body, cell_id)

    def prompts(self) -> dict[str, str]:
        """The prompt cells the kernel ran: name to text."""
        from flowat_kernel.compiler.cells import split_prompt_cell

        found = {}
        for step in sorted(self._steps.values(), key=lambda s: s.order):
            split = split_prompt_cell(step.source) if step.name.startswith(_PROMPT) else None
            if split is not None:
                found[split[0]] = split[1]
        return found

    def forget(self) -> None:
        """Drop every registered step."""
        self._steps.clear()

    @property
    def step_names(self) -> list[str]:
        """Names of the registered steps, in registration order."""
        steps = sorted(self._steps.values(), key=lambda s: s.order)
        return [s.name for s in steps if not s.name.startswith(_PROMPT)]

    @staticmethod
    def notebook_path(user_ns: dict[str, Any], explicit: str | None = None) -> Path | None:
        """The notebook file, if the kernel can tell."""
        for candidate in (explicit, user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
            if candidate and str(candidate).endswith(".ipynb") and Path(candidate).is_file():
                return Path(candidate)
        return None

    def cells(self, notebook: Path | None) -> list[Cell]:
        """The cells to compile: registered steps plus the parameters cell, in order."""
        steps = sorted(self._steps.values(), key=lambda s: s.order)
        # prompts/NAME.md next to the notebook (the kernel's folder when it is unknown)
        files = prompt_file_cells(notebook.parent if notebook is not None else Path.cwd())
        if notebook is None:
            ran = [Cell(source=s.source, position=i) for i, s in enumerate(steps, start=1)]
            return ran + files
        file_cells = read_notebook_cells(notebook)
        positions = {c.cell_id: c.position for c in file_cells if c.cell_id}
        cells: list[Cell] = []
        for cell in file_cells:
            if cell.is_parameters:
                source = self._executed.get(cell.cell_id or "") or cell.source
                cells.append(
                    Cell(
                        source=source, position=cell.position, tags=cell.tags, cell_id=cell.cell_id
                    )
                )
        unplaced = len(file_cells)
        for step in steps:
            position = positions.get(step.cell_id) if step.cell_id else None
            if position is None:
                unplaced += 1
                position = unplaced
            cells.append(Cell(source=step.source, position=position, cell_id=step.cell_id))
        return sorted(cells, key=lambda c: c.position) + files
