"""Compile speed: a 200-cell notebook through the compiler and through ``flowat publish``.

The notebook (:func:`notebook`, written to a temporary folder) looks like a long working
notebook: a title and ``%load_ext`` cell, a ``parameters`` cell, then markdown notes,
exploration cells and ``%%flowat step`` cells (about three in four code cells) that
import modules, define helpers that later steps call, read names defined several
steps earlier, loop, branch and now and then use an IPython magic (``%time``) or a
``!`` command. 200 cells in all; every step compiles.

Measured, in one run:

- **compile, warm**: ``compile_notebook_file(NB, name)`` in this process, after one
  untimed call, ``--repeat`` times (median); also the pure compiler on cells already
  read (``compile_cells``), to tell reading the file from compiling it;
- **compile, cold**: the same call in a fresh interpreter (import time excluded, the
  first call in the process is timed there), ``--cold`` times;
- **publish**: ``flowat publish NB --name W --json`` as a new process, wall time from
  start to exit (and its CPU time), against ``python -c "import flowat_kernel"`` (the
  baseline), ``--cold`` rounds, each in a new ``FLOWAT_HOME``, interleaved: *cold*, the
  first publish in the new home (it creates the SQLite store: migrations); then, *warm*,
  the same notebook again (the version exists, ``created`` False) and after changing a
  parameter's default (a new version). One untimed publish first fills the byte-code
  and file caches. Also timed: ``python -c "import flowat_kernel.api; from
  flowat_kernel.store import Store"``, what publishing needs whatever it compiles (the
  floor).
- **publish, handed over**: with a ``flowat worker`` of the same home running (it
  starts the embedded Temporal server), ``flowat publish`` hands the notebook to it
  (:mod:`flowat_kernel.cli.handoff`); ``--cold`` rounds of the unchanged notebook and a
  new version, interleaved with the baseline. The worker's first publish is untimed.

With ``--other DIR`` (a folder holding another ``flowat_kernel``, say an earlier
commit's), the fresh processes run for both, interleaved round by round, so that a
before/after comparison shares the machine's load.

Also shown: the top of a cProfile of the warm compile and the slowest imports of
``flowat publish`` (``python -X importtime``). Only the handed-over phase starts
Temporal (for its worker); publishing does not need it.
Run: ``python benchmarks/bench_compile.py [--other DIR]`` (results in
benchmarks/results/compile.json).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SharedWorker, machine, slowest_imports
from long_notebook import CELLS, notebook

RESULTS = Path(__file__).resolve().parent / "results" / "compile.json"
WORKFLOW = "bench_compile"
COMPILE_TARGET_S = 0.2  # a 200-cell notebook compiles in under 200 ms, warm
PUBLISH_TARGET_S = 0.5  # flowat publish within 0.5 s of `import flowat_kernel`
PROCESSES = {
    "baseline": "import flowat_kernel (baseline)",
    "store_import": "import the API and the store (the floor)",
    "cold": "flowat publish, new FLOWAT_HOME (cold)",
    "unchanged": "flowat publish, unchanged (warm)",
    "new_version": "flowat publish, new version (warm)",
}
HANDED = {
    "baseline": "import flowat_kernel (baseline)",
    "handed_unchanged": "flowat publish, unchanged, to a worker",
    "handed_new_version": "flowat publish, new version, to a worker",
}


def flowat_command() -> list[str]:
    """The ``flowat`` console script next to this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("flowat")
    if script.exists():
        return [str(script)]
    found = shutil.which("flowat")
    return [found] if found else [sys.executable, "-m", "flowat_kernel.cli.main"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time and CPU time (user + system) of one process in seconds, and its output.

    The process must exit 0. CPU time is read from the children's resource usage; it
    moves less than wall time when other work loads the machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


_COLD_COMPILE = """
import sys, time
from flowat_kernel.compiler import compile_notebook_file
started = time.perf_counter()
spec = compile_notebook_file(sys.argv[1], sys.argv[2])
print(time.perf_counter() - started, len(spec.steps), len(spec.edges))
"""


def warm_compile(path: Path, repeat: int) -> dict[str, Any]:
    """Median in-process compile time of the notebook file, and of its cells alone."""
    from flowat_kernel.compiler import compile_cells, compile_notebook_file, read_notebook_cells

    spec = compile_notebook_file(str(path), WORKFLOW)  # untimed: imports, first use
    cells = read_notebook_cells(path)
    whole, pure, cpu = [], [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        compile_notebook_file(str(path), WORKFLOW)
        whole.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        started = time.perf_counter()
        compile_cells(cells, WORKFLOW)
        pure.append(time.perf_counter() - started)
    return {
        "steps": len(spec.steps),
        "edges": len(spec.edges),
        "file_median_s": round(statistics.median(whole), 4),
        "file_min_s": round(min(whole), 4),
        "file_cpu_median_s": round(statistics.median(cpu), 4),
        "cells_median_s": round(statistics.median(pure), 4),
        "cells_min_s": round(min(pure), 4),
        "runs": repeat,
    }


def _top(stream_text: str, top: int) -> list[str]:
    lines = stream_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    total = next((line.strip() for line in lines if "function calls" in line), "")
    return [total, *[line.rstrip() for line in lines[start : start + top + 1] if line.strip()]]


_PROFILE_PUBLISH = """
import cProfile, io, pstats, sys
profiler = cProfile.Profile()
profiler.enable()
from flowat_kernel.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
profiler.disable()
stream = io.StringIO()
pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(int(sys.argv[1]))
print("@@PROFILE@@")
print(stream.getvalue())
"""


def profile_publish(arguments: list[str], env: dict[str, str], top: int = 25) -> list[str]:
    """The ``top`` entries of a cProfile of a whole ``flowat publish`` process."""
    out = subprocess.run(
        [sys.executable, "-c", _PROFILE_PUBLISH, str(top), *arguments],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return _top(out.split("@@PROFILE@@", 1)[1], top)


def profile_compile(path: Path, top: int = 15) -> list[str]:
    """The ``top`` entries (by cumulative time) of a cProfile of one warm compile."""
    from flowat_kernel.compiler import compile_notebook_file

    profiler = cProfile.Profile()
    profiler.enable()
    compile_notebook_file(str(path), WORKFLOW)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
    stats.print_stats(top)
    return _top(stream.getvalue(), top)


def _summary(samples: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """Median and minimum wall time, CPU time, and both against the baseline's."""
    baseline = statistics.median(w for w, _ in samples["baseline"])
    baseline_cpu = statistics.median(c for _, c in samples["baseline"])
    rows: dict[str, Any] = {}
    for key, values in samples.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        median = statistics.median(walls)
        rows[key] = {
            "median_s": round(median, 4),
            "min_s": round(min(walls), 4),
            "over_baseline_s": round(median - baseline, 4),
            "ratio": round(median / baseline, 2),
            "cpu_median_s": round(statistics.median(cpus), 4),
            "cpu_over_baseline_s": round(statistics.median(cpus) - baseline_cpu, 4),
            "runs": len(values),
        }
    return rows


def _print_rows(title: str, rows: dict[str, Any], labels: dict[str, str] = PROCESSES) -> None:
    print(
        f"\n{title:40} {'median':>7} {'min':>7} {'-base':>7} {'ratio':>6} "
        f"{'cpu':>7} {'cpu-base':>8}"
    )
    for key, label in labels.items():
        row = rows[key]
        print(
            f"{label:40} {row['median_s']:7.3f} {row['min_s']:7.3f} "
            f"{row['over_baseline_s']:+7.3f} {row['ratio']:6.2f} "
            f"{row['cpu_median_s']:7.3f} {row['cpu_over_baseline_s']:+8.3f}"
        )


def handed_over(flowat: list[str], path: Path, env: dict[str, str], rounds: int) -> dict[str, Any]:
    """``flowat publish`` handed to a live ``flowat worker`` of ``env``'s home."""
    publish = [*flowat, "publish", str(path), "--name", WORKFLOW, "--json"]
    baseline_cmd = [sys.executable, "-c", "import flowat_kernel"]
    found: dict[str, list[tuple[float, float]]] = {key: [] for key in HANDED}
    worker = SharedWorker(flowat, env)
    try:
        timed(publish, env)  # the worker's first publish (its compiler's imports)
        for rep in range(rounds):
            found["baseline"].append(timed(baseline_cmd, env)[:2])
            wall, cpu, out = timed(publish, env)
            assert json.loads(out)["created"] is False
            found["handed_unchanged"].append((wall, cpu))
            path.write_text(json.dumps(notebook(rows=2000 + rep), indent=1))
            wall, cpu, out = timed(publish, env)
            assert json.loads(out)["created"] is True
            found["handed_new_version"].append((wall, cpu))
            path.write_text(json.dumps(notebook(rows=50), indent=1))
            timed(publish, env)  # back to the first content: unchanged again next round
    finally:
        worker.stop()
        subprocess.run([*flowat, "server", "stop"], env=env, capture_output=True, timeout=60)
    return _summary(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="warm compiles (15)")
    parser.add_argument("--cold", type=int, default=5, help="rounds of fresh processes (5)")
    parser.add_argument(
        "--other",
        metavar="DIR",
        help="a folder holding another flowat_kernel (e.g. `git archive COMMIT flowat_kernel "
        "| tar -x -C DIR`): its processes run too, interleaved, for a before/after",
    )
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="flowat-bench-compile-"))
    path = folder / "long.ipynb"
    path.write_text(json.dumps(notebook(), indent=1))
    env = {**os.environ, "FLOWAT_HOME": str(folder / "this-warm-up")}  # profiles use it
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_API_KEY", "PYTHONPATH"):
        env.pop(name, None)
    variants = {"this": env}
    if options.other:
        variants["other"] = {**env, "PYTHONPATH": str(Path(options.other).resolve())}
    os.chdir(folder)  # so that `python -c` finds the package of each variant, not ./
    flowat = flowat_command()
    publish = [*flowat, "publish", str(path), "--name", WORKFLOW, "--json"]
    baseline_cmd = [sys.executable, "-c", "import flowat_kernel"]
    # What publishing cannot do without: the API, the store and the spec (SQLAlchemy's
    # ORM, the tables, pydantic), imported by a process that does nothing else.
    # (``flowat_kernel.store`` loads its modules on first use: ask for the store itself.)
    floor_cmd = [
        sys.executable,
        "-c",
        "import flowat_kernel.api\nfrom flowat_kernel.store import Store",
    ]
    samples = {v: {key: [] for key in PROCESSES} for v in variants}
    cold_compile: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for variant, variant_env in variants.items():  # untimed: byte-code, file caches
            timed(publish, {**variant_env, "FLOWAT_HOME": str(folder / f"{variant}-warm-up")})
        warm = warm_compile(path, options.repeat)
        for rep in range(options.cold):
            path.write_text(json.dumps(notebook(rows=50 + rep), indent=1))
            for variant, variant_env in variants.items():
                found = samples[variant]
                command = [sys.executable, "-c", _COLD_COMPILE, str(path), WORKFLOW]
                out = timed(command, variant_env)[2]
                cold_compile[variant].append(float(out.split()[0]))
                home = {**variant_env, "FLOWAT_HOME": str(folder / f"{variant}-{rep}")}
                wall, cpu, _ = timed(baseline_cmd, home)
                found["baseline"].append((wall, cpu))
                wall, cpu, _ = timed(floor_cmd, home)
                found["store_import"].append((wall, cpu))
                wall, cpu, out = timed(publish, home)  # a new home: the store is created
                found["cold"].append((wall, cpu))
                assert json.loads(out)["created"] is True
                wall, cpu, out = timed(publish, home)
                found["unchanged"].append((wall, cpu))
                assert json.loads(out)["created"] is False
                path.write_text(json.dumps(notebook(rows=1000 + rep), indent=1))
                wall, cpu, out = timed(publish, home)
                found["new_version"].append((wall, cpu))
                assert json.loads(out)["created"] is True
                path.write_text(json.dumps(notebook(rows=50 + rep), indent=1))
        summaries = {variant: _summary(found) for variant, found in samples.items()}
        rows = summaries["this"]
        path.write_text(json.dumps(notebook(rows=50), indent=1))
        handed = handed_over(
            flowat, path, {**env, "FLOWAT_HOME": str(folder / "handed")}, options.cold
        )
        results = {
            "notebook": {"cells": CELLS, "steps": warm["steps"], "edges": warm["edges"]},
            "compile_warm": warm,
            "compile_cold": {
                variant: {
                    "median_s": round(statistics.median(values), 4),
                    "min_s": round(min(values), 4),
                    "runs": len(values),
                }
                for variant, values in cold_compile.items()
            },
            "processes": summaries,
            "handed_over": handed,
        }
        print(f"notebook: {CELLS} cells, {warm['steps']} steps, {warm['edges']} edges")
        print(
            f"compile warm (file):   median {warm['file_median_s'] * 1000:7.1f} ms  "
            f"min {warm['file_min_s'] * 1000:7.1f} ms  CPU median "
            f"{warm['file_cpu_median_s'] * 1000:5.1f} ms  ({options.repeat} runs)"
        )
        print(
            f"compile warm (cells):  median {warm['cells_median_s'] * 1000:7.1f} ms  "
            f"min {warm['cells_min_s'] * 1000:7.1f} ms"
        )
        for variant, values in cold_compile.items():
            print(
                f"compile cold ({variant}): median {statistics.median(values) * 1000:7.1f} ms  "
                f"min {min(values) * 1000:7.1f} ms  ({options.cold} processes)"
            )
        for variant, summary in summaries.items():
            title = "process" if variant == "this" else f"process, {options.other}"
            _print_rows(title, summary)
        _print_rows("publish handed to a live worker", handed, HANDED)
        if "other" in summaries:
            print("\nthis / other (median wall, median CPU over the baseline):")
            for key, label in PROCESSES.items():
                mine, theirs = summaries["this"][key], summaries["other"][key]
                print(
                    f"  {label:40} {mine['median_s'] / theirs['median_s']:6.2f} "
                    f"{mine['cpu_over_baseline_s']:+.3f} vs {theirs['cpu_over_baseline_s']:+.3f} s"
                )
        profile = profile_compile(path)
        print("\ncProfile of one warm compile (cumulative):")
        print("\n".join(profile))
        publish_profile = profile_publish(publish[len(flowat) :], env)
        print("\ncProfile of one `flowat publish` process (cumulative, imports included):")
        print("\n".join(publish_profile))
        slow = slowest_imports(["-m", "flowat_kernel.cli.main", *publish[len(flowat) :]], env)
        print("\nlargest cumulative import times of `flowat publish` (s, nested included):")
        for name, seconds in slow:
            print(f"  {seconds:6.3f}  {name}")
        met = {
            "compile_warm": warm["file_median_s"] < COMPILE_TARGET_S,
            **{
                f"publish_{key}": rows[key]["over_baseline_s"] <= PUBLISH_TARGET_S
                for key in ("cold", "unchanged", "new_version")
            },
            **{
                f"publish_{key}": handed[key]["over_baseline_s"] <= PUBLISH_TARGET_S
                for key in ("handed_unchanged", "handed_new_version")
            },
        }
        print(
            f"\ntargets (compile < {COMPILE_TARGET_S} s warm; publish within "
            f"{PUBLISH_TARGET_S} s of the baseline): {met}"
        )
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "command": publish,
                    "results": results,
                    "compile_profile": profile,
                    "publish_profile": publish_profile,
                    "publish_slowest_imports": slow,
                    "samples": {"compile_cold_s": cold_compile, "processes": samples},
                    "targets_met": met,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"results: {RESULTS}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
