"""Alert tests: a loopback receiver that records alerts and can be down or up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply


class Receiver:
    """A loopback HTTP receiver: answers ``status`` (503 while ``down``), keeps requests."""

    def __init__(self) -> None:
        self.down = False
        self.server = LoopbackHTTPServer(self._answer)

    def _answer(self, request: Recorded) -> Reply:
        return Reply(503, {"error": "down"}) if self.down else Reply(200, {"ok": True})

    @property
    def url(self) -> str:
        return self.server.url + "/alerts"

    def received(self, answered_ok: bool = True) -> list[Recorded]:
        """Requests received (while up, when ``answered_ok``)."""
        return list(self.server.requests)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Recorded]:
        """Wait until ``count`` requests arrived; returns them (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.server.requests) >= count:
                return list(self.server.requests)
            time.sleep(0.1)
        raise AssertionError(f"{len(self.server.requests)} alert(s) arrived, expected {count}")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A running receiver; loopback is allowed as a destination (FLOWAT_EGRESS=open)."""
    monkeypatch.setenv("FLOWAT_EGRESS", "open")
    hook = Receiver()
    with hook.server:
        yield hook


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


@pytest.fixture
def canary() -> str:
    """A secret value that must never appear in an alert."""
    return f"canary-{uuid.uuid4().hex}"
