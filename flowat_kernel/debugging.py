"""The step debugger: a step's exact recorded inputs, loaded into a namespace.

``%flowat debug RUN STEP`` reads the input the step's activity received from the
run's Temporal history (the ``flowat.run_step`` task, decrypted with the runtime's
data converter), decodes each value (data frames come back from the artifact store)
and binds the values in the kernel, so the step's cell can be fixed and run there with
what the run saw. ``%flowat resume RUN`` then re-runs the run on the latest version,
reusing what the succeeded steps recorded.

A value that may hold a secret the run revealed is loaded masked, as run records show
it: the debugger never puts a secret's value in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowat_kernel.compiler.patching import patched_spec
from flowat_kernel.errors import FlowAtError, NotFoundError

if TYPE_CHECKING:
    from flowat_kernel.api import ProgressCallback, WorkerMode
    from flowat_kernel.compiler import Cell
    from flowat_kernel.engine.messages import StepTask
    from flowat_kernel.run_result import Run
    from flowat_kernel.store import RunRecord
    from flowat_kernel.workspace import Services as Runtime

__all__ = ["RecordedInputs", "load_inputs", "patched_spec", "recorded_inputs", "resume"]


@dataclass
class RecordedInputs:
    """What one step received in one run.

    Attributes:
        run_id: the run.
        step: the step's name.
        values: input name to the decoded value (data frames as data frames).
        masked: names whose values may hold a secret and are loaded masked.
        task: the recorded activity input (values still encoded).
        attempts: how many times the step was scheduled in the run (``--foreach``
            items count one each; the last one is loaded).

    """

    run_id: str
    step: str
    values: dict[str, Any]
    task: StepTask
    masked: list[str] = field(default_factory=list)
    attempts: int = 1

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.values)) or "no inputs"
        return f"<RecordedInputs {self.step} of run {self.run_id}: {names}>"


async def _scheduled_tasks(runtime: Runtime, record: RunRecord) -> list[StepTask]:
    """Every step task the run scheduled (regular activities), and a local step's failure."""
    from temporalio.api.enums.v1 import EventType

    from flowat_kernel.engine.history import run_history
    from flowat_kernel.engine.messages import RunFinish, StepTask

    history = await run_history(runtime, record, "its steps' inputs")
    converter = (await runtime.client()).data_converter
    tasks: list[StepTask] = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attributes = event.activity_task_scheduled_event_attributes
        payloads = list(attributes.input.payloads)
        if not payloads:
            continue
        name = attributes.activity_type.name
        if name == "flowat.run_step":
            tasks.append((await converter.decode(payloads[:1], [StepTask]))[0])
        elif name == "flowat.run_finished":  # carries a failed local step's task
            finish = (await converter.decode(payloads[:1], [RunFinish]))[0]
            if finish.failed_task is not None:
                tasks.append(finish.failed_task)
    return tasks


def recorded_inputs(run_id: str, step: str) -> RecordedInputs:
    """The inputs step ``step`` received in run ``run_id``, decoded.

    Raises:
        NotFoundError: no such run, or the step never started in it (it was skipped,
            reused or never reached), or Temporal no longer has the history.

    """
    from flowat_kernel.api import default_workspace
    from flowat_kernel.engine.values import decode

    door = default_workspace()
    record = door.record(run_id)
    run_id = record.run_id
    door.principal.require("runs:write", record.workflow)  # inputs may hold real data
    runtime = door.services
    tasks = [t for t in runtime.call(_scheduled_tasks(runtime, record)) if t.step.name == step]
    if not tasks:
        known = sorted({s.name for s in record.steps})
        raise NotFoundError(
            f"step {step!r} never ran as a step task in run {run_id} (it was skipped, reused, "
            f"a logic step or not reached); steps of the run: {', '.join(known)}"
        )
    task = tasks[-1]
    values: dict[str, Any] = {}
    masked: list[str] = []
    tainted = {name for value in task.inputs.values() for name in value.secrets}
    if tainted:
        _register_secrets(runtime, tainted, record.owner)
    for name, value in task.inputs.items():
        decoded = decode(value, runtime.artifacts)
        if value.secrets:
            from flowat_kernel.vault.redaction import redact_data

            decoded = redact_data(decoded)
            masked.append(name)
        values[name] = decoded
    return RecordedInputs(run_id, step, values, task, masked, attempts=len(tasks))


def _register_secrets(runtime: Runtime, names: set[str], owner: str | None) -> None:
    """Teach the redactor the values of ``names`` (they are masked, never shown)."""
    from flowat_kernel.vault.redaction import register

    for name in sorted(names):
        try:
            register(name, runtime.vault.reveal_value(name, owner))
        except FlowAtError:
            continue  # a deleted secret cannot be in anything new


def load_inputs(
    run_id: str, step: str, namespace: dict[str, Any], *, prelude: bool = True
) -> RecordedInputs:
    """Bind the step's recorded inputs in ``namespace`` (the kernel's, usually).

    With ``prelude``, the imports, functions and classes the step uses from earlier
    cells are run first, as the worker runs them.

    Raises:
        NotFoundError: as :func:`recorded_inputs`.

    """
    found = recorded_inputs(run_id, step)
    if prelude:
        for statement in found.task.step.prelude:
            exec(compile(statement, f"<flowat prelude of {step}>", "exec"), namespace)
    namespace.update(found.values)
    return found


def resume(
    run_id: str,
    *,
    cells: Sequence[Cell] | None = None,
    progress: ProgressCallback | None = None,
    worker: WorkerMode = "auto",
) -> Run:
    """Re-run a failed run from its failed step, on the latest version.

    With ``cells`` (the step cells the kernel ran), they are patched into the latest
    version and published first (a new version only if something changed), so a fix
    made in the notebook is what runs. Steps that succeeded and are unchanged keep
    their recorded outputs and do not run again.

    Raises:
        FlowAtError: the run has not finished, or it succeeded (nothing to resume).
        CompileError: the cells do not compile.

    """
    from flowat_kernel.api import default_workspace

    return default_workspace().resume(run_id, cells=cells, progress=progress, worker=worker)
