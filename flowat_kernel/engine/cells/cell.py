"""Running one step's cell as IPython runs a notebook cell, inside the step's process.

The cell is transformed by the IPython shell's own input transformers (line magics,
``!`` commands, ``%time``, ``%matplotlib inline``); its namespace is the shell's user
namespace and the module ``__main__``, as in a notebook; a last expression's value is
shown as an ``execute_result`` with its mime bundle (a trailing ``;`` hides it); the
shell's ``pre_execute``/``post_execute`` events run around it (so ``%matplotlib inline``
figures are shown). Top-level ``await`` works as in a notebook.

A clean ``SystemExit`` (no code, or 0) ends the step successfully and asks the run to
stop; any other exception, ``SystemExit`` with a code and ``KeyboardInterrupt`` included,
is the step's error, described with the user's own traceback.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import linecache
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.interactiveshell import InteractiveShell

from flowat_kernel.engine.cells.capture import capturing
from flowat_kernel.engine.cells.outputs import Outputs, Sink
from flowat_kernel.engine.executor import (
    NOT_RETRIED,
    clean_exit,
    error_line,
    is_code,
    prelude_filename,
    step_filename,
    user_traceback,
)
from flowat_kernel.spec import StepSpec

__all__ = ["CellOutcome", "notebook_shell", "run_cell"]

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


@dataclass
class CellOutcome:
    """What the cell did: its namespace's exports, its outputs, and how it ended."""

    exports: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    stop_run: bool = False
    #: ``as_dict()`` of the error plus ``retryable``; ``None`` when the cell succeeded.
    error: dict[str, Any] | None = None


class _StepShell(InteractiveShell):
    """The shell of a step's process: headless, so no GUI event loops (``inline`` is fine)."""

    def enable_gui(self, gui: str | None = None) -> None:
        if gui not in (None, "inline"):
            from IPython.core.error import UsageError

            raise UsageError(
                f"a step runs without a display: the {gui!r} event loop is not available "
                "(use %matplotlib inline)"
            )


def notebook_shell() -> InteractiveShell:
    """The process's IPython shell, made once: no history file, no colours."""
    from traitlets.config import Config

    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "nocolor"
    shell: InteractiveShell = _StepShell.instance(config=config)
    return shell


#: IPython's transform of a cell's source, by source (a step process runs one step's
#: source, once per item of a ``--chunk``; the transform depends on the source alone).
_TRANSFORMED: dict[str, str] = {}


def _run_source(
    shell: InteractiveShell, source: str, filename: str, outputs: Outputs, show_last: bool
) -> None:
    """Transform, compile and run ``source``; show its last expression when asked."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    transformed = _TRANSFORMED.get(source)
    if transformed is None:  # the items of a --chunk run the same source: transform it once
        transformed = shell.transform_cell(source)  # type: ignore[no-untyped-call]
        if len(_TRANSFORMED) >= 64:
            _TRANSFORMED.clear()
        _TRANSFORMED[source] = transformed
    tree = ast.parse(transformed, filename)
    last: ast.expr | None = None
    final = tree.body[-1] if tree.body else None
    quiet = DisplayHook.semicolon_at_end_of_expression  # a trailing ``;`` hides the value
    if show_last and isinstance(final, ast.Expr) and not quiet(transformed):  # type: ignore[no-untyped-call]
        tree.body.pop()
        last = final.value
    namespace = shell.user_ns
    if tree.body:
        _evaluate(compile(tree, filename, "exec", flags=_FLAGS), namespace)
    if last is not None:
        expression = ast.Expression(last)
        value = _evaluate(compile(expression, filename, "eval", flags=_FLAGS), namespace)
        if value is not None and shell.display_formatter is not None:
            data, metadata = shell.display_formatter.format(value)  # type: ignore[no-untyped-call]
            if data:
                outputs.rich("execute_result", data, metadata, execution_count=None)


def _evaluate(code: types.CodeType, namespace: dict[str, Any]) -> Any:
    result = eval(code, namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        return asyncio.run(result)
    return result


def _main_module(step: StepSpec, inputs: dict[str, Any]) -> types.ModuleType:
    """The step's namespace as the module ``__main__``, as a notebook's is."""
    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace.update(
        {
            "__builtins__": builtins,
            "flowat": sys.modules["flowat_kernel"],
            "display": builtins.__dict__.get("display"),
        }
    )
    namespace.update(inputs)
    return module


def _retryable(exc: BaseException) -> bool | None:
    if type(exc).__name__ in NOT_RETRIED:
        return False
    flag = getattr(exc, "retryable", None)
    return flag if isinstance(flag, bool) else None


def run_cell(
    step: StepSpec,
    inputs: dict[str, Any],
    names: tuple[str, ...] | None = None,
    shell: InteractiveShell | None = None,
    sink: Sink | None = None,
) -> CellOutcome:
    """Run ``step``'s prelude and cell with ``inputs`` bound; collect exports and outputs.

    Args:
        step: the step to run.
        inputs: values of the names it reads.
        names: the names to collect instead of the step's exports (the inputs of an
            action or a child workflow); names not assigned are left out.
        shell: the IPython shell to run in (the process's by default).
        sink: receives what the cell shows as it shows it (see :class:`Outputs`).

    """
    shell = shell or notebook_shell()
    module = _main_module(step, inputs)
    sys.modules["__main__"] = module
    shell.user_module = module
    shell.user_ns = module.__dict__
    shell.execution_count = 1
    outputs = Outputs(sink)
    filename = step_filename(step.name)
    files = {filename} | {prelude_filename(step.name, i) for i in range(len(step.prelude))}
    outcome = CellOutcome()
    with capturing(outputs, shell), shell.builtin_trap:
        shell.events.trigger("pre_execute")
        try:
            for index, source in enumerate(step.prelude):
                _run_source(shell, source, prelude_filename(step.name, index), outputs, False)
            _run_source(shell, step.source, filename, outputs, names is None)
        except BaseException as exc:
            if clean_exit(exc):
                outcome.stop_run = True
                # A notebook shows the exit in its cell: ``SystemExit: 0`` (papermill too).
                code = exc.code if isinstance(exc, SystemExit) else None
                value = "" if code is None else str(code)
                outputs.error("SystemExit", value, [f"SystemExit: {value}"])
            else:
                outcome.error = {
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "cell_line": error_line(exc, filename),
                    "traceback": user_traceback(exc, files),
                    "retryable": _retryable(exc),
                }
        finally:
            try:
                shell.events.trigger("post_execute")
            except Exception as exc:  # a figure that fails to draw, say
                sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
    outcome.outputs = outputs.finished()
    if outcome.error is not None:
        return outcome
    namespace = module.__dict__
    for name in step.exports if names is None else names:
        if name not in namespace:
            if names is None:
                outcome.skipped[name] = "not assigned in this run"
        elif is_code(namespace[name]):
            outcome.skipped[name] = (
                f"a {type(namespace[name]).__name__}, which travels as code, not data"
            )
        else:
            outcome.exports[name] = namespace[name]
    return outcome
