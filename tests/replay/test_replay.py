"""Recorded histories of the example workflows replay against the current graph workflow.

No Temporal server is needed: Temporal's ``Replayer`` runs ``GraphWorkflow`` in-process,
in the same sandbox as the worker, against each history in ``histories/`` and fails when
the workflow issues commands the history does not hold (nondeterminism); the test also
fails when the workflow starts other steps than the history did. Such a change would
break every execution running when it is deployed; guard it with ``workflow.patched``
(see README.md) rather than re-recording.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from flowat_kernel.engine.messages import RunInput, RunOutcome, StepOutcome
from flowat_kernel.engine.run_bookkeeping import PATCH_END_IN_STEP
from flowat_kernel.engine.values import Value
from flowat_kernel.engine.worker import sandboxed_runner
from flowat_kernel.engine.workflow import (
    PATCH_CONTINUE,
    PATCH_STOP_RUN,
    WORKFLOW_NAME,
    GraphWorkflow,
)
from flowat_kernel.spec import StepSpec

HISTORIES = Path(__file__).resolve().parent / "histories"
METADATA = json.loads((HISTORIES / "metadata.json").read_text())
NAMES = sorted(p.stem for p in HISTORIES.glob("*.json") if p.name != "metadata.json")
#: What the histories must cover; a missing file fails the suite rather than shrinking it.
EXPECTED = {
    "quickstart",
    "parallel_with_local_step",
    "retried_step",
    "failed_step",
    "step_timeout",
    "run_timeout",
    "cancelled_run",
    "rerun_from_failed_step",
    "secret_in_step",
    "sub_workflow",
    "logic_steps",
    "wait_for_signal",
    "continue_after_failure",
    "clean_system_exit",
    "started_by_reference",
    "failed_local_step",
    "routed_step",
    "agent_loop",
    "agent_step_tool",
    "queued_by_limit",
    "slot_released",
    "folded_bookkeeping",
    "folded_queued_by_limit",
    "folded_slot_released",
    "end_in_final_step",
    "end_in_final_step_slot_released",
}
ENCRYPTED = b"binary/flowat-encrypted"


def load(name: str) -> WorkflowHistory:
    text = (HISTORIES / f"{name}.json").read_text()
    return WorkflowHistory.from_json(METADATA[name]["workflow_id"], text)


#: What the replaying workflow scheduled, in order: (kind, type, step or child id).
SCHEDULED: list[tuple[str, str, str]] = []


def _step_of(args: Any) -> str:
    step = getattr(args[0], "step", None) if args else None
    return step if isinstance(step, str) else str(getattr(step, "name", ""))


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> Any:
        SCHEDULED.append(("activity", input.activity, _step_of(input.args)))
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        SCHEDULED.append(("local", input.activity, _step_of(input.args)))
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        SCHEDULED.append(("child", input.workflow, input.id))
        return await super().start_child_workflow(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class RecordScheduling(Interceptor):
    """Notes which step each activity the replaying workflow schedules is for."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


def recorded_scheduling(history: WorkflowHistory) -> list[tuple[str, str, str]]:
    """What the recorded execution scheduled, in order (local steps by their result)."""
    regular: list[tuple[str, str, str]] = []
    local: dict[int, tuple[str, str, str]] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            task = json.loads(attributes.input.payloads[0].data)
            step = task["step"] if isinstance(task, dict) and "step" in task else ""
            step = step["name"] if isinstance(step, dict) else step  # agent calls: a name
            regular.append(("activity", attributes.activity_type.name, step))
        elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            child = event.start_child_workflow_execution_initiated_event_attributes
            regular.append(("child", child.workflow_type.name, child.workflow_id))
        elif (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        ):  # not a workflow.patched marker ("core_patch")
            details = event.marker_recorded_event_attributes.details
            data = json.loads(details["data"].payloads[0].data)  # Core's local-activity marker
            result = details["result"].payloads[0].data if "result" in details else b""
            outcome = json.loads(result) if result else None
            step = outcome.get("step", "") if isinstance(outcome, dict) else ""
            local[int(data["seq"])] = ("local", data["activity_type"], step)
    return [*regular, *(local[seq] for seq in sorted(local))]


def _same_scheduling(
    replayed: list[tuple[str, str, str]], recorded: list[tuple[str, str, str]]
) -> bool:
    """Whether the replay scheduled the recorded steps in the recorded order.

    A failed local step leaves no result, hence no step name, in its marker.
    """
    ordered = sorted(replayed, key=lambda item: item[0] == "local")  # stable: locals last
    if len(ordered) != len(recorded):
        return False
    return all(
        got[:2] == want[:2] and (got[2] == want[2] or (want[0] == "local" and not want[2]))
        for got, want in zip(ordered, recorded, strict=True)
    )


