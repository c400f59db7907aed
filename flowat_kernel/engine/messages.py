"""Typed payloads between the graph workflow and its activities (pydantic, JSON on the wire)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowat_kernel.ai.agent import AgentPlan
from flowat_kernel.engine.values import Value
from flowat_kernel.spec import StepSpec, WorkflowSpec

__all__ = [
    "ChunkOutcome",
    "ChunkTask",
    "ItemFailure",
    "RunEnd",
    "RunEnded",
    "RunFinish",
    "RunInput",
    "RunOutcome",
    "RunReference",
    "StepLimits",
    "StepOutcome",
    "StepRecord",
    "StepTask",
]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepOutcome(_Message):
    """Result of one step activity: its exported values (inline or by reference).

    ``stop_run`` is set when the step's code ended with a clean ``SystemExit``
    (``sys.exit()``, ``sys.exit(0)``, ``raise SystemExit``): the step succeeded and the
    run stops there, as a notebook does.
    """

    exports: dict[str, Value]
    skipped: dict[str, str] = {}
    step: str = ""
    child: RunInput | None = None
    stop_run: bool = False
    #: An ``llm.agent`` step: the loop the workflow carries out (see ``agent_runner``).
    agent: AgentPlan | None = None
    #: The run's end, recorded by this step's activity: it was the run's final step and
    #: its task carried ``run_end`` (see ``run_bookkeeping``).
    ended: RunEnded | None = None


class StepLimits(_Message):
    """One run's own limits for one step, in place of those its spec gives.

    ``attempts`` is the most attempts the step gets (its spec's retry policy keeps its
    backoff); ``timeout_seconds`` bounds each attempt. ``None`` keeps the spec's value.
    papermill's engine uses them for papermill's semantics (one attempt per cell,
    ``--execution-timeout``) without publishing another spec.
    """

    attempts: int | None = Field(default=None, ge=1, le=101)
    timeout_seconds: float | None = Field(default=None, gt=0, le=7 * 86400)


class RunReference(_Message):
    """Which published version a run runs: what the worker loads the spec by."""

    run_id: str
    workflow: str
    version: int
    spec_hash: str


class RunInput(_Message):
    """Start input of the graph workflow: references to what the run runs, not authority.

    FlowAt starts runs with ``spec`` left out and ``spec_hash`` set: the workflow's
    first activity loads the published spec from the metadata store by the run's record
    (organization, workflow, version) and checks its hash (:class:`RunReference`), so
    no code and no organization ever come from the start request. ``spec`` and
    ``owner`` are still read when present, for runs started before (their histories
    replay unchanged); the worker verifies every step against the store either way.

    ``reuse`` holds outcomes of steps that succeeded in an earlier run (a re-run from
    the failed step): those steps are not executed again. ``limits`` maps step names to
    this run's own :class:`StepLimits` (a ``--foreach`` step's limits hold for each
    item); ``None``, the default, runs every step as its spec says.
    """

    run_id: str
    workflow: str
    version: int
    spec: WorkflowSpec | None = None
    parameters: dict[str, Any]
    owner: str | None = None
    heartbeat_seconds: float | None = None
    timeout_seconds: float | None = None
    reuse: dict[str, StepOutcome] = {}
    limits: dict[str, StepLimits] | None = None
    spec_hash: str | None = None

    def reference(self) -> RunReference:
        """What the worker loads this run's spec by.

        Raises:
            ValueError: the input names no spec hash (a run started before references).

        """
        if self.spec_hash is None:
            raise ValueError(f"run {self.run_id} names no spec hash")
        return RunReference(
            run_id=self.run_id,
            workflow=self.workflow,
            version=self.version,
            spec_hash=self.spec_hash,
        )

    @property
    def graph(self) -> WorkflowSpec:
        """The spec, once loaded (the workflow fills it in before any step runs).

        Raises:
            ValueError: not loaded yet.

        """
        if self.spec is None:
            raise ValueError(f"run {self.run_id}: its spec is not loaded yet")
        return self.spec


class StepTask(_Message):
    """Input of one step activity."""

    run_id: str
    workflow: str
    version: int
    step: StepSpec
    inputs: dict[str, Value]
    missing: dict[str, str] = {}
    owner: str | None = None
    heartbeat_seconds: float | None = None
    #: One call of a ``--tool`` step by an agent: the model's checked arguments.
    tool_arguments: dict[str, Any] | None = None
    #: Attempts a ``--chunk`` item already had in its chunk (recorded there): this
    #: activity's attempt numbers count on from them.
    attempts_before: int = Field(default=0, ge=0)
    #: One item of a ``--foreach`` step: the store keeps no record of its own (the
    #: step's record merges its items), so its attempts queue no step changes.
    item: bool = False
    #: The run's final step: when it succeeds, its activity records the run's end as
    #: this says (its own exports added to ``finish.outputs``) instead of the workflow
    #: asking ``flowat.run_end`` for it afterwards.
    run_end: RunEnd | None = None


class ChunkTask(_Message):
    """Input of one ``flowat.run_chunk`` activity: items of a ``--chunk`` step.

    ``task`` is the ``--foreach`` step itself with the inputs every item shares; item
    ``indices[i]`` is ``items[i]`` (its ``item`` input; ``index`` is its index).
    """

    task: StepTask
    indices: list[int]
    items: list[Any]
    #: Seconds each item may take (the step's timeout in this run).
    item_timeout_seconds: float = Field(gt=0)


class ItemFailure(_Message):
    """An item of a chunk that failed: what its record says, and whether it is final."""

    message: str
    type: str
    error: dict[str, Any]
    #: No attempt is left (or its error is not retried): the item fails the step.
    final: bool
    #: The attempt that failed (the chunk's own attempt number).
    attempt: int = Field(default=1, ge=1)
    #: When not final: seconds to wait before its next attempt.
    retry_in: float = 0.0


class ChunkOutcome(_Message):
    """Result of a ``flowat.run_chunk`` activity, by item index.

    Items in neither map did not start: an item before them failed for good or ended
    the run (``stop_run``).
    """

    done: dict[int, StepOutcome] = {}
    failed: dict[int, ItemFailure] = {}


class RunOutcome(_Message):
    """Result of a successful run: every step's exports."""

    status: str
    outputs: dict[str, dict[str, Value]]


