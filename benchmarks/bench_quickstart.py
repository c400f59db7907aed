"""A parameterized re-run of notebooks/quickstart.ipynb: papermill versus a warm FlowAt worker.

papermill: ``execute_notebook(..., parameters={"rows": N}, kernel_name="python3")`` on a
copy of the notebook without its trailing ``%flowat publish`` / ``%flowat run`` cells
(those would add a FlowAt run inside the papermill run; the ``%%flowat step`` cells
still execute their code in the kernel, exactly as in an interactive session).
FlowAt: publish the notebook once, then ``api.run("quickstart", parameters={"rows": N})``
with the in-process worker already started and warm.
Run: ``python benchmarks/bench_quickstart.py`` (results in benchmarks/results/quickstart.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
RESULTS = Path(__file__).resolve().parent / "results" / "quickstart.json"
WORKFLOW = "quickstart"
FAST_POLL = 0.005


def papermill_copy(folder: Path) -> tuple[Path, int]:
    """Copy the notebook, cut at its first ``%flowat publish``/``%flowat run`` code cell."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for index, cell in enumerate(notebook.cells):
        lines = cell.source.splitlines()
        if cell.cell_type == "code" and any(
            "%flowat publish" in line or "%flowat run" in line for line in lines
        ):
            removed = len(notebook.cells) - index
            notebook.cells = notebook.cells[:index]
            break
    else:
        removed = 0
    path = folder / "quickstart_papermill.ipynb"
    nbformat.write(notebook, path)
    return path, removed


def run_papermill(source: Path, folder: Path, rows: int) -> float:
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(
        str(source),
        str(folder / "out.ipynb"),
        parameters={"rows": rows},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(folder),
    )
    return time.perf_counter() - start


def run_flowat(rows: int, poll_interval: float = 0.2) -> tuple[float, dict]:
    from flowat_kernel import api

    start = time.perf_counter()
    run = api.run(WORKFLOW, parameters={"rows": rows}, poll_interval=poll_interval)
    elapsed = time.perf_counter() - start
    if run.status != "succeeded":
        raise RuntimeError(f"FlowAt run {run.run_id} ended {run.status}: {run.error}")
    return elapsed, run.outputs["report"]["report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="the rows parameter (5000)")
    parser.add_argument("--papermill-reps", type=int, default=3)
    parser.add_argument("--flowat-reps", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("papermill").setLevel(logging.WARNING)

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-quickstart-"))
    os.environ["FLOWAT_HOME"] = str(home)  # the papermill kernel inherits it too
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = "bench-quickstart"
    from flowat_kernel import api
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import reset_runtime

    loadavg = os.getloadavg()
    devserver.ensure_running(home / "temporal")
    try:
        work = home / "papermill"
        work.mkdir()
        source, removed = papermill_copy(work)
        run_papermill(source, work, args.rows)  # warm-up: page cache, kernel spec lookup
        papermill_s = [run_papermill(source, work, args.rows) for _ in range(args.papermill_reps)]

        published = api.publish(WORKFLOW, notebook=NOTEBOOK)
        for _ in range(5):  # warm-up: starts the in-process worker, imports pandas/pyarrow
            run_flowat(args.rows)
        flowat_s, fast_s, report = [], [], {}
        for _ in range(args.flowat_reps):  # interleaved with a diagnostic: the same public
            elapsed, report = run_flowat(args.rows)  # call polling every 5 ms, not 200 ms
            flowat_s.append(elapsed)
            fast_s.append(run_flowat(args.rows, FAST_POLL)[0])
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)

    papermill_median = statistics.median(papermill_s)
    flowat_median = statistics.median(flowat_s)
    results = {
        "benchmark": "quickstart",
        "rows": args.rows,
        "steps": len(published.version.spec.steps),
        "papermill": {
            "median_s": papermill_median,
            "samples_s": [round(s, 3) for s in papermill_s],
            "cells_removed": removed,
        },
        "flowat_warm": {"median_s": flowat_median, "samples_s": [round(s, 3) for s in flowat_s]},
        "flowat_warm_fast_poll": {
            "poll_interval_s": FAST_POLL,
            "median_s": statistics.median(fast_s),
            "samples_s": [round(s, 3) for s in fast_s],
        },
        "speedup": papermill_median / flowat_median,
        "speedup_fast_poll": papermill_median / statistics.median(fast_s),
        "report_rows": report.get("rows"),
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": loadavg,
        },
    }
    print(f"\nquickstart.ipynb with rows={args.rows} ({results['steps']} steps)")
    print(f"{'runner':<34}{'median':>10}  samples (s)")
    for label, key in (
        ("papermill (publish/run cut)", "papermill"),
        ("FlowAt api.run, warm", "flowat_warm"),
        (f"  same, poll_interval={FAST_POLL}", "flowat_warm_fast_poll"),
    ):
        entry = results[key]
        print(f"{label:<34}{entry['median_s']:>9.2f}s  {entry['samples_s']}")
    print(
        f"speed-up papermill/FlowAt: {results['speedup']:.1f}x (target: >= 10x); "
        f"with poll_interval={FAST_POLL}: {results['speedup_fast_poll']:.1f}x"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
