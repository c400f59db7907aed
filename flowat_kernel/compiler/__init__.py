"""The notebook-to-workflow compiler (pure: source in, a typed graph out)."""

from flowat_kernel.compiler.cells import (
    Cell,
    cells_from_notebook,
    prompt_file_cells,
    read_notebook_cells,
)
from flowat_kernel.compiler.compile import compile_cells, normalise_body
from flowat_kernel.diagnostics import Diagnostic

__all__ = [
    "Cell",
    "Diagnostic",
    "cells_from_notebook",
    "compile_cells",
    "compile_notebook_file",
    "normalise_body",
    "read_notebook_cells",
]


def compile_notebook_file(path: str, name: str) -> "WorkflowSpec":
    """Compile the notebook file at ``path`` statically (no kernel) into workflow ``name``.

    Prompt files next to it (``prompts/NAME.md``) are captured when a step names them.
    """
    from pathlib import Path

    return compile_cells(read_notebook_cells(path) + prompt_file_cells(Path(path).parent), name)


from flowat_kernel.spec import WorkflowSpec  # noqa: E402
