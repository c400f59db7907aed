"""A run that failed under ``%flowat run`` fails its cell, with the user's traceback.

The magic raises :class:`CellRunFailed`. IPython shows an exception's
``_render_traceback_()`` lines instead of its frames, so the cell's error shows what
the user needs, starting at their own code: which run and step failed, the step's
traceback as the worker recorded it (FlowAt's frames already cut off, secrets masked),
and how to look at the run. FlowAt's own frames (the magic, the launcher) are not shown.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import RunFailed

if TYPE_CHECKING:
    from flowat_kernel.run_result import Run

__all__ = ["CellRunFailed", "failed_cell", "quiet_step_failures"]


def _failed_step(run: Run) -> dict[str, Any] | None:
    error = run.error or {}
    name = error.get("step")
    for step in run.steps:
        if step.get("name") == name or (name is None and step.get("status") == "failed"):
            return step
    return None


class CellRunFailed(RunFailed):
    """``%flowat run`` (or ``rerun``) ended in failure; the cell fails with this.

    Attributes:
        run: the finished run (status, steps, error), as ``%flowat run`` returns it
            when the run succeeds; also ``flowat.get_run(run_id)``.

    """

    def __init__(self, run: Run) -> None:
        error = run.error or {}
        message = str(error.get("message") or run.status)
        step = error.get("step")
        where = f" at step {step}" if step else ""
        super().__init__(
            f"run {run.run_id[:12]} of {run.workflow} v{run.version} {run.status}{where}: "
            f"{message}",
            run,
        )
        self.run: Run = run

    def traceback_lines(self) -> list[str]:
        """What the cell shows: the failure, the step's own traceback, where to look."""
        run = self.run
        error = run.error or {}
        lines = [f"{type(self).__name__}: {self}"]
        trace = str(error.get("traceback") or "").rstrip()
        step = _failed_step(run)
        if not trace and step is not None:
            trace = str((step.get("error") or {}).get("traceback") or "").rstrip()
        if trace:
            name = error.get("step") or (step or {}).get("name") or "the step"
            lines += ["", f"Step {name} raised (its cell's code, as the run executed it):"]
            lines += trace.splitlines()
        elif error.get("type"):
            lines += ["", f"{error.get('type')}: {error.get('message') or ''}".rstrip()]
        lines += [
            "",
            f"Look at the run: %flowat monitor {run.run_id[:12]}, %flowat debug "
            f"{run.run_id[:12]} STEP, or its view in the FlowAt panel; "
            f"resume it once fixed: %flowat resume {run.run_id[:12]}",
        ]
        return lines

    def _render_traceback_(self) -> list[str]:
        return self.traceback_lines()


def failed_cell(run: Run) -> Run:
    """``run`` when it succeeded; else raise :class:`CellRunFailed` (the cell fails)."""
    if run.status != "succeeded":
        raise CellRunFailed(run) from None
    return run


class _StepFailureFilter(logging.Filter):
    """Drops the worker's "Completing activity as failed" warnings for step failures.

    A kernel runs ``%flowat run``'s steps with a worker in its own process, whose Temporal
    SDK logs every failed activity with FlowAt's frames to stderr, which the notebook
    shows in the cell above the cell's own error. A step's failure (an
    ``ApplicationError``, recorded with the run and raised by the cell) is left out;
    anything else the worker logs (FlowAt failing, not the step) still shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "__temporal_error_identifier", None) != "ActivityFailure":
            return True
        error = record.exc_info[1] if record.exc_info else None
        return type(error).__name__ != "ApplicationError"


_FILTER = _StepFailureFilter()


def quiet_step_failures() -> None:
    """Install the filter on the Temporal SDK's activity logger (once per process)."""
    logger = logging.getLogger("temporalio.activity")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