def make_replayer(workflow_class: type) -> Replayer:
    """A replayer running ``workflow_class`` as flowat.graph, as the worker runs it.

    The runner is Temporal's sandbox (stricter than the worker's default runner: a
    non-deterministic call fails there); the changed interpreters below live in this test
    module, which the sandbox must then take as it is rather than re-import. The data
    converter is the client's without the vault codec: recorded histories hold decoded
    payloads.
    """
    runner = sandboxed_runner()
    if workflow_class is not GraphWorkflow:
        restrictions = runner.restrictions.with_passthrough_modules(__name__)
        runner = SandboxedWorkflowRunner(restrictions=restrictions)
    return Replayer(
        workflows=[workflow_class],
        workflow_runner=runner,
        data_converter=dataclasses.replace(
            pydantic_data_converter,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        ),
        interceptors=[RecordScheduling()],
    )


def replay_problem(workflow_class: type, name: str) -> str | None:
    """Why ``workflow_class`` cannot take over the recorded execution ``name``, if it cannot.

    Temporal's replay fails on a command of another type or activity id than the
    history holds. It does not compare inputs, so two steps of one kind started in
    another order would replay "fine" with each other's results: the steps scheduled
    are compared here too.
    """
    history = load(name)
    SCHEDULED.clear()
    replayer = make_replayer(workflow_class)
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    if result.replay_failure is not None:
        return f"nondeterminism: {result.replay_failure!r}"
    recorded = recorded_scheduling(history)
    if not _same_scheduling(SCHEDULED, recorded):
        return f"other steps scheduled: replay {SCHEDULED}, history {recorded}"
    return None


# -- deliberately changed interpreters ----------------------------------------------


@workflow.defn(name=WORKFLOW_NAME)
class TimerFirstWorkflow(GraphWorkflow):
    """An unguarded change: a timer before anything else."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        await workflow.sleep(0.01)
        return await super().run(run)


@workflow.defn(name=WORKFLOW_NAME)
class AllStepsLocalWorkflow(GraphWorkflow):
    """An unguarded change: every step runs as a local activity."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        return await super().run(run)

    async def _run_step(
        self, run: RunInput, step: StepSpec, results: dict[str, dict[str, Value]]
    ) -> StepOutcome:
        return await super()._run_step(run, step.model_copy(update={"local": True}), results)


@workflow.defn(name=WORKFLOW_NAME)
class ReversedStartOrderWorkflow(GraphWorkflow):
    """An unguarded change Temporal does not see: ready steps start in reverse order."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        spec = run.spec.model_copy(update={"steps": list(reversed(run.spec.steps))})
        return await super().run(run.model_copy(update={"spec": spec}))


@workflow.defn(name=WORKFLOW_NAME)
class PatchedTimerFirstWorkflow(GraphWorkflow):
    """The same timer, guarded as the README asks: old executions take the old path."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        if workflow.patched("replay-test-timer-first"):
            await workflow.sleep(0.01)
        return await super().run(run)


@workflow.defn(name=WORKFLOW_NAME)
class StopsAfterFailureWorkflow(GraphWorkflow):
    """Issue 17's ``on_failure="continue"`` not honoured: the old path for every spec."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        spec = run.spec.model_copy(update={"on_failure": "stop"})
        return await super().run(run.model_copy(update={"spec": spec}))


@workflow.defn(name=WORKFLOW_NAME)
class IgnoresCleanExitWorkflow(GraphWorkflow):
    """Issue 17's clean ``SystemExit`` not honoured: the run goes on after it."""

    @workflow.run
    async def run(self, run: RunInput) -> RunOutcome:
        return await super().run(run)

    async def _step(
        self,
        run: RunInput,
        step: StepSpec,
        results: dict[str, dict[str, Value]],
        after_skipped: bool,
    ) -> StepOutcome | None:
        outcome = await super()._step(run, step, results, after_skipped)
        return outcome.model_copy(update={"stop_run": False}) if outcome else None


# -- tests --------------------------------------------------------------------------


def test_every_scenario_has_a_decoded_history_and_metadata() -> None:
    assert set(NAMES) == EXPECTED, "record missing histories with record_histories.py"
    assert set(METADATA) == EXPECTED
    for name in NAMES:
        history = load(name)
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.workflow_type.name == WORKFLOW_NAME, name
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert ENCRYPTED not in raw, f"{name}: payloads must be stored decoded"
        assert METADATA[name]["events"] == len(history.events), name
        assert METADATA[name]["temporalio"] and METADATA[name]["flowat"], name


