"""Write a run's record into a notebook: outputs and papermill metadata, cell by cell.

Step cells (``%%flowat step NAME``) get their step's outputs, status and timings; the
``parameters`` and ``injected-parameters`` cells count as executed (their values are
the run's inputs); any other code cell is not part of the workflow and is marked
``skipped`` (no outputs, no execution count). Markdown cells are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowat_kernel.compiler.cells import split_step_cell
from flowat_kernel.compiler.header import HeaderError, parse_step_header
from flowat_kernel.reports._cells import papermill_metadata, step_outputs
from flowat_kernel.reports._nb import Node, v4
from flowat_kernel.store import RunRecord

__all__ = ["fill_notebook", "step_name"]

_PARAMETER_TAGS = ("parameters", "injected-parameters")


def step_name(source: str) -> str | None:
    """The step name of a ``%%flowat step`` cell, or ``None`` for any other cell."""
    split = split_step_cell(source)
    if split is None:
        return None
    try:
        return parse_step_header(split[0]).name
    except HeaderError:
        return None


def _iso(record: RunRecord) -> tuple[str | None, str | None]:
    start = record.started_at or record.created_at
    return start.isoformat(), record.ended_at.isoformat() if record.ended_at else None


def _parameters_cell(cell: Node, record: RunRecord) -> None:
    start, _ = _iso(record)
    cell.outputs = []
    cell.metadata["papermill"] = {
        "exception": False,
        "start_time": start,
        "end_time": start,
        "duration": 0.0,
        "status": "completed",
    }


def _skipped_cell(cell: Node) -> None:
    cell.outputs = []
    cell.execution_count = None
    cell.metadata["papermill"] = {
        "exception": False,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "status": "skipped",
    }
    cell.metadata["flowat"] = {"executed": False, "why": "not a step of the workflow"}


def _run_error(record: RunRecord) -> Node:
    error = record.error or {}
    name = str(error.get("type") or f"Run{record.status.title().replace('_', '')}")
    message = str(error.get("message") or f"the run ended {record.status}")
    return v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def fill_notebook(
    notebook: Node,
    record: RunRecord,
    cell_steps: Mapping[int, str] | None = None,
    exports: bool = True,
) -> Node:
    """Fill ``notebook`` (in place) with ``record``'s outputs and metadata; return it.

    A run that did not succeed always shows an error output somewhere, as papermill
    does: in the failing step's cell, else (a timeout, a cancellation) in the first
    step cell that did not complete.

    Args:
        notebook: the notebook (an ``nbformat`` node), changed in place.
        record: the run.
        cell_steps: which step each cell is (by the cell's 0-based index), for cells
            that are steps without a ``%%flowat step`` line (papermill's engine on a
            notebook without step cells); by default a cell's own step line says.
        exports: show each step's exported values (a kernel does not show them).

    """
    steps = {s.name: s for s in record.steps}
    count = 0
    step_cells: list[Node] = []
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        cell.setdefault("metadata", {})
        tags = cell.metadata.get("tags") or []
        name = cell_steps.get(index) if cell_steps is not None else step_name(cell.source)
        if name is not None and name in steps:
            step = steps[name]
            cell.outputs = step_outputs(step, exports=exports)
            cell.metadata["papermill"] = papermill_metadata(step)
            cell.metadata["flowat"] = {
                "step": name,
                "status": step.status,
                "attempts": step.attempts,
            }
            ran = cell.metadata["papermill"]["status"] != "pending"
            count += ran
            cell.execution_count = count if ran else None
            step_cells.append(cell)
        elif any(tag in tags for tag in _PARAMETER_TAGS):
            count += 1
            cell.execution_count = count
            _parameters_cell(cell, record)
        else:
            _skipped_cell(cell)
    failed = record.finished and record.status != "succeeded"
    if failed and not any(o.get("output_type") == "error" for c in step_cells for o in c.outputs):
        target = next(
            (c for c in step_cells if c.metadata["papermill"]["status"] != "completed"),
            step_cells[-1] if step_cells else None,
        )
        if target is not None:
            target.outputs.append(_run_error(record))
            target.metadata["papermill"].update(exception=True, status="failed")
    _notebook_metadata(notebook, record, failed)
    return notebook


def _notebook_metadata(notebook: Node, record: RunRecord, failed: bool) -> None:
    papermill: dict[str, Any] = dict(notebook.metadata.get("papermill") or {})
    papermill["exception"] = True if failed else None
    notebook.metadata["papermill"] = papermill
    notebook.metadata["flowat"] = {
        "workflow": record.workflow,
        "version": record.version,
        "run_id": record.run_id,
        "status": record.status,
        "trigger": record.trigger,
        "parameters": record.parameters,
    }
