"""Rate limits per connector host, shared through the store: real HTTP calls through the
http connector from threads that each hold their own store connections (SQLite file and
PostgreSQL), against a loopback server that counts what reaches it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.sdk.rate_limits import HostRateLimits, host_candidates, normalise_host
from flowat_kernel.step_context import StepScope, StepServices, step_scope
from flowat_kernel.store import Store
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply

ORG = "acme"


@dataclass
class Counting:
    """What the loopback server saw: arrivals (its own clock) and calls in flight."""

    hold: float
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Recorded) -> Reply:
        with self.lock:
            self.arrivals.append(time.time())
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.hold)
        with self.lock:
            self.in_flight -= 1
        return Reply(200, {"ok": True})

    def most_within_a_second(self) -> int:
        """The most arrivals in any window shorter than one second."""
        times = sorted(self.arrivals)
        best = 0
        for i, start in enumerate(times):
            best = max(best, sum(1 for t in times[i:] if t - start < 1.0))
        return best


class _Secrets:
    def reveal(self, name: str) -> str:
        raise AssertionError("no secret is used here")

    def record_usage(self, names: object) -> None:
        return None


class _NoBreakers:
    def before_call(self, connector: str, host: str) -> None:
        return None

    def success(self, connector: str, host: str) -> None:
        return None

    def failure(self, connector: str, host: str) -> None:
        return None


def _caller(
    store_url: str, url: str, calls: int, errors: list[BaseException]
) -> Callable[[], None]:
    """A worker thread: its own Store (own connections), calling the host ``calls`` times."""

    def work() -> None:
        store = Store(store_url)
        services = StepServices(
            owner=ORG,
            secrets=_Secrets(),
            breakers=_NoBreakers(),
            files_dir=Path("/nonexistent"),
            rate_limits=HostRateLimits(store, ORG),
        )
        scope = StepScope(
            owner=ORG, run_id="r", step="s", organization_egress="open", services=services
        )
        try:
            with step_scope(scope):
                for _ in range(calls):
                    out = flowat.action("http.request", url=url, egress_policy="open")
                    assert out.status == 200  # type: ignore[attr-defined]
        except BaseException as exc:  # collected: the test reports every failure
            errors.append(exc)
        finally:
            store.close()

    return work


def _hammer(store_url: str, url: str, threads: int, calls: int) -> None:
    errors: list[BaseException] = []
    workers = [
        threading.Thread(target=_caller(store_url, url, calls, errors)) for _ in range(threads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, new_postgres_database: Callable[[str], str]
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield new_postgres_database("flowat_rate")


def test_concurrent_calls_never_exceed_the_limit_and_none_fail(store_url: str) -> None:
    admin = Store(store_url)
    server_counts = Counting(hold=0.05)
    with LoopbackHTTPServer(server_counts) as server:
        host = server.url.removeprefix("http://")
        # Without a limit the same load overlaps (so the counter can see a breach).
        _hammer(store_url, server.url, threads=6, calls=3)
        assert server_counts.most_in_flight > 2
        limited = Counting(hold=0.05)
        server.handler = limited
        admin.set_rate_limit(ORG, "http", host, None, 2, "admin")
        _hammer(store_url, server.url, threads=6, calls=4)
    assert len(limited.arrivals) == 24  # every call went through: waiting, not failing
    assert limited.most_in_flight == 2
    admin.close()


def test_calls_per_second_never_exceed_the_limit_in_any_window(store_url: str) -> None:
    admin = Store(store_url)
    counts = Counting(hold=0.01)
    with LoopbackHTTPServer(counts) as server:
        # A limit on the bare host name, for every connector, covers the port too.
        admin.set_rate_limit(ORG, "*", "127.0.0.1", 4, None, "admin")
        _hammer(store_url, server.url, threads=4, calls=3)
    assert len(counts.arrivals) == 12
    assert counts.most_within_a_second() <= 4
    admin.close()


def test_another_organizations_limit_does_not_apply(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    admin = Store(url)
    counts = Counting(hold=0.1)
    with LoopbackHTTPServer(counts) as server:
        admin.set_rate_limit("other-org", "*", "127.0.0.1", None, 1, "admin")
        _hammer(url, server.url, threads=4, calls=1)
    assert counts.most_in_flight > 1
    admin.close()


def test_a_crashed_callers_slot_frees_when_its_lease_expires(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.set_rate_limit(ORG, "http", "api.example.com", None, 1, "admin")
    limit = store.rate_limit_for(ORG, "http", host_candidates("api.example.com:443"))
    assert limit is not None and limit.host == "api.example.com"
    held = store.try_rate_slot(ORG, limit, lease_seconds=0.2)
    assert held.lease  # admitted, then the caller "dies" without releasing
    refused = store.try_rate_slot(ORG, limit, lease_seconds=0.2)
    assert refused.lease is None and refused.retry_after > 0
    time.sleep(0.3)
    again = store.try_rate_slot(ORG, limit, lease_seconds=0.2)
    assert again.lease
    # A removed limit admits at once, without a lease to release.
    store.remove_rate_limit(ORG, "http", "api.example.com")
    assert store.try_rate_slot(ORG, limit, lease_seconds=1).lease == ""
    store.close()


def test_the_connectors_own_limit_wins_over_every_connectors(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.set_rate_limit(ORG, "*", "127.0.0.1", 5, None, "admin")
    store.set_rate_limit(ORG, "http", "127.0.0.1:8080", None, 1, "admin")
    exact = store.rate_limit_for(ORG, "http", host_candidates("127.0.0.1:8080"))
    assert exact is not None and (exact.connector, exact.concurrent) == ("http", 1)
    other_port = store.rate_limit_for(ORG, "http", host_candidates("127.0.0.1:9090"))
    assert other_port is not None and other_port.connector == "*"
    assert store.rate_limit_for(ORG, "sql", host_candidates("10.0.0.1:5432")) is None
    store.close()


@pytest.mark.parametrize(
    "bad", ["http://api.example.com", "api.example.com/x", "a b", "", "host:99999", "h:0"]
)
def test_a_host_that_is_not_a_host_is_refused(bad: str) -> None:
    with pytest.raises(flowat.FlowAtError, match="is not a host"):
        normalise_host(bad)


def test_host_keys() -> None:
    assert normalise_host(" API.Example.com:8443 ") == "api.example.com:8443"
    assert host_candidates("api.example.com:8443") == ("api.example.com:8443", "api.example.com")
    assert host_candidates("[::1]:80") == ("[::1]:80", "[::1]")
    assert host_candidates("files") == ("files",)
