"""Writing an edited step line back to the step's notebook cell.

Three places hold a step's line, and all three are updated so that notebook and graph
never disagree:

* the kernel's registry of step cells (what ``%flowat publish`` compiles next);
* the cell in the open JupyterLab notebook: a short script, rendered in the editor's
  output area, finds the cell whose first line is the step's old line and replaces
  that line in its editor (the change goes through JupyterLab's own document model,
  so it is saved, undone and shared like a typed edit);
* the notebook file, only when its path was given explicitly (``--notebook``), for
  a kernel without a JupyterLab frontend.

A step added in the graph is written out as a new cell the same three ways; in the
open notebook the cell is inserted after the last step cell through the notebook's
shared document (the one JupyterLab saves and collaborates on), reached from a cell
editor's binding to it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowat_kernel.compiler.cells import STEP_MAGIC, split_step_cell

__all__ = [
    "CellWriter",
    "frontend_script",
    "insert_into_notebook_file",
    "insert_script",
    "registered_cells",
    "rewrite_notebook_file",
]

_SCRIPT = """
(() => {
  const oldLine = %(old)s, newLine = %(new)s;
  const found = [];
  for (const cell of document.querySelectorAll('.jp-Notebook .jp-CodeCell')) {
    const content = cell.querySelector('.jp-InputArea .cm-content');
    const tile = content && content.cmView;
    const view = tile && (tile.view || (tile.rootView && tile.rootView.view));
    if (!view) continue;
    const first = view.state.doc.line(1);
    if (first.text.trim() === oldLine.trim()) {
      view.dispatch({changes: {from: first.from, to: first.to, insert: newLine}});
      found.push(cell.getAttribute('data-windowed-list-index'));
    }
  }
  const report = {old: oldLine, new: newLine, cells: found};
  document.body.dataset.flowatCellWrite = JSON.stringify(report);
})();
"""

_INSERT = """
(() => {
  const source = %(source)s;
  const report = {source: source, inserted: false};
  let ytext = null;
  for (const content of document.querySelectorAll('.jp-Notebook .jp-CodeCell .cm-content')) {
    const tile = content.cmView;
    const view = tile && (tile.view || (tile.rootView && tile.rootView.view));
    for (const plugin of (view && view.plugins) || []) {
      const conf = plugin.value && plugin.value.conf;
      if (conf && conf.ytext && conf.ytext.doc) { ytext = conf.ytext; break; }
    }
    if (ytext) break;
  }
  const cells = ytext && ytext.doc.getArray('cells');
  const there = cells && cells.toArray().some(c => String(c.get('source')) === source);
  if (!cells || cells.length === 0) {
    report.error = 'no open notebook with a code cell to write the step into';
  } else if (there) {
    report.error = 'a cell with this source is already there';  // a re-shown output
  } else {
    let index = cells.length;
    cells.forEach((cell, i) => {
      const text = cell.get('source');
      if (text && String(text.toString()).startsWith('%%%%flowat step ')) index = i + 1;
    });
    const CellMap = cells.get(0).constructor, CellText = ytext.constructor;
    const cell = new CellMap();
    cell.set('source', new CellText(source));
    cell.set('metadata', new CellMap());
    cell.set('cell_type', 'code');
    cell.set('id', (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())));
    cell.set('outputs', new cells.constructor());
    cell.set('execution_count', null);
    ytext.doc.transact(() => cells.insert(index, [cell]));
    report.inserted = true;
    report.index = index;
  }
  document.body.dataset.flowatCellInsert = JSON.stringify(report);
})();
"""


def insert_script(source: str) -> str:
    """JavaScript that inserts a code cell holding ``source`` after the last step cell."""
    return _INSERT % {"source": json.dumps(source)}


def insert_into_notebook_file(path: Path, source: str) -> int:
    """Insert a code cell with ``source`` after the file's last step cell; its index."""
    import nbformat
    from nbformat.v4 import new_code_cell

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    index = len(notebook.cells)
    for position, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and split_step_cell(cell.source) is not None:
            index = position + 1
    notebook.cells.insert(index, new_code_cell(source))  # type: ignore[no-untyped-call]
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return index


