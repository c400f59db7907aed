"""A run's parallel steps calling one host through the http connector wait for the
organization's rate limit (real dev server, step processes asking the worker for slots)."""

from __future__ import annotations

import threading
import time

import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, cells


class Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.calls = 0

    def __call__(self, request: Recorded) -> Reply:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.4)
        with self.lock:
            self.in_flight -= 1
        return Reply(200, {"ok": True})


def _calling(name: str) -> str:
    return (
        f"%%flowat step {name}\n"
        "import flowat_kernel as flowat\n"
        "status = flowat.action('http.request', url=url).status\n"
    )


@pytest.mark.timeout(180)
def test_parallel_steps_wait_for_the_hosts_concurrency_limit_and_all_succeed(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "open")
    counts = Counting()
    with LoopbackHTTPServer(counts) as server:
        flowat.publish(
            workflow_name,
            cells=cells(
                _calling("a"), _calling("b"), _calling("c"), parameters=f"url = {server.url!r}"
            ),
        )
        free = flowat.run(workflow_name)
        assert free.status == "succeeded", free.error
        assert counts.most > 1  # the branches overlap when nothing limits them
        counts.most = 0
        host = server.url.removeprefix("http://")
        workspace = default_workspace()
        workspace.set_rate_limit(host, concurrent=1, connector="http")
        try:
            limited = flowat.run(workflow_name)
        finally:
            workspace.remove_rate_limit(host, connector="http")
    assert limited.status == "succeeded", limited.error
    assert {s.name: s.status for s in limited.record.steps} == dict.fromkeys("abc", "succeeded")
    assert counts.calls == 6
    assert counts.most == 1
