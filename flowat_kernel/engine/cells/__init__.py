"""Trusted code steps, run like notebook cells in child processes the worker can stop.

| module | job |
| --- | --- |
| ``outputs`` | what a step shows, as nbformat output dicts, bounded; the worker's copy |
| ``capture`` | in the child: streams, file descriptors 1 and 2, ``display()`` captured |
| ``cell`` | in the child: the cell run as IPython runs it (magics, last expression) |
| ``forward`` | in the child: what the step shows, sent to the worker as it happens |
| ``connectors`` | connectors registered in the worker's process, handed to each child |
| ``child`` | the child's main: one task in, outputs and calls to the worker, result out |
| ``template`` | the process children are forked from (FlowAt and IPython imported) |
| ``pool`` | the worker's side: the template, idle children, stopping a child |
| ``process`` | the worker's side of one step: send, answer calls, wait, stop |
| ``kept`` | the worker's side: a run's step process kept for the run's next step |

:func:`run_code` is the entry point: it runs a step in a child process, or in the
worker's thread when ``FLOWAT_STEP_EXECUTOR=thread`` (or when the platform cannot fork).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from flowat_kernel.engine.artifact_formats import materialize
from flowat_kernel.engine.executor import ExecutionResult, execute_step
from flowat_kernel.errors import ConfigError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope

__all__ = ["executor_mode", "one_process", "run_code", "warm"]

log = logging.getLogger(__name__)
_warned = False


def executor_mode() -> str:
    """``process`` (the default) or ``thread``, from ``FLOWAT_STEP_EXECUTOR``.

    Raises:
        ConfigError: any other value (the message lists the two).

    """
    global _warned
    mode = (os.environ.get("FLOWAT_STEP_EXECUTOR") or "process").strip().lower()
    if mode not in ("process", "thread"):
        raise ConfigError(
            f"FLOWAT_STEP_EXECUTOR={mode!r} is not known: use 'process' (the default: steps "
            "run in child processes that timeouts and cancel can stop) or 'thread'"
        )
    if mode == "process" and not hasattr(os, "fork"):
        if not _warned:
            log.warning(
                "this platform cannot fork: code steps run in the worker's threads "
                "(FLOWAT_STEP_EXECUTOR=thread), where a timeout or cancel cannot stop "
                "a blocking call"
            )
            _warned = True
        return "thread"
    return mode


def run_code(
    step: StepSpec,
    inputs: dict[str, Any],
    scope: StepScope,
    names: tuple[str, ...] | None = None,
    deadline: float | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
    prepared: bool = False,
    keep_for: str | None = None,
) -> ExecutionResult:
    """Run a trusted step's code (or an action's or sub-workflow's body).

    Args:
        step: the step.
        inputs: values of the names it reads.
        scope: the step's scope (its reveals and action calls are recorded there).
        names: the names to collect instead of the step's exports.
        deadline: ``time.monotonic()`` at which the step is stopped (process mode).
        passthrough: exceptions that propagate as they are (cancellation).
        prepared: whether the exports may come back as
            :class:`~flowat_kernel.engine.artifact_formats.Prepared` tables and arrays
            (for the artifact store; the worker then never loads them). Inputs may be
            :class:`Prepared` either way.
        keep_for: the run whose kept step process this step may take and hand on to
            the run's next step (process mode; see
            :mod:`~flowat_kernel.engine.cells.kept`); ``None``: a process of its own.

    Raises:
        StepCodeError: the code raised, timed out, or its process died.

    """
    if executor_mode() == "thread":
        return execute_step(step, materialize(inputs), passthrough=passthrough, names=names)
    from flowat_kernel.engine.cells.process import run_in_process

    return run_in_process(
        step, inputs, scope, names=names, deadline=deadline, prepared=prepared, keep_for=keep_for
    )


@contextlib.contextmanager
def one_process() -> Iterator[None]:
    """Code steps run in this block share one child process (process mode; see ``process``)."""
    if executor_mode() != "process":
        yield
        return
    from flowat_kernel.engine.cells.process import one_process as held

    with held():
        yield


def warm() -> None:
    """Start the step processes' template in the background (process mode only)."""
    try:
        if executor_mode() != "process":
            return
    except ConfigError:
        return
    from flowat_kernel.engine.cells.pool import pool

    pool().start()