class RunFinish(_Message):
    """Input of the activity that records a run's end."""

    run_id: str
    status: str
    error: dict[str, Any] | None = None
    failed_step: str | None = None
    states: dict[str, str] = {}
    outputs: dict[str, dict[str, Value]] = {}
    owner: str | None = None
    failed_task: StepTask | None = None


class RunEnd(_Message):
    """Input of ``flowat.run_end``: the run's end, whether it held a slot, its alert event."""

    finish: RunFinish
    limited: bool = False
    #: The alert event the end sets off (``EVENTS`` of alert_activities), if any.
    event: str | None = None
    #: The end is in the store already (the final step recorded it, then could not
    #: look up whom to wake or alert): only those are left to do.
    recorded: bool = False


class RunEnded(_Message):
    """What the workflow does after the end is recorded: whom to wake, which alerts to send."""

    woken: list[str] = []
    deliveries: list[str] = []
    #: ``False``: the end is recorded but the waiters and alerts are not looked up yet
    #: (the workflow asks ``flowat.run_end`` with ``recorded`` for them).
    complete: bool = True


class StepRecord(_Message):
    """Input of the activity that records a step the workflow ran itself.

    Logic steps, skipped steps, waits and the merged result of a ``--foreach`` step
    never run as a step activity; their state reaches the run record through this.
    """

    run_id: str
    workflow: str
    version: int
    step: str
    status: str
    outputs: dict[str, Value] = {}
    error: dict[str, Any] | None = None
    owner: str | None = None
    duration_ms: float | None = None


StepOutcome.model_rebuild()
StepTask.model_rebuild()
