"""The cost of a connector host rate limit on each call, against the same calls unlimited.

``http.request`` to a loopback server, called one after another from one thread as a
step would (a step scope bound to an organization), in three arms interleaved in
rounds so drifting load hits all alike:

- **unlimited**: no limit for the host (one store read to find none);
- **limited, never full**: ``--per-second 100000 --concurrent 1000`` (every call takes
  an admission transaction and a release, and never waits);
- **no limit lookup**: a scope without rate limits at all (the baseline: the call
  itself).

On SQLite (a file store) and PostgreSQL (127.0.0.1:5432). Writes
benchmarks/results/rate_limits.json. Timings are recorded, never asserted.

    python benchmarks/bench_rate_limits.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, pg_create, pg_drop

ORG = "bench"


class _Secrets:
    def reveal(self, name: str) -> str:
        raise KeyError(name)

    def record_usage(self, names: object) -> None:
        return None


class _NoBreakers:
    def before_call(self, connector: str, host: str) -> None:
        return None

    def success(self, connector: str, host: str) -> None:
        return None

    def failure(self, connector: str, host: str) -> None:
        return None


def _arm(store: Any, url: str, calls: int, limited: bool | None) -> list[float]:
    """Per-call seconds for ``calls`` calls (``limited``: None = no rate limits service)."""
    import flowat_kernel as flowat
    from flowat_kernel.sdk.rate_limits import HostRateLimits
    from flowat_kernel.step_context import StepScope, StepServices, step_scope

    services = StepServices(
        owner=ORG,
        secrets=_Secrets(),
        breakers=_NoBreakers(),
        files_dir=Path("/nonexistent"),
        rate_limits=None if limited is None else HostRateLimits(store, ORG),
    )
    host = url.removeprefix("http://")
    if limited:
        store.set_rate_limit(ORG, "http", host, 100_000, 1000, "bench")
    elif limited is False:
        store.remove_rate_limit(ORG, "http", host)
    scope = StepScope(
        owner=ORG, run_id="r", step="s", organization_egress="open", services=services
    )
    times = []
    with step_scope(scope):
        for _ in range(calls):
            started = time.perf_counter()
            flowat.action("http.request", url=url)
            times.append(time.perf_counter() - started)
    return times


def _measure(store_url: str, url: str, calls: int, rounds: int) -> dict[str, Any]:
    from flowat_kernel.store import Store

    store = Store(store_url)
    arms: dict[str, list[float]] = {"baseline": [], "unlimited": [], "limited": []}
    _arm(store, url, 20, True)  # warm up every path
    _arm(store, url, 20, False)
    _arm(store, url, 20, None)
    for _ in range(rounds):
        arms["baseline"] += _arm(store, url, calls, None)
        arms["unlimited"] += _arm(store, url, calls, False)
        arms["limited"] += _arm(store, url, calls, True)
    store.close()
    median = {k: 1000 * statistics.median(v) for k, v in arms.items()}
    return {
        "median_ms": {k: round(v, 3) for k, v in median.items()},
        "p90_ms": {k: round(1000 * statistics.quantiles(v, n=10)[-1], 3) for k, v in arms.items()},
        "ratio_to_baseline": {
            k: round(v / median["baseline"], 2) for k, v in median.items() if k != "baseline"
        },
        "added_ms_per_call": {
            k: round(v - median["baseline"], 3) for k, v in median.items() if k != "baseline"
        },
        "calls_per_arm": calls * rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from flowat_kernel.testing import LoopbackHTTPServer, Reply

    home = tempfile.mkdtemp(prefix="flowat-bench-rl-")
    os.environ["FLOWAT_HOME"] = home
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv)}
    with LoopbackHTTPServer(lambda request: Reply(200, {"ok": True})) as server:
        results["sqlite"] = _measure(
            f"sqlite:///{home}/store.db", server.url, args.calls, args.rounds
        )
        pg, why = pg_create("flowat_bench_rl")
        if pg is None:
            results["postgresql"] = {"skipped": why}
        else:
            try:
                results["postgresql"] = _measure(pg, server.url, args.calls, args.rounds)
            finally:
                pg_drop(pg)
    results["loadavg_at_end"] = os.getloadavg()
    out = Path(__file__).resolve().parent / "results" / "rate_limits.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
