"""FlowAt's Python API: the functions the magics, the CLI and scripts all call."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowat_kernel.compiler import Cell, compile_cells, read_notebook_cells
from flowat_kernel.errors import FlowAtError, RunFailed, StoreError
from flowat_kernel.params import coerce_parameters
from flowat_kernel.run_result import Run
from flowat_kernel.runtime import Runtime, get_runtime
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store import RunRecord, VersionRecord

if TYPE_CHECKING:
    from flowat_kernel.engine.messages import StepOutcome

__all__ = [
    "Published",
    "cancel",
    "compile_workflow",
    "get_run",
    "notebook_workflow",
    "publish",
    "report",
    "rerun",
    "run",
    "run_notebook",
    "runs",
    "signal",
    "versions",
    "wait",
]

ProgressCallback = Callable[[RunRecord], None]

#: With ``worker="auto"``, how long a waited-for run may stay queued before this process
#: runs a worker itself (a worker that just stopped still looks alive to Temporal).
UNCLAIMED_SECONDS = 5.0
WorkerMode = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: the version, and whether it is new."""

    version: VersionRecord
    created: bool

    @property
    def number(self) -> int:
        """The version number."""
        return self.version.number

    def graph_lines(self) -> list[str]:
        """The graph as text: each step with the steps it waits for."""
        spec = self.version.spec
        upstream = spec.upstream_map()
        lines = []
        for step in spec.steps:
            after = sorted(upstream[step.name], key=[s.name for s in spec.steps].index)
            flags = " (local)" if step.local else ""
            lines.append(f"{step.name}{flags}" + (f"  <- {', '.join(after)}" if after else ""))
        return lines

    def summary(self) -> str:
        """One line: what was published."""
        state = "published" if self.created else "unchanged, still"
        return (
            f"{self.version.workflow}: {state} version {self.number} "
            f"({len(self.version.spec.steps)} steps, {self.version.spec_hash[:19]})"
        )

    def __str__(self) -> str:
        return "\n".join([self.summary(), *("  " + line for line in self.graph_lines())])

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in self.graph_lines())
        return f"<p>{html.escape(self.summary())}</p><ul>{rows}</ul>"


def compile_workflow(
    workflow: str, *, notebook: str | Path | None = None, cells: Sequence[Cell] | None = None
) -> WorkflowSpec:
    """Compile a notebook file, or cells, into the spec of ``workflow`` (nothing stored)."""
    if (notebook is None) == (cells is None):
        raise FlowAtError("give exactly one of notebook= or cells=")
    source = read_notebook_cells(notebook) if notebook is not None else list(cells or [])
    return compile_cells(source, workflow)


def publish(
    workflow: str,
    *,
    notebook: str | Path | None = None,
    cells: Sequence[Cell] | None = None,
    spec: WorkflowSpec | None = None,
) -> Published:
    """Compile and store a new immutable version of ``workflow``.

    Publishing unchanged content returns the existing version (``created`` is False).

    Args:
        workflow: the workflow's name.
        notebook: path of an ``.ipynb`` file to compile statically.
        cells: cells to compile (what the magics pass).
        spec: an already built spec (its name must be ``workflow``).

    """
    if spec is None:
        spec = compile_workflow(workflow, notebook=notebook, cells=cells)
    elif spec.name != workflow:
        raise FlowAtError(f"the spec is for workflow {spec.name!r}, not {workflow!r}")
    runtime = get_runtime()
    owner = runtime.settings.owner
    version, created = runtime.store.publish(spec, owner=owner, created_by=owner)
    return Published(version=version, created=created)


def versions(workflow: str) -> list[VersionRecord]:
    """All versions of ``workflow``, newest first."""
    runtime = get_runtime()
    return runtime.store.list_versions(runtime.settings.owner, workflow)


