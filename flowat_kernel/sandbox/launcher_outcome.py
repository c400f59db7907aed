"""Reading a sandboxed step back: what the child left in the pipes, as a result or an error.

:func:`_outcome` turns the child's result and status into an
:class:`~flowat_kernel.engine.executor.ExecutionResult` (only the exports the step
declares, and handles only on secrets it was granted) or into the right
:class:`~flowat_kernel.sandbox.errors.SandboxError`,
:class:`~flowat_kernel.sandbox.errors.SandboxedCodeError` or
:class:`~flowat_kernel.sandbox.errors.SandboxSecretError`, with its output masked.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from typing import Any

from flowat_kernel.engine.executor import ExecutionResult
from flowat_kernel.sandbox import protocol
from flowat_kernel.sandbox.errors import SandboxedCodeError, SandboxError, SandboxSecretError
from flowat_kernel.sandbox.limits import LIMIT_SETTINGS, SandboxLimits, format_size
from flowat_kernel.spec import StepSpec
from flowat_kernel.vault.redaction import redact_text


def _granted_secrets(
    step: StepSpec, secrets: Mapping[str, str], inputs: Mapping[str, Any]
) -> frozenset[str]:
    """Secrets whose handles may come back: named with ``--secret`` or received as inputs."""
    from flowat_kernel.vault.handles import SecretHandle

    received = {v.name for v in inputs.values() if isinstance(v, SecretHandle)}
    return frozenset(step.secrets) | frozenset(secrets) | frozenset(received)


def _outcome(
    step: StepSpec,
    over: str | None,
    data: dict[str, bytearray],
    logs: str,
    limits: SandboxLimits,
    timeout: float,
    returncode: int,
    granted: frozenset[str],
) -> ExecutionResult:
    """Turn what the child left in the pipes into a result or the right error."""
    if over == "output":
        raise SandboxError(step.name, "output", limits.violation("output"), logs)
    if over == "result":
        raise SandboxError(step.name, "exports", limits.violation("exports"), logs)
    try:
        status = json.loads(bytes(data["status"]) or b"{}")
    except ValueError:
        status = {}
    if over == "wall_clock" or status.get("timeout"):
        raise SandboxError(
            step.name,
            "wall_clock",
            f"wall-clock limit of {timeout:g}s exceeded; the step's processes were killed "
            "(raise the step's --timeout if it needs longer)",
            logs,
        )
    try:
        header, blobs = protocol.unpack(bytes(data["result"]))
    except protocol.ProtocolError:
        header, blobs = {}, []
    if status.get("exit") == 0 and header.get("status") == "ok":
        return _result(step, header, blobs, logs, granted)
    if header.get("status") == "error" and "signal" not in status:
        error = _mapping(header.get("error"))
        limit = header.get("limit")
        if isinstance(limit, str) and limit in LIMIT_SETTINGS:
            detail = str(error.get("type") or "")
            message = str(error.get("message") or "")[:500]
            cause = f" ({detail}: {message})" if message else f" ({detail})" if detail else ""
            raise SandboxError(step.name, limit, limits.violation(limit) + cause, logs)
        line = error.get("cell_line")
        raise SandboxedCodeError(
            step.name,
            str(error.get("type") or "Error"),
            redact_text(str(error.get("message") or "")[: protocol.MAX_ERROR_MESSAGE]),
            line if isinstance(line, int) and not isinstance(line, bool) else None,
            redact_text(str(error.get("traceback") or "")[-protocol.MAX_TRACEBACK :]),
            logs,
            error.get("retryable") if isinstance(error.get("retryable"), bool) else None,
        )
    return _no_result(step, status, logs, limits, returncode)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _no_result(
    step: StepSpec, status: dict[str, Any], logs: str, limits: SandboxLimits, returncode: int
) -> ExecutionResult:
    number = status.get("signal")
    if isinstance(number, int):
        cpu = float(status.get("cpu") or 0.0)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= limits.cpu_seconds):
            raise SandboxError(step.name, "cpu", limits.violation("cpu"), logs)
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        raise SandboxError(
            step.name,
            "crash",
            f"the sandboxed process was killed by {name}; with a memory limit of "
            f"{format_size(limits.memory_bytes)} this often means it ran out of memory "
            "(raise FLOWAT_SANDBOX_MEMORY)",
            logs,
        )
    if "exit" in status:
        raise SandboxError(
            step.name,
            "crash",
            f"the sandboxed process ended with exit status {status['exit']} without a result "
            "(did the code call os._exit() or close its output?)",
            logs,
        )
    raise SandboxError(
        step.name,
        "isolation",
        f"the sandbox could not start the step (exit status {returncode}); its output: "
        f"{logs.splitlines()[-1] if logs.strip() else 'none'}",
        logs,
    )


def _result(
    step: StepSpec, header: dict[str, Any], blobs: list[bytes], logs: str, granted: frozenset[str]
) -> ExecutionResult:
    from flowat_kernel.vault.handles import SecretHandle

    wanted = set(step.exports)
    exports: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    raw_skipped = _mapping(header.get("skipped"))
    for name, reason in raw_skipped.items():
        if name in wanted:
            skipped[name] = redact_text(str(reason)[:500])
    raw_exports = _mapping(header.get("exports"))
    for name, entry in raw_exports.items():
        if name not in wanted:
            continue  # only names the step declares may come back
        try:
            value = protocol.decode_export(entry, blobs)
        except (protocol.ProtocolError, ValueError) as exc:
            skipped[name] = redact_text(f"could not be read back from the sandbox ({exc})")
            continue
        if isinstance(value, SecretHandle) and value.name not in granted:
            raise SandboxSecretError(step.name, name, value.name, logs)
        exports[name] = value
    for name in wanted - exports.keys() - skipped.keys():
        skipped[name] = "not assigned in this run"
    return ExecutionResult(exports=exports, logs=logs, skipped_exports=skipped)
