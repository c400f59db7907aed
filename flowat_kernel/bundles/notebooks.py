"""The notebook a bundle carries: read from a file, rebuilt from a spec, written out.

Published versions keep their spec, not the notebook they were compiled from, so an
export rebuilds the notebook from the spec's steps (a ``parameters`` cell, then one
``%%flowat step`` cell per step, with the options that compile back to the same spec).
Templates carry their real notebooks, explanations included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowat_kernel.bundles.format import BundleError
from flowat_kernel.spec import WorkflowSpec

__all__ = [
    "notebook_from_file",
    "notebook_from_spec",
    "notebook_target",
    "prompt_file_conflicts",
    "write_notebook",
    "write_prompt_files",
]

_METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def _cell(cell_type: str, source: str, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source}
    if tags:
        cell["metadata"]["tags"] = list(tags)
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook_from_spec(spec: WorkflowSpec, description: str = "") -> dict[str, Any]:
    """A notebook (format 4, no outputs) whose step cells compile to ``spec``."""
    from flowat_kernel.compiler.draft import Draft

    cells = [_cell("markdown", f"# {spec.name}\n\n{description}".rstrip())]
    cells.append(_cell("code", "%load_ext flowat_kernel"))
    for cell in Draft.from_spec(spec).cells():
        if cell.is_parameters and not spec.inputs:
            continue
        cells.append(_cell("code", cell.source, cell.tags))
    for prompt in spec.prompts:  # prompt cells; prompt files are written beside it
        if prompt.file is None:
            cells.append(_cell("code", f"%%flowat prompt {prompt.name}\n{prompt.text}"))
    metadata: dict[str, Any] = {**_METADATA, "flowat": {"workflow": spec.name}}
    if spec.on_failure != "stop":
        metadata["flowat"]["on_failure"] = spec.on_failure
    return {"nbformat": 4, "nbformat_minor": 4, "metadata": metadata, "cells": cells}


def _plain(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell without outputs or execution counts, its source as one string."""
    source = cell.get("source", "")
    kept: dict[str, Any] = {
        "cell_type": cell.get("cell_type", "code"),
        "metadata": dict(cell.get("metadata") or {}),
        "source": "".join(source) if isinstance(source, list) else source,
    }
    if cell.get("id"):
        kept["id"] = cell["id"]
    if kept["cell_type"] == "code":
        kept.update(execution_count=None, outputs=[])
    return kept


def notebook_from_file(path: str | Path) -> dict[str, Any]:
    """The notebook at ``path`` as a bundle keeps it: outputs and counts cleared.

    Raises:
        BundleError: the file cannot be read or is not a notebook document.

    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read notebook {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise BundleError(f"{path} is not a notebook document (no list of cells)")
    return {**document, "cells": [_plain(c) for c in document["cells"]]}


def notebook_target(directory: str | Path | None, workflow: str, force: bool) -> Path:
    """Where the imported notebook goes: ``DIR/WORKFLOW.ipynb`` (DIR: the current folder).

    Raises:
        BundleError: the folder does not exist, or the file exists and ``force`` is off.

    """
    folder = Path(directory) if directory is not None else Path.cwd()
    if not folder.is_dir():
        raise BundleError(f"cannot write the notebook: folder {folder} does not exist")
    target = folder / f"{workflow}.ipynb"
    if target.exists() and not force:
        raise BundleError(
            f"{target} already exists; nothing was imported. Give --force to overwrite it, "
            "--dir to write elsewhere, or --name to import under another name"
        )
    return target


def _prompt_files(spec: WorkflowSpec, folder: Path) -> list[tuple[Path, str]]:
    """Where each prompt file of ``spec`` goes under ``folder``, and its text."""
    found = []
    for prompt in spec.prompts:
        if prompt.file is None:
            continue
        relative = Path(prompt.file)
        if relative.is_absolute() or len(relative.parts) != 2 or relative.parts[0] != "prompts":
            continue  # only prompts/NAME.md, never a path elsewhere
        if relative.name.startswith(".") or ".." in relative.parts:
            continue
        found.append((folder / relative, prompt.text + "\n"))
    return found


def prompt_file_conflicts(spec: WorkflowSpec, folder: Path) -> list[Path]:
    """The prompt files of ``spec`` that exist in ``folder`` with other text."""
    return [
        path
        for path, text in _prompt_files(spec, folder)
        if path.exists() and path.read_text(encoding="utf-8") != text
    ]


def write_prompt_files(spec: WorkflowSpec, folder: Path) -> list[Path]:
    """Write the version's prompt files (``prompts/NAME.md``) next to its notebook.

    So that publishing the written notebook again captures the same prompts.
    """
    written = []
    for path, text in _prompt_files(spec, folder):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_notebook(notebook: dict[str, Any], target: Path, workflow: str) -> Path:
    """Write ``notebook`` to ``target``, its ``metadata.flowat.workflow`` set to ``workflow``."""
    metadata = dict(notebook.get("metadata") or {})
    metadata["flowat"] = {**dict(metadata.get("flowat") or {}), "workflow": workflow}
    metadata["flowat"].pop("template", None)
    document = {**notebook, "metadata": metadata}
    target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
