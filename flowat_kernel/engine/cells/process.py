"""The worker's side of one step run in a child process: send, serve, wait, stop.

:func:`run_in_process` hands the step to a child of the pool, answers the child's
calls (secrets and circuit breakers live in the worker), and waits for the result in
short polls, so that a cancellation (the SDK raises ``CancelledError`` in this thread)
or the step's deadline is noticed within a fraction of a second: the child and its
process group are then stopped (``SIGTERM``, ``SIGKILL`` after a short grace), whatever
the step's code is blocked in.

What the step shows arrives while it runs (``("outputs", ...)`` frames) and is applied
to the worker's copy of its outputs, which is what the step's record keeps: when the
child is stopped, the step's error (``StepTimeout``, ``StepProcessError``) carries
everything shown up to then, and so does a cancellation (``display`` and ``logs`` set
on the exception that interrupted this thread).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import cloudpickle

from flowat_kernel.engine.cells.connectors import cannot_travel, packed
from flowat_kernel.engine.cells.kept import KeptProcesses, kept
from flowat_kernel.engine.cells.outputs import Outputs, plain_text
from flowat_kernel.engine.cells.pool import StepChild, pool
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.engine.run_directories import directory_of
from flowat_kernel.errors import FlowAtError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.vault.redaction import register

__all__ = ["one_process", "run_in_process"]

_POLL_SECONDS = 0.1
#: The step is stopped this much before its deadline (at most a tenth of its time), so
#: that its record is written and its failure reported before Temporal's own timer fires.
_MARGIN_SECONDS = 0.5


def _error(
    step: str, kind: str, message: str, retryable: bool | None, shown: Outputs | None = None
) -> StepCodeError:
    parts = {"type": kind, "message": message, "cell_line": None, "retryable": retryable}
    display = shown.finished() if shown is not None else []
    return StepCodeError.from_parts(step, parts, plain_text(display), display)


def _answer(scope: StepScope, method: str, args: tuple[Any, ...]) -> Any:
    """Do what the child asked for, in the worker, for the step's own organization."""
    services = scope.services
    if services is None:
        raise FlowAtError("this step has no services (secrets, breakers) bound")
    if method == "reveal":
        (name,) = args
        value = services.secrets.reveal(name)
        register(name, value)
        scope.revealed.add(name)
        return value
    if method == "record_usage":
        services.secrets.record_usage(args[0])
        return None
    if method in ("before_call", "success", "failure"):
        getattr(services.breakers, method)(*args)
        return None
    if method in ("rate_try", "rate_release"):  # the scope's organization, never the child's
        if services.rate_limits is None:
            return ("", 0.0) if method == "rate_try" else None
        if method == "rate_try":
            return services.rate_limits.try_acquire(*args)
        services.rate_limits.release(*args)
        return None
    raise FlowAtError(f"unknown call from a step process: {method!r}")


def _reply(child: StepChild, scope: StepScope, method: str, args: tuple[Any, ...]) -> None:
    try:
        message: tuple[Any, ...] = ("reply", True, _answer(scope, method, args))
    except Exception as exc:
        message = ("reply", False, exc)
    try:
        data = cloudpickle.dumps(message)
    except Exception:
        data = cloudpickle.dumps(("reply", False, FlowAtError(str(message[2]))))
    child.conn.send_bytes(data)


def _task(
    step: StepSpec,
    inputs: dict[str, Any],
    names: tuple[str, ...] | None,
    scope: StepScope,
    connectors: dict[str, bytes],
    prepared: bool,
) -> bytes:
    files_dir = scope.services.files_dir if scope.services is not None else ""
    try:
        packed = cloudpickle.dumps(inputs)
    except Exception as exc:
        raise _error(
            step.name, "StepInputError", f"the inputs cannot be sent to the step: {exc}", False
        ) from None
    task: bytes = cloudpickle.dumps(
        {
            "step": step,
            "inputs": packed,
            "names": names,
            "scope": {
                "owner": scope.owner,
                "workflow": scope.workflow,
                "run_id": scope.run_id,
                "step": scope.step,
                "attempt": scope.attempt,
                "trigger": scope.trigger,
                "organization_egress": scope.organization_egress,
                "files_dir": str(files_dir),
            },
            "cwd": directory_of(scope.run_id),
            # The step sees which worker process runs it (its own pid is the child's).
            "env": {**os.environ, "FLOWAT_WORKER_PID": str(os.getpid())},
            "path": list(sys.path),
            "connectors": connectors,
            "prepare": prepared,
        }
    )
    return task


def _result(
    step: StepSpec, done: dict[str, Any], scope: StepScope, shown: Outputs
) -> ExecutionResult:
    scope.calls.update(done.get("calls", {}))
    scope.actions.extend(done.get("actions", []))
    display = shown.finished()
    logs = plain_text(display)
    if done["error"] is not None:
        raise StepCodeError.from_parts(step.name, done["error"], logs, display)
    exports: dict[str, Any] = {}
    untravelled: dict[str, str] = dict(done.get("untravelled", {}))
    for name, blob in done["exports"].items():
        try:
            exports[name] = cloudpickle.loads(blob)
        except Exception as exc:
            untravelled[name] = f"{name!r} cannot be unpickled in the worker ({exc})"
    return ExecutionResult(
        exports=exports,
        logs=logs,
        skipped_exports=dict(done["skipped"]),
        display=display,
        stop_run=bool(done["stop_run"]),
        untravelled=untravelled,
    )


