"""What a worker's resident memory is made of, FlowAt's and the raw SDK's, measured alike.

Each side runs in a fresh process that imports its modules group by group, in the order
a worker needs them, and reads its own RSS (``VmRSS``) after each group; the last stage
starts the worker itself (connects, polls) and reads it once more after two seconds.
The differences between stages are what each group costs: imported code and the data
it builds at import, native libraries included (which ``tracemalloc`` would not see).

Used by ``bench_load.py`` (both sides in the same run); alone:
``python benchmarks/worker_memory.py`` with ``FLOWAT_HOME`` pointing at a home whose
embedded Temporal server may be started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: FlowAt's worker, group by group (each includes what it imports and is not yet loaded).
FLOWAT_STAGES: list[tuple[str, list[str]]] = [
    ("Python and `import flowat_kernel`", ["flowat_kernel"]),
    ("temporalio client and worker", ["temporalio.client", "temporalio.worker"]),
    ("SQLAlchemy core and ORM", ["sqlalchemy", "sqlalchemy.orm"]),
    ("pydantic and the spec model", ["pydantic", "flowat_kernel.spec"]),
    ("the metadata store (tables, records, queries)", ["flowat_kernel.store"]),
    (
        "vault and payload codec (cryptography)",
        ["flowat_kernel.vault.vault", "flowat_kernel.vault.codec"],
    ),
    ("analytics writer (pyarrow)", ["flowat_kernel.analytics.writer"]),
    ("numpy and pandas", ["numpy", "pandas"]),
    ("FlowAt's engine (worker, workflow, activities)", ["flowat_kernel.engine.worker"]),
]

#: The raw SDK worker of bench_load.py.
RAW_STAGES: list[tuple[str, list[str]]] = [
    ("Python", []),
    ("temporalio client and worker", ["temporalio.client", "temporalio.worker"]),
    ("the benchmark's workflow module", ["bench_load"]),
]

_HEAD = textwrap.dedent(
    """
    import gc, importlib, json, sys, time

    def rss_mb():
        fields = {}
        for line in open("/proc/self/status"):
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[name] = int(value.split()[0]) / 1024
        return fields

    for name, modules in json.loads(sys.argv[1]):
        for module in modules:
            importlib.import_module(module)
        gc.collect()
        print(json.dumps([name, rss_mb(), len(sys.modules)]), flush=True)
    """
)

_TAIL = textwrap.dedent(
    """
    gc.collect()
    time.sleep(2.0)
    print(json.dumps(["worker started and polling", rss_mb(), len(sys.modules)]), flush=True)
    print("MODULES " + json.dumps(sorted(sys.modules)), flush=True)
    """
)

_FLOWAT_START = textwrap.dedent(
    """
    from flowat_kernel.runtime import get_runtime, reset_runtime
    from flowat_kernel.triggers.worker import ensure_trigger_worker
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())
    ensure_trigger_worker(runtime)
    import atexit; atexit.register(reset_runtime)
    """
)

_RAW_START = textwrap.dedent(
    """
    import asyncio, threading
    from concurrent.futures import ThreadPoolExecutor
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
    import bench_load

    async def serve(ready):
        client = await Client.connect(ADDRESS)
        worker = Worker(
            client, task_queue="memory-probe", workflows=[bench_load.RawLoad],
            activities=[bench_load.raw_make, bench_load.raw_transform, bench_load.raw_report],
            activity_executor=ThreadPoolExecutor(32), max_concurrent_activities=32,
            max_concurrent_local_activities=32,
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules("bench_load")),
        )
        async with worker:
            ready.set()
            await asyncio.sleep(3600)

    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(serve(ready)), daemon=True).start()
    ready.wait(60)
    """
)


def _probe(
    stages: list[tuple[str, list[str]]],
    start: str,
    env: dict[str, str],
    loaded: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Run one probe process; ``loaded`` receives the modules it had at the end."""
    loaded = set() if loaded is None else loaded
    code = _HEAD + start + _TAIL
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(stages)],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr[-3000:]}")
    rows, previous = [], 0.0
    for line in done.stdout.splitlines():
        if line.startswith("MODULES "):
            loaded.update(json.loads(line.removeprefix("MODULES ")))
        if not line.startswith("["):
            continue
        name, fields, modules = json.loads(line)
        rss = fields["VmRSS"]
        rows.append(
            {
                "stage": name,
                "rss_mb": round(rss, 1),
                "adds_mb": round(rss - previous, 1),
                "anon_mb": round(fields.get("RssAnon", 0.0), 1),
                "file_mb": round(fields.get("RssFile", 0.0), 1),
                "modules": modules,
            }
        )
        previous = rss
    return rows


def _staged(stages: list[tuple[str, list[str]]], start: str, env: dict[str, str]) -> dict[str, Any]:
    """Start the worker once as is, then again with its modules imported group by group.

    The first process tells which modules a started worker really has; the second
    imports only those of each group, so no stage loads what the worker would not.
    """
    loaded: set[str] = set()
    plain = _probe([], start, env, loaded)
    present = [
        (name, [m for m in modules if m in loaded])
        for name, modules in stages
        if not modules or any(m in loaded for m in modules)
    ]
    rows = _probe(present, start, env)
    return {
        "started_rss_mb": plain[-1]["rss_mb"],
        "stages": rows,
        "not_loaded": [m for _, modules in stages for m in modules if m not in loaded],
        "top_level_packages": sorted({m.split(".")[0] for m in loaded if not m.startswith("_")}),
    }


def flowat_memory(env: dict[str, str]) -> dict[str, Any]:
    """RSS of a FlowAt worker process, stage by stage (``env`` names its home and queue)."""
    return _staged(FLOWAT_STAGES, _FLOWAT_START, env)


def raw_memory(address: str, env: dict[str, str]) -> dict[str, Any]:
    """RSS of the raw SDK worker process, stage by stage, polling the server at ``address``."""
    return _staged(RAW_STAGES, _RAW_START.replace("ADDRESS", repr(address)), env)


def show(title: str, memory: dict[str, Any]) -> None:
    """Print one side's stages."""
    print(f"\n{title}: started as is {memory['started_rss_mb']:.1f} MB; after each stage (MB):")
    print(f"  {'RSS':>7}  {'added':>7}  {'anon':>6}  {'files':>6}")
    for row in memory["stages"]:
        print(
            f"  {row['rss_mb']:7.1f}  {row['adds_mb']:+7.1f}  {row['anon_mb']:6.1f}  "
            f"{row['file_mb']:6.1f}  {row['stage']}"
        )
    if memory["not_loaded"]:
        print(f"  (not loaded by the worker: {', '.join(memory['not_loaded'])})")


def main() -> None:
    from flowat_kernel.engine import devserver

    home = Path(os.environ.get("FLOWAT_HOME", "~/.flowat")).expanduser()
    server, _ = devserver.ensure_running(home / "temporal")
    env = {**os.environ, "FLOWAT_TASK_QUEUE": "memory-probe-flowat"}
    show("FlowAt worker", flowat_memory(env))
    show("raw SDK worker", raw_memory(server.address, env))


if __name__ == "__main__":
    main()
