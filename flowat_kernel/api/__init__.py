"""FlowAt's Python API: thin calls on the default workspace.

The default workspace acts for this process's principal: the member behind
``FLOWAT_API_KEY`` when it is set, else the local user as Owner of their personal
organization. The magics and the CLI call these functions, so a notebook, the command
line and the REST API (which builds a workspace per request) enforce the same roles.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowat_kernel.errors import FlowAtError
from flowat_kernel.lazy import lazy_getattr
from flowat_kernel.runtime import Runtime, get_runtime

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.compiler import Cell
    from flowat_kernel.engine.dead_letters import DeadLetter
    from flowat_kernel.engine.launch import UNCLAIMED_SECONDS, ProgressCallback, WorkerMode
    from flowat_kernel.run_result import Run
    from flowat_kernel.spec import WorkflowSpec
    from flowat_kernel.spec.model import OnFailure
    from flowat_kernel.store import RunRecord, VersionRecord
    from flowat_kernel.vault.rotation import RotationReport
    from flowat_kernel.vault.vault import SecretInfo
    from flowat_kernel.workspace import Published, Workspace, compile_workflow

__all__ = [
    "UNCLAIMED_SECONDS",
    "ProgressCallback",
    "Published",
    "WorkerMode",
    "cancel",
    "compile_workflow",
    "default_workspace",
    "delete_secret",
    "dlq_discard",
    "dlq_list",
    "dlq_retry",
    "dlq_show",
    "get_run",
    "history",
    "list_secrets",
    "notebook_workflow",
    "publish",
    "report",
    "rerun",
    "retire_master_key",
    "rotate_master_key",
    "run",
    "run_notebook",
    "runs",
    "secret_history",
    "set_secret",
    "signal",
    "too_short_to_mask",
    "versions",
    "wait",
    "workspace_for",
]

# Heavy modules (Temporal, pandas, the engine) load when a use case first needs them, so
# ``flowat runs`` and other read-only commands start quickly.
__getattr__ = lazy_getattr(
    __name__,
    {
        "UNCLAIMED_SECONDS": "flowat_kernel.engine.launch",
        "ProgressCallback": "flowat_kernel.engine.launch",
        "WorkerMode": "flowat_kernel.engine.launch",
        "Published": "flowat_kernel.workspace.published",
        "compile_workflow": "flowat_kernel.workspace.workspace",
    },
    globals(),
)

_principals: dict[tuple[int, str, str], Principal] = {}
_principals_lock = threading.Lock()


def workspace_for(principal: Principal, runtime: Runtime | None = None) -> Workspace:
    """A workspace acting for ``principal`` over this process's services."""
    from flowat_kernel.workspace import Workspace

    return Workspace(runtime or get_runtime(), principal)


def default_workspace() -> Workspace:
    """The workspace of this process's principal (see the module's documentation).

    Raises:
        Unauthenticated: ``FLOWAT_API_KEY`` is set but is not a valid, current key.

    """
    from flowat_kernel.access.service import access
    from flowat_kernel.workspace import API_KEY_VARIABLE, Workspace, resolve_principal

    runtime = get_runtime()
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    cache_key = (id(runtime), runtime.settings.owner, key)
    with _principals_lock:
        principal = _principals.get(cache_key)
    if principal is None or key:  # a key is checked on every call: it may be revoked
        services = access(runtime)
        principal = resolve_principal(runtime.settings.owner, services.directory, services.keys)
        with _principals_lock:
            _principals.clear()
            _principals[cache_key] = principal
    return Workspace(runtime, principal)


