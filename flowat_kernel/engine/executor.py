"""Run one step's code in a fresh namespace and collect what it exports.

Runs in a worker thread. The namespace holds the step's inputs and prelude (imports,
functions and classes from earlier steps); ``print`` and ``display`` write to a
per-step log instead of the process's stdout, so parallel steps never mix output.
"""

from __future__ import annotations

import builtins
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any

from flowat_kernel.engine.cell_code import cell_line, compile_cell
from flowat_kernel.errors import StepError
from flowat_kernel.spec import StepSpec

__all__ = ["ExecutionResult", "StepCodeError", "execute_step", "step_filename"]

_LOG_LIMIT = 64 * 1024


def step_filename(step: str) -> str:
    """The pseudo file name under which a step's cell body is compiled."""
    return f"<flowat step {step}>"


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
        where = f" (cell line {cell_line})" if cell_line else ""
        super().__init__(f"step {step!r} failed{where}: {self.exc_type}: {self.exc_message}")

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
    """What a successful step produced: exported values and its captured output."""

    exports: dict[str, Any]
    logs: str
    skipped_exports: dict[str, str]


def _is_code(value: Any) -> bool:
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
    try:
        for index, source in enumerate(step.prelude):
            exec(compile_cell(source, f"<flowat prelude {step.name}#{index}>"), namespace)
        exec(compile_cell(step.source, filename), namespace)
    except passthrough:
        raise
    except Exception as exc:
        trace = "".join(traceback.format_exception(exc))
        raise StepCodeError(
            step.name, exc, cell_line(exc.__traceback__, filename), trace, log.text()
        ) from exc
    exports: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in step.exports if names is None else names:
        if name not in namespace and names is not None:
            continue
        if name not in namespace:
            skipped[name] = "not assigned in this run"
        elif _is_code(namespace[name]):
            skipped[name] = f"a {type(namespace[name]).__name__}, which travels as code, not data"
        else:
            exports[name] = namespace[name]
    return ExecutionResult(exports=exports, logs=log.text(), skipped_exports=skipped)
