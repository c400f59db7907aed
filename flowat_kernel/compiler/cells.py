"""Notebook cells as the compiler sees them, read from an ``.ipynb`` file or a kernel."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowat_kernel.errors import FlowAtError

__all__ = [
    "PROMPT_FILE",
    "STEP_MAGIC",
    "Cell",
    "cells_from_notebook",
    "prompt_file_cells",
    "read_notebook_cells",
    "split_prompt_cell",
    "split_step_cell",
]

STEP_MAGIC = "%%flowat"
#: The cell type of a prompt file (``prompts/NAME.md`` next to the notebook) as a cell.
PROMPT_FILE = "prompt-file"
#: The folder next to a notebook that holds its prompt files, and their suffixes.
PROMPT_FOLDER = "prompts"
PROMPT_SUFFIXES = (".md", ".txt")


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


def split_prompt_cell(source: str) -> tuple[str, str] | None:
    """Split ``%%flowat prompt NAME`` cell source into (name, text); ``None`` otherwise.

    The text is the rest of the cell, each line's trailing blanks and the trailing blank
    lines removed (so a kernel cell and a file cell compare equal).
    """
    stripped = source.lstrip("\n")
    first, _, body = stripped.partition("\n")
    words = first.split()
    if len(words) < 2 or words[0] != STEP_MAGIC or words[1] != "prompt":
        return None
    name = " ".join(words[2:])
    return name, "\n".join(line.rstrip() for line in body.rstrip().splitlines())


def prompt_file_cells(folder: str | Path) -> list[Cell]:
    """The prompt files in ``folder``/prompts (``NAME.md``, ``NAME.txt``) as cells.

    Each is a cell of type :data:`PROMPT_FILE` whose id is its path relative to
    ``folder``; the compiler captures those a step names. Symbolic links and files that
    are not UTF-8 text are left out.
    """
    base = Path(folder) / PROMPT_FOLDER
    if not base.is_dir() or base.is_symlink():
        return []
    cells = []
    for position, path in enumerate(sorted(base.iterdir()), start=1):
        if path.suffix not in PROMPT_SUFFIXES or path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        cells.append(
            Cell(
                source=f"{STEP_MAGIC} prompt {path.stem}\n{text}",
                position=100_000 + position,
                cell_type=PROMPT_FILE,
                cell_id=f"{PROMPT_FOLDER}/{path.name}",
            )
        )
    return cells


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


def _cell_ids_as_nbformat_sets_them(cells: list[dict[str, Any]], minor: int) -> None:
    """Give cells the ids ``nbformat.read`` gives them (format 4.5 and later).

    A missing id gets a new random one and a repeated id is replaced, as nbformat's
    validation does when it reads a file.
    """
    if minor < 5:
        return
    for cell in cells:
        if "id" not in cell:
            cell["id"] = uuid.uuid4().hex[:8]
    seen: set[str] = set()
    for cell in cells:
        if cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])


def _lines(value: Any) -> bool:
    """Whether ``value`` is text as a notebook stores it: a string or a list of strings."""
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


def _plain_cell(cell: Any) -> bool:
    """Whether nbformat's format-4 reader surely reads ``cell`` without an error."""
    if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
        return False
    if "source" in cell and not _lines(cell["source"]):
        return False
    if not isinstance(cell.get("id", ""), str):
        return False
    attachments = cell.get("attachments", {})
    if not isinstance(attachments, dict) or not all(
        isinstance(a, dict) for a in attachments.values()
    ):
        return False
    if cell.get("cell_type") != "code":
        return True
    outputs = cell.get("outputs", [])
    if not isinstance(outputs, list):
        return False
    for output in outputs:
        if not isinstance(output, dict):
            return False
        kind = output.get("output_type", "")
        if kind in ("execute_result", "display_data"):
            if not isinstance(output.get("data", {}), dict):
                return False
        elif kind and isinstance(output.get("text", ""), list) and not _lines(output["text"]):
            return False
    return True


def _plain_v4(path: Path) -> dict[str, Any] | None:
    """The notebook at ``path`` when it is a plain format-4 document, else None.

    Reading such a file needs only ``json``: importing nbformat (and the JSON-schema
    validators it brings) takes seconds on some installs, while its validation of a
    file it can read only logs problems. Anything else (an older format, a file that is
    not JSON, a cell nbformat's reader might stumble on) returns None, and nbformat
    reads it as before.
    """
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        return None
    minor = document.get("nbformat_minor", 0)
    cells = document.get("cells")
    if type(document.get("nbformat")) is not int or document["nbformat"] != 4:
        return None
    if type(minor) is not int or not isinstance(cells, list):
        return None
    if not all(_plain_cell(cell) for cell in cells):
        return None
    _cell_ids_as_nbformat_sets_them(cells, minor)
    return document


def read_notebook_cells(path: str | Path) -> list[Cell]:
    """Read the cells of the notebook file at ``path``.

    Raises:
        FlowAtError: the file is missing or is not a notebook.

    """
    file = Path(path)
    if not file.is_file():
        raise FlowAtError(f"notebook {file} does not exist; give the path of an .ipynb file")
    plain = _plain_v4(file)
    if plain is not None:
        return cells_from_notebook(plain)
    import nbformat

    try:
        notebook = nbformat.read(file, as_version=4)
    except Exception as exc:
        raise FlowAtError(f"{file} is not a readable Jupyter notebook: {exc}") from exc
    return cells_from_notebook(notebook)
