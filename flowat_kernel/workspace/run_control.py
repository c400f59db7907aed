"""The workspace's control of running and finished runs: cancel, signal, resume, report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowat_kernel.errors import FlowAtError

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.compiler import Cell
    from flowat_kernel.engine.launch import ProgressCallback, WorkerMode
    from flowat_kernel.run_result import Run
    from flowat_kernel.spec import WorkflowSpec
    from flowat_kernel.store import RunRecord, VersionRecord
    from flowat_kernel.workspace.published import Published
    from flowat_kernel.workspace.services import Services

__all__ = ["RunControlUseCases"]


class RunControlUseCases:
    """Acting on one run the principal may see (found by its full or short id)."""

    services: Services
    principal: Principal

    if TYPE_CHECKING:  # provided by the Workspace

        @property
        def owner(self) -> str:
            """The organization the workspace acts in."""
            ...

        @property
        def _actor(self) -> str: ...

        def record(self, run_id: str) -> RunRecord:
            """A visible run's record, by its full or short id."""
            ...

        def get_run(self, run_id: str) -> Run:
            """A visible run, loaded."""
            ...

        def version(self, workflow: str, number: int | None = None) -> VersionRecord:
            """One visible version of a workflow."""
            ...

        def publish(self, workflow: str, *, spec: WorkflowSpec | None = None) -> Published:
            """Store a new version of a workflow."""
            ...

        def rerun(
            self,
            run_id: str,
            *,
            version: int | Literal["same", "latest"] = "same",
            wait: bool = True,
            progress: ProgressCallback | None = None,
            worker: WorkerMode = "auto",
        ) -> Run:
            """Run a finished run again from the steps that did not succeed."""
            ...

    def cancel(self, run_id: str) -> Run:
        """Cancel a running run; returns at once with the run as recorded.

        Raises:
            NotFoundError: no such run.
            Conflict: the run has already finished.

        """
        from flowat_kernel.access.audit import record_now
        from flowat_kernel.access.errors import Conflict
        from flowat_kernel.engine.control import cancel_run

        record = self.record(run_id)
        run_id = record.run_id
        self.principal.require("runs:write", record.workflow)
        if record.finished:
            raise Conflict(
                f"run {run_id} has already finished ({record.status}); nothing to cancel"
            )
        self.services.call(cancel_run(self.services, run_id))
        store = self.services.store
        record_now(
            store, self.owner, self._actor, "run.cancelled", record.workflow, {"run_id": run_id}
        )
        return self.get_run(run_id)

    def signal(self, run_id: str, name: str, payload: Any = None) -> Run:
        """Send signal ``name`` with a JSON ``payload`` to a running run.

        Raises:
            NotFoundError: no such run.
            FlowAtError: the run has already finished, or the payload is not JSON data.

        """
        from flowat_kernel.engine.control import signal_run
        from flowat_kernel.engine.values import is_plain_json

        record = self.record(run_id)
        run_id = record.run_id
        self.principal.require("runs:write", record.workflow)
        if not is_plain_json(payload):
            raise FlowAtError(
                f"the payload of signal {name!r} must be JSON data (dicts, lists, strings, numbers)"
            )
        self.services.call(signal_run(self.services, run_id, name, payload))
        return self.get_run(run_id)

    def resume(
        self,
        run_id: str,
        *,
        cells: Sequence[Cell] | None = None,
        wait: bool = True,
        progress: ProgressCallback | None = None,
        worker: WorkerMode = "auto",
    ) -> Run:
        """Re-run a failed run from its failed step, on the latest version.

        With ``cells`` (step cells, and a ``parameters`` cell), they are patched into
        the latest version and published first (a new version only if something
        changed), so a fix made in a cell is what runs; publishing needs
        ``workflows:write``. Steps that succeeded and are unchanged keep their recorded
        outputs and do not run again.

        Raises:
            NotFoundError: no such run.
            FlowAtError: the run has not finished, or it succeeded (nothing to resume).
            CompileError: the cells do not compile.

        """
        from flowat_kernel.compiler.patching import patched_spec

        record = self.record(run_id)
        run_id = record.run_id
        self.principal.require("runs:write", record.workflow)
        if record.status == "succeeded":
            raise FlowAtError(f"run {run_id} succeeded; there is nothing to resume")
        if not record.finished:
            raise FlowAtError(
                f"run {run_id} is still {record.status}; wait for it or cancel it first"
            )
        if cells:
            self.principal.require("workflows:write", record.workflow)
            latest = self.version(record.workflow)
            self.publish(record.workflow, spec=patched_spec(latest.spec, cells))
        return self.rerun(run_id, version="latest", wait=wait, progress=progress, worker=worker)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """A run's Temporal history as JSON, payloads decrypted, revealed secrets masked."""
        from flowat_kernel.engine.history import decoded_history

        run_id = self.record(run_id).run_id
        return self.services.call(decoded_history(self.services, run_id))

    def report(self, run_id: str, path: str | Path | None = None) -> Any:
        """A run as an executed notebook (papermill's format), written to ``path``."""
        import nbformat

        from flowat_kernel.reports import report_notebook

        record = self.record(run_id)
        run_id = record.run_id
        version = self.services.store.get_version(record.owner, record.workflow, record.version)
        notebook = report_notebook(record, version.spec)
        if path is not None:
            target = Path(path)
            notebook.metadata["papermill"]["output_path"] = str(target)
            if not target.parent.is_dir():
                raise FlowAtError(f"cannot write {target}: folder {target.parent} does not exist")
            writer: Any = nbformat.write  # nbformat ships no type hints
            writer(notebook, target)
        return notebook