def publish(
    workflow: str,
    *,
    notebook: str | Path | None = None,
    cells: Sequence[Cell] | None = None,
    spec: WorkflowSpec | None = None,
    on_failure: OnFailure | None = None,
    queue: str | None = None,
) -> Published:
    """Compile and store a new immutable version of ``workflow``.

    Publishing unchanged content returns the existing version (``created`` is False).

    Args:
        workflow: the workflow's name.
        notebook: path of an ``.ipynb`` file to compile statically.
        cells: cells to compile (what the magics pass).
        spec: an already built spec (its name must be ``workflow``).
        on_failure: ``"stop"`` (a failed step stops the run: steps not started stay
            pending) or ``"continue"`` (steps that do not depend on a failed one still
            run); ``None``: the notebook's ``metadata.flowat.on_failure``, else ``stop``.
        queue: the task queue of every code, action and sub-workflow step without its
            own ``--queue`` (workers started with ``flowat worker --queue Q`` run them);
            ``None``: the notebook's ``metadata.flowat.queue``, else none.

    """
    return default_workspace().publish(
        workflow, notebook=notebook, cells=cells, spec=spec, on_failure=on_failure, queue=queue
    )


def versions(workflow: str) -> list[VersionRecord]:
    """All versions of ``workflow``, newest first."""
    return default_workspace().versions(workflow)


