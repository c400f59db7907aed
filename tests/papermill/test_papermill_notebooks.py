"""papermill's own test notebooks under both engines: the same observable outcome.

Each notebook (from papermill's source distribution, see ``conftest.py``) runs under
papermill's default engine (a real ipykernel) and under ``--engine flowat`` (a workflow
on the session's Temporal dev server), and the two outputs must agree on what a
papermill user sees: whether papermill raised and with which error name and value and
cell, each cell's execution count, papermill status and outputs (streams, results,
error names and values), the injected parameters and the notebook's exception flag.
Tracebacks are not compared (IPython formats them with colours and its own frames), nor
the warning IPython itself prints on ``SystemExit`` ("To exit: use 'exit'...").

The ``SystemExit`` cases wait on the step executor recording a clean ``SystemExit``
(the run stops there); until then they fail by running the cell after ``sys.exit()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

#: (notebook, parameters, execute_notebook options): the notebooks papermill's own
#: tests execute for execution, parameters, SystemExit and report mode.
CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
    ("simple_execute.ipynb", {"msg": "Hello"}, {}),
    ("simple_execute.ipynb", {"msg": '"Hello"'}, {}),
    ("simple_execute.ipynb", {"msg": r"bar=\"baz\""}, {}),
    ("simple_execute.ipynb", {"msg": 42, "unknown": [1, "two"]}, {}),
    ("simple_execute.ipynb", None, {}),
    ("no_parameters.ipynb", {"msg": "Hello"}, {}),
    ("nb_version_4.4.ipynb", {"var": "It works"}, {}),
    ("blank-vscode.ipynb", {"var": "It works"}, {}),
    ("report_mode_test.ipynb", {"a": 0}, {"report_mode": True}),
    ("broken1.ipynb", None, {}),
    ("broken2.ipynb", None, {}),
    ("line_magic_error.ipynb", None, {}),
    ("sysexit1.ipynb", None, {}),
    ("sysexit.ipynb", None, {}),
    ("sysexit0.ipynb", None, {}),
    ("systemexit.ipynb", None, {}),
]

_IPYTHON_EXIT_WARNING = "To exit: use 'exit', 'quit', or Ctrl-D."


def _output(output: Any) -> tuple[Any, ...] | None:
    kind = output.output_type
    if kind == "stream":
        if output.name == "stderr" and _IPYTHON_EXIT_WARNING in output.text:
            return None  # IPython's own warning, not the notebook's output
        return (kind, output.name, output.text)
    if kind == "error":
        return (kind, output.ename, output.evalue)
    return (kind, output.get("data", {}).get("text/plain"))


def observe(
    notebook: Path, out: Path, engine: str | None, parameters: Any, **options: Any
) -> dict[str, Any]:
    """What a papermill user sees of one run: what was raised, and the output notebook."""
    raised: tuple[Any, ...] | None = None
    try:
        papermill.execute_notebook(
            str(notebook),
            str(out),
            parameters=parameters,
            engine_name=engine,
            kernel_name="python3",  # as papermill's own tests do
            progress_bar=False,
            **options,
        )
    except PapermillExecutionError as exc:
        raised = (exc.ename, exc.evalue, exc.exec_count, exc.cell_index)
    written = nbformat.read(out, as_version=4)
    cells = [
        (
            cell.cell_type,
            cell.get("execution_count"),
            cell.metadata.get("papermill", {}).get("status"),
            [o for o in map(_output, cell.get("outputs", [])) if o is not None],
            cell.metadata.get("tags"),
            cell.source,
            cell.metadata.get("jupyter"),
        )
        for cell in written.cells
    ]
    meta = written.metadata.papermill
    return {
        "raised": raised,
        "cells": cells,
        "parameters": meta.get("parameters"),
        "exception": meta.get("exception"),
    }


@pytest.mark.parametrize(
    ("name", "parameters", "options"),
    CASES,
    ids=[f"{n[:-6]}-{i}" for i, (n, _, _) in enumerate(CASES)],
)
def test_the_same_outcome_under_both_engines(
    temporal: str,
    papermill_notebooks: Path,
    tmp_path: Path,
    name: str,
    parameters: dict[str, Any] | None,
    options: dict[str, Any],
) -> None:
    notebook = papermill_notebooks / name
    kernel = observe(notebook, tmp_path / "kernel.ipynb", None, parameters, **options)
    flowat = observe(notebook, tmp_path / "flowat.ipynb", "flowat", parameters, **options)
    assert flowat["raised"] == kernel["raised"]
    assert flowat["parameters"] == kernel["parameters"]
    assert flowat["exception"] == kernel["exception"]
    for index, (seen, expected) in enumerate(zip(flowat["cells"], kernel["cells"], strict=True)):
        assert seen == expected, f"cell {index} differs"
