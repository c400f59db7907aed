"""The FlowAt exception tree.

Every error FlowAt raises on purpose derives from :class:`FlowAtError`, carries a
message that says what happened and what to do next, and keeps structured attributes
for programs::

    FlowAtError
    ├── ConfigError            a setting is missing or malformed
    ├── CompileError           the notebook does not compile (``.diagnostics``)
    ├── SpecError              a workflow spec is invalid (step and field named)
    ├── NotFoundError          a workflow, version or run does not exist
    ├── ParameterError         ``-p`` values do not match the workflow's inputs
    ├── StoreError             the metadata store failed (database errors mapped)
    ├── TemporalUnavailable    no Temporal server could be reached or started
    ├── RunFailed              a run ended in failure (``.run`` holds the record)
    └── ExpressionError        an expression is refused or fails (step, text, position)

Inside a worker, a step's own failure is a ``StepCodeError``
(:mod:`flowat_kernel.engine.executor`); a sandboxed step that breaks a limit raises its
subclass ``SandboxError`` (:mod:`flowat_kernel.sandbox`), which is never retried. The
run reports both by type name, with the step, message and cell line.

Errors caused by misuse of a magic also derive from IPython's ``UsageError`` when
IPython is importable, so the notebook shows one clean line instead of a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.compiler.diagnostics import Diagnostic

__all__ = [
    "CompileError",
    "ConfigError",
    "FlowAtError",
    "MasterKeyError",
    "NotFoundError",
    "ParameterError",
    "RunFailed",
    "SecretNotFound",
    "SpecError",
    "StoreError",
    "TemporalUnavailable",
    "VaultAuthenticationError",
    "VaultError",
]


def _usage_error_base() -> type[Exception]:
    try:
        from IPython.core.error import UsageError
    except ImportError:  # pragma: no cover - IPython is a dependency
        return Exception
    return UsageError


_UsageError: type[Exception] = _usage_error_base()


class FlowAtError(_UsageError):  # type: ignore[misc,valid-type]
    """Root of every error FlowAt raises on purpose."""


class ConfigError(FlowAtError):
    """A setting (environment variable or argument) is missing or malformed."""


class CompileError(FlowAtError):
    """The notebook's cells do not compile into a workflow.

    Attributes:
        diagnostics: every problem found, each naming the step, cell and line.

    """

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        lines = [d.describe() for d in self.diagnostics]
        noun = "problem" if len(lines) == 1 else "problems"
        super().__init__(
            f"the notebook does not compile ({len(lines)} {noun}):\n  " + "\n  ".join(lines)
        )


class SpecError(FlowAtError):
    """A workflow spec failed validation; the message names the step and field."""


class NotFoundError(FlowAtError):
    """A workflow, version or run that was asked for does not exist."""


class ParameterError(FlowAtError):
    """Run parameters do not match the workflow's typed inputs."""


class StoreError(FlowAtError):
    """The metadata store could not be read or written."""


class TemporalUnavailable(FlowAtError):
    """No Temporal server could be reached (or, embedded, started)."""


class RunFailed(FlowAtError):
    """A run ended in failure.

    Attributes:
        run: the finished run record (status, steps, error).

    """

    def __init__(self, message: str, run: Any = None) -> None:
        super().__init__(message)
        self.run = run


class VaultError(FlowAtError):
    """The credential vault refused an operation; the message never holds a secret value."""


class MasterKeyError(VaultError):
    """The master key is missing, malformed, unsafe on disk, or not the one rows need."""


class SecretNotFound(VaultError, NotFoundError):
    """A secret was asked for by a name the vault does not hold."""


class VaultAuthenticationError(VaultError):
    """Stored ciphertext failed authentication (altered, moved or swapped).

    Every kind of tampering raises this one error with the same message, so that an
    attacker learns nothing about which part failed.
    """
