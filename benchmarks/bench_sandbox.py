"""Start-up cost of a sandboxed code step versus the same step run in-process.

The same trivial step (``y = x + 1``, one JSON input, one export) runs through
``execute_step`` (what a worker does for a trusted code step) and through
``run_sandboxed`` (a new process under ``unshare`` namespaces, uid 65534, rlimits),
interleaved so drifting load hits both alike. A second sandboxed case passes a
1,000-row DataFrame in and gets one back (pickle in, Parquet out). No Temporal: this
is the cost the sandbox adds to one step attempt.
Run: ``python benchmarks/bench_sandbox.py [--reps N]`` (results in
benchmarks/results/sandbox.json).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"


def summary_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "median_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * p95,
        "min_ms": 1000 * ordered[0],
        "samples": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=100)
    args = parser.parse_args()

    import pandas as pd

    from flowat_kernel.engine.executor import execute_step
    from flowat_kernel.sandbox import detect_isolation, run_sandboxed
    from flowat_kernel.spec import StepSpec

    isolation = detect_isolation()
    trivial = StepSpec(name="bench", source="y = x + 1", exports=("y",))
    framed = StepSpec(name="frame", source="out = frame.assign(b=frame.a * 2)", exports=("out",))
    frame = pd.DataFrame({"a": range(1000)})
    cases: dict[str, Callable[[], Any]] = {
        "in_process": lambda: execute_step(trivial, {"x": 1}),
        "sandboxed": lambda: run_sandboxed(trivial, {"x": 1}, timeout=30),
        "sandboxed_dataframe": lambda: run_sandboxed(framed, {"frame": frame}, timeout=30),
    }
    for action in cases.values():  # warm-up: imports, isolation probe, page cache
        for _ in range(3):
            action()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.reps):
        for name, action in cases.items():
            start = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - start)
    results = {name: summary_ms(values) for name, values in samples.items()}
    ratio = results["sandboxed"]["median_ms"] / results["in_process"]["median_ms"]
    report = {
        "isolation": isolation.describe(
            isolation.namespaces, False, 65534 if isolation.root else None
        ),
        "reps": args.reps,
        "results": results,
        "ratio_median_sandboxed_over_in_process": ratio,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for name, row in results.items():
        print(f"{name:22s} median {row['median_ms']:8.2f} ms   p95 {row['p95_ms']:8.2f} ms")
    print(f"sandboxed / in-process (median): {ratio:.0f}x   -> {RESULTS}")


if __name__ == "__main__":
    main()
