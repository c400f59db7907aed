"""The example notebooks under test, and what running them outside a kernel needs.

Adding a notebook to ``notebooks/`` adds it to every test parametrized over
:data:`NOTEBOOKS`. Cells tagged ``setup`` prepare loopback stand-ins (servers, demo
secrets, child workflows) in a kernel; where no kernel runs them (``papermill --engine
flowat``, ``flowat run --notebook``), :func:`prepared` runs them in the test process
and returns the parameters they set, to pass on explicitly.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
SANITIZE = Path(__file__).with_name("sanitize.cfg")


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def tagged(notebook: Any, tag: str) -> list[Any]:
    return [c for c in notebook.cells if tag in (c.metadata.get("tags") or [])]


def step_cells(notebook: Any) -> list[Any]:
    return [
        c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("%%flowat step")
    ]


def has_stored_outputs(path: Path) -> bool:
    """Whether the notebook was saved executed (nbval then checks its outputs)."""
    notebook = nbformat.read(path, as_version=4)
    return any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")


@contextlib.contextmanager
def prepared(path: Path) -> Iterator[dict[str, Any]]:
    """Run the notebook's ``setup`` cells here; yield the parameters they changed."""
    notebook = nbformat.read(path, as_version=4)
    namespace: dict[str, Any] = {}
    for cell in tagged(notebook, "parameters"):
        exec(cell.source, namespace)
    defaults = {k: v for k, v in namespace.items() if not k.startswith("__")}
    before = Path.cwd()
    sys.path.insert(0, str(FOLDER))
    os.chdir(FOLDER)
    try:
        for cell in tagged(notebook, "setup"):
            exec(cell.source, namespace)
        yield {k: namespace[k] for k, v in defaults.items() if namespace.get(k) != v}
    finally:
        os.chdir(before)
        sys.path.remove(str(FOLDER))
        standins = sys.modules.get("standins")
        if standins is not None:
            standins.stop_all()
