"""Batching webhooks on the real Temporal dev server over real HTTP: signed events sent
concurrently share runs, each keeps its own delivery record, result and retries, a
failing event fails alone, duplicates are still refused, and a webhook never has more
than RUNS_IN_FLIGHT batch runs at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import local_principal
from flowat_kernel.runtime import get_runtime
from flowat_kernel.server.limits import Limits
from flowat_kernel.server.serve import ApiServer
from flowat_kernel.testing import cells
from flowat_kernel.triggers.signatures import decode_secret, sign
from tests.server.helpers import Api, local_key


@pytest.fixture(scope="module")
def batch_api(flowat_home: Path) -> Iterator[str]:
    """An API server that lets 64 deliveries per webhook in at once (the default is 4)."""
    server = ApiServer("127.0.0.1", 0, limits=Limits(per_webhook=64, waits=128)).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def api(batch_api: str) -> Api:
    """A client of that server with the local user's key."""
    return Api(batch_api, local_key())


# An event with "fail": true fails every attempt of its item; the others are doubled.
STEP = (
    "%%flowat step work --local --foreach events --concurrency 8 --retries 2\n"
    "import flowat_kernel as _flowat\n"
    "if item.get('fail'):\n"
    "    raise ValueError(f'event {item[\"n\"]} is bad')\n"
    "doubled = item['n'] * 2\n"
)


def _publish(name: str, chunk: int | None = None) -> None:
    step = STEP.replace("--retries 2", f"--retries 2 --chunk {chunk}") if chunk else STEP
    spec = flowat.compile_workflow(name, cells=cells(step, parameters="events = []"))
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")


def _signed(secret: str, body: bytes, message_id: str | None = None) -> dict[str, str]:
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(decode_secret(secret), message_id, stamp, body),
        "content-type": "application/json",
    }


def _hook(api: Api, workflow: str, **extra: Any) -> dict[str, Any]:
    reply = api.post("/webhooks", json={"workflow": workflow, **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("chunk", [None, 8], ids=["item_per_activity", "chunk"])
def test_concurrent_events_share_runs_and_keep_their_own_outcomes(
    api: Api, temporal: str, workflow_name: str, monkeypatch: Any, chunk: int | None
) -> None:
    _publish(workflow_name, chunk)
    hook = _hook(api, workflow_name, batch=100, batch_window="300ms")
    assert hook["batch"] == 100 and hook["batch_window_ms"] == 300
    bad = 17
    bodies = [
        (f'{{"n": {n}, "fail": true}}' if n == bad else f'{{"n": {n}}}').encode() for n in range(50)
    ]
    headers = [_signed(hook["secret"], body) for body in bodies]

    def send(n: int) -> httpx.Response:
        return httpx.post(
            hook["url"], content=bodies[n], headers=headers[n], params={"wait": "90s"}, timeout=120
        )

    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda n: _retrying(send, n), range(50)))
    for n, reply in enumerate(replies):
        assert reply.status_code == 200, reply.text
        result = reply.json()
        assert result["batched"] is True and result["message_id"] == headers[n]["webhook-id"]
        if n == bad:
            assert result["status"] == "failed", result
            assert "event 17 is bad" in result["error"]["message"]
        else:
            assert result["status"] == "succeeded", str(replies[bad].json()["error"])
            assert result["outputs"]["work"]["doubled"] == n * 2
    runs = {r.json()["run_id"] for r in replies}
    assert 1 <= len(runs) < 50  # batched: fewer runs than events

    # Each event has its own delivery record with its own outcome.
    deliveries = api.get(f"/webhooks/{hook['id']}/deliveries").json()["items"]
    by_id = {d["message_id"]: d for d in deliveries}
    assert len(by_id) == 50
    for n, reply in enumerate(replies):
        found = by_id[headers[n]["webhook-id"]]
        assert found["run_id"] == reply.json()["run_id"]
        assert found["event"] == reply.json()["event"]
        assert found["status"] == ("failed" if n == bad else "succeeded")

    # The failing event failed alone: the others of its batch ran again without it.
    failed = replies[bad].json()
    record = get_runtime().store.get_run(failed["run_id"])
    assert record.status == "failed"
    assert all(r.json()["run_id"] != failed["run_id"] for n, r in enumerate(replies) if n != bad)
    for n, reply in enumerate(replies):
        if n != bad:
            ok = get_runtime().store.get_run(reply.json()["run_id"])
            assert ok.status == "succeeded"
            assert ok.parameters["events"][reply.json()["event"]] == {"n": n}

    # Each event's item is visible in analytics on its own, with its own retries.
    from flowat_kernel.analytics import sql

    def item(run_id: str, index: int) -> tuple[Any, ...]:
        found = sql(
            "SELECT status, attempts, retries FROM steps "
            f"WHERE run_id = '{run_id}' AND step = 'work.{index}'"
        ).fetchall()
        assert len(found) == 1, (run_id, index, found)
        return tuple(found[0])

    assert item(failed["run_id"], failed["event"]) == ("failed", 3, 2)
    ok = replies[3].json()
    assert item(ok["run_id"], ok["event"]) == ("succeeded", 1, 0)

    # A duplicate delivery (same id, still within the replay window) is refused.
    again = httpx.post(hook["url"], content=bodies[3], headers=headers[3], timeout=60)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    # Two copies of one id in the same batch: one is taken, the other refused.
    twin = _signed(hook["secret"], b'{"n": 99}')
    with ThreadPoolExecutor(2) as pool:
        pair = list(
            pool.map(
                lambda _: httpx.post(hook["url"], content=b'{"n": 99}', headers=twin, timeout=60),
                range(2),
            )
        )
    assert sorted(r.status_code for r in pair) == [202, 409], [r.text for r in pair]


