"""The API never stalls: waits hold no thread, and callers over their concurrency get 429.

The security review's attack: seven unauthenticated webhook calls with ``?wait=40s``
held every thread of the API's pool, and every other request waited 36 s. Here the
server runs with a pool of two threads, so any wait that held one would stall it.
The bounds below are deadlines that guard against hangs, not benchmarks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import local_principal
from flowat_kernel.runtime import get_runtime
from flowat_kernel.server.limits import Limits
from flowat_kernel.server.serve import ApiServer
from flowat_kernel.testing import cells
from tests.server.helpers import Api, local_key


def _publish_sleeper(name: str, seconds: int) -> None:
    """A workflow whose one step (a regular activity) sleeps ``seconds``."""
    spec = flowat.compile_workflow(
        name,
        cells=cells(
            f"%%flowat step work\nimport time\ntime.sleep({seconds})\nout = n",
            parameters="n = 1",
        ),
    )
    get_runtime().store.publish(spec, owner=local_principal().owner, created_by="test")


def _runs_recorded(workflow: str, count: int, deadline: float = 60.0) -> None:
    store = get_runtime().store
    owner = local_principal().owner
    ends = time.monotonic() + deadline
    found = 0
    while time.monotonic() < ends:
        found = len(store.list_runs(owner, workflow, 50))
        if found >= count:
            return
        time.sleep(0.1)
    pytest.fail(f"only {found} of {count} runs of {workflow} were started within {deadline}s")


class Calls:
    """Requests made from threads; their replies once they return."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.replies: list[httpx.Response | BaseException] = []
        self._lock = threading.Lock()

    def start(self, request: Callable[[], httpx.Response]) -> None:
        def run() -> None:
            try:
                reply: httpx.Response | BaseException = request()
            except BaseException as exc:  # kept for the assertion message
                reply = exc
            with self._lock:
                self.replies.append(reply)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def open(self) -> int:
        return sum(t.is_alive() for t in self.threads)

    def join(self, timeout: float) -> list[httpx.Response | BaseException]:
        ends = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(ends - time.monotonic(), 0.0))
        return self.replies


def _server(limits: Limits) -> Iterator[str]:
    server = ApiServer("127.0.0.1", 0, limits=limits).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def two_threads(flowat_home: Path) -> Iterator[str]:
    """An API with two handler threads and room for every wait."""
    yield from _server(Limits(threads=2, waits=32, per_credential=8, per_webhook=16))


@pytest.fixture
def tight(flowat_home: Path) -> Iterator[str]:
    """An API allowing two requests in flight per credential and per webhook."""
    yield from _server(Limits(threads=4, waits=32, per_credential=2, per_webhook=2))


@pytest.mark.timeout(240)
def test_seven_waiting_webhook_calls_leave_the_api_answering(
    two_threads: str, temporal: str, workflow_name: str
) -> None:
    api = Api(two_threads, local_key())
    _publish_sleeper(workflow_name, 20)
    hook = api.post("/webhooks", json={"workflow": workflow_name, "signed": False}).json()
    waits = Calls()
    for n in range(7):
        waits.start(
            lambda n=n: httpx.post(  # type: ignore[misc]
                hook["url"], json={"n": n}, params={"wait": "40s"}, timeout=120
            )
        )
    _runs_recorded(workflow_name, 7)
    assert waits.open() == 7, waits.replies

    # Ordinary authenticated requests answer while all seven waits are open.
    ordinary = Api(two_threads, api.key, timeout=10.0)
    me = ordinary.get("/me")
    runs = ordinary.get("/runs", params={"workflow": workflow_name})
    assert me.status_code == 200 and runs.status_code == 200
    assert len(runs.json()["items"]) == 7
    assert waits.open() == 7, "the waits ended before the ordinary requests were checked"

    replies = waits.join(120)
    assert len(replies) == 7
    for reply in replies:
        assert isinstance(reply, httpx.Response), reply
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "succeeded"


@pytest.mark.timeout(240)
def test_a_credential_or_webhook_over_its_concurrency_gets_429_with_retry_after(
    tight: str, temporal: str, workflow_name: str
) -> None:
    key = local_key()
    api = Api(tight, key)
    _publish_sleeper(workflow_name, 12)
    hook = api.post("/webhooks", json={"workflow": workflow_name, "signed": False}).json()
    waits = Calls()
    for _ in range(2):
        waits.start(
            lambda: httpx.post(
                f"{tight}/api/v1/workflows/{workflow_name}/runs",
                json={"wait_seconds": 60},
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            )
        )
        waits.start(lambda: httpx.post(hook["url"], params={"wait": "60s"}, timeout=120))
    _runs_recorded(workflow_name, 4)
    assert waits.open() == 4, waits.replies

    busy = api.get("/me")
    assert busy.status_code == 429, busy.text
    assert busy.headers["Retry-After"].isdigit()
    assert "in flight" in busy.json()["error"]["message"]
    busy_hook = httpx.post(hook["url"], params={"wait": "60s"}, timeout=10)
    assert busy_hook.status_code == 429 and busy_hook.headers["Retry-After"].isdigit()
    # Other credentials are not affected.
    assert Api(tight, local_key(), timeout=10.0).get("/me").status_code == 200

    replies = waits.join(120)
    assert all(isinstance(r, httpx.Response) and r.status_code == 200 for r in replies), replies
    assert api.get("/me").status_code == 200  # the slots were given back
