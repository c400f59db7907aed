"""Checking a notebook's cells before publishing: the compiler's problems, per cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowat_kernel.errors import CompileError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.compiler import Cell
    from flowat_kernel.diagnostics import Diagnostic
    from flowat_kernel.workspace.services import Services

__all__ = ["CompileCheckUseCases"]

#: The name a check compiles under when the notebook names no workflow.
CHECK_NAME = "check"


class CompileCheckUseCases:
    """Compiling cells without publishing them, as the publish would."""

    services: Services
    principal: Principal

    def check_cells(self, cells: Sequence[Cell], name: str | None = None) -> list[Diagnostic]:
        """Every problem publishing ``cells`` as ``name`` would report; ``[]`` when none.

        Nothing is stored and no cell runs: the compiler reads the cells' text only.
        """
        from flowat_kernel.compiler import compile_cells

        self.principal.require("workflows:read")
        try:
            compile_cells(list(cells), name or CHECK_NAME)
        except CompileError as exc:
            return list(exc.diagnostics)
        return []
