"""``flowat run quickstart`` as a person types it: what it costs beyond the run itself.

Two cases, on one warm embedded Temporal server in a fresh ``FLOWAT_HOME`` (publish
notebooks/quickstart.ipynb, then one untimed run that starts the server):

- **no worker**: no ``flowat worker`` process exists; ``flowat run quickstart -p
  rows=500 --json`` starts its own in-process worker (the default, ``--worker here``).
- **warm worker**: a ``flowat worker`` process polls the shared queue and has run the
  workflow once; ``flowat run quickstart -p rows=500 --json --worker shared`` hands the
  run to it over its socket (:mod:`flowat_kernel.cli.handoff`) and waits for it.
- **warm worker, started here** (the baseline of the hand-off, same worker, same
  phase): the same command with ``FLOWAT_HANDOFF=off``, which starts the run itself
  (store, Temporal client) and waits for it. Its timeline is the one printed.

Each case runs ``--reps`` times as a new process, interleaved with ``python -c "import
flowat_kernel"`` (the baseline of the same interpreter, measured in the same phase).
The run's own duration is its record's ``started_at`` to ``ended_at`` (from the
worker's first bookkeeping activity to its last; read afterwards with ``flowat runs
--json``). **Overhead** = median(wall time - the run's own duration) - median(baseline):
what a person waits for beyond the run and Python itself. Targets (issue 18): no worker
within 1.5 s, warm worker within 0.5 s.

``--python OTHER`` also measures the no-worker case with another interpreter that has
FlowAt installed (an earlier commit's virtualenv), for a before/after comparison.

Where the time goes: each case is also run once in one process that does what ``flowat
run`` does step by step and prints a timeline (imports, opening the store, the
Temporal client, starting and waiting, closing).

Run: ``python benchmarks/bench_run_latency.py`` (results in
benchmarks/results/run_latency.json).
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
from datetime import datetime
from pathlib import Path
from typing import Any

from common import SharedWorker, machine

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
RESULTS = Path(__file__).resolve().parent / "results" / "run_latency.json"
TARGETS_S = {"no_worker": 1.5, "warm_worker": 0.5}


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def _environment(home: Path) -> dict[str, str]:
    """This process's environment for a throw-away home, with bytecode caches kept.

    ``PYTHONDONTWRITEBYTECODE`` (set in some shells here) would make every process
    compile FlowAt's modules from source, which an installed FlowAt never does; the
    caches go to a folder of their own instead of the source tree.
    """
    env = {**os.environ, "FLOWAT_HOME": str(home)}
    for name in ("FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_DATABASE_URL", "FLOWAT_TASK_QUEUE"):
        env.pop(name, None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "flowat-bench-pycache")
    return env


def _phase(
    python: str, cli: list[str], extra: list[str], env: dict[str, str], reps: int
) -> dict[str, Any]:
    """``reps`` timed runs interleaved with the import baseline."""
    _timed([*cli, "run", "quickstart", "-p", "rows=500", "--json", *extra], env)  # warm-up
    walls: dict[str, float] = {}
    imports: list[float] = []
    for _ in range(reps):
        imports.append(_timed([python, "-c", "import flowat_kernel"], env)[0])
        elapsed, out = _timed([*cli, "run", "quickstart", "-p", "rows=500", "--json", *extra], env)
        document = json.loads(out)
        if document["status"] != "succeeded":
            raise RuntimeError(f"run {document['run_id']} ended {document['status']}")
        walls[document["run_id"]] = elapsed
    _, listing = _timed([*cli, "runs", "quickstart", "--json", "--limit", "200"], env)
    records = {r["run_id"]: r for r in json.loads(listing)}
    rows = []
    for run_id, wall in walls.items():
        record = records[run_id]
        created, started, ended = (
            datetime.fromisoformat(record[k]) for k in ("created_at", "started_at", "ended_at")
        )
        own = (ended - started).total_seconds()
        rows.append(
            {
                "run_id": run_id,
                "wall_s": round(wall, 4),
                "own_s": round(own, 4),
                "queued_s": round((started - created).total_seconds(), 4),
                "wall_minus_own_s": round(wall - own, 4),
            }
        )
    baseline = statistics.median(imports)
    beyond = statistics.median(r["wall_minus_own_s"] for r in rows)
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in rows), 4),
        "own_s": round(statistics.median(r["own_s"] for r in rows), 4),
        "queued_s": round(statistics.median(r["queued_s"] for r in rows), 4),
        "import_s": round(baseline, 4),
        "overhead_s": round(beyond - baseline, 4),
        "runs": rows,
    }


_TIMELINE = """
import json, sys, time
marks, started = [], time.perf_counter()
def mark(name):
    marks.append([name, round(time.perf_counter() - started, 4)])