def test_histories_cover_the_interpreters_paths() -> None:
    """Each history really holds what its name says, so replaying it exercises that path."""

    def kinds(name: str) -> set[int]:
        return {event.event_type for event in load(name).events}

    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED in kinds("sub_workflow")
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT in kinds("step_timeout")
    assert EventType.EVENT_TYPE_TIMER_FIRED in kinds("run_timeout")
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in kinds("cancelled_run")
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in kinds("cancelled_run")
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED in kinds("failed_step")
    # concurrency limits: a run waits for its slot and is woken; the holder wakes it
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds("queued_by_limit")
    assert EventType.EVENT_TYPE_TIMER_STARTED in kinds("queued_by_limit")
    released = EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
    assert released in kinds("slot_released")
    retried = [
        e.activity_task_started_event_attributes.attempt
        for e in load("retried_step").events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert 3 in retried, retried
    started = load("rerun_from_failed_step").events[0]
    payload = started.workflow_execution_started_event_attributes.input.payloads[0]
    assert set(json.loads(payload.data)["reuse"]) == {"load", "local_sum"}
    # Runs started before references hold their spec; a run started by reference does
    # not, and its first command loads it.
    for name, by_reference in (("sub_workflow", False), ("started_by_reference", True)):
        first = load(name).events[0].workflow_execution_started_event_attributes
        run_input = json.loads(first.input.payloads[0].data)
        assert (run_input.get("spec") is None) is by_reference, name
        assert bool(run_input.get("spec_hash")) is by_reference, name
    markers = [
        e.marker_recorded_event_attributes.details
        for e in load("started_by_reference").events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    loaded = json.loads(markers[0]["result"].payloads[0].data)
    assert [s["name"] for s in loaded["steps"]] == ["prep", "child", "use"]
    # Since the folded bookkeeping: begin, steps, end; a queued run is admitted, then loads.
    assert _local_activities("folded_bookkeeping") == [
        "flowat.run_begin",
        "flowat.run_step",
        "flowat.run_end",
    ]
    queued = _local_activities("folded_queued_by_limit")
    assert queued[0] == "flowat.run_begin" and queued[-1] == "flowat.run_end", queued
    assert queued.index("flowat.run_admit") < queued.index("flowat.run_loaded"), queued
    assert _local_activities("folded_slot_released") == ["flowat.run_begin", "flowat.run_end"]
    assert released in kinds("folded_slot_released")
    # Since the end in the final step: that step records the end, no run_end follows,
    # and a holder's final step names the waiter the workflow then signals.
    assert _local_activities("end_in_final_step") == ["flowat.run_begin", "flowat.run_step"]
    assert _local_activities("end_in_final_step_slot_released") == [
        "flowat.run_begin",
        "flowat.run_step",
    ]
    assert released in kinds("end_in_final_step_slot_released")
    for name in ("end_in_final_step", "end_in_final_step_slot_released"):
        assert PATCH_END_IN_STEP in _patches(name), name


def _patches(name: str) -> set[str]:
    """The ids of the ``workflow.patched`` markers in history ``name``."""
    return {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in load(name).events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    }


def _local_activities(name: str) -> list[str]:
    """The activity type of each local activity's marker in history ``name``, in order."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in load(name).events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_recorded_history_replays_on_the_current_workflow(name: str) -> None:
    problem = replay_problem(GraphWorkflow, name)
    assert problem is None, (
        f"{name}: GraphWorkflow no longer replays this history, so executions running when "
        f"this change is deployed would fail ({problem}). Guard the change with "
        "workflow.patched(...) (tests/replay/README.md); do not re-record."
    )


@pytest.mark.parametrize(
    ("variant", "must_fail"),
    [
        (TimerFirstWorkflow, EXPECTED),
        # failed_local_step runs local steps only: making them local changes nothing
        (AllStepsLocalWorkflow, EXPECTED - {"failed_local_step"}),
        (ReversedStartOrderWorkflow, {"quickstart", "parallel_with_local_step"}),
    ],
    ids=["timer_first", "all_steps_local", "reversed_start_order"],
)
def test_an_unguarded_change_fails_replay(variant: type, must_fail: set[str]) -> None:
    problems = {name: replay_problem(variant, name) for name in NAMES}
    caught = {name for name, problem in problems.items() if problem is not None}
    assert must_fail <= caught, f"{variant.__name__} passed replay of {must_fail - caught}"


def test_temporal_itself_reports_nondeterminism() -> None:
    replayer = make_replayer(TimerFirstWorkflow)
    with pytest.raises(workflow.NondeterminismError, match=r"[Nn]ondeterminism"):
        asyncio.run(replayer.replay_workflow(load("quickstart")))


def test_a_change_guarded_by_patched_replays_everything() -> None:
    problems = {name: replay_problem(PatchedTimerFirstWorkflow, name) for name in NAMES}
    assert {name: p for name, p in problems.items() if p is not None} == {}


@pytest.mark.parametrize(
    ("variant", "name", "patch"),
    [
        (StopsAfterFailureWorkflow, "continue_after_failure", PATCH_CONTINUE),
        (IgnoresCleanExitWorkflow, "clean_system_exit", PATCH_STOP_RUN),
    ],
    ids=["on_failure_continue", "clean_system_exit"],
)
def test_issue_17_behaviour_is_patched_and_pinned_by_its_history(
    variant: type, name: str, patch: str
) -> None:
    """The new paths record their ``workflow.patched`` marker, and the recorded history
    fails replay on the behaviour before them: the history pins the new behaviour, while
    every older history (recorded without the marker) replays on the old path above."""
    markers = [
        e.marker_recorded_event_attributes
        for e in load(name).events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert markers and patch.encode() in markers[0].details["patch-data"].payloads[0].data
    assert replay_problem(variant, name) is not None
    assert replay_problem(GraphWorkflow, name) is None