def runs(workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
    """Recent runs (of one workflow, or all), newest first."""
    runtime = get_runtime()
    return runtime.store.list_runs(runtime.settings.owner, workflow, limit)


def get_run(run_id: str) -> Run:
    """Load one run with its steps and outputs."""
    runtime = get_runtime()
    return Run(runtime.store.get_run(run_id), runtime.artifacts)


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
        NotFoundError: no such workflow or version.
        ParameterError: unknown parameter or a value of the wrong type.
        TemporalUnavailable: Temporal cannot be reached.
        RunFailed: the run failed and ``raise_on_failure`` is set.

    """
    runtime = get_runtime()
    record = runtime.store.get_version(runtime.settings.owner, workflow, version)
    values = coerce_parameters(record.spec.inputs, dict(parameters or {}))
    if timeout is not None and not timeout > 0:
        raise FlowAtError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return _launch(
        runtime,
        record,
        values,
        trigger=trigger,
        wait=wait,
        progress=progress,
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
    from flowat_kernel.engine.control import reusable_steps, step_outcomes

    runtime = get_runtime()
    original = runtime.store.get_run(run_id)
    if not original.finished:
        raise FlowAtError(
            f"run {run_id} is still {original.status}; wait for it or cancel it first"
        )
    owner = runtime.settings.owner
    before = runtime.store.get_version(owner, original.workflow, original.version)
    number = {"same": original.version, "latest": None}.get(str(version), version)
    target = runtime.store.get_version(owner, original.workflow, number)  # type: ignore[arg-type]
    outcomes = runtime.call(step_outcomes(runtime, original))
    succeeded = {s.name for s in original.steps if s.status == "succeeded"} & outcomes.keys()
    keep = reusable_steps(before.spec, succeeded, target.spec)
    values = coerce_parameters(target.spec.inputs, dict(original.parameters))
    recorded = {s.name: s.outputs for s in original.steps}
    return _launch(
        runtime,
        target,
        values,
        trigger="rerun",
        wait=wait,
        progress=progress,
        worker=worker,
        raise_on_failure=raise_on_failure,
        reuse={name: outcomes[name] for name in keep},
        reuse_records={name: recorded.get(name) for name in keep},
    )


def cancel(run_id: str) -> Run:
    """Cancel a running run: its running steps stop, and it ends ``cancelled``.

    Returns at once with the run as recorded; :func:`wait` waits for the end.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished.

    """
    from flowat_kernel.engine.control import cancel_run

    runtime = get_runtime()
    runtime.call(cancel_run(runtime, run_id))
    return get_run(run_id)


def signal(run_id: str, name: str, payload: Any = None) -> Run:
    """Send signal ``name`` to a running run, with a JSON ``payload``.

    A step ``%%flowat step NAME --wait-for name`` waits for it and takes ``payload`` as
    its value (an approval, say: ``signal(run_id, "approval", {"approved": True})``). A
    signal sent before the step waits is kept for it.

    Raises:
        NotFoundError: no such run.
        FlowAtError: the run has already finished, or the payload is not JSON data.

    """
    from flowat_kernel.engine.control import signal_run
    from flowat_kernel.engine.values import is_plain_json

    if not is_plain_json(payload):
        raise FlowAtError(
            f"the payload of signal {name!r} must be JSON data (dicts, lists, strings, numbers)"
        )
    runtime = get_runtime()
    runtime.call(signal_run(runtime, run_id, name, payload))
    return get_run(run_id)


def wait(run_id: str, timeout: float | None = None) -> Run:
    """Wait until a run finishes (started anywhere, by any process) and return it.

    The metadata store being briefly unreachable (a restart) does not end the wait.

    Raises:
        NotFoundError: no such run.
        FlowAtError: it did not finish within ``timeout`` seconds.
        StoreError: the store stayed unreachable past the timeout.

    """
    runtime = get_runtime()
    deadline = None if timeout is None else time.monotonic() + timeout
    status = "unknown"
    while True:
        try:
            record = runtime.store.get_run(run_id)
        except StoreError:
            if deadline is not None and time.monotonic() > deadline:
                raise
        else:
            if record.finished:
                return Run(record, runtime.artifacts)
            status = record.status
        if deadline is not None and time.monotonic() > deadline:
            raise FlowAtError(f"run {run_id} is still {status} after {timeout:g}s")
        time.sleep(0.1)


def _launch(
    runtime: Runtime,
    record: VersionRecord,
    values: dict[str, Any],
    *,
    trigger: str,
    wait: bool,
    progress: ProgressCallback | None,
    worker: WorkerMode,
    raise_on_failure: bool,
    poll_interval: float = 0.2,
    timeout: float | None = None,
    reuse: dict[str, StepOutcome] | None = None,
    reuse_records: dict[str, dict[str, Any] | None] | None = None,
) -> Run:
    from flowat_kernel.engine.runner import start_run, wait_for_result

    if worker != "never":
        runtime.call(runtime.ensure_worker(only_if_none_polling=worker == "auto"))
    started = runtime.call(
        start_run(
            runtime,
            record,
            values,
            trigger,
            timeout_seconds=timeout,
            reuse=reuse,
            reuse_records=reuse_records,
        )
    )
    if not wait:
        return get_run(started.run_id)
    done = runtime.loop.submit(wait_for_result(runtime, started))
    unclaimed_since = time.monotonic()
    while True:
        # Wake as soon as the run closes; poll progress only while it is open.
        finished, _ = futures.wait([done], timeout=poll_interval)
        if finished:
            break
        if progress is not None:
            progress(runtime.store.get_run(started.run_id))
        if (
            worker == "auto"
            and not runtime.worker_running
            and time.monotonic() - unclaimed_since > UNCLAIMED_SECONDS
        ):
            # Temporal lists a worker as polling for up to a minute after it stopped;
            # if no worker has picked the run up by now, run one here.
            unclaimed_since = time.monotonic()
            if runtime.store.get_run(started.run_id).status == "queued":
                runtime.call(runtime.ensure_worker())
    done.result()
    result = get_run(started.run_id)
    if progress is not None:
        progress(result.record)
    if raise_on_failure and result.status != "succeeded":
        message = (result.error or {}).get("message", result.status)
        raise RunFailed(
            f"run {result.run_id} of {record.workflow} v{result.version} {result.status}: "
            f"{message}",
            result,
        )
    return result


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

    Raises:
        FlowAtError: the file is missing or not a notebook.
        CompileError: the notebook has no step cells, or a step is wrong.
        ParameterError: an unknown parameter or a value of the wrong type.

    """
    from flowat_kernel.compiler import cells_from_notebook

    if isinstance(notebook, Mapping):
        name = workflow or notebook_workflow(None, notebook.get("metadata"))
        cells = cells_from_notebook(notebook)
    else:
        import nbformat

        read_notebook_cells(notebook)  # a clear error for a missing or unreadable file
        reader: Any = nbformat.read  # nbformat ships no type hints
        node = reader(Path(notebook), as_version=4)
        name = workflow or notebook_workflow(notebook, node.metadata)
        cells = cells_from_notebook(node)
    outcome = publish(name, cells=cells)
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
    import nbformat

    from flowat_kernel.reports import report_notebook

    runtime = get_runtime()
    record = runtime.store.get_run(run_id)
    version = runtime.store.get_version(record.owner, record.workflow, record.version)
    notebook = report_notebook(record, version.spec)
    if path is not None:
        target = Path(path)
        notebook.metadata["papermill"]["output_path"] = str(target)
        if not target.parent.is_dir():
            raise FlowAtError(f"cannot write {target}: folder {target.parent} does not exist")
        writer: Any = nbformat.write  # nbformat ships no type hints
        writer(notebook, target)
    return notebook
