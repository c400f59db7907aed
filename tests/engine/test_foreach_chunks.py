"""``--foreach ... --chunk N`` on the real Temporal dev server: items N to an activity.

Each chunk runs its items one after another in one step process, each item in a fresh
namespace, recorded and retried on its own; an item failing for good fails the step and
nothing new starts; a timed-out item's process is replaced for the next item.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.analytics import sql
from flowat_kernel.testing import cells
from tests.engine.forged_starts import start_with_other_code

SHARED = (
    "import os\nfrom IPython.core.interactiveshell import InteractiveShell\n"
    "leaked = 'mark' in globals()\nmark = item\npid = os.getpid()\ndoubled = item * 2\n"
    "hooks = len(InteractiveShell.instance().events.callbacks['pre_execute'])"
)


def _items(run: flowat.Run, step: str) -> dict[str, list[tuple[str, int]]]:
    """Each item's analytics events, in order: (event, attempt)."""
    rows = sql(
        "SELECT step, event, attempt FROM events "
        f"WHERE run_id = '{run.run_id}' AND step LIKE '{step}.%' ORDER BY ts, event DESC"
    ).fetchall()
    found: dict[str, list[tuple[str, int]]] = {}
    for name, event, attempt in rows:
        found.setdefault(name, []).append((event, attempt))
    return found


OK = [("step_started", 1), ("step_succeeded", 1)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("local", [True, False], ids=["local", "activity"])
def test_a_chunk_runs_its_items_in_one_process_each_in_a_fresh_namespace(
    temporal: str, workflow_name: str, local: bool
) -> None:
    flag = " --local" if local else ""
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step each --foreach numbers --chunk 3 --concurrency 1{flag}\n{SHARED}",
            "%%flowat step total\ntotal = sum(doubled)",
            parameters="numbers = [1]",
        ),
    )
    numbers = [4, 1, 7, 2, 9, 3, 5]
    run = flowat.run(workflow_name, parameters={"numbers": numbers}, timeout=90)
    assert run.status == "succeeded", run.error
    each = run.outputs["each"]
    assert each["doubled"] == [n * 2 for n in numbers]
    assert each["mark"] == numbers
    assert each["leaked"] == [False] * 7, "an item saw the namespace of the item before it"
    pids = each["pid"]
    chunks = [pids[0:3], pids[3:6], pids[6:7]]
    assert [len(set(c)) for c in chunks] == [1, 1, 1], f"one process per chunk: {pids}"
    assert len({c[0] for c in chunks}) == 3, f"each chunk its own process: {pids}"
    hooks = each["hooks"]
    assert hooks[0:3] == [hooks[0]] * 3, f"an item's display hooks outlived it: {hooks}"
    assert run.outputs["total"]["total"] == sum(numbers) * 2
    assert _items(run, "each") == {f"each.{i}": OK for i in range(len(numbers))}
    assert {s.name: s.status for s in run.record.steps}["each"] == "succeeded"


@pytest.mark.timeout(120)
def test_a_failing_item_is_retried_on_its_own_and_the_chunk_goes_on(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach numbers --chunk 4 --retries 2 --local\n"
            "import os, pathlib\n"
            "marker = pathlib.Path(folder) / f'tried-{item}'\n"
            "if item == 2 and not marker.exists():\n"
            "    marker.write_text('once')\n"
            "    raise ValueError('flaky two')\n"
            "pid = os.getpid()\n"
            "value = item * 10",
            parameters="numbers = [1]\nfolder = ''",
        ),
    )
    run = flowat.run(
        workflow_name, parameters={"numbers": [1, 2, 3, 4], "folder": str(tmp_path)}, timeout=90
    )
    assert run.status == "succeeded", run.error
    assert run.outputs["each"]["value"] == [10, 20, 30, 40]
    pids = run.outputs["each"]["pid"]
    assert pids[0] == pids[2] == pids[3], "the items after the failed one ran in its chunk"
    items = _items(run, "each")
    assert items["each.1"] == [
        ("step_started", 1),
        ("step_retried", 1),
        ("step_started", 2),
        ("step_succeeded", 2),
    ], "the flaky item is retried on its own, its attempts counting on from the chunk's"
    assert items["each.0"] == items["each.2"] == items["each.3"] == OK


