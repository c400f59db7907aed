"""CLI start-up: ``flowat --help`` and ``flowat runs`` against ``import flowat_kernel``.

Each command runs as a fresh process, ``--repeat`` times (10 by default), interleaved
so that a change in machine load touches all of them alike; the median wall time of
each is compared with the baseline measured in the same run, ``python -c "import
flowat_kernel"``. ``flowat runs`` uses a throw-away ``FLOWAT_HOME`` (its SQLite store is
created by one warm-up call that is not counted) holding ``--runs`` finished runs (20) of
one published workflow, so it lists a full page. Reference rows
(no target) show what the store alone costs to import: ``import sqlalchemy``, ``import
sqlalchemy.orm`` and ``import flowat_kernel.store``. Also shown: the modules ``flowat
--help`` imports beyond the baseline, and the slowest imports of ``flowat runs``
(``python -X importtime``), to see where the time goes.

Bytecode caches are kept (in a folder of their own, ``PYTHONPYCACHEPREFIX``) even when
the shell sets ``PYTHONDONTWRITEBYTECODE``: an installed FlowAt never compiles its
modules from source at start-up, and doing so would add about 0.1 s to every command.
Run: ``python benchmarks/bench_cli_startup.py`` (results in
benchmarks/results/cli_startup.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import import_times, machine, slowest_imports

RESULTS = Path(__file__).resolve().parent / "results" / "cli_startup.json"
TARGET_S = 0.25  # issue 18: within 0.25 s of the baseline


def flowat_command() -> list[str]:
    """The ``flowat`` console script next to this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("flowat")
    if script.exists():
        return [str(script)]
    found = shutil.which("flowat")
    return [found] if found else [sys.executable, "-m", "flowat_kernel.cli.main"]


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one process, in seconds (it must exit 0).

    CPU time moves far less than wall time when other work loads the machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def module_names(code: str, env: dict[str, str]) -> set[str]:
    """The modules a Python snippet leaves in ``sys.modules``."""
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def import_groups(
    argv: list[str], env: dict[str, str], top: int = 14
) -> tuple[float, list[tuple[str, float]]]:
    """Total import time of a command and its own (self) import time by package.

    Packages are top-level names, except FlowAt's, which are split by subpackage
    (``flowat_kernel.store``, ``flowat_kernel.spec``, ...); the standard library's modules
    count under their own names. Self times add up to the total, unlike cumulative ones.
    """
    groups: dict[str, float] = {}
    for name, own, _ in import_times(argv, env):
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] == "flowat_kernel" else parts[0].lstrip("_")
        groups[key] = groups.get(key, 0.0) + own
    ranked = sorted(groups.items(), key=lambda item: -item[1])
    return sum(groups.values()), ranked[:top]


SEED = """
import sys, uuid
from flowat_kernel.spec import StepSpec, WorkflowSpec
from flowat_kernel.runtime import get_runtime
store = get_runtime().store
owner = get_runtime().settings.owner
spec = WorkflowSpec(name="listed", steps=(StepSpec(name="s", source="x = 1", exports=("x",)),))
version, _ = store.publish(spec, owner, owner)
for i in range(int(sys.argv[1])):
    run_id = uuid.uuid4().hex
    store.create_run(run_id, version, {"n": i}, "cli", f"flowat-listed-{run_id}")
    store.run_started(run_id)
    store.run_finished(run_id, "succeeded")
"""


