"""FlowAt's Python API: the functions the magics, the CLI and scripts all call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flowat_kernel.compiler import Cell, compile_cells, read_notebook_cells
from flowat_kernel.errors import FlowAtError, RunFailed
from flowat_kernel.params import coerce_parameters
from flowat_kernel.run_result import Run
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store import RunRecord, VersionRecord

__all__ = [
    "Published",
    "compile_workflow",
    "get_run",
    "publish",
    "run",
    "runs",
    "versions",
]

ProgressCallback = Callable[[RunRecord], None]
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

    Raises:
        NotFoundError: no such workflow or version.
        ParameterError: unknown parameter or a value of the wrong type.
        TemporalUnavailable: Temporal cannot be reached.
        RunFailed: the run failed and ``raise_on_failure`` is set.

    """
    from flowat_kernel.engine.runner import start_run, wait_for_result

    runtime = get_runtime()
    record = runtime.store.get_version(runtime.settings.owner, workflow, version)
    values = coerce_parameters(record.spec.inputs, dict(parameters or {}))
    if worker != "never":
        runtime.call(runtime.ensure_worker(only_if_none_polling=worker == "auto"))
    started = runtime.call(start_run(runtime, record, values, trigger))
    if not wait:
        return get_run(started.run_id)
    done = runtime.loop.submit(wait_for_result(runtime, started))
    while True:
        # Wake as soon as the run closes; poll progress only while it is open.
        finished, _ = futures.wait([done], timeout=poll_interval)
        if finished:
            break
        if progress is not None:
            progress(runtime.store.get_run(started.run_id))
    done.result()
    result = get_run(started.run_id)
    if progress is not None:
        progress(result.record)
    if raise_on_failure and result.status != "succeeded":
        message = (result.error or {}).get("message", result.status)
        raise RunFailed(
            f"run {result.run_id} of {workflow} v{result.version} failed: {message}", result
        )
    return result