@pytest.mark.timeout(120)
def test_an_item_failing_for_good_fails_the_run_and_nothing_new_starts(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach numbers --chunk 2 --concurrency 1 --retries 0 --local\n"
            "if item == 3:\n    raise ValueError('three is bad')\nvalue = item",
            parameters="numbers = [1]",
        ),
    )
    run = flowat.run(workflow_name, parameters={"numbers": [1, 2, 3, 4, 5, 6]}, timeout=90)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["type"] == "ValueError" and "three is bad" in run.error["message"]
    assert "each.2" in f"{run.error['message']}\n{run.error.get('traceback')}"
    items = _items(run, "each")
    assert items == {
        "each.0": OK,
        "each.1": OK,
        "each.2": [("step_started", 1), ("step_failed", 1)],
    }, "the chunk stops at the failed item and no new chunk starts"


@pytest.mark.timeout(120)
def test_a_timed_out_item_is_stopped_and_the_next_item_gets_a_new_process(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach numbers --chunk 3 --timeout 2s --retries 1 --local\n"
            "import os, pathlib, time\n"
            "marker = pathlib.Path(folder) / f'slow-{item}'\n"
            "if item == 1 and not marker.exists():\n"
            "    marker.write_text('once')\n"
            "    time.sleep(60)\n"
            "pid = os.getpid()",
            parameters="numbers = [1]\nfolder = ''",
        ),
    )
    run = flowat.run(
        workflow_name, parameters={"numbers": [0, 1, 2], "folder": str(tmp_path)}, timeout=90
    )
    assert run.status == "succeeded", run.error
    pids = run.outputs["each"]["pid"]
    assert pids[2] != pids[0], f"the stopped process was replaced for the next item: {pids}"
    items = _items(run, "each")
    assert items["each.1"][-1] == ("step_succeeded", 2)
    assert items["each.2"] == OK


@pytest.mark.timeout(120)
def test_an_item_ending_the_run_stops_its_chunk(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach numbers --chunk 5 --local\n"
            "import sys\nvalue = item\nif item == 2:\n    sys.exit()",
            "%%flowat step later\nseen = value",
            parameters="numbers = [1]",
        ),
    )
    run = flowat.run(workflow_name, parameters={"numbers": [1, 2, 3, 4]}, timeout=90)
    assert run.status == "succeeded", run.error
    assert set(_items(run, "each")) == {"each.0", "each.1"}, "no item after the exit ran"
    assert {s.name: s.status for s in run.record.steps}["later"] == "pending"


@pytest.mark.timeout(180)
def test_a_chunk_of_code_that_was_never_published_is_refused(
    temporal: str, workflow_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The worker-trust attack of tests/engine/test_worker_trust.py, on the chunk path:
    # a start that passes the codec carries a spec whose chunked step plants a canary.
    header = "%%flowat step plant --foreach xs --chunk 2 --local\n"
    published = flowat.publish(
        workflow_name, cells=cells(f"{header}done = item", parameters="xs = [1, 2, 3]")
    )
    canary = tmp_path / "canary-chunk"
    evil = flowat.compile_workflow(
        workflow_name,
        cells=cells(
            f"{header}from pathlib import Path\nPath({str(canary)!r}).write_text('ran')\n"
            "done = item",
            parameters="xs = [1, 2, 3]",
        ),
    )
    with caplog.at_level(logging.ERROR):
        run_id = start_with_other_code(temporal, published.version, {"xs": [1, 2, 3]}, evil)
    assert not canary.exists(), "a chunk of code that was never published ran"
    run = flowat.wait(run_id, timeout=60)
    assert run.status == "failed"
    assert run.error is not None and "ForgedTask" in str(run.error)
    assert "not the step published" in caplog.text
