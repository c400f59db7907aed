"""The one door: every FlowAt use case, for one principal, over handed-down services.

A :class:`Workspace` is built with the services the composition root wired
(:class:`~flowat_kernel.workspace.services.Services`) and a
:class:`~flowat_kernel.access.principal.Principal` (organization, user, role, scopes).
The Python API, magics, CLI, REST API, triggers and the papermill engine all call its
methods, so every face enforces the same permission matrix, starts runs through the
same path and waits for them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowat_kernel.errors import FlowAtError, NotFoundError, RunFailed
from flowat_kernel.workspace.alerts import AlertUseCases
from flowat_kernel.workspace.analytics import AnalyticsUseCases
from flowat_kernel.workspace.approvals import ApprovalUseCases
from flowat_kernel.workspace.compile_check import CompileCheckUseCases
from flowat_kernel.workspace.dead_letters import DeadLetterUseCases
from flowat_kernel.workspace.limits import LimitUseCases
from flowat_kernel.workspace.members import MemberUseCases
from flowat_kernel.workspace.organization import OrganizationUseCases
from flowat_kernel.workspace.published import Published
from flowat_kernel.workspace.queues import QueueUseCases
from flowat_kernel.workspace.rate_limits import RateLimitUseCases
from flowat_kernel.workspace.retention import RetentionUseCases
from flowat_kernel.workspace.run_control import RunControlUseCases
from flowat_kernel.workspace.run_links import RunLinkUseCases
from flowat_kernel.workspace.secrets import SecretUseCases
from flowat_kernel.workspace.trigger_edits import TriggerEditUseCases
from flowat_kernel.workspace.triggers import TriggerUseCases

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from flowat_kernel.access.principal import Principal
    from flowat_kernel.compiler import Cell
    from flowat_kernel.engine.launch import ProgressCallback, RunLauncher, WorkerMode
    from flowat_kernel.engine.messages import StepLimits
    from flowat_kernel.run_result import Run
    from flowat_kernel.spec import WorkflowSpec
    from flowat_kernel.spec.model import OnFailure
    from flowat_kernel.store import RunRecord, VersionRecord
    from flowat_kernel.workspace.services import Services

__all__ = ["SHORT_ID", "Workspace", "compile_workflow"]

#: The fewest characters of a run id that find a run (FlowAt prints the first 12).
SHORT_ID = 8


def compile_workflow(
    workflow: str, *, notebook: str | Path | None = None, cells: Sequence[Cell] | None = None
) -> WorkflowSpec:
    """Compile a notebook file, or cells, into the spec of ``workflow`` (nothing stored)."""
    from flowat_kernel.compiler import compile_cells, read_notebook_cells
    from flowat_kernel.compiler.cells import prompt_file_cells

    if (notebook is None) == (cells is None):
        raise FlowAtError("give exactly one of notebook= or cells=")
    if notebook is not None:  # prompts/NAME.md next to the notebook may be named by steps
        source = read_notebook_cells(notebook) + prompt_file_cells(Path(notebook).parent)
    else:
        source = list(cells or [])
    return compile_cells(source, workflow)


class Workspace(
    RunControlUseCases,
    SecretUseCases,
    TriggerUseCases,
    TriggerEditUseCases,
    MemberUseCases,
    DeadLetterUseCases,
    OrganizationUseCases,
    AlertUseCases,
    LimitUseCases,
    AnalyticsUseCases,
    RunLinkUseCases,
    CompileCheckUseCases,
    RateLimitUseCases,
    QueueUseCases,
    RetentionUseCases,
    ApprovalUseCases,
):
    """FlowAt's use cases for one principal in one organization.

    Attributes:
        services: the store, vault, artifacts, events, Temporal client and worker.
        principal: who acts; every method checks its permission first.
        launcher: the one path that starts and waits for runs.

    """

    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        self._launcher: RunLauncher | None = None

    def __repr__(self) -> str:
        who = self.principal
        return f"Workspace(owner={who.owner!r}, user={who.user!r}, role={who.role.value!r})"

    @property
    def launcher(self) -> RunLauncher:
        """The one path that starts and waits for runs (loads the engine on first use)."""
        if self._launcher is None:
            from flowat_kernel.engine.launch import RunLauncher

            self._launcher = RunLauncher(self.services)
        return self._launcher

    def _run(self, record: RunRecord) -> Run:
        from flowat_kernel.run_result import Run as LoadedRun

        return LoadedRun(record, self.services.artifacts)

    @property
    def owner(self) -> str:
        """The organization this workspace acts in."""
        return self.principal.owner

    # -- workflows ----------------------------------------------------------------------

    def publish(
        self,
        workflow: str,
        *,
        notebook: str | Path | None = None,
        cells: Sequence[Cell] | None = None,
        spec: WorkflowSpec | None = None,
        on_failure: OnFailure | None = None,
        queue: str | None = None,
    ) -> Published:
        """Compile and store a new immutable version (unchanged content: the existing one).

        ``on_failure`` (``stop`` or ``continue``) is what a run does after a step fails
        for good; when it is ``None`` it comes from the notebook file's
        ``metadata.flowat.on_failure``, else the spec's own (``stop`` when compiled).
        ``queue`` is the task queue of every code, action and sub-workflow step without
        its own ``--queue``; ``None``: the notebook's ``metadata.flowat.queue``, else the
        spec's own (none: the run's task queue).

        Raises:
            Forbidden: the principal may not write workflows.
            CompileError: the cells do not compile.
            SpecError: ``on_failure`` (given or in the notebook's metadata) is not valid.

        """
        from flowat_kernel.spec.model import (
            metadata_on_failure,
            metadata_queue,
            on_failure_choice,
            queue_name,
        )

        self.principal.require("workflows:write", workflow)
        if spec is None:
            spec = compile_workflow(workflow, notebook=notebook, cells=cells)
            if on_failure is None and notebook is not None:
                import json

                document = json.loads(Path(notebook).read_text(encoding="utf-8"))
                on_failure = metadata_on_failure(document.get("metadata"))
                if queue is None:
                    queue = metadata_queue(document.get("metadata"))
        elif spec.name != workflow:
            raise FlowAtError(f"the spec is for workflow {spec.name!r}, not {workflow!r}")
        if on_failure is not None:
            chosen = on_failure_choice(on_failure)
            if chosen != spec.on_failure:
                spec = type(spec).model_validate({**spec.model_dump(), "on_failure": chosen})
        if queue is not None and queue_name(queue) != spec.queue:
            spec = type(spec).model_validate({**spec.model_dump(), "queue": queue})
        spec = self._trusted_as(spec)
        version, created = self.services.store.publish(
            spec, owner=self.owner, created_by=self.principal.user
        )
        return Published(version=version, created=created)

    def _trusted_as(self, spec: WorkflowSpec) -> WorkflowSpec:
        """The spec as it may run: code from anyone but an Owner runs untrusted.

        Code, action and sub-workflow steps published by an Administrator, Editor (or
        any key that is not an Owner's) are marked untrusted: code steps run in the
        sandbox, action and sub-workflow bodies as expressions (docs/sandbox.md).
        """
        from flowat_kernel.access.roles import Role

        if self.principal.role is Role.OWNER:
            return spec
        kinds = ("code", "action", "workflow")
        steps = tuple(
            step.model_copy(update={"untrusted": True})
            if step.kind in kinds and not step.untrusted
            else step
            for step in spec.steps
        )
        if steps == spec.steps:
            return spec
        return type(spec).model_validate({**spec.model_dump(), "steps": steps})

    def workflows(self) -> list[VersionRecord]:
        """The latest version of every workflow the principal may see, by name."""
        self.principal.require("workflows:read")
        store = self.services.store
        names = [n for n in store.list_workflows(self.owner) if self.principal.sees(n)]
        return [store.get_version(self.owner, name) for name in names]

    def version(self, workflow: str, number: int | None = None) -> VersionRecord:
        """One version of ``workflow`` (the latest when ``number`` is ``None``).

        Raises:
            NotFoundError: no such workflow or version, or one the principal may not see.

        """
        self._visible_workflow(workflow)
        return self.services.store.get_version(self.owner, workflow, number)

    def versions(self, workflow: str) -> list[VersionRecord]:
        """All versions of ``workflow``, newest first."""
        self._visible_workflow(workflow)
        return self.services.store.list_versions(self.owner, workflow)

    def _visible_workflow(self, workflow: str) -> None:
        self.principal.require("workflows:read")
        if not self.principal.sees(workflow):
            raise NotFoundError(f"no workflow named {workflow!r} visible to this key")

    # -- runs -----------------------------------------------------------------------------

    def runs(self, workflow: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Recent runs the principal may see (of one workflow, or all), newest first."""
        self.principal.require("runs:read", workflow)
        found = self.services.store.list_runs(self.owner, workflow, limit)
        return [r for r in found if self.principal.sees(r.workflow)]

    def record(self, run_id: str) -> RunRecord:
        """The record of a run of this organization the principal may see.

        Raises:
            NotFoundError: no such run, or one the principal may not see (never told apart).

        """
        self.principal.require("runs:read")
        missing = NotFoundError(f"no run {run_id!r} in this organization")
        if len(run_id) > 64:
            raise missing
        store = self.services.store
        try:
            record = store.get_run(run_id)
        except NotFoundError:
            record = None
        if record is None and SHORT_ID <= len(run_id) < 32:  # a short id, as FlowAt prints
            found = store.run_ids_starting(self.owner, run_id.lower())
            if len(found) > 1:
                raise FlowAtError(
                    f"run id {run_id!r} is ambiguous: more than one run starts with it; "
                    "give more of its characters"
                )
            record = store.get_run(found[0]) if found else None
        if record is None or record.owner != self.owner:
            raise missing
        if not self.principal.sees(record.workflow):
            raise missing
        return record

    def get_run(self, run_id: str) -> Run:
        """One run with its steps and outputs."""
        return self._run(self.record(run_id))

    def start(
        self,
        workflow: str,
        *,
        version: int | None = None,
        parameters: Mapping[str, Any] | None = None,
        trigger: str = "api",
        worker: WorkerMode = "auto",
        timeout: float | None = None,
        limits: Mapping[str, StepLimits] | None = None,
        resolved: VersionRecord | None = None,
    ) -> RunRecord:
        """Start a run of ``workflow`` and return its queued record at once.

        ``limits`` gives steps (by name) this run's own attempts and timeouts in place
        of their spec's (papermill's engine: one attempt per cell). ``resolved``: the
        version, when the caller read it already (a webhook, to parse its body); used
        when it is this organization's ``workflow`` at ``version``.

        Raises:
            Forbidden: the principal may not start runs of ``workflow``.
            NotFoundError: no such workflow or version.
            ParameterError: unknown parameter or a value of the wrong type.
            TemporalUnavailable: Temporal cannot be reached.

        """
        from flowat_kernel.params import coerce_parameters

        self.principal.require("runs:write", workflow)
        record = resolved
        wanted = (self.owner, workflow, version or (record.number if record else None))
        if record is None or (record.owner, record.workflow, record.number) != wanted:
            record = self.services.store.get_version(self.owner, workflow, version)
        values = coerce_parameters(record.spec.inputs, dict(parameters or {}))
        if timeout is not None and not timeout > 0:
            raise FlowAtError(f"timeout must be a positive number of seconds, not {timeout!r}")
        started = self.launcher.start(
            record,
            values,
            trigger=trigger,
            actor=self._actor,
            worker=worker,
            timeout_seconds=timeout,
            limits=dict(limits) if limits else None,
        )
        return started.record or self.services.store.get_run(started.run_id)

    def run(
        self,
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
        limits: Mapping[str, StepLimits] | None = None,
    ) -> Run:
        """Start a run and (by default) wait for it; see :func:`flowat_kernel.api.run`.

        ``limits``: as for :meth:`start`.
        """
        record = self.start(
            workflow,
            version=version,
            parameters=parameters,
            trigger=trigger,
            worker=worker,
            timeout=timeout,
            limits=limits,
        )
        if not wait:
            return self._run(record)
        return self._finish(record.run_id, progress, worker, raise_on_failure, poll_interval)

    def wait(
        self,
        run_id: str,
        timeout: float | None = None,
        *,
        progress: ProgressCallback | None = None,
        worker: WorkerMode = "auto",
        poll_interval: float = 0.2,
    ) -> Run:
        """Wait until a run finishes (started anywhere, by any process) and return it.

        Raises:
            NotFoundError: no such run.
            FlowAtError: it did not finish within ``timeout`` seconds.

        """
        run_id = self.record(run_id).run_id
        record = self.launcher.wait(
            run_id, timeout=timeout, progress=progress, worker=worker, poll_interval=poll_interval
        )
        if not record.finished:
            raise FlowAtError(f"run {run_id} is still {record.status} after {timeout:g}s")
        return self._run(record)

    def wait_record(self, run_id: str, seconds: float) -> RunRecord:
        """The run after it finished, or as it stands after ``seconds`` (REST ``wait``)."""
        record = self.record(run_id)
        run_id = record.run_id
        if seconds <= 0 or record.finished:
            return record
        return self.launcher.wait(run_id, timeout=seconds)

    async def wait_record_async(
        self, run_id: str, seconds: float, *, executor: Executor | None = None
    ) -> RunRecord:
        """:meth:`wait_record` on an event loop, holding no thread while the run is open.

        Store reads run on ``executor`` (the loop's default executor when ``None``).
        """
        import asyncio

        loop = asyncio.get_running_loop()
        record = await loop.run_in_executor(executor, self.record, run_id)
        run_id = record.run_id
        if seconds <= 0 or record.finished:
            return record
        return await self.launcher.wait_async(run_id, timeout=seconds, executor=executor)

    def rerun(
        self,
        run_id: str,
        *,
        version: int | Literal["same", "latest"] = "same",
        wait: bool = True,
        progress: ProgressCallback | None = None,
        worker: WorkerMode = "auto",
        raise_on_failure: bool = False,
    ) -> Run:
        """Run a finished run again from the steps that did not succeed.

        Raises:
            NotFoundError: no such run, or its history is gone.
            FlowAtError: the run has not finished yet.

        """
        from flowat_kernel.engine.control import reusable_steps, step_outcomes
        from flowat_kernel.params import coerce_parameters

        original = self.record(run_id)
        run_id = original.run_id
        self.principal.require("runs:write", original.workflow)
        if not original.finished:
            raise FlowAtError(
                f"run {run_id} is still {original.status}; wait for it or cancel it first"
            )
        store = self.services.store
        before = store.get_version(self.owner, original.workflow, original.version)
        number = {"same": original.version, "latest": None}.get(str(version), version)
        target = store.get_version(self.owner, original.workflow, number)  # type: ignore[arg-type]
        outcomes = self.services.call(step_outcomes(self.services, original))
        succeeded = {s.name for s in original.steps if s.status == "succeeded"} & outcomes.keys()
        keep = reusable_steps(before.spec, succeeded, target.spec)
        values = coerce_parameters(target.spec.inputs, dict(original.parameters))
        recorded = {s.name: s.outputs for s in original.steps}
        started = self.launcher.start(
            target,
            values,
            trigger="rerun",
            actor=self._actor,
            worker=worker,
            reuse={name: outcomes[name] for name in keep},
            reuse_records={name: recorded.get(name) for name in keep},
        )
        if not wait:
            return self.get_run(started.run_id)
        return self._finish(started.run_id, progress, worker, raise_on_failure, 0.2)

    # -- analytics ------------------------------------------------------------------------

    def analytics_sql(self, query: str, *, frame: bool = False) -> Any:
        """One SELECT over this organization's analytics views (local or shared events).

        See :mod:`flowat_kernel.analytics.query`: the query sees only the events of the
        principal's organization (and the key's workflows), and no file.
        """
        from flowat_kernel.analytics.query import sql

        self.principal.require("runs:read")
        self.services.events.flush()
        return sql(
            query,
            folder=self.services.settings.home / "analytics",
            frame=frame,
            owner=self.principal.owner,
            workflows=self.principal.workflows,
            database_url=self.services.settings.database_url,
        )

    # -- helpers --------------------------------------------------------------------------

    @property
    def _actor(self) -> str:
        return self.principal.user

    def _finish(
        self,
        run_id: str,
        progress: ProgressCallback | None,
        worker: WorkerMode,
        raise_on_failure: bool,
        poll_interval: float,
    ) -> Run:
        record = self.launcher.wait(
            run_id, progress=progress, worker=worker, poll_interval=poll_interval
        )
        result = self._run(record)
        if raise_on_failure and result.status != "succeeded":
            message = (result.error or {}).get("message", result.status)
            raise RunFailed(
                f"run {result.run_id} of {record.workflow} v{result.version} {result.status}: "
                f"{message}",
                result,
            )
        return result
