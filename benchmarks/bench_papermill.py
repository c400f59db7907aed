"""Plain papermill, ``papermill --engine flowat``, ``flowat run --notebook`` and the Python API
on the same parameterized notebook (notebooks/quickstart.ipynb, rows=N), cold and warm.

- plain papermill: ``papermill.execute_notebook`` with a kernel, on the quickstart cut at
  its ``%flowat publish``/``run`` cells (``bench_quickstart.papermill_copy``); every run
  starts a kernel, so warm differs from the ``papermill`` command (cold) by its imports.
- the same run under both engines: that same file, the same parameters, by the
  ``papermill`` command (cold) and ``execute_notebook`` (warm), once with papermill's
  default engine and once with ``--engine flowat``; the ratio is recorded.
- ``papermill --engine flowat``: cold = the ``papermill`` command in a new process (imports,
  connection, in-process worker); warm = ``execute_notebook(engine_name="flowat")``
  repeated in one process.
- ``flowat run --notebook``: cold = the CLI in a new process; warm = ``api.run_notebook``
  repeated in one process (compile, publish-unchanged, run).
- ``api.run``: the published version, warm worker (as bench_quickstart).

The embedded Temporal dev server is started first and stays up (as in normal use).
Run: ``python benchmarks/bench_papermill.py`` (results in benchmarks/results/papermill.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_quickstart import NOTEBOOK, papermill_copy, run_papermill

RESULTS = Path(__file__).resolve().parent / "results" / "papermill.json"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def command(*args: str) -> Callable[[], object]:
    def run() -> None:
        subprocess.run(args, check=True, capture_output=True)

    return run


def local_copy(path: Path) -> Path:
    """The quickstart with ``--local`` on every step line, written to ``path``."""
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%flowat step"):
            first, _, rest = cell.source.partition("\n")
            cell.source = f"{first} --local\n{rest}"
    nbformat.write(notebook, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=5, help="samples per warm measurement")
    parser.add_argument("--cold-reps", type=int, default=3, help="samples per cold measurement")
    args = parser.parse_args()
    logging.getLogger("papermill").setLevel(logging.WARNING)

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-papermill-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = "bench-papermill"
    import papermill

    from flowat_kernel import api
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import reset_runtime

    loadavg = os.getloadavg()
    devserver.ensure_running(home / "temporal")
    rows = args.rows
    out = home / "out.ipynb"
    samples: dict[str, list[float]] = {}
    try:
        work = home / "papermill"
        work.mkdir()
        source, _ = papermill_copy(work)
        samples["papermill_cold"] = [run_papermill(source, work, rows)]
        samples["papermill_warm"] = [run_papermill(source, work, rows) for _ in range(args.reps)]

        plain_cli = command(
            sys.executable, "-m", "papermill", str(source), str(out), "-k", "python3",
            "--no-progress-bar", "-p", "rows", str(rows), "--cwd", str(work),
        )  # fmt: skip
        same_cli = command(
            sys.executable, "-m", "papermill", str(source), str(out), "--engine", "flowat",
            "--no-progress-bar", "-p", "rows", str(rows), "--cwd", str(work),
        )  # fmt: skip
        for _ in range(args.cold_reps):  # interleaved: load changes hit both alike
            samples.setdefault("papermill_cli_cold", []).append(timed(plain_cli))
            samples.setdefault("engine_same_file_cold", []).append(timed(same_cli))

        def engine_same_file() -> None:
            papermill.execute_notebook(
                str(source), str(out), parameters={"rows": rows}, engine_name="flowat",
                progress_bar=False, cwd=str(work),
            )  # fmt: skip

        engine_same_file()  # publishes; this process's first engine run
        samples["engine_same_file_warm"] = [timed(engine_same_file) for _ in range(args.reps)]

        engine_cli = command(
            sys.executable, "-m", "papermill", str(NOTEBOOK), str(out),
            "--engine", "flowat", "--no-progress-bar", "-p", "rows", str(rows),
        )  # fmt: skip
        samples["engine_cold"] = [timed(engine_cli) for _ in range(args.cold_reps)]

        def engine_in_process() -> None:
            papermill.execute_notebook(
                str(NOTEBOOK), str(out), parameters={"rows": rows},
                engine_name="flowat", progress_bar=False,
            )  # fmt: skip

        engine_in_process()  # this process's first: starts its worker
        samples["engine_warm"] = [timed(engine_in_process) for _ in range(args.reps)]

        cli = command(
            sys.executable, "-m", "flowat_kernel.cli.main", "run",
            "--notebook", str(NOTEBOOK), "-p", f"rows={rows}", "--json",
        )  # fmt: skip
        samples["cli_notebook_cold"] = [timed(cli) for _ in range(args.cold_reps)]

        def run_notebook() -> None:
            run = api.run_notebook(NOTEBOOK, parameters={"rows": rows}, poll_interval=0.05)
            assert run.status == "succeeded", run.error

        samples["api_run_notebook_warm"] = [timed(run_notebook) for _ in range(args.reps)]

        def run_published() -> None:
            run = api.run("quickstart", parameters={"rows": rows}, poll_interval=0.05)
            assert run.status == "succeeded", run.error

        samples["api_run_warm"] = [timed(run_published) for _ in range(args.reps)]

        # The same notebook with every step marked --local (short steps run as local
        # activities: no task-queue round trip per step). In a kernel, --local changes
        # nothing, so papermill's time is the same.
        local = local_copy(work / "quickstart_local.ipynb")
        api.publish("quickstart_local", notebook=local)

        def run_local() -> None:
            run = api.run("quickstart_local", parameters={"rows": rows}, poll_interval=0.05)
            assert run.status == "succeeded", run.error

        run_local()
        samples["api_run_local_warm"] = [timed(run_local) for _ in range(args.reps)]
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)

    base = statistics.median(samples["papermill_warm"])

    def ratio(flowat: str, plain: str) -> float:
        return round(statistics.median(samples[flowat]) / statistics.median(samples[plain]), 2)

    results: dict[str, object] = {
        "benchmark": "papermill",
        "notebook": "notebooks/quickstart.ipynb",
        "rows": rows,
        "runners": {
            name: {
                "median_s": round(statistics.median(values), 4),
                "samples_s": [round(v, 3) for v in values],
                "speedup_vs_papermill": round(base / statistics.median(values), 2),
            }
            for name, values in samples.items()
        },
        # The same file and parameters under --engine flowat and papermill's own engine,
        # measured in this run: FlowAt's time over papermill's (below 1: FlowAt faster).
        "same_run_ratio_flowat_over_papermill": {
            "cold_cli": ratio("engine_same_file_cold", "papermill_cli_cold"),
            "warm_execute_notebook": ratio("engine_same_file_warm", "papermill_warm"),
        },
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_start": loadavg,
        },
    }
    print(f"\nquickstart.ipynb, rows={rows}; speed-up against plain papermill (warm median)")
    print(f"{'runner':<24}{'median':>9}{'speed-up':>10}  samples (s)")
    for name, entry in results["runners"].items():  # type: ignore[attr-defined]
        print(
            f"{name:<24}{entry['median_s']:>8.2f}s{entry['speedup_vs_papermill']:>9.1f}x"
            f"  {entry['samples_s']}"
        )
    print(f"same run, flowat / papermill: {results['same_run_ratio_flowat_over_papermill']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