def frontend_script(old_line: str, new_line: str) -> str:
    """JavaScript that replaces first line ``old_line`` by ``new_line`` in open cells."""
    return _SCRIPT % {"old": json.dumps(old_line), "new": json.dumps(new_line)}


def registered_cells(notebook: Any) -> dict[str, tuple[str | None, str]]:
    """Step name to (cell id, first line) for the step cells the kernel has run."""
    found: dict[str, tuple[str | None, str]] = {}
    # KernelNotebook keeps its steps private; read them without changing them.
    for step in getattr(notebook, "_steps", {}).values():
        found[step.name] = (step.cell_id, step.source.split("\n", 1)[0])
    return found


def rewrite_notebook_file(path: Path, cell_id: str | None, old_line: str, new_line: str) -> bool:
    """Replace the first line of the step cell in the file; whether a cell changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    changed = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        first, sep, rest = cell.source.partition("\n")
        ours = (
            cell_id is not None and cell.get("id") == cell_id
        ) or first.strip() == old_line.strip()
        if ours and split_step_cell(cell.source) is not None:
            cell.source = new_line + sep + rest
            changed = True
    if changed:
        nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return changed


class CellWriter:
    """Writes step lines back: kernel registry, open notebook, and (if given) the file.

    Args:
        notebook: the kernel's ``KernelNotebook`` (``None`` outside a kernel).
        output: an ipywidgets ``Output`` shown in the page, where scripts run.
        path: the notebook file to rewrite as well (only when given explicitly).

    """

    def __init__(self, notebook: Any = None, output: Any = None, path: Path | None = None):
        self.notebook = notebook
        self.output = output
        self.path = path
        self._batch: list[str] | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send the scripts of every write inside the block to the page at once."""
        self._batch = []
        try:
            yield
        finally:
            scripts, self._batch = self._batch, None
            if scripts:
                self._run("\n".join(scripts))

    def write(self, cell_id: str | None, old_line: str, new_line: str) -> list[str]:
        """Replace ``old_line`` with ``new_line``; returns where it was written."""
        written = []
        if self.notebook is not None:
            for key, step in list(getattr(self.notebook, "_steps", {}).items()):
                if step.source.split("\n", 1)[0].strip() != old_line.strip():
                    continue
                split = split_step_cell(step.source)
                if split is None:
                    continue
                self.notebook.register_step(
                    new_line.split()[2],
                    new_line[len(STEP_MAGIC) :].strip(),
                    split[1],
                    step.cell_id,
                )
                if step.cell_id is None and key != f"name:{new_line.split()[2]}":
                    self.notebook._steps.pop(key, None)
                written.append("kernel")
        if self.output is not None:
            self._run(frontend_script(old_line, new_line))
            written.append("notebook")
        if self.path is not None and rewrite_notebook_file(self.path, cell_id, old_line, new_line):
            written.append(str(self.path))
        return written

    def insert(self, name: str, line: str, body: str) -> list[str]:
        """Write step ``name`` (its ``line`` and ``body``) out as a new cell; where to."""
        written = []
        if self.notebook is not None:
            self.notebook.register_step(name, line[len(STEP_MAGIC) :].strip(), body, None)
            written.append("kernel")
        if self.output is not None:
            self._run(insert_script(f"{line}\n{body}"))
            written.append("notebook")
        if self.path is not None:
            insert_into_notebook_file(self.path, f"{line}\n{body}")
            written.append(str(self.path))
        return written

    def _run(self, script: str) -> None:
        from IPython.display import Javascript, display

        if self._batch is not None:
            self._batch.append(script)
            return
        assert self.output is not None
        self.output.clear_output()
        with self.output:
            display(Javascript(script))  # type: ignore[no-untyped-call]
