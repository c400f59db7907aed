"""Cell outputs under papermill's engine: as a kernel shows them, and papermill's sinks.

:func:`as_a_kernel_shows` makes cells run as steps look as a kernel leaves them.

:func:`show_clean_exit` shows where a clean ``sys.exit()`` stopped a notebook run as
cells, as a kernel shows it: a ``SystemExit`` error output in that cell, marked
``failed`` as papermill marks it (papermill does not count it as an error).
:func:`write_outputs` writes each executed cell's outputs to papermill's log
(``--log-output``) and to ``--stdout-file``/``--stderr-file``, as papermill's own engine
does.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from flowat_kernel.reports._nb import v4
from flowat_kernel.store import RunRecord

__all__ = ["as_a_kernel_shows", "show_clean_exit", "write_outputs"]

logger = logging.getLogger("papermill")


def show_clean_exit(notebook: Any, record: RunRecord, cell_steps: Mapping[int, str]) -> None:
    """Mark the cell whose step ended a succeeded run early with a clean ``SystemExit``.

    The cells run as a chain, so in a run that succeeded with cells never started, the
    last cell that ran is the one that exited. Its error output is the one the step
    showed when the record has it, else ``SystemExit`` with an empty value.
    """
    if record.status != "succeeded":
        return
    steps = {s.name: s for s in record.steps}
    ran: int | None = None
    for index in sorted(cell_steps):
        step = steps.get(cell_steps[index])
        if step is None:
            continue
        if step.started_at is None:
            break
        ran = index
    else:
        return  # every cell ran: no early stop
    if ran is None:
        return
    cell = notebook.cells[ran]
    if not any(o.get("output_type") == "error" for o in cell.outputs):
        cell.outputs.append(
            v4.new_output("error", ename="SystemExit", evalue="", traceback=["SystemExit: "])
        )
    cell.metadata["papermill"].update(exception=True, status="failed")
    notebook.metadata.setdefault("papermill", {})["exception"] = True


def as_a_kernel_shows(notebook: Any, cell_steps: Mapping[int, str]) -> None:
    """Cells run as steps, shown as a kernel shows them under papermill.

    A blank code cell is not executed (no execution count) and is left ``pending`` for
    papermill to settle, as papermill's engine does; IPython shows a ``UsageError``
    (an unknown magic) as its message on stderr, with no error output, so papermill
    reports the cell as a ``CellExecutionError``.
    """
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if index not in cell_steps and not cell.source.strip():
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("flowat", None)
            cell.metadata["papermill"] = {
                "exception": None,
                "start_time": None,
                "end_time": None,
                "duration": None,
                "status": "pending",
            }
            continue
        cell.outputs = [
            v4.new_output("stream", name="stderr", text=f"UsageError: {o.get('evalue', '')}\n")
            if o.get("output_type") == "error" and o.get("ename") == "UsageError"
            else o
            for o in cell.get("outputs", [])
        ]


def _text(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def write_outputs(notebook: Any, log_output: bool, stdout_file: Any, stderr_file: Any) -> None:
    """Each executed cell's outputs to papermill's log and files, as its own engine does."""
    if not (log_output or stdout_file or stderr_file):
        return
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.execution_count is None:
            continue
        if log_output:
            logger.info(f"Executing Cell {index + 1:-<40}")
        for output in cell.get("outputs", []):
            _write_output(output, log_output, stdout_file, stderr_file)
        if log_output:
            logger.info(f"Ending Cell {index + 1:-<43}")
            sys.stdout.flush()
            sys.stderr.flush()


def _write_output(output: Mapping[str, Any], log_output: bool, stdout: Any, stderr: Any) -> None:
    if output.get("output_type") == "stream":
        content = _text(output.get("text", ""))
        to_stdout = output.get("name") == "stdout"
        sink = stdout if to_stdout else stderr
        if log_output:
            # papermill logs stderr as warnings, so it can be routed apart
            (logger.info if to_stdout else logger.warning)(content)
        if sink:
            sink.write(content)
            sink.flush()
    elif log_output and "text/plain" in (output.get("data") or {}):
        logger.info(_text(output["data"]["text/plain"]))