import flowat_kernel
mark("python and import flowat_kernel")
from flowat_kernel.cli.main import build_parser
args = build_parser().parse_args(["run", "quickstart", "-p", "rows=500", "--json"])
mark("the command parser")
from flowat_kernel import api
from flowat_kernel.commands import parameters
given = parameters(args.param)
mark("import the API, parse parameters (spec model, pydantic)")
import flowat_kernel.access, flowat_kernel.workspace.workspace
mark("import access, store, workspace (SQLAlchemy, ORM, tables)")
workspace = api.default_workspace()
mark("open the store, resolve the principal (first ORM query)")
import flowat_kernel.engine.launch
mark("import the launcher (temporalio client, engine models, pyarrow)")
from flowat_kernel.runtime import get_runtime, reset_runtime
runtime = get_runtime()
runtime.call(runtime.client())
mark("Temporal client (server check, connect, payload keys)")
if WORKER == "here":
    import flowat_kernel.engine.worker
    mark("import the in-process worker (activities, sandbox, step processes)")
    runtime.call(runtime.ensure_local_worker())
    mark("start the in-process worker")
run = workspace.run("quickstart", parameters=given, trigger="cli", worker=WORKER)
record = runtime.store.get_run(run.run_id)
mark("record, start and wait for the run")
document = run.to_json()
mark("the JSON document")
reset_runtime()
mark("close (stop workers, flush analytics events to Parquet, loop, store)")
own = (record.ended_at - record.started_at).total_seconds()
queued = (record.started_at - record.created_at).total_seconds()
print(json.dumps({"marks": marks, "own_s": own, "queued_s": queued}))
"""


def timeline(python: str, env: dict[str, str], worker: str) -> dict[str, Any]:
    """One ``flowat run`` done step by step in one process, with the time of each step."""
    code = _TIMELINE.replace("WORKER", repr(worker))
    done = subprocess.run(
        [python, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"timeline failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def show_timeline(title: str, result: dict[str, Any]) -> None:
    """Print a timeline: each step's end and its own share."""
    print(f"  timeline of one run, {title} (s):")
    previous = 0.0
    for name, at in result["marks"]:
        print(f"    {at:6.3f}  +{at - previous:6.3f}  {name}")
        previous = at
    print(f"    (of which the run itself {result['own_s']:.3f}, queued {result['queued_s']:.3f})")


def measure(python: str, reps: int, warm_worker: bool) -> dict[str, Any]:
    """Both cases (or only the no-worker one) for the FlowAt installed for ``python``."""
    home = Path(tempfile.mkdtemp(prefix="flowat-latency-"))
    env = _environment(home)
    cli = [python, "-m", "flowat_kernel.cli.main"]
    result: dict[str, Any] = {"python": python}
    try:
        _timed([*cli, "publish", str(NOTEBOOK), "--name", "quickstart"], env)
        result["no_worker"] = _phase(python, cli, [], env, reps)
        if warm_worker:
            result["no_worker"]["timeline"] = timeline(python, env, "here")
            worker = SharedWorker(cli, env)
            try:
                result["warm_worker"] = _phase(python, cli, ["--worker", "shared"], env, reps)
                here = {**env, "FLOWAT_HANDOFF": "off"}
                started_here = _phase(python, cli, ["--worker", "shared"], here, reps)
                started_here["timeline"] = timeline(python, here, "shared")
                result["warm_worker_started_here"] = started_here
            finally:
                worker.stop()
        return result
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
    results = [measure(sys.executable, args.reps, warm_worker=True)]
    results += [measure(python, args.reps, warm_worker=False) for python in args.python]
    met: dict[str, bool] = {}
    for entry in results:
        for case in (*TARGETS_S, "warm_worker_started_here"):
            target = TARGETS_S.get(case)
            if case not in entry:
                continue
            phase = entry[case]
            if entry is results[0] and target is not None:
                met[case] = phase["overhead_s"] <= target
            print(
                f"{entry['python']} [{case}]: flowat run {phase['wall_s']:.2f} s, the run itself "
                f"{phase['own_s']:.2f} s (queued {phase['queued_s']:.2f} s), import "
                f"{phase['import_s']:.3f} s -> overhead {phase['overhead_s']:.2f} s "
                + (f" (target {target} s)" if target is not None else " (baseline)")
            )
            if "timeline" in phase:
                show_timeline(case.replace("_", " "), phase["timeline"])
    print(f"targets met: {met}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": machine(), "targets_s": TARGETS_S, "target_met": met, "results": results},
            indent=2,
        )
        + "\n"
    )
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