def runs(workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
    """Recent runs (of one workflow, or all), newest first."""
    return default_workspace().runs(workflow, limit)


def get_run(run_id: str) -> Run:
    """Load one run with its steps and outputs."""
    return default_workspace().get_run(run_id)


def run(
    workflow: str,
    *,
    version: int | None = None,
    parameters: Mapping[str, Any] | None = None,
    wait: bool = True,
    progress: ProgressCallback | None = None,
    trigger: str = "api",
    worker: WorkerMode = "auto",
    raise_on_failure: bool = False,
    poll_interval: float = 0.2,
    timeout: float | None = None,
) -> Run:
    """Run a version of ``workflow`` on Temporal.

    Args:
        workflow: the workflow's name.
        version: the version number; the latest when ``None``.
        parameters: input values (strings are coerced to the input types).
        wait: wait for the run to finish (else return it queued).
        progress: called with the run record whenever it is polled while waiting.
        trigger: what started the run (``api``, ``cli``, ``notebook``, ...).
        worker: ``auto`` starts an in-process worker when no worker polls the task
            queue, ``always`` starts one regardless, ``never`` relies on others.
        raise_on_failure: raise :class:`RunFailed` when the run fails.
        poll_interval: seconds between progress polls.
        timeout: seconds the whole run may take; past it, running steps are cancelled
            and the run ends ``timed_out``.

    Raises:
        Forbidden: the principal's role or key may not start runs of ``workflow``.
        NotFoundError: no such workflow or version.
        ParameterError: unknown parameter or a value of the wrong type.
        TemporalUnavailable: Temporal cannot be reached.
        RunFailed: the run failed and ``raise_on_failure`` is set.

    """
    return default_workspace().run(
        workflow,
        version=version,
        parameters=parameters,
        wait=wait,
        progress=progress,
        trigger=trigger,
        worker=worker,
        raise_on_failure=raise_on_failure,
        poll_interval=poll_interval,
        timeout=timeout,
    )


def rerun(
    run_id: str,
    *,
    version: int | Literal["same", "latest"] = "same",
    wait: bool = True,
    progress: ProgressCallback | None = None,
    worker: WorkerMode = "auto",
    raise_on_failure: bool = False,
) -> Run:
    """Run a finished run again from the steps that did not succeed.

    Steps that succeeded, are unchanged in the version that runs and depend only on
    reused steps keep their outputs (read from the run's Temporal history); the rest
    run again, with the same parameters.

    Args:
        run_id: the run to re-run (failed, cancelled or timed out, usually).
        version: ``same`` (the run's version), ``latest``, or a version number, for
            example after fixing the failing step's cell and publishing.
        wait: wait for the new run to finish.
        progress: as for :func:`run`.
        worker: as for :func:`run`.
        raise_on_failure: as for :func:`run`.

    Raises:
        NotFoundError: no such run, or its history is gone.
        FlowAtError: the run has not finished yet.

    """
    return default_workspace().rerun(
        run_id,
        version=version,
        wait=wait,
        progress=progress,
        worker=worker,
        raise_on_failure=raise_on_failure,
    )


def cancel(run_id: str) -> Run:
    """Cancel a running run: its running steps stop, and it ends ``cancelled``.

    Returns at once with the run as recorded; :func:`wait` waits for the end.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished.

    """
    return default_workspace().cancel(run_id)


def signal(run_id: str, name: str, payload: Any = None) -> Run:
    """Send signal ``name`` to a running run, with a JSON ``payload``.

    A step ``%%flowat step NAME --wait-for name`` waits for it and takes ``payload`` as
    its value (an approval, say: ``signal(run_id, "approval", {"approved": True})``). A
    signal sent before the step waits is kept for it.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished, or the payload is not JSON data.

    """
    return default_workspace().signal(run_id, name, payload)


def wait(run_id: str, timeout: float | None = None) -> Run:
    """Wait until a run finishes (started anywhere, by any process) and return it.

    The metadata store being briefly unreachable (a restart) does not end the wait.

    Raises:
        NotFoundError: no such run.
        FlowAtError: it did not finish within ``timeout`` seconds.
        StoreError: the store stayed unreachable past the timeout.

    """
    return default_workspace().wait(run_id, timeout)


def history(run_id: str) -> list[dict[str, Any]]:
    """A run's Temporal history as JSON: payloads decrypted, revealed secrets masked."""
    return default_workspace().history(run_id)


def dlq_list(status: str | None = "parked", limit: int = 50) -> list[DeadLetter]:
    """Parked steps (or all, with ``status=None``), newest first."""
    return default_workspace().dlq_list(status, limit)


def dlq_show(letter_id: str) -> dict[str, Any]:
    """One entry: its context, error, and its input as shown (masked, large values described)."""
    return default_workspace().dlq_show(letter_id)


def dlq_retry(letter_id: str, *, wait: bool = True, worker: WorkerMode = "auto") -> Run:
    """Re-drive an entry once: re-run its run from the failed step on the latest version.

    The re-run starts as :func:`run` starts a run (``worker``: where it executes).
    """
    return default_workspace().dlq_retry(letter_id, wait=wait, worker=worker)


def dlq_discard(letter_id: str) -> None:
    """Discard an entry (it stays listed with ``status=None``)."""
    default_workspace().dlq_discard(letter_id)


# -- secrets: values go in, never come out ------------------------------------------------


def set_secret(name: str, value: str) -> SecretInfo:
    """Store (or rotate) the secret ``name``; returns its metadata, never the value.

    A value shorter than four characters cannot be masked reliably in output; it is
    stored, and callers should warn (:func:`too_short_to_mask`; the CLI and magics do).
    """
    return default_workspace().set_secret(name, value)


def too_short_to_mask(value: str) -> bool:
    """Whether ``value`` is too short to be masked in output without garbling text."""
    from flowat_kernel.vault.redaction import MIN_MASKED_LENGTH

    return len(value) < MIN_MASKED_LENGTH


def list_secrets() -> list[SecretInfo]:
    """Metadata of every secret of the organization: name, dates, last use, workflows."""
    return default_workspace().list_secrets()


def delete_secret(name: str) -> None:
    """Delete the secret ``name`` (its history metadata stays)."""
    default_workspace().delete_secret(name)


def secret_history(name: str) -> list[dict[str, object]]:
    """When the secret ``name`` was set, rotated and deleted, and by whom."""
    return default_workspace().secret_history(name)


def rotate_master_key(
    on_batch: Callable[[int, int], None] | None = None, batch_size: int = 500
) -> RotationReport:
    """Bring in a new master key (or finish an interrupted rotation) and re-wrap every row."""
    return default_workspace().rotate_master_key(on_batch=on_batch, batch_size=batch_size)


def retire_master_key(key_id: str) -> None:
    """Retire a master key that no row needs any more."""
    default_workspace().retire_master_key(key_id)


# -- notebooks: run a notebook file, export a run as an executed notebook ---------------


def notebook_workflow(path: str | Path | None, metadata: Mapping[str, Any] | None = None) -> str:
    """The workflow name of a notebook: ``metadata.flowat.workflow``, else the file's stem.

    A stem that is not a valid name has its other characters replaced by ``_`` (and
    ``nb_`` put in front when it does not start with a letter or ``_``).

    Raises:
        FlowAtError: neither is available.

    """
    import re

    named = ((metadata or {}).get("flowat") or {}).get("workflow")
    if named:
        return str(named)
    if path is None:
        raise FlowAtError(
            "cannot tell the workflow's name: pass one, or set metadata.flowat.workflow "
            "in the notebook"
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)
    return stem if re.match(r"[A-Za-z_]", stem) else f"nb_{stem}"


def run_notebook(
    notebook: str | Path | Mapping[str, Any],
    *,
    workflow: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    published: Callable[[Published], None] | None = None,
    wait: bool = True,
    progress: ProgressCallback | None = None,
    trigger: str = "api",
    worker: WorkerMode = "auto",
    raise_on_failure: bool = False,
    poll_interval: float = 0.2,
    timeout: float | None = None,
    on_failure: OnFailure | None = None,
) -> Run:
    """Publish a notebook's steps (a new version only when they changed), then run them.

    Args:
        notebook: an ``.ipynb`` path, or a notebook already read (``nbformat`` node).
        workflow: the workflow's name; by default :func:`notebook_workflow`'s.
        parameters: input values, as for :func:`run`.
        published: called with the publish outcome before the run starts.
        wait: as for :func:`run` (and so are the remaining arguments).
        progress: as for :func:`run`.
        trigger: as for :func:`run`.
        worker: as for :func:`run`.
        raise_on_failure: as for :func:`run`.
        poll_interval: as for :func:`run`.
        timeout: as for :func:`run`.
        on_failure: as for :func:`publish` (by default the notebook's
            ``metadata.flowat.on_failure``, else ``stop``).

    Raises:
        FlowAtError: the file is missing or not a notebook.
        CompileError: the notebook has no step cells, or a step is wrong.
        ParameterError: an unknown parameter or a value of the wrong type.

    """
    from flowat_kernel.compiler import cells_from_notebook, read_notebook_cells
    from flowat_kernel.spec.model import metadata_on_failure, metadata_queue

    if isinstance(notebook, Mapping):
        name = workflow or notebook_workflow(None, notebook.get("metadata"))
        cells = cells_from_notebook(notebook)
        metadata = notebook.get("metadata")
    else:
        import nbformat

        read_notebook_cells(notebook)  # a clear error for a missing or unreadable file
        reader: Any = nbformat.read  # nbformat ships no type hints
        node = reader(Path(notebook), as_version=4)
        name = workflow or notebook_workflow(notebook, node.metadata)
        cells = cells_from_notebook(node)
        metadata = node.metadata
    if on_failure is None:
        on_failure = metadata_on_failure(metadata)
    outcome = publish(name, cells=cells, on_failure=on_failure, queue=metadata_queue(metadata))
    if published is not None:
        published(outcome)
    return run(
        name,
        version=outcome.number,
        parameters=parameters,
        wait=wait,
        progress=progress,
        trigger=trigger,
        worker=worker,
        raise_on_failure=raise_on_failure,
        poll_interval=poll_interval,
        timeout=timeout,
    )


def report(run_id: str, path: str | Path | None = None) -> Any:
    """A run as an executed notebook (papermill's output format), written to ``path``.

    The notebook holds the version's parameters and step cells with what each step
    printed, exported and raised, papermill metadata (status, start, end, duration,
    exception) and the run's parameters injected as papermill injects them. It is
    built from the run's records, where revealed secret values are already masked.

    Returns:
        The ``nbformat`` notebook node.

    Raises:
        NotFoundError: no such run.

    """
    return default_workspace().report(run_id, path)