def _retrying(send: Any, n: int) -> httpx.Response:
    """What a webhook sender does on 429: try again shortly."""
    for _ in range(200):
        reply = send(n)
        if reply.status_code != 429:
            return reply  # type: ignore[no-any-return]
        time.sleep(0.02)
    return reply  # type: ignore[no-any-return]


def test_batching_needs_an_events_input_and_sane_numbers(
    api: Api, temporal: str, workflow_name: str
) -> None:
    spec = flowat.compile_workflow(
        workflow_name, cells=cells("%%flowat step work --local\nout = n", parameters="n = 1")
    )
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")
    reply = api.post("/webhooks", json={"workflow": workflow_name, "batch": 10})
    assert reply.status_code in (400, 422) and "events" in reply.json()["error"]["message"]
    other = f"{workflow_name}_b"
    _publish(other)
    for bad in (
        {"batch": 0},
        {"batch": 10, "batch_window": "0ms"},
        {"batch": 10, "batch_window": "x"},
    ):
        reply = api.post("/webhooks", json={"workflow": other, **bad})
        assert reply.status_code in (400, 422), (bad, reply.text)
    hook = _hook(api, other, batch=5, batch_window="20ms", signed=False)
    assert hook["batch_window_ms"] == 20
    # Unsigned deliveries without an id still get a delivery record of their own.
    reply = httpx.post(hook["url"], json={"n": 4}, params={"wait": "60s"}, timeout=90)
    assert reply.status_code == 200 and reply.json()["outputs"]["work"]["doubled"] == 8
    deliveries = api.get(f"/webhooks/{hook['id']}/deliveries").json()["items"]
    assert [d["status"] for d in deliveries] == ["succeeded"]
    assert deliveries[0]["message_id"].startswith("auto_")
    bad_json = httpx.post(
        hook["url"], content=b"{nope", headers={"content-type": "application/json"}, timeout=30
    )
    assert bad_json.status_code == 422


def test_a_webhook_runs_at_most_its_batch_runs_in_flight(
    api: Api, temporal: str, workflow_name: str
) -> None:
    from flowat_kernel.triggers.batching import RUNS_IN_FLIGHT

    slow = (
        "%%flowat step work --local --foreach events --concurrency 10\n"
        "import time\n"
        "time.sleep(0.4)\n"
        "doubled = item['n'] * 2\n"
    )
    spec = flowat.compile_workflow(workflow_name, cells=cells(slow, parameters="events = []"))
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")
    hook = _hook(api, workflow_name, batch=10, batch_window="10ms", signed=False)

    def send(n: int) -> httpx.Response:
        return httpx.post(hook["url"], json={"n": n}, params={"wait": "90s"}, timeout=120)

    with ThreadPoolExecutor(40) as pool:
        replies = list(pool.map(lambda n: _retrying(send, n), range(40)))
    assert [r.status_code for r in replies] == [200] * 40, [r.text for r in replies]
    for n, reply in enumerate(replies):
        assert reply.json()["status"] == "succeeded" and reply.json()["outputs"]["work"] == {
            "doubled": n * 2
        }
    store = get_runtime().store
    records = [store.get_run(i) for i in {r.json()["run_id"] for r in replies}]
    assert sum(len(r.parameters["events"]) for r in records) == 40  # each event in one run
    # A run lasts from its record's creation to its end; never more than the cap at once.
    edges = sorted(
        [(r.created_at, 1) for r in records] + [(r.ended_at, -1) for r in records if r.ended_at],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    assert 1 <= peak <= RUNS_IN_FLIGHT, (peak, len(records))
