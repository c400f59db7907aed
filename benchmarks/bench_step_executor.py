"""Per-step cost of running code steps in child processes against in-thread execution.

Two levels, both in one process and interleaved so that drifting load hits both modes
alike (``FLOWAT_STEP_EXECUTOR`` is read on every step, so the mode switches per call):

- **executor**: ``flowat_kernel.engine.cells.run_code`` on one step, with no Temporal:
  a no-op step (``y = x + 1``), a step printing 100 lines, and a step taking and
  returning a 10,000-row DataFrame. ``process`` hands the step to a pre-forked child
  (IPython transforms and output capture included); ``thread`` is ``execute_step`` in
  the calling thread.
- **run**: ``flowat.run`` of a published 10-step chain (``%%flowat step sN`` reading
  ``sN-1``'s value) on FlowAt's embedded Temporal dev server in a temporary
  ``FLOWAT_HOME``; per-step time is the run's wall time over 10.

Run: ``python benchmarks/bench_step_executor.py [--reps N] [--runs N]`` (results in
benchmarks/results/step_executor.json). It measures; it never asserts.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import machine

RESULTS = Path(__file__).resolve().parent / "results" / "step_executor.json"
MODES = ("process", "thread")


def summary_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "median_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * p95,
        "min_ms": 1000 * ordered[0],
        "samples": len(ordered),
    }


def timed(mode: str, action: Callable[[], Any]) -> float:
    os.environ["FLOWAT_STEP_EXECUTOR"] = mode
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def executor_cases(reps: int) -> dict[str, dict[str, Any]]:
    import pandas as pd

    from flowat_kernel.engine.cells import run_code
    from flowat_kernel.engine.cells.pool import pool
    from flowat_kernel.spec import StepSpec
    from flowat_kernel.step_context import StepScope

    scope = StepScope(step="bench")
    frame = pd.DataFrame({"a": range(10_000), "b": [f"r{i}" for i in range(10_000)]})
    steps: dict[str, tuple[StepSpec, dict[str, Any]]] = {
        "noop": (StepSpec(name="bench", source="y = x + 1", exports=("y",)), {"x": 1}),
        "print_100_lines": (
            StepSpec(
                name="bench",
                source="for i in range(100):\n    print('line', i)\ny = 1",
                exports=("y",),
            ),
            {},
        ),
        "dataframe_10k_rows": (
            StepSpec(name="bench", source="out = frame.assign(c=frame.a * 2)", exports=("out",)),
            {"frame": frame},
        ),
    }
    pool().start()
    results: dict[str, dict[str, Any]] = {}
    for case, (step, inputs) in steps.items():
        samples: dict[str, list[float]] = {mode: [] for mode in MODES}
        action = functools.partial(run_code, step, inputs, scope)
        for mode in MODES:  # warm-up: the template's start, imports
            for _ in range(3):
                timed(mode, action)
        for _ in range(reps):
            for mode in MODES:
                samples[mode].append(timed(mode, action))
        row = {mode: summary_ms(values) for mode, values in samples.items()}
        row["ratio_median_process_over_thread"] = (
            row["process"]["median_ms"] / row["thread"]["median_ms"]
        )
        row["added_ms_median"] = row["process"]["median_ms"] - row["thread"]["median_ms"]
        results[case] = row
    return results


def run_cases(runs: int) -> dict[str, Any]:
    import flowat_kernel as flowat
    from flowat_kernel.testing import cells

    chain = ["%%flowat step s0\nv0 = 0"] + [
        f"%%flowat step s{i}\nv{i} = v{i - 1} + 1" for i in range(1, 10)
    ]
    flowat.publish("bench_chain", cells=cells(*chain))
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for mode in MODES:  # warm-up: the in-process worker, the template
        for _ in range(2):
            timed(mode, lambda: flowat.run("bench_chain"))
    for _ in range(runs):
        for mode in MODES:
            samples[mode].append(timed(mode, lambda: flowat.run("bench_chain")) / 10)
    row: dict[str, Any] = {mode: summary_ms(values) for mode, values in samples.items()}
    row["ratio_median_process_over_thread"] = (
        row["process"]["median_ms"] / row["thread"]["median_ms"]
    )
    row["added_ms_per_step_median"] = row["process"]["median_ms"] - row["thread"]["median_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=50, help="executor repetitions per case")
    parser.add_argument("--runs", type=int, default=10, help="10-step chain runs per mode")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-steps-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import reset_runtime

    try:
        devserver.ensure_running(home / "temporal")
        started = time.perf_counter()
        executor = executor_cases(args.reps)
        chain = run_cases(args.runs)
        report = {
            "reps": args.reps,
            "runs": args.runs,
            "executor": executor,
            "run_10_step_chain_per_step": chain,
            "seconds": time.perf_counter() - started,
            "machine": machine(),
        }
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for case, row in executor.items():
        print(
            f"executor {case:20s} process {row['process']['median_ms']:8.2f} ms   "
            f"thread {row['thread']['median_ms']:8.2f} ms   "
            f"ratio {row['ratio_median_process_over_thread']:6.1f}x"
        )
    print(
        f"run, per step          process {chain['process']['median_ms']:8.2f} ms   "
        f"thread {chain['thread']['median_ms']:8.2f} ms   "
        f"ratio {chain['ratio_median_process_over_thread']:6.2f}x   -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