def seed_runs(env: dict[str, str], count: int) -> None:
    """Record ``count`` finished runs of one workflow in the home's store (no Temporal)."""
    subprocess.run([sys.executable, "-c", SEED, str(count)], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command (10)")
    parser.add_argument("--runs", type=int, default=20, help="finished runs in the home (20)")
    parser.add_argument(
        "--compare",
        type=Path,
        help="another checkout of FlowAt (e.g. a git worktree of an older commit): adds a "
        "row for its `flowat runs` (python -m, that checkout first on PYTHONPATH)",
    )
    parser.add_argument(
        "--database",
        help="the store's URL (FLOWAT_DATABASE_URL), e.g. an empty PostgreSQL database; "
        "results then go to results/cli_startup_postgresql.json",
    )
    options = parser.parse_args()
    results = RESULTS.with_name("cli_startup_postgresql.json") if options.database else RESULTS

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-cli-"))
    env = {**os.environ, "FLOWAT_HOME": str(home)}
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_API_KEY"):
        env.pop(name, None)
    if options.database:
        env["FLOWAT_DATABASE_URL"] = options.database
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "flowat-bench-pycache")
    flowat = flowat_command()
    commands = {
        "import flowat_kernel (baseline)": [sys.executable, "-c", "import flowat_kernel"],
        "flowat --help": [*flowat, "--help"],
        "flowat run --help": [*flowat, "run", "--help"],
        "flowat runs": [*flowat, "runs"],
        "flowat runs --json": [*flowat, "runs", "--json"],
        "(reference) import sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
        "(reference) import sqlalchemy.orm": [sys.executable, "-c", "import sqlalchemy.orm"],
        "(reference) import flowat_kernel.store.repository": [
            sys.executable,
            "-c",
            "import flowat_kernel.store.repository",
        ],
    }
    envs = {name: env for name in commands}
    cwds: dict[str, Path | None] = {name: None for name in commands}
    if options.compare:
        name = f"flowat runs ({options.compare.name})"
        commands[name] = [sys.executable, "-m", "flowat_kernel.cli.main", "runs"]
        envs[name] = {**env, "PYTHONPATH": str(options.compare.resolve())}
        cwds[name] = options.compare.resolve()  # ``-m`` puts the working folder first
    try:
        for name, argv in commands.items():  # warm-up: disk cache, and the store of `flowat runs`
            timed(argv, envs[name], cwds[name])
        seed_runs(env, options.runs)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.repeat):
            for name, argv in commands.items():
                wall, used = timed(argv, envs[name], cwds[name])
                samples[name].append(wall)
                cpu[name].append(used)
        baseline = statistics.median(samples["import flowat_kernel (baseline)"])
        cpu_baseline = statistics.median(cpu["import flowat_kernel (baseline)"])
        rows: dict[str, Any] = {}
        print(
            f"{'command':44} {'median':>7} {'min':>7} {'- base':>7} {'ratio':>6}"
            f" {'cpu':>7} {'- base':>7}"
        )
        for name, values in samples.items():
            median = statistics.median(values)
            cpu_median = statistics.median(cpu[name])
            rows[name] = {
                "median_s": round(median, 4),
                "min_s": round(min(values), 4),
                "over_baseline_s": round(median - baseline, 4),
                "ratio": round(median / baseline, 2),
                "cpu_median_s": round(cpu_median, 4),
                "cpu_over_baseline_s": round(cpu_median - cpu_baseline, 4),
                "runs": len(values),
            }
            print(
                f"{name:44} {median:7.3f} {min(values):7.3f} {median - baseline:+7.3f} "
                f"{median / baseline:6.2f} {cpu_median:7.3f} {cpu_median - cpu_baseline:+7.3f}"
            )
        base_modules = module_names("import flowat_kernel", env)
        help_modules = module_names(
            "from flowat_kernel.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass",
            env,
        )
        extra = sorted(
            m for m in help_modules - base_modules if "." not in m or m.startswith("flowat")
        )
        print(f"\nflowat --help imports beyond the baseline: {', '.join(extra) or 'nothing'}")
        slow = slowest_imports(["-m", "flowat_kernel.cli.main", "runs"], env)
        print("largest cumulative import times of `flowat runs` (s, nested included):")
        for name, seconds in slow:
            print(f"  {seconds:6.3f}  {name}")
        met = {
            name: rows[name]["over_baseline_s"] <= TARGET_S
            for name in ("flowat --help", "flowat runs")
        }
        total, groups = import_groups(["-m", "flowat_kernel.cli.main", "runs"], env)
        print(f"`flowat runs` imports: {total:.3f} s in all; own import time by package (s):")
        for name, seconds in groups:
            print(f"  {seconds:6.3f}  {name}")
        print(f"\ntarget (within {TARGET_S} s of the baseline): {met}")
        results.parent.mkdir(exist_ok=True)
        results.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "command": flowat,
                    "repeat": options.repeat,
                    "listed_runs": options.runs,
                    "results": rows,
                    "help_imports_beyond_baseline": extra,
                    "runs_slowest_imports": slow,
                    "runs_import_total_s": total,
                    "runs_import_by_package_s": groups,
                    "target_s": TARGET_S,
                    "target_met": met,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"results: {results}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
