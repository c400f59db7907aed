"""Run one step's code in a fresh namespace and collect what it exports: in-thread mode.

This module also holds what both ways of running step code share: the error a step's
code raises (:class:`StepCodeError`), what a step produced (:class:`ExecutionResult`),
the user's own traceback (:func:`user_traceback`) and what counts as a clean
``SystemExit`` (:func:`clean_exit`).

By default step code runs in a child process (:mod:`flowat_kernel.engine.cells`);
:func:`execute_step` is the in-thread mode (``FLOWAT_STEP_EXECUTOR=thread``): it runs in
a worker thread, cannot be stopped inside a blocking call, and has no IPython syntax.
The namespace holds the step's inputs and prelude (imports, functions and classes from
earlier steps); ``print`` and ``display`` write to a per-step log instead of the
process's stdout, so parallel steps never mix output.
"""

from __future__ import annotations

import builtins
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

from flowat_kernel.engine.cell_code import cell_line, compile_cell
from flowat_kernel.errors import StepError
from flowat_kernel.spec import StepSpec

__all__ = [
    "NOT_RETRIED",
    "ExecutionResult",
    "StepCodeError",
    "clean_exit",
    "error_line",
    "execute_step",
    "is_code",
    "prelude_filename",
    "step_filename",
    "user_traceback",
]

_LOG_LIMIT = 64 * 1024


def step_filename(step: str) -> str:
    """The pseudo file name under which a step's cell body is compiled."""
    return f"<flowat step {step}>"


def prelude_filename(step: str, index: int) -> str:
    """The pseudo file name of a step's ``index``-th prelude block."""
    return f"<flowat prelude {step}#{index}>"


#: Exceptions that end a notebook cell as themselves and are never retried.
NOT_RETRIED = ("SystemExit", "KeyboardInterrupt")


