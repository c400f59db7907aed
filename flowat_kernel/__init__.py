"""FlowAt: notebook cells compiled into versioned workflows that run durably on Temporal.

``import flowat_kernel as flowat`` gives the public API; ``%load_ext flowat_kernel``
adds the ``%flowat`` / ``%%flowat`` magics. Heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import (
    CompileError,
    ConfigError,
    FlowAtError,
    NotFoundError,
    ParameterError,
    PermissionDenied,
    RunFailed,
    SecretNotFound,
    SpecError,
    StoreError,
    TemporalUnavailable,
    VaultError,
)
from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.api import (
        Published,
        cancel,
        compile_workflow,
        delete_secret,
        get_run,
        list_secrets,
        publish,
        report,
        rerun,
        rotate_master_key,
        run,
        run_notebook,
        runs,
        set_secret,
        signal,
        versions,
        wait,
    )
    from flowat_kernel.run_result import Run
    from flowat_kernel.sdk.call import action
    from flowat_kernel.sdk.registry import connectors
    from flowat_kernel.spec import WorkflowSpec
    from flowat_kernel.step_context import current_step, idempotency_key
    from flowat_kernel.vault import SecretHandle, secret

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "ConfigError",
    "FlowAtError",
    "NotFoundError",
    "ParameterError",
    "PermissionDenied",
    "Published",
    "Run",
    "RunFailed",
    "SecretHandle",
    "SecretNotFound",
    "SpecError",
    "StoreError",
    "TemporalUnavailable",
    "VaultError",
    "WorkflowSpec",
    "__version__",
    "action",
    "cancel",
    "compile_workflow",
    "connectors",
    "current_step",
    "delete_secret",
    "get_run",
    "idempotency_key",
    "list_secrets",
    "load_ipython_extension",
    "publish",
    "report",
    "rerun",
    "rotate_master_key",
    "run",
    "run_notebook",
    "runs",
    "secret",
    "set_secret",
    "signal",
    "unload_ipython_extension",
    "versions",
    "wait",
]

_LAZY = {
    "Published": "flowat_kernel.api",
    "compile_workflow": "flowat_kernel.api",
    "get_run": "flowat_kernel.api",
    "publish": "flowat_kernel.api",
    "run": "flowat_kernel.api",
    "runs": "flowat_kernel.api",
    "versions": "flowat_kernel.api",
    "cancel": "flowat_kernel.api",
    "action": "flowat_kernel.sdk.call",
    "connectors": "flowat_kernel.sdk.registry",
    "rerun": "flowat_kernel.api",
    "wait": "flowat_kernel.api",
    "signal": "flowat_kernel.api",
    "report": "flowat_kernel.api",
    "run_notebook": "flowat_kernel.api",
    "current_step": "flowat_kernel.step_context",
    "idempotency_key": "flowat_kernel.step_context",
    "Run": "flowat_kernel.run_result",
    "WorkflowSpec": "flowat_kernel.spec",
    "SecretHandle": "flowat_kernel.vault",
    "secret": "flowat_kernel.vault",
    "delete_secret": "flowat_kernel.api",
    "list_secrets": "flowat_kernel.api",
    "rotate_master_key": "flowat_kernel.api",
    "set_secret": "flowat_kernel.api",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext flowat_kernel``: register the magics (imports stay light)."""
    from flowat_kernel.notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext flowat_kernel``."""
    from flowat_kernel.notebook.extension import unload

    unload(ipython)


def _local_step_services() -> Any:
    """Outside a run, step code (a cell trying a secret or an action) acts as the local user."""
    from flowat_kernel.runtime import get_runtime

    return get_runtime().step_services()


def _process_services() -> Any:
    from flowat_kernel.runtime import get_runtime

    return get_runtime()


def _install_local_services() -> None:
    """Hand the lower layers a way to this process's services, without them looking up."""
    from flowat_kernel.step_context import provide_services

    provide_services(_local_step_services, _process_services)


_install_local_services()
