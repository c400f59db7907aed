"""Sandboxed code steps in the worker: which steps, which secrets, which paths to hide.

The step activity calls :func:`wants_sandbox` for each code step and, when it says
so, :func:`run_untrusted` instead of running the code in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowat_kernel.config import Settings, settings
from flowat_kernel.engine.executor import ExecutionResult, StepCodeError
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sandbox.launcher import run_sandboxed
from flowat_kernel.sandbox.limits import SandboxLimits
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.vault.redaction import register
from flowat_kernel.vault.vault import Vault

__all__ = ["hidden_paths", "run_untrusted", "wants_sandbox"]


def wants_sandbox(step: StepSpec) -> bool:
    """Whether ``step`` runs sandboxed.

    A code step does when marked untrusted, or always with ``FLOWAT_UNTRUSTED_CODE=all``.
    """
    if step.kind != "code":
        return False
    return step.untrusted or settings().untrusted_code == "all"


def hidden_paths(config: Settings) -> list[Path]:
    """What sandboxed code must not see: ``FLOWAT_HOME`` and a SQLite database elsewhere."""
    paths = [config.home]
    url = config.database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        if database.is_absolute() and config.home not in database.parents:
            paths.append(database)
    return paths


def run_untrusted(
    step: StepSpec, inputs: dict[str, Any], vault: Vault, scope: StepScope
) -> ExecutionResult:
    """Run a code step in the sandbox, revealing only the secrets it names.

    Each secret in ``step.secrets`` is revealed from ``vault`` here, in the worker,
    registered for masking and recorded as used by the step (``scope.revealed``);
    only those values reach the child.

    Raises:
        StepCodeError: a secret could not be revealed, or the code raised.
        SandboxError: a limit was hit or the sandbox could not run.

    """
    config = settings()
    secrets: dict[str, str] = {}
    for name in step.secrets:
        try:
            value = vault.reveal_value(name, scope.owner)
        except FlowAtError as exc:
            raise StepCodeError(step.name, exc, None, "", "") from None
        register(name, value)
        scope.revealed.add(name)
        secrets[name] = value
    return run_sandboxed(
        step,
        inputs,
        secrets=secrets,
        limits=SandboxLimits.from_settings(config),
        timeout=step.timeout_seconds,
        hidden=hidden_paths(config),
        context={
            "run_id": scope.run_id,
            "workflow": scope.workflow,
            "attempt": scope.attempt,
            "owner": scope.owner,
        },
        isolation=config.sandbox_isolation,
        uid=config.sandbox_uid,
    )
