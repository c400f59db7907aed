"""A step stopped by a timeout or cancel keeps what it showed until then.

The step's process sends what it shows to the worker as it runs; when the worker stops
the process, the step's record keeps those outputs (masked), followed by the timeout or
cancel error. Bounded: a step printing megabytes, or updating a display in a tight loop,
sends no more than the output limits keep. Real Temporal dev server, real processes.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.cells import run_code
from flowat_kernel.engine.cells.outputs import RICH_LIMIT, TEXT_LIMIT, Outputs
from flowat_kernel.engine.executor import StepCodeError
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.testing import cells


def _wait_for(path: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def _texts(display: list[dict[str, Any]]) -> str:
    return "".join(o["text"] for o in display if o["output_type"] == "stream")


def _kinds(display: list[dict[str, Any]]) -> list[str]:
    """Each output as ``stream:<first marker>`` or ``html:<marker>``, in order."""
    kinds = []
    for item in display:
        if item["output_type"] == "stream":
            kinds += [f"stream:{w}" for w in item["text"].split() if w.startswith("progress-")]
        elif item["output_type"] == "display_data":
            kinds.append("html:" + str(item["data"].get("text/html", "")))
    return kinds


SHOWS_THEN_BLOCKS = (
    "import time, pathlib\nfrom IPython.display import HTML, display\n"
    "print('progress-one')\ndisplay(HTML('<b>half-way</b>'))\n"
    "print('progress-two', flowat.secret(SECRET).reveal())\n"
    "pathlib.Path(MARK).write_text('shown')\n"
    "time.sleep(600)\ndone = 1"
)


@pytest.mark.timeout(120)
def test_a_timed_out_step_keeps_what_it_showed(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    flowat.set_secret("stopped_secret", "stopped-canary-value")
    body = SHOWS_THEN_BLOCKS.replace("SECRET", "'stopped_secret'").replace(
        "MARK", repr(str(tmp_path / "mark"))
    )
    flowat.publish(
        workflow_name, cells=cells(f"%%flowat step stuck --timeout 5s --retries 0\n{body}")
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "StepTimeout", run.error
    step = {s.name: s for s in run.record.steps}["stuck"]
    assert step.status == "failed"
    assert step.error is not None and step.error["type"] == "StepTimeout"
    assert "no result within 5s (--timeout)" in step.error["message"]
    assert step.display is not None
    assert _kinds(step.display) == [
        "stream:progress-one",
        "html:<b>half-way</b>",
        "stream:progress-two",
    ]
    # Masked like everything else the worker records.
    assert "stopped-canary-value" not in repr(step.display) + (step.logs or "")
    assert "[secret:stopped_secret]" in _texts(step.display)
    assert "progress-one" in (step.logs or "") and "progress-two" in (step.logs or "")


@pytest.mark.timeout(120)
def test_a_cancelled_step_keeps_what_it_showed(
    temporal: str, workflow_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")
    from flowat_kernel.runtime import reset_runtime

    reset_runtime()
    flowat.set_secret("cancel_secret", "cancel-canary-value")
    mark = tmp_path / "mark"
    body = SHOWS_THEN_BLOCKS.replace("SECRET", "'cancel_secret'").replace("MARK", repr(str(mark)))
    flowat.publish(workflow_name, cells=cells(f"%%flowat step stuck --retries 0\n{body}"))
    queued = flowat.run(workflow_name, wait=False, worker="always")
    _wait_for(mark)
    flowat.cancel(queued.run_id)
    run = flowat.wait(queued.run_id, timeout=60)
    assert run.status == "cancelled"
    step = {s.name: s for s in run.record.steps}["stuck"]
    assert step.status == "cancelled"
    assert step.error is not None and step.error["type"] == "StepCancelled"
    assert step.display is not None
    assert _kinds(step.display) == [
        "stream:progress-one",
        "html:<b>half-way</b>",
        "stream:progress-two",
    ]
    assert "cancel-canary-value" not in repr(step.display) + (step.logs or "")
    assert "[secret:cancel_secret]" in (step.logs or "")


@pytest.mark.timeout(180)
def test_a_step_printing_megabytes_before_it_hangs_keeps_only_the_limits(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step flood --timeout 8s --retries 0\n"
            "import os, time\nfrom IPython.display import HTML, display\n"
            "print('progress-first')\n"
            "for i in range(20000):\n    print('x' * 1000)\n"  # 20 MB through sys.stdout
            "os.write(1, b'y' * 5_000_000)\n"  # and 5 MB through the file descriptor
            "for i in range(20):\n    display(HTML(f'<p>{i}</p>' + 'z' * 1_000_000))\n"
            "time.sleep(600)\ndone = 1",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "StepTimeout", run.error
    step = {s.name: s for s in run.record.steps}["flood"]
    assert step.display is not None
    text = _texts(step.display)
    assert text.startswith("progress-first\n")
    assert "[output truncated]" in text and "[rich output truncated" in text
    assert len(text) <= TEXT_LIMIT + 200
    rich = [o for o in step.display if o["output_type"] == "display_data"]
    assert 0 < len(rich) < 20
    assert sum(len(o["data"]["text/html"]) for o in rich) <= RICH_LIMIT


def _read_bytes() -> int:
    """Bytes this process has read so far (all sockets and files: ``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _step(source: str, **fields: Any) -> StepSpec:
    return StepSpec(name="s", kind="code", source=source, **fields)


@pytest.mark.timeout(120)
def test_a_flood_sends_the_worker_no_more_than_the_limits_keep() -> None:
    run_code(_step("x = 1"), {}, StepScope(step="s"))  # the pool is up
    step = _step(
        "import time\nprint('progress-first')\n"
        "for i in range(50000):\n    print('x' * 1000)\n"  # 50 MB
        "time.sleep(600)"
    )
    before = _read_bytes()
    with pytest.raises(StepCodeError) as failed:
        run_code(step, {}, StepScope(step="s"), deadline=time.monotonic() + 6)
    received = _read_bytes() - before
    assert failed.value.exc_type == "StepTimeout"
    assert failed.value.display[0]["text"].startswith("progress-first\n")
    assert "[output truncated]" in failed.value.logs
    assert received < 4_000_000, received  # 64 KiB of text kept, not the 50 MB printed


@pytest.mark.timeout(120)
def test_a_display_updated_in_a_tight_loop_is_coalesced_not_queued() -> None:
    run_code(_step("x = 1"), {}, StepScope(step="s"))
    step = _step(
        "from IPython.display import display, HTML\n"
        "bar = display(HTML('start'), display_id=True)\n"
        "for i in range(20000):\n    bar.update(HTML(f'{i:06d}' + '.' * 1000))\n"
        "print('progress-end')"
    )
    before = _read_bytes()
    result = run_code(step, {}, StepScope(step="s"))
    received = _read_bytes() - before
    shown = [o for o in result.display if o["output_type"] == "display_data"]
    assert len(shown) == 1 and shown[0]["data"]["text/html"].startswith("019999")
    assert result.logs == "progress-end\n"
    assert received < 10_000_000, received  # not 20,000 updates of 1 KB each (20 MB)


def test_the_workers_copy_equals_the_steps_outputs() -> None:
    """Any sequence of writes, displays, updates, clears and cuts replays identically."""
    rng = random.Random(7)
    for _ in range(40):
        copy = Outputs()
        original = Outputs(lambda operation, size, copy=copy: copy.apply(operation))
        for _ in range(rng.randint(1, 60)):
            what = rng.choice(["out", "err", "big", "rich", "update", "clear", "wait", "error"])
            if what in ("out", "err"):
                original.stream("stdout" if what == "out" else "stderr", "t" * rng.randint(1, 99))
            elif what == "big":
                original.stream("stdout", "b" * rng.randint(TEXT_LIMIT // 4, TEXT_LIMIT))
            elif what == "rich":
                original.rich(
                    "display_data",
                    {"text/html": "h" * rng.choice([10, 1000, 4_000_000]), "image/png": b"\x89PNG"},
                    display_id=rng.choice([None, "a", "b"]),
                )
            elif what == "update":
                original.rich("display_data", {"text/plain": "u"}, display_id="a", update=True)
            elif what in ("clear", "wait"):
                original.clear(wait=what == "wait")
            else:
                original.error("ValueError", "bad", ["ValueError: bad"])
        assert copy.finished() == original.finished()
        assert copy.items == original.items


def test_an_operation_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not an output operation"):
        Outputs().apply(("exec", "import os"))
    with pytest.raises(ValueError):
        Outputs().apply(("stream", "stdout"))
