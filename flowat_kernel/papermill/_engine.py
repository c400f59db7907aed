"""``papermill --engine flowat``: a notebook runs as a FlowAt workflow on Temporal.

No kernel starts. The engine turns the notebook papermill hands it into a workflow:

- a notebook with ``%%flowat step`` cells runs those steps (other code cells are not
  executed: they keep their source, get no outputs and the papermill status
  ``skipped``); each step shows what it printed and the values it exported;
- any other notebook runs one step per code cell, in order, each after the one before
  (:mod:`flowat_kernel.papermill.cells_as_steps`), so every notebook papermill runs also
  runs here, and its cells show what a kernel would show.

Either way papermill's semantics hold: one attempt per step unless a step's own
``--retries`` asks for more, the run stops at the first failure (later cells stay
``pending``), ``--execution-timeout`` bounds each step, and the parameters are those
papermill gave this run, as the Python values it parsed
(:mod:`flowat_kernel.papermill.parameters`). Attempts and timeouts are limits of this
run, not of the published spec, which is the notebook's own (the one ``flowat run
--notebook`` publishes). The workflow is published first (a new version only when it
changed; versions are content-hashed), then run and waited for; each step's record is
written into its cell (what it showed, its error, papermill's cell metadata with the
step's own start, end and duration). The output notebook is written as each step starts
and ends (:mod:`flowat_kernel.papermill.progress`), and once more when the run ends. A
failed step leaves an error output in its cell, so papermill raises
``PapermillExecutionError`` as it does for a failing cell; a clean ``sys.exit()`` shows
``SystemExit`` and does not. Outputs go to papermill's log (``--log-output``) and to
``--stdout-file``/``--stderr-file`` when the run ends, cell by cell, as papermill's own
engine writes them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from papermill.engines import Engine

__all__ = ["FlowAtEngine"]

logger = logging.getLogger("papermill")


class FlowAtEngine(Engine):  # type: ignore[misc]  # papermill ships no type hints
    """A papermill engine that runs the notebook as a workflow on Temporal.

    Registered under papermill's ``papermill.engine`` entry-point group as ``flowat``.
    The workflow's name is ``metadata.flowat.workflow`` of the notebook, else the input
    file's stem (for a notebook given as a ``NotebookNode``: the output file's stem, else
    ``papermill_`` and a hash of its code). The steps run on a worker in the papermill
    process.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        input_path: Any = None,
        execution_timeout: float | None = None,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Run the notebook as a workflow and write the outcome into ``nb_man.nb``."""
        # papermill imports every registered engine when it starts: load FlowAt only here.
        from flowat_kernel import api
        from flowat_kernel.compiler import cells_from_notebook
        from flowat_kernel.papermill.outputs import write_outputs
        from flowat_kernel.papermill.parameters import run_parameters
        from flowat_kernel.papermill.progress import NotebookProgress
        from flowat_kernel.papermill.workflow import papermill_workflow

        notebook = nb_man.nb
        parameters = run_parameters(notebook, kernel_name, cls.nb_language(notebook))
        workflow = _workflow_name(notebook, input_path, nb_man.output_path)
        plan = papermill_workflow(
            cells_from_notebook(notebook), workflow, parameters, execution_timeout
        )
        outcome = api.publish(workflow, spec=plan.spec)
        logger.info(outcome.summary())

        def render(node: Any, record: Any) -> None:
            _render(node, record, plan)

        progress = NotebookProgress(nb_man, [s.name for s in plan.spec.steps], render)
        run = api.default_workspace().run(
            workflow,
            version=outcome.number,
            parameters=parameters,
            trigger="papermill",
            # A papermill process is short-lived: run the steps in this process rather
            # than wait for a worker Temporal may still list after it stopped.
            worker="always",
            poll_interval=0.05,
            progress=progress,
            limits=plan.limits,
        )
        logger.info(f"{workflow} v{run.version} run {run.run_id}: {run.status}")
        render(notebook, run.record)
        write_outputs(notebook, log_output, stdout_file, stderr_file)
        if nb_man.pbar:
            nb_man.pbar.update(max(len(notebook.cells) - nb_man.pbar.n, 0))
        nb_man.save()
        if execution_timeout:
            _raise_timeout(notebook, run.record, execution_timeout)
        return notebook

    @classmethod
    def nb_kernel_name(cls, nb: Any, name: str | None = None) -> str:
        """The kernel name recorded in the output (no kernel starts): python3 by default."""
        return str(name or nb.metadata.get("kernelspec", {}).get("name") or "python3")

    @classmethod
    def nb_language(cls, nb: Any, language: str | None = None) -> str:
        """Cells run as Python."""
        return str(language or nb.metadata.get("language_info", {}).get("name") or "python")


def _render(notebook: Any, record: Any, plan: Any) -> None:
    """Fill ``notebook`` with ``record`` (finished or not) as papermill shows the cells."""
    from flowat_kernel.papermill.outputs import as_a_kernel_shows, show_clean_exit
    from flowat_kernel.reports import fill_notebook

    fill_notebook(notebook, record, cell_steps=plan.cell_steps, exports=plan.exports)
    if plan.cell_steps is not None:
        show_clean_exit(notebook, record, plan.cell_steps)
        as_a_kernel_shows(notebook, plan.cell_steps)


def _workflow_name(notebook: Any, input_path: Any, output_path: Any) -> str:
    from flowat_kernel import api

    if (notebook.metadata.get("flowat") or {}).get("workflow"):
        return api.notebook_workflow(None, notebook.metadata)
    for path in (input_path, output_path):
        if isinstance(path, str | os.PathLike) and str(path) not in ("", "-"):
            return api.notebook_workflow(str(path), notebook.metadata)
    code = "\n\x00".join(c.get("source", "") for c in notebook.cells if c.cell_type == "code")
    return f"papermill_{hashlib.sha256(code.encode()).hexdigest()[:12]}"


def _raise_timeout(notebook: Any, record: Any, timeout: float) -> None:
    """Raise what papermill's engine raises for a cell past ``--execution-timeout``."""
    from nbclient.exceptions import CellTimeoutError

    timed_out = next(
        (s for s in record.steps if (s.error or {}).get("type") == "StepTimeout"), None
    )
    if timed_out is None and record.status != "timed_out":
        return
    cell = next(
        (
            c
            for c in notebook.cells
            if c.get("metadata", {}).get("flowat", {}).get("step")
            == getattr(timed_out, "name", None)
        ),
        None,
    )
    error: Any = CellTimeoutError.error_from_timeout_and_cell  # cell may be None: allowed
    raise error("Cell execution timed out", int(timeout), cell)
