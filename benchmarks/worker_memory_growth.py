"""Where a FlowAt worker's memory goes while it drains a queue: Python heap, by source line.

``bench_load.py`` shows the worker's RSS growing from its start to a plateau under load.
This finds out what the growth is: it queues ``--runs`` runs of bench_load's 3-step
workflow (no worker polling), then starts one worker in this process with
``tracemalloc`` on and, when all runs are done, compares a snapshot with the one taken
when the worker was ready. What tracemalloc traces is the Python heap; the rest of the
RSS growth is native (Temporal's Rust core, Arrow, SQLite, thread stacks) or freed
memory the allocator keeps. The worker runs slower while traced: use it to attribute
memory, not to time anything.

Run: ``python benchmarks/worker_memory_growth.py --runs 300`` (prints; writes
benchmarks/results/worker_memory_growth.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "worker_memory_growth.json"


def _status_mb() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _top(
    after: tracemalloc.Snapshot, before: tracemalloc.Snapshot, key: str, count: int
) -> list[dict[str, Any]]:
    rows = []
    for stat in after.compare_to(before, key)[:count]:
        frame = stat.traceback[0]
        rows.append(
            {
                "where": f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
                if key == "lineno"
                else frame.filename.split("site-packages/")[-1],
                "grew_mb": round(stat.size_diff / 2**20, 2),
                "now_mb": round(stat.size / 2**20, 2),
                "blocks": stat.count,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-growth-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = f"bench-growth-{uuid.uuid4().hex[:8]}"

    import bench_load

    import flowat_kernel as flowat
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import get_runtime, reset_runtime

    devserver.ensure_running(home / "temporal")
    runtime = get_runtime()
    try:
        flowat.publish(bench_load.WORKFLOW, cells=bench_load.flowat_cells())
        ledger = str(home / "ledger.txt")

        def submit(i: int) -> str:
            run = flowat.run(
                bench_load.WORKFLOW,
                parameters={"n": i, "ledger": ledger},
                wait=False,
                worker="never",
            )
            return run.run_id

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(submit, range(args.runs)))
        print(f"{len(ids)} runs queued", flush=True)

        gc.collect()
        before_worker = _status_mb()
        tracemalloc.start(1)
        runtime.call(runtime.ensure_worker())
        time.sleep(1.0)
        gc.collect()
        ready = tracemalloc.take_snapshot()
        at_ready = _status_mb()
        peak: dict[str, float] = dict(at_ready)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                now = _status_mb()
                if now["VmRSS"] > peak["VmRSS"]:
                    peak.update(now)

        threading.Thread(target=sample, daemon=True).start()
        from sqlalchemy import func, select

        from flowat_kernel.store.tables import RunRow

        store = runtime.store
        finished = ("succeeded", "failed", "cancelled", "timed_out")
        count = select(func.count()).select_from(RunRow).where(RunRow.status.in_(finished))
        started = time.time()
        while True:
            done = int(store.read(count)[0][0])
            if done >= args.runs or time.time() - started > 1800:
                break
            time.sleep(0.5)
        drained = time.time() - started
        traced_now, traced_peak = tracemalloc.get_traced_memory()
        at_end_live = _status_mb()
        after = tracemalloc.take_snapshot()
        stop.set()
        gc.collect()
        at_end = _status_mb()
        result = {
            "runs": args.runs,
            "finished": done,
            "drain_s_traced": round(drained, 1),
            "rss_mb": {
                "before_worker": before_worker,
                "worker_ready": at_ready,
                "peak_sampled": peak,
                "all_done": at_end_live,
                "all_done_after_gc": at_end,
            },
            "traced_mb": {
                "now": round(traced_now / 2**20, 1),
                "peak": round(traced_peak / 2**20, 1),
            },
            "grew_by_file": _top(after, ready, "filename", args.top),
            "grew_by_line": _top(after, ready, "lineno", args.top),
        }
        print(json.dumps(result["rss_mb"], indent=1))
        print(f"traced Python heap now {result['traced_mb']}")
        print("grown since the worker was ready, by file (MB now / grown):")
        for row in result["grew_by_file"]:
            print(f"  {row['now_mb']:7.2f} {row['grew_mb']:+7.2f}  {row['where']}")
        print("by line:")
        for row in result["grew_by_line"]:
            print(f"  {row['now_mb']:7.2f} {row['grew_mb']:+7.2f}  {row['where']}")
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        tracemalloc.stop()
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