def _receive(frame: bytes, shown: Outputs) -> tuple[Any, ...]:
    """Decode a frame; output frames are applied to ``shown`` here."""
    message: tuple[Any, ...] = cloudpickle.loads(frame)
    if message[0] == "outputs":
        for operation in message[1]:
            with contextlib.suppress(ValueError, TypeError):
                shown.apply(operation)
    return message


class _Held(threading.local):
    """The child kept between step runs of this thread, inside :func:`one_process`."""

    active = False
    child: StepChild | None = None


_held = _Held()


@contextlib.contextmanager
def one_process() -> Iterator[None]:
    """Step runs in this block (this thread) share one child process, one after another.

    A ``--chunk`` of a ``--foreach`` step's items: the child takes the next item once it
    has sent the last one's result, so the fork and the first cell's start-up are paid
    once per chunk. Each item still runs in a fresh namespace; what the items' code
    imports stays loaded. A child that is stopped (timeout, cancel) or dies is replaced
    by a fresh one for the next item. The child is closed when the block ends.
    """
    if _held.active:  # nested: the outer block keeps the child
        yield
        return
    _held.active = True
    try:
        yield
    finally:
        _held.active = False
        child, _held.child = _held.child, None
        if child is not None:
            child.close()  # the child reads EOF and exits


def _stopped(child: StepChild, shown: Outputs) -> None:
    """Stop the child, keeping the outputs it sent before it ended."""
    child.stop(receive=lambda frame: _receive(frame, shown))


def run_in_process(
    step: StepSpec,
    inputs: dict[str, Any],
    scope: StepScope,
    names: tuple[str, ...] | None = None,
    deadline: float | None = None,
    prepared: bool = False,
    keep_for: str | None = None,
) -> ExecutionResult:
    """Run ``step`` in a child process; stop it at ``deadline`` (``time.monotonic()``).

    Args:
        step: the step.
        inputs: values of the names it reads (pickled to the child, which loads the
            :class:`~flowat_kernel.engine.artifact_formats.Prepared` ones).
        scope: the step's scope; the child's reveals and action calls are added to it.
        names: the names to collect instead of the step's exports.
        deadline: when the step times out (its ``start_to_close`` timeout); the child
            is stopped a little earlier (:data:`_MARGIN_SECONDS`, at most a tenth of the
            time left), so that the worker reports the timeout, with what the step
            showed, before Temporal's own timer ends the attempt.
        prepared: the child sends tables and arrays among the exports as
            :class:`~flowat_kernel.engine.artifact_formats.Prepared` bytes.
        keep_for: the run whose process this step may take and hand on to the run's
            next step (:mod:`~flowat_kernel.engine.cells.kept`); not handed on when
            the step revealed a secret, or did not end with a result.

    Raises:
        StepCodeError: the code raised (its own exception), the step timed out
            (``StepTimeout``) or its process ended without a result; with what the
            step showed before.
        BaseException: whatever interrupted this thread (a cancellation); the child has
            been stopped first, and the exception carries ``display`` and ``logs``: what
            the step showed until then.

    """
    connectors, unpicklable = packed()
    task = _task(step, inputs, names, scope, connectors, prepared)
    shown = Outputs()
    for cid, why in sorted(unpicklable.items()):
        shown.stream("stderr", cannot_travel(cid, why))
    child, _held.child = _held.child, None
    keeper: KeptProcesses | None = None
    try:
        if keep_for and not _held.active:
            keeper = kept()
            child = child or keeper.take(keep_for)
        child = child or pool().take()
    except FlowAtError as exc:
        raise _error(step.name, "StepProcessError", str(exc), None, shown) from None
    if deadline is not None:
        deadline -= min(_MARGIN_SECONDS, max(0.0, 0.1 * (deadline - time.monotonic())))
    ended = False  # the child sent its result, or has been stopped
    handed = False  # kept for the run's next step
    try:
        child.conn.send_bytes(task)
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                _stopped(child, shown)
                ended = True
                limit = step.timeout_seconds
                raise _error(
                    step.name,
                    "StepTimeout",
                    f"no result within {limit:g}s (--timeout): the step's process was stopped",
                    None,
                    shown,
                )
            if not child.conn.poll(_POLL_SECONDS):
                continue
            try:
                message = _receive(child.conn.recv_bytes(), shown)
            except (EOFError, OSError):
                raise _error(
                    step.name,
                    "StepProcessError",
                    "the step's process ended without a result (killed by a signal, out of "
                    "memory, or os._exit in the step's code)",
                    None,
                    shown,
                ) from None
            if message[0] == "outputs":
                continue
            if message[0] == "call":
                _reply(child, scope, message[1], message[2])
                continue
            ended = True
            if _held.active:  # the child waits for the next item of its chunk
                _held.child = child
            elif keeper is not None and keep_for and not scope.revealed:
                handed = keeper.keep(keep_for, child)
            return _result(step, message[1], scope, shown)
    except BaseException as exc:
        if not ended:
            _stopped(child, shown)
        if not isinstance(exc, StepCodeError):
            display = shown.finished()
            with contextlib.suppress(AttributeError, TypeError):
                exc.display = display  # type: ignore[attr-defined]
                exc.logs = plain_text(display)  # type: ignore[attr-defined]
        raise
    finally:
        if _held.child is not child and not handed:
            child.close()
