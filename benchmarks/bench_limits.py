"""What a concurrency limit costs a run's start, and a burst observed under a limit.

One process, a fresh ``FLOWAT_HOME`` with the embedded Temporal server and an
in-process worker (``worker="here"``, as ``flowat run`` does by default). Two workflows
with the same one-step ``--local`` spec: ``plain`` (no limit) and ``limited``
(``max_concurrent_runs`` high enough never to be full, so only the admission's own cost
shows). Runs of the two alternate, one at a time, ``--reps`` each after a warm-up:

- **start latency**: the run record's ``created_at`` (recorded before Temporal is asked)
  to its step's ``started_at`` (the step's code about to run): the same two points with
  and without a limit (the run's own ``started_at`` is not: a limited run's is set when
  it is admitted, an unlimited one's by the next activity);
- **run wall time**: ``flowat.run(...)`` called to returned (start, run and wait).

Result: medians per case and the ratio limited / plain (same run, same machine, the
baseline measured interleaved).

Then a burst: ``--burst`` runs started at once against ``max_concurrent_runs=3``
(queue); from the records, the most runs holding slots at one instant (each run's
``started_at``..``ended_at``) and the most steps running at once, and the burst's wall
time and throughput.

Run: ``python benchmarks/bench_limits.py [--reps 40] [--burst 200]`` (results in
benchmarks/results/limits.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from common import machine

RESULTS = Path(__file__).resolve().parent / "results" / "limits.json"
STEP = "%%flowat step work --local\nx = 1"


def _most_at_once(windows: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(a, 1) for a, _ in windows] + [(b, -1) for _, b in windows])
    most = now = 0
    for _, change in events:  # at one instant an end sorts before a start
        now += change
        most = max(most, now)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="flowat-bench-limits-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_DATABASE_URL", "FLOWAT_TASK_QUEUE"):
        os.environ.pop(name, None)
    info = machine()

    import flowat_kernel as flowat
    from flowat_kernel.api import default_workspace
    from flowat_kernel.testing import cells

    tag = uuid.uuid4().hex[:6]
    plain, limited, burst = f"plain_{tag}", f"limited_{tag}", f"burst_{tag}"
    for name in (plain, limited, burst):
        flowat.publish(name, cells=cells(STEP))
    door = default_workspace()
    door.set_limit(limited, 1000, "queue")
    door.set_limit(burst, 3, "queue")
    for name in (plain, limited):  # warm-up: server, worker, step processes
        for _ in range(3):
            flowat.run(name, worker="here")

    samples: dict[str, dict[str, list[float]]] = {
        case: {"start_ms": [], "wall_ms": []} for case in ("plain", "limited")
    }
    for _ in range(args.reps):
        for case, name in (("plain", plain), ("limited", limited)):
            began = time.perf_counter()
            run = flowat.run(name, worker="here")
            wall = (time.perf_counter() - began) * 1000
            record = run.record
            step = record.steps[0].started_at
            assert record.status == "succeeded" and step is not None
            samples[case]["wall_ms"].append(wall)
            start = (step - record.created_at).total_seconds() * 1000
            samples[case]["start_ms"].append(start)
    medians = {
        case: {k: round(statistics.median(v), 2) for k, v in values.items()}
        for case, values in samples.items()
    }
    ratios = {
        k: round(medians["limited"][k] / medians["plain"][k], 3) for k in ("start_ms", "wall_ms")
    }

    result: dict[str, Any] = {
        "machine": info,
        "reps": args.reps,
        "medians": medians,
        "ratio_limited_over_plain": ratios,
    }
    if args.burst:
        result["burst"] = _burst(flowat, burst, args.burst)
    result["loadavg_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import reset_runtime

    reset_runtime()
    devserver.stop(home / "temporal")  # the embedded server this run started


def _burst(flowat: Any, burst: str, count: int) -> dict[str, Any]:
    """``count`` runs started at once against a limit of 3: what the records show."""
    began = time.perf_counter()
    ids = [flowat.run(burst, wait=False, worker="here").run_id for _ in range(count)]
    records = [flowat.wait(run_id, timeout=1800).record for run_id in ids]
    burst_s = time.perf_counter() - began
    statuses = [r.status for r in records]
    windows = [(r.started_at, r.ended_at) for r in records if r.started_at and r.ended_at]
    steps = [
        (s.started_at, s.ended_at) for r in records for s in r.steps if s.started_at and s.ended_at
    ]
    return {
        "runs": count,
        "max_concurrent_runs": 3,
        "succeeded": statuses.count("succeeded"),
        "most_runs_holding_slots_at_once": _most_at_once(windows),
        "most_steps_running_at_once": _most_at_once(steps),
        "wall_s": round(burst_s, 1),
        "runs_per_s": round(count / burst_s, 2),
    }


if __name__ == "__main__":
    main()
