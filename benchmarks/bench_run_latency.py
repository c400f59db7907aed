"""``flowat run quickstart`` as a person types it, for one or more installs of FlowAt.

For each Python interpreter given (each with a FlowAt install: this checkout, and for a
before/after comparison an install of an earlier commit in its own virtual
environment), in a fresh ``FLOWAT_HOME``: publish notebooks/quickstart.ipynb, run it once
to start the embedded Temporal server (not timed), then time ``flowat run quickstart -p
rows=500 --json`` as a new process, back to back, and ``python -c "import
flowat_kernel"`` as the baseline of the same interpreter. Reports medians, the run's own
duration (from its record) and the ratio between the installs, all in one run.

Run: ``python benchmarks/bench_run_latency.py --python /path/to/old/bin/python``
(results in benchmarks/results/run_latency.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
RESULTS = Path(__file__).resolve().parent / "results" / "run_latency.json"


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def measure(python: str, reps: int) -> dict[str, Any]:
    """Median wall time of ``flowat run`` and of the import baseline for ``python``."""
    home = Path(tempfile.mkdtemp(prefix="flowat-latency-"))
    env = {**os.environ, "FLOWAT_HOME": str(home)}
    for name in ("FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_DATABASE_URL", "FLOWAT_TASK_QUEUE"):
        env.pop(name, None)
    cli = [python, "-m", "flowat_kernel.cli.main"]
    try:
        _timed([*cli, "publish", str(NOTEBOOK), "--name", "quickstart"], env)
        _timed([*cli, "run", "quickstart", "-p", "rows=500", "--json"], env)  # warm server
        runs, own, imports = [], [], []
        for _ in range(reps):
            elapsed, out = _timed([*cli, "run", "quickstart", "-p", "rows=500", "--json"], env)
            runs.append(elapsed)
            document = json.loads(out)
            own.append(sum(s.get("duration_seconds") or 0.0 for s in document["steps"]))
            imports.append(_timed([python, "-c", "import flowat_kernel"], env)[0])
        return {
            "python": python,
            "flowat_run_s": statistics.median(runs),
            "steps_s": statistics.median(own),
            "import_s": statistics.median(imports),
            "over_import_s": statistics.median(runs) - statistics.median(imports),
            "runs": runs,
        }
    finally:
        subprocess.run([*cli, "server", "stop"], env=env, capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        help="another interpreter with FlowAt installed (e.g. an earlier commit's venv)",
    )
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    results = [measure(sys.executable, args.reps)]
    results += [measure(python, args.reps) for python in args.python]
    base = results[0]["flowat_run_s"]
    for entry in results:
        entry["ratio_to_this_checkout"] = entry["flowat_run_s"] / base
        print(
            f"{entry['python']}: flowat run {entry['flowat_run_s']:.2f} s "
            f"(steps {entry['steps_s']:.2f} s, import {entry['import_s']:.2f} s, "
            f"ratio {entry['ratio_to_this_checkout']:.2f})"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
