"""``papermill --engine flowat``: a notebook's steps run as a FlowAt workflow on Temporal.

No kernel starts. The engine compiles the notebook papermill hands it (the cell
papermill injected is not part of the spec: its values become the run's parameters),
publishes it (a new version only when the steps changed; versions are content-hashed),
runs it and waits, then writes each step's record into the step's cell: what it
printed, the values it exported, its error, and papermill's cell metadata with the
step's own start, end and duration. A failed step leaves an error output in its cell,
so papermill raises ``PapermillExecutionError`` as it does for a failing cell.

Code cells that are not steps (set-up, exploration, ``%flowat publish``/``run``) are
not executed: they keep their source, get no outputs and the papermill status
``skipped``. Use papermill's default engine to execute every cell in a kernel.
"""

from __future__ import annotations

import logging
from typing import Any

from papermill.engines import Engine

__all__ = ["FlowAtEngine"]

logger = logging.getLogger("papermill")


class FlowAtEngine(Engine):  # type: ignore[misc]  # papermill ships no type hints
    """A papermill engine that runs the notebook's ``%%flowat step`` cells on Temporal.

    Registered under papermill's ``papermill.engine`` entry-point group as ``flowat``.
    The workflow's name is ``metadata.flowat.workflow`` of the notebook, else the input
    file's stem. ``--execution-timeout`` bounds the whole run. The steps run on a
    worker in the papermill process (other workers on the task queue may take some).
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        input_path: str | None = None,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the notebook as a workflow and write the outcome into ``nb_man.nb``."""
        # papermill imports every registered engine when it starts: load FlowAt only here.
        from flowat_kernel import api
        from flowat_kernel.reports import fill_notebook

        notebook = nb_man.nb
        parameters = dict((notebook.metadata.get("papermill") or {}).get("parameters") or {})
        workflow = api.notebook_workflow(input_path, notebook.metadata)

        def published(outcome: api.Published) -> None:
            logger.info(outcome.summary())

        run = api.run_notebook(
            notebook,
            workflow=workflow,
            parameters=parameters,
            published=published,
            trigger="papermill",
            # A papermill process is short-lived: run the steps in this process rather
            # than wait for a worker Temporal may still list after it stopped.
            worker="always",
            timeout=execution_timeout or None,
            poll_interval=0.05,
        )
        logger.info(f"{workflow} v{run.version} run {run.run_id}: {run.status}")
        fill_notebook(notebook, run.record)
        nb_man.save()
        return notebook

    @classmethod
    def nb_kernel_name(cls, nb: Any, name: str | None = None) -> str:
        """The kernel name recorded in the output (no kernel starts): python3 by default."""
        return str(name or nb.metadata.get("kernelspec", {}).get("name") or "python3")

    @classmethod
    def nb_language(cls, nb: Any, language: str | None = None) -> str:
        """Step cells are Python."""
        return str(language or nb.metadata.get("language_info", {}).get("name") or "python")
