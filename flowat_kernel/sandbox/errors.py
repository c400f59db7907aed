"""Errors of sandboxed steps, shaped like the step errors the engine already records.

::

    FlowAtError
    └── StepError (flowat_kernel.errors)
        └── StepCodeError (flowat_kernel.engine.executor)
            ├── SandboxError         a limit was hit or the sandbox could not run (never retried)
            │   └── SandboxSecretError   it exported a handle on a secret it was not granted
            └── SandboxedCodeError   the step's own code raised inside the sandbox

Both are failures (``usage = False``): the step's code or the sandbox failed while it ran.
The message names the step and the limit or exception; raise the limit in the step's
settings, or fix the code, and run again.

The engine handles them as it handles any :class:`StepCodeError`: the step's record
gets the error (type, message, cell line, traceback) and its logs, and the retry
policy decides whether to try again. A :class:`SandboxError` is final: the same code
would hit the same limit.
"""

from __future__ import annotations

import re
from typing import Any

from flowat_kernel.engine.executor import StepCodeError

__all__ = ["SandboxError", "SandboxSecretError", "SandboxedCodeError"]

_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")


def _init(
    error: StepCodeError,
    step: str,
    exc_type: str,
    message: str,
    cell_line: int | None,
    trace: str,
    logs: str,
    retryable: bool | None,
) -> None:
    error.step = step
    error.exc_type = exc_type
    error.exc_message = message
    error.cell_line = cell_line
    error.trace = trace
    error.logs = logs
    error.retryable = retryable
    where = f" (cell line {cell_line})" if cell_line else ""
    Exception.__init__(error, f"step {step!r} failed{where}: {exc_type}: {message}")


class SandboxError(StepCodeError):
    """A sandboxed step hit a limit, or the sandbox could not run it.

    Attributes:
        limit: which limit (``cpu``, ``memory``, ``processes``, ``open_files``,
            ``file_size``, ``disk``, ``output``, ``exports``, ``wall_clock``), or
            ``crash`` / ``isolation`` / ``inputs`` when the sandbox itself failed.

    """

    def __init__(self, step: str, limit: str, message: str, logs: str = "") -> None:
        _init(self, step, "SandboxError", message, None, "", logs, False)
        self.limit = limit

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description of the failure, with the limit."""
        return {**super().as_dict(), "limit": self.limit}


class SandboxedCodeError(StepCodeError):
    """The step's own code raised inside the sandbox (type, message and traceback as text)."""

    def __init__(
        self,
        step: str,
        exc_type: str,
        message: str,
        cell_line: int | None,
        trace: str,
        logs: str,
        retryable: bool | None = None,
    ) -> None:
        name = exc_type if _TYPE_NAME.fullmatch(exc_type or "") else "Error"
        _init(self, step, name, message, cell_line, trace, logs, retryable)


class SandboxSecretError(SandboxError):
    """A sandboxed step exported a handle on a secret it was not granted.

    Only secrets named with ``--secret`` on the step (or handed to it as inputs) may
    come back as handles; any other would let untrusted code pass a secret it never
    had to a later step. Never retried.

    Attributes:
        secret: the secret's name.
        export: the exported name that held the handle.

    """

    def __init__(self, step: str, export: str, secret: str, logs: str = "") -> None:
        super().__init__(
            step,
            "secrets",
            f"export {export!r} is a handle on secret {secret!r}, which this sandboxed "
            f"step was not granted; grant it with --secret {secret} on the step's "
            "%%flowat step line (only granted secrets, or handles received as inputs, "
            "may leave the sandbox)",
            logs,
        )
        self.secret = secret
        self.export = export
