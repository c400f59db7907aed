"""Notebook cells as the compiler sees them, read from an ``.ipynb`` file or a kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowat_kernel.errors import FlowAtError

__all__ = ["STEP_MAGIC", "Cell", "cells_from_notebook", "read_notebook_cells", "split_step_cell"]

STEP_MAGIC = "%%flowat"


@dataclass(frozen=True)
class Cell:
    """A notebook cell: its source, tags and position (1-based)."""

    source: str
    position: int
    cell_type: str = "code"
    tags: tuple[str, ...] = ()
    cell_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_parameters(self) -> bool:
        """Whether papermill would treat this as the parameters cell."""
        return self.cell_type == "code" and "parameters" in self.tags


def split_step_cell(source: str) -> tuple[str, str] | None:
    """Split ``%%flowat step ...`` cell source into (magic arguments, body).

    Returns ``None`` when the cell is not a step cell. The arguments exclude
    ``%%flowat``; the body is everything after the first line.
    """
    stripped = source.lstrip("\n")
    first, _, body = stripped.partition("\n")
    words = first.split()
    if len(words) < 2 or words[0] != STEP_MAGIC or words[1] != "step":
        return None
    return first[len(STEP_MAGIC) :].strip(), body


def cells_from_notebook(notebook: Any) -> list[Cell]:
    """Turn an ``nbformat`` notebook node (or plain dict) into cells."""
    cells = []
    for position, raw in enumerate(notebook["cells"], start=1):
        source = raw.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        metadata = raw.get("metadata") or {}
        cells.append(
            Cell(
                source=source,
                position=position,
                cell_type=raw.get("cell_type", "code"),
                tags=tuple(metadata.get("tags") or ()),
                cell_id=raw.get("id"),
            )
        )
    return cells


def read_notebook_cells(path: str | Path) -> list[Cell]:
    """Read the cells of the notebook file at ``path``.

    Raises:
        FlowAtError: the file is missing or is not a notebook.

    """
    import nbformat

    file = Path(path)
    if not file.is_file():
        raise FlowAtError(f"notebook {file} does not exist; give the path of an .ipynb file")
    try:
        notebook = nbformat.read(file, as_version=4)
    except Exception as exc:
        raise FlowAtError(f"{file} is not a readable Jupyter notebook: {exc}") from exc
    return cells_from_notebook(notebook)
