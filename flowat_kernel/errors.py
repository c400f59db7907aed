"""The FlowAt exception tree, independent of any user interface.

Every error FlowAt raises on purpose derives from :class:`FlowAtError`, a plain
``Exception``; its message says what happened and what to do next, and structured
attributes serve programs. Each class says, in its class attribute ``usage``, who fixes
it: ``True`` when the user fixes it by changing their input or how they call FlowAt
(a notebook shows it as one line, the command line exits 2), ``False`` when
infrastructure or running code failed (a notebook shows the traceback, the command line
exits 1). :func:`exit_code` is that mapping for the command line::

    FlowAtError                          usage
    ├── ConfigError                      yes   a setting is missing or malformed
    ├── CompileError                     yes   the notebook does not compile (``.diagnostics``)
    ├── SpecError                        yes   a workflow spec is invalid (step and field named)
    ├── NotFoundError                    yes   a workflow, version or run does not exist
    ├── ParameterError                   yes   ``-p`` values do not match the workflow's inputs
    ├── PermissionDenied                 yes   the caller's role or key does not allow this
    │   └── Forbidden                    yes   the same, as an AccessError (REST 403)
    ├── AccessError                      yes   (flowat_kernel.access.errors)
    │   ├── Unauthenticated              yes   no valid credentials (REST 401)
    │   ├── Forbidden                    yes   (see PermissionDenied)
    │   └── Conflict                     yes   the object exists already (REST 409)
    ├── ExpressionError                  yes   an expression is refused or fails
    │                                          (flowat_kernel.expressions.errors)
    ├── ApiError                         4xx   a REST request is wrong; ``usage`` is true for
    │                                          4xx statuses only (flowat_kernel.server.errors)
    ├── VaultError                       yes   the vault refused an operation (a bad name, ...)
    │   ├── SecretNotFound               yes   no secret by that name (also a NotFoundError)
    │   ├── MasterKeyError               no    the master key is missing, unsafe or wrong
    │   └── VaultAuthenticationError     no    stored ciphertext was altered
    ├── StoreError                       no    the metadata store failed (database errors mapped)
    ├── TemporalUnavailable              no    no Temporal server could be reached or started
    ├── RunFailed                        no    a run ended in failure (``.run`` holds the record)
    ├── StepError                        no    a step failed while it ran, in a worker
    │   ├── StepCodeError                no    the step's code raised
    │   │   │                                  (flowat_kernel.engine.executor)
    │   │   ├── SandboxError             no    a sandbox limit was hit; never retried
    │   │   └── SandboxedCodeError       no    the code raised inside the sandbox
    │   │                                      (both in flowat_kernel.sandbox.errors)
    │   └── LogicFailure                 no    a logic step's expression failed
    │                                          (flowat_kernel.engine.logic)
    └── ConnectorError                   no    a connector's call failed
        └── ActionError                  no    an action failed (``.retryable``, ``.host``)
            └── CircuitOpen              no    the host's circuit breaker is open
                                               (both in flowat_kernel.sdk.errors)

Inside a worker, the engine reports a step's failure by type name (``StepCodeError``
carries the name of the exception the code raised), with the step, message and cell
line; a run that failed reaches its caller as :class:`RunFailed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowat_kernel.diagnostics import Diagnostic

__all__ = [
    "CompileError",
    "ConfigError",
    "ConnectorError",
    "FlowAtError",
    "MasterKeyError",
    "NotFoundError",
    "ParameterError",
    "PermissionDenied",
    "RunFailed",
    "SecretNotFound",
    "SpecError",
    "StepError",
    "StoreError",
    "TemporalUnavailable",
    "VaultAuthenticationError",
    "VaultError",
    "exit_code",
    "is_usage",
]

#: The command line's exit status for each outcome.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class FlowAtError(Exception):
    """Root of every error FlowAt raises on purpose.

    Attributes:
        usage: ``True`` when the user fixes the error by changing their input or usage
            (shown as one line, exit status 2); ``False`` when infrastructure or running
            code failed (shown with its traceback, exit status 1). Subclasses set it.

    """

    usage: bool = True


class ConfigError(FlowAtError):
    """A setting (environment variable or argument) is missing or malformed."""

    usage = True


class CompileError(FlowAtError):
    """The notebook's cells do not compile into a workflow.

    Attributes:
        diagnostics: every problem found, each naming the step, cell and line.

    """

    usage = True

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        lines = [d.describe() for d in self.diagnostics]
        noun = "problem" if len(lines) == 1 else "problems"
        super().__init__(
            f"the notebook does not compile ({len(lines)} {noun}):\n  " + "\n  ".join(lines)
        )


class SpecError(FlowAtError):
    """A workflow spec failed validation; the message names the step and field."""

    usage = True


class NotFoundError(FlowAtError):
    """A workflow, version or run that was asked for does not exist."""

    usage = True


class ParameterError(FlowAtError):
    """Run parameters do not match the workflow's typed inputs."""

    usage = True


class PermissionDenied(FlowAtError):
    """The caller is known but their role or key does not allow this operation."""

    usage = True


class StoreError(FlowAtError):
    """The metadata store could not be read or written."""

    usage = False


class TemporalUnavailable(FlowAtError):
    """No Temporal server could be reached (or, embedded, started)."""

    usage = False


class RunFailed(FlowAtError):
    """A run ended in failure.

    Attributes:
        run: the finished run record (status, steps, error).

    """

    usage = False

    def __init__(self, message: str, run: Any = None) -> None:
        super().__init__(message)
        self.run = run


class StepError(FlowAtError):
    """A step failed while it ran in a worker: its code, its sandbox or its expression."""

    usage = False


class ConnectorError(FlowAtError):
    """A connector's call failed; the message says whether retrying can help."""

    usage = False


class VaultError(FlowAtError):
    """The credential vault refused an operation; the message never holds a secret value."""

    usage = True


class MasterKeyError(VaultError):
    """The master key is missing, malformed, unsafe on disk, or not the one rows need."""

    usage = False


class SecretNotFound(VaultError, NotFoundError):
    """A secret was asked for by a name the vault does not hold."""

    usage = True


class VaultAuthenticationError(VaultError):
    """Stored ciphertext failed authentication (altered, moved or swapped).

    Every kind of tampering raises this one error with the same message, so that an
    attacker learns nothing about which part failed.
    """

    usage = False


def is_usage(exc: BaseException) -> bool:
    """Whether ``exc`` is the user's to fix by changing their input or usage.

    A :class:`FlowAtError` says so in its ``usage`` attribute; any other exception
    (a bug, a crash, an interrupt) is not a usage error.
    """
    return isinstance(exc, FlowAtError) and bool(getattr(exc, "usage", True))


def exit_code(exc: BaseException) -> int:
    """The command line's exit status for ``exc``.

    ``2`` for a usage or input error (:func:`is_usage`), ``130`` for an interrupt
    (``KeyboardInterrupt``), ``1`` for every other failure, including a failed run.
    """
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_USAGE if is_usage(exc) else EXIT_FAILURE
