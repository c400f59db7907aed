"""Logic steps on the real Temporal dev server: branching and skipping, switch, Set
Variable, filter, input and output mappings, fan-out with bounded concurrency, waits."""

from __future__ import annotations

import time

import pytest

import flowat_kernel as flowat
from flowat_kernel.errors import FlowAtError
from flowat_kernel.testing import cells

BRANCHES = cells(
    "%%flowat step big --if\namount > 100",
    "%%flowat step notify --when big\nnote = f'big order of {amount}'",
    "%%flowat step after_notify\nsent = note.upper()",
    '%%flowat step store --when "not big"\nstored = amount',
    "%%flowat step report --merge\nsummary = {'sent': sent, 'stored': stored}",
    parameters="amount = 50",
)


def _states(run: flowat.Run) -> dict[str, str]:
    return {s.name: s.status for s in run.record.steps}


def test_if_else_skips_the_branch_not_taken_and_its_dependents(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(workflow_name, cells=BRANCHES)

    small = flowat.run(workflow_name, parameters={"amount": 50})
    assert small.status == "succeeded", small.error
    assert _states(small) == {
        "big": "succeeded",
        "notify": "skipped",
        "after_notify": "skipped",
        "store": "succeeded",
        "report": "succeeded",
    }
    assert small.outputs["big"] == {"big": False}
    assert small.outputs["report"]["summary"] == {"sent": None, "stored": 50}

    large = flowat.run(workflow_name, parameters={"amount": 500})
    assert large.status == "succeeded", large.error
    assert _states(large)["store"] == "skipped"
    assert _states(large)["after_notify"] == "succeeded"
    assert large.outputs["report"]["summary"] == {"sent": "BIG ORDER OF 500", "stored": None}


def test_switch_set_filter_and_mappings(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step route --switch\n# the shipping lane\n"
            "'fast' if region == 'eu' else 'slow'",
            "%%flowat step totals --set\ncount = len(orders)\n"
            "revenue = sum([o['total'] for o in orders])\n"
            "label = upper(region) + ':' + str(count)",
            "%%flowat step big_orders --filter orders\nitem['total'] > 100",
            "%%flowat step ship --when \"route == 'fast'\" "
            "--in 'ids=[o[\"id\"] for o in big_orders]' --out 'shipped=len(ids)' "
            "--out 'first=default(ids[0], None)'\n"
            "ids = sorted(ids)",
            "%%flowat step slow --when \"route == 'slow'\"\nwaited = True",
            parameters="region = 'eu'\norders = [{'id': 1, 'total': 50}]",
        ),
    )
    orders = [{"id": 3, "total": 500}, {"id": 1, "total": 20}, {"id": 2, "total": 150}]
    run = flowat.run(workflow_name, parameters={"region": "eu", "orders": orders})
    assert run.status == "succeeded", run.error
    assert run.outputs["route"] == {"route": "fast"}
    assert run.outputs["totals"] == {"count": 3, "revenue": 670, "label": "EU:3"}
    assert run.outputs["big_orders"]["big_orders"] == [orders[0], orders[2]]
    assert run.outputs["ship"] == {"shipped": 2, "first": 2}
    assert _states(run)["slow"] == "skipped"

    slow = flowat.run(workflow_name, parameters={"region": "us", "orders": orders})
    assert _states(slow)["ship"] == "skipped" and slow.outputs["slow"] == {"waited": True}


def test_an_expression_error_fails_the_run_naming_step_and_expression(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step ratio --set\nshare = hits / total",
            parameters="hits = 1\ntotal = 2",
        ),
    )
    run = flowat.run(workflow_name, parameters={"hits": 1, "total": 0})
    assert run.status == "failed"
    assert run.error is not None
    message = run.error["message"]
    assert "ratio" in message and "ExpressionError" in message
    assert "hits / total" in message


def test_foreach_fans_out_with_bounded_concurrency_and_merges_in_order(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step enrich --foreach numbers --concurrency 2\n"
            "import time\nstarted = time.time()\ntime.sleep(0.4)\nended = time.time()\n"
            "doubled = item * 2\nposition = index",
            "%%flowat step merged\ntotal = sum(doubled)",
            parameters="numbers = [1, 2]",
        ),
    )
    run = flowat.run(workflow_name, parameters={"numbers": [5, 1, 4, 2, 3]})
    assert run.status == "succeeded", run.error
    enrich = run.outputs["enrich"]
    assert enrich["doubled"] == [10, 2, 8, 4, 6]
    assert enrich["position"] == [0, 1, 2, 3, 4]
    assert run.outputs["merged"]["total"] == 30
    spans = list(zip(enrich["started"], enrich["ended"], strict=True))
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap == 2, f"at most 2 items at a time, and 2 did run together: {spans}"


def test_foreach_runs_a_sub_workflow_per_item(temporal: str, workflow_name: str) -> None:
    child = f"{workflow_name}_child"
    flowat.publish(child, cells=cells("%%flowat step square\nsquared = n * n", parameters="n = 1"))
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step each --foreach numbers --workflow {child}\nn = item + index",
            "%%flowat step total\ntotal = sum(r['square']['squared'] for r in each)",
            parameters="numbers = [1]",
        ),
    )
    run = flowat.run(workflow_name, parameters={"numbers": [1, 2, 3]})
    assert run.status == "succeeded", run.error
    assert [r["square"]["squared"] for r in run.outputs["each"]["each"]] == [1, 9, 25]
    assert run.outputs["total"]["total"] == 35


def test_foreach_item_failure_fails_the_step(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step each --foreach numbers --retries 0\n"
            "if item == 3:\n    raise ValueError('three')\nvalue = item",
            parameters="numbers = [1, 2, 3]",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    assert run.error is not None and "three" in run.error["message"]


def test_a_wait_step_takes_the_signal_payload(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step prepare\ndraft = f'invoice for {customer}'",
            "%%flowat step approval --wait-for approved --timeout 60s\n{'ok': True}",
            "%%flowat step send --when \"approval['ok']\"\nsent = draft",
            parameters="customer = 'ada'",
        ),
    )
    run = flowat.run(workflow_name, wait=False, worker="always")
    deadline = time.monotonic() + 30
    while _states(flowat.get_run(run.run_id)).get("approval") != "running":
        assert time.monotonic() < deadline, "the wait step never started"
        time.sleep(0.2)
    assert flowat.get_run(run.run_id).status == "running"
    flowat.signal(run.run_id, "approved", {"ok": True, "by": "grace"})
    done = flowat.wait(run.run_id, timeout=60)
    assert done.status == "succeeded", done.error
    assert done.outputs["approval"]["approval"] == {"ok": True, "by": "grace"}
    assert done.outputs["send"]["sent"] == "invoice for ada"


def test_a_wait_times_out_and_a_timer_waits(temporal: str, workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step pause --wait 1s",
            "%%flowat step approval --wait-for approved --timeout 1s --after pause",
        ),
    )
    started = time.monotonic()
    run = flowat.run(workflow_name)
    assert time.monotonic() - started >= 2.0
    assert run.status == "failed"
    assert run.error is not None and run.error["type"] == "WaitTimedOut"
    assert "flowat signal" in run.error["message"]
    assert _states(run)["pause"] == "succeeded"
    with pytest.raises(FlowAtError, match="already finished"):
        flowat.signal(run.run_id, "approved", True)


def test_signal_payload_must_be_json(temporal: str, workflow_name: str) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step a\nx = 1"))
    run = flowat.run(workflow_name)
    with pytest.raises(FlowAtError, match="JSON"):
        flowat.signal(run.run_id, "approved", {1, 2})