def clean_exit(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``SystemExit`` that ends the run successfully (no code, or 0)."""
    return isinstance(exc, SystemExit) and (exc.code is None or exc.code == 0)


def user_traceback(exc: BaseException, filenames: set[str]) -> str:
    """``exc`` formatted as the user's own: frames start at the first one in ``filenames``.

    FlowAt's frames above the user's code are left out; with no frame of the user's
    (a syntax error, say) only the exception itself is shown.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in filenames:
        tb = tb.tb_next
    if tb is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def error_line(exc: BaseException, filename: str) -> int | None:
    """The cell line ``exc`` points at: its last frame in ``filename``, or a syntax error's."""
    line = cell_line(exc.__traceback__, filename)
    if line is None and isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
        line = exc.lineno + 1
    return line


class StepCodeError(StepError):
    """The step's code raised; carries what a person needs to find and fix it.

    A failure (``usage = False``): the message names the step, the cell line and the
    exception, so that the user can fix the cell and run again. The engine reports it by
    ``exc_type``, the name of the exception the code raised (the retry policy's
    ``non_retryable_errors`` match that name). It pickles with every attribute.
    """

    usage = False

    def __init__(
        self, step: str, exc: BaseException, cell_line: int | None, trace: str, logs: str
    ) -> None:
        self.step = step
        self.exc_type = type(exc).__name__
        self.exc_message = str(exc)
        self.cell_line = cell_line
        self.trace = trace
        self.logs = logs
        #: ``False`` when the error says retrying cannot help (an action's 4xx, say).
        self.retryable: bool | None = getattr(exc, "retryable", None)
        if self.exc_type in NOT_RETRIED:
            self.retryable = False
        #: What the step showed before it failed, as notebook output dicts.
        self.display: list[dict[str, Any]] = []
        where = f" (cell line {cell_line})" if cell_line else ""
        super().__init__(f"step {step!r} failed{where}: {self.exc_type}: {self.exc_message}")

    @classmethod
    def from_parts(
        cls, step: str, parts: dict[str, Any], logs: str, display: list[dict[str, Any]]
    ) -> StepCodeError:
        """Rebuild the error a child process described (``as_dict`` plus ``retryable``)."""
        error = cls.__new__(cls)
        error.step = step
        error.exc_type = str(parts["type"])
        error.exc_message = str(parts["message"])
        error.cell_line = parts.get("cell_line")
        error.trace = str(parts.get("traceback") or "")
        error.logs = logs
        error.retryable = parts.get("retryable")
        error.display = display
        where = f" (cell line {error.cell_line})" if error.cell_line else ""
        Exception.__init__(
            error, f"step {step!r} failed{where}: {error.exc_type}: {error.exc_message}"
        )
        return error

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description of the failure."""
        return {
            "step": self.step,
            "type": self.exc_type,
            "message": self.exc_message,
            "cell_line": self.cell_line,
            "traceback": self.trace,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (self._restore, (self.args, dict(self.__dict__)))

    @classmethod
    def _restore(cls, args: tuple[Any, ...], state: dict[str, Any]) -> StepCodeError:
        """Rebuild a pickled error without calling ``__init__`` (subclasses differ in it)."""
        error = cls.__new__(cls)
        Exception.__init__(error, *args)
        error.__dict__.update(state)
        return error


class _Log:
    """A bounded text buffer standing in for stdout inside one step."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def write(self, text: str) -> None:
        if self.size >= _LOG_LIMIT:
            self.truncated = True
            return
        text = text[: _LOG_LIMIT - self.size]
        self.parts.append(text)
        self.size += len(text)

    def print(
        self,
        *args: Any,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        if file is not None and file not in (sys.stdout, sys.stderr):
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
            return
        self.write(
            (sep if sep is not None else " ").join(str(a) for a in args)
            + (end if end is not None else "\n")
        )

    def display(self, *objects: Any, **_: Any) -> None:
        for obj in objects:
            self.write(repr(obj) + "\n")

    def text(self) -> str:
        return "".join(self.parts) + ("\n[output truncated]\n" if self.truncated else "")


@dataclass
class ExecutionResult:
    """What a successful step produced: exported values and its captured output.

    Attributes:
        exports: the values to pass on, by name.
        logs: the plain text of what the step printed (stdout and stderr).
        skipped_exports: names not passed on, with the reason.
        display: what the step showed, as notebook output dicts (not yet masked).
        stop_run: the step ended with a clean ``SystemExit``: the run stops here.
        untravelled: exports that cannot be passed to another process (open files,
            locks, generators...), with the reason; the activity decides whether a
            later step needs them.

    """

    exports: dict[str, Any]
    logs: str
    skipped_exports: dict[str, str]
    display: list[dict[str, Any]] = field(default_factory=list)
    stop_run: bool = False
    untravelled: dict[str, str] = field(default_factory=dict)


def is_code(value: Any) -> bool:
    """Whether ``value`` travels as code (a module, function or class), not as data."""
    return isinstance(
        value, types.ModuleType | types.FunctionType | types.BuiltinFunctionType | type
    )


def execute_step(
    step: StepSpec,
    inputs: dict[str, Any],
    passthrough: tuple[type[BaseException], ...] = (),
    names: tuple[str, ...] | None = None,
) -> ExecutionResult:
    """Execute ``step`` with ``inputs`` bound to their names.

    Args:
        step: the step to run.
        inputs: values of the names it reads.
        passthrough: exception types that propagate as they are (cancellation), rather
            than being reported as the step's own failure.
        names: the names to collect instead of the step's exports (a sub-workflow
            step collects its child's parameters); names not assigned are left out.

    Raises:
        StepCodeError: the step's code (or its prelude) raised.

    """
    filename = step_filename(step.name)
    log = _Log()
    namespace: dict[str, Any] = {
        "__name__": f"__flowat_step__{step.name}",
        "__builtins__": builtins,
        "print": log.print,
        "display": log.display,
        "flowat": sys.modules["flowat_kernel"],
    }
    namespace.update(inputs)
    files = {filename} | {prelude_filename(step.name, i) for i in range(len(step.prelude))}
    stop_run = False
    try:
        for index, source in enumerate(step.prelude):
            exec(compile_cell(source, prelude_filename(step.name, index)), namespace)
        exec(compile_cell(step.source, filename), namespace)
    except passthrough:
        raise
    except BaseException as exc:
        if not clean_exit(exc):
            trace = user_traceback(exc, files)
            error = StepCodeError(step.name, exc, error_line(exc, filename), trace, log.text())
            raise error from None
        stop_run = True
    exports: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in step.exports if names is None else names:
        if name not in namespace and names is not None:
            continue
        if name not in namespace:
            skipped[name] = "not assigned in this run"
        elif is_code(namespace[name]):
            skipped[name] = f"a {type(namespace[name]).__name__}, which travels as code, not data"
        else:
            exports[name] = namespace[name]
    return ExecutionResult(
        exports=exports, logs=log.text(), skipped_exports=skipped, stop_run=stop_run
    )
