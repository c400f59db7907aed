"""Store calls per run of a 10-step ``--local`` chain, with and without the record linger.

    python benchmarks/bench_store_calls.py            # ~2 min; --runs 30 --rounds 3

Runs the chain through ``flowat.run`` (in-process worker, SQLite, FlowAt's dev server) in
rounds that alternate the step-record writer's linger (``record_writer.LINGER``): 0 (the
baseline: each change written as soon as the writer wakes) and the default. For each
side: store transactions and single reads per run (counted around ``Store.transaction``
and ``Store.read``), by caller, and wall and CPU time (``time.process_time``, this
process's threads) per run. Writes ``benchmarks/results/store_calls.json``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, write_results

RESULTS = Path(__file__).resolve().parent / "results" / "store_calls.json"
STEPS = 10


def count_calls(store_class: Any, counts: collections.Counter[str]) -> None:
    """Count every ``transaction`` and ``read`` of ``store_class``, by calling function."""
    for name in ("transaction", "read"):
        original = getattr(store_class, name)

        def counted(
            self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any
        ) -> Any:
            caller = sys._getframe(1).f_code.co_name
            counts[f"{_name}:{caller}"] += 1
            return _original(self, *args, **kwargs)

        setattr(store_class, name, counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["FLOWAT_HOME"] = tempfile.mkdtemp(prefix="flowat-bench-store-calls-")

    import flowat_kernel as flowat
    from flowat_kernel.engine import record_writer
    from flowat_kernel.store.repository import Store
    from flowat_kernel.testing import cells

    default = record_writer.LINGER
    counts: collections.Counter[str] = collections.Counter()
    count_calls(Store, counts)
    body = ["%%flowat step s0 --local\npass"] + [
        f"%%flowat step s{i} --local --after s{i - 1}\npass" for i in range(1, STEPS)
    ]
    flowat.publish("store_calls_chain", cells=cells(*body))
    for _ in range(5):
        flowat.run("store_calls_chain", worker="always")
    sides: dict[str, dict[str, Any]] = {
        name: {"linger": linger, "runs": 0, "wall": 0.0, "cpu": 0.0, "calls": collections.Counter()}
        for name, linger in (("baseline", 0.0), ("default", default))
    }
    for _ in range(args.rounds):
        for side in sides.values():
            record_writer.LINGER = side["linger"]
            counts.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.runs):
                run = flowat.run("store_calls_chain", worker="always")
                assert run.status == "succeeded", run.error
            side["wall"] += time.perf_counter() - wall
            side["cpu"] += time.process_time() - cpu
            side["runs"] += args.runs
            side["calls"].update(counts)
    results: dict[str, Any] = {"machine": machine(), "steps": STEPS, "sides": {}}
    print(f"{STEPS}-step --local chain through flowat.run, per run:")
    for name, side in sides.items():
        runs = side["runs"]
        calls = {k: round(v / runs, 2) for k, v in sorted(side["calls"].items())}
        total = sum(v for k, v in calls.items() if k.startswith("transaction:"))
        results["sides"][name] = {
            "linger_seconds": side["linger"],
            "runs": runs,
            "wall_ms": round(1000 * side["wall"] / runs, 1),
            "cpu_ms": round(1000 * side["cpu"] / runs, 1),
            "transactions": round(total, 2),
            "calls": calls,
        }
        print(
            f"  linger {side['linger'] * 1000:4.0f} ms: {total:5.1f} transactions, "
            f"wall {1000 * side['wall'] / runs:6.1f} ms, CPU {1000 * side['cpu'] / runs:6.1f} ms"
        )
        for key, value in calls.items():
            print(f"      {value:6.2f}  {key}")
    base, now = results["sides"]["baseline"], results["sides"]["default"]
    results["ratios"] = {
        "transactions": round(now["transactions"] / base["transactions"], 3),
        "cpu": round(now["cpu_ms"] / base["cpu_ms"], 3),
        "wall": round(now["wall_ms"] / base["wall_ms"], 3),
    }
    print("default / baseline:", results["ratios"])
    write_results(RESULTS, results)


if __name__ == "__main__":
    main()
