"""FlowAt's engine versus the raw temporalio SDK on a chain of 10 no-op steps.

One Temporal dev server (FlowAt's own ``devserver.ensure_running``, in a temporary
FLOWAT_HOME) serves both. Cases: one run alone (median latency) and 50 runs at once
(steps per second), each with regular activities and with local activities.
Run: ``python benchmarks/bench_engine.py`` (results in benchmarks/results/engine.json).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import temporalio
from common import machine
from raw_chain import RawChain, noop
from temporalio.client import Client
from temporalio.worker import Worker

STEPS = 10
SINGLE_REPS = 10
WARMUP = 3
CONCURRENT = 50
BATCH_REPS = 3
RAW_QUEUE = "bench-raw"
RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


def chain_cells(local: bool) -> list[Any]:
    from flowat_kernel.compiler import Cell

    flag = " --local" if local else ""
    return [
        Cell(f"%%flowat step s{i}{flag}" + (f" --after s{i - 1}" if i > 1 else "") + "\npass", i)
        for i in range(1, STEPS + 1)
    ]


async def start_raw_worker(client: Client, concurrency: int) -> tuple[Worker, Any, Any]:
    """The baseline worker: same executor kind, concurrency and workflow runner as FlowAt's.

    FlowAt's workers run its workflows outside Temporal's sandbox by default
    (``flowat_kernel.engine.worker.workflow_runner``); so does this one.
    """
    from flowat_kernel.engine.worker import workflow_runner

    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="raw-step")
    worker = Worker(
        client,
        task_queue=RAW_QUEUE,
        workflows=[RawChain],
        activities=[noop],
        activity_executor=executor,
        max_concurrent_activities=concurrency,
        max_concurrent_local_activities=concurrency,
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    return worker, asyncio.get_running_loop().create_task(worker.run()), executor


async def raw_batch(client: Client, local: bool, count: int) -> None:
    await asyncio.gather(
        *(
            client.execute_workflow(
                RawChain.run,
                args=[STEPS, local],
                id=f"raw-{uuid.uuid4().hex}",
                task_queue=RAW_QUEUE,
            )
            for _ in range(count)
        )
    )


async def flowat_batch(runtime: Any, version: Any, count: int) -> list[str]:
    from flowat_kernel.engine.launch import RunLauncher
    from flowat_kernel.engine.runner import wait_for_result

    launcher = RunLauncher(runtime)
    started = await asyncio.gather(
        *(
            launcher.start_async(version, {}, trigger="bench", actor="bench", worker="never")
            for _ in range(count)
        )
    )
    await asyncio.gather(*(wait_for_result(runtime, run) for run in started))
    return [run.run_id for run in started]


def timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(runtime: Any, raw_client: Client, name: str, version: Any, local: bool) -> dict:
    from flowat_kernel import api

    def api_run() -> None:
        result = api.run(name)
        if result.status != "succeeded":
            raise RuntimeError(f"FlowAt run {result.run_id} ended {result.status}: {result.error}")

    def check(ids: list[str]) -> None:
        bad = [i for i in ids if runtime.store.get_run(i).status != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} FlowAt runs did not succeed, e.g. {bad[0]}")

    def engine_batch(count: int) -> list[str]:
        return runtime.call(flowat_batch(runtime, version, count))

    def raw(count: int) -> None:
        runtime.call(raw_batch(raw_client, local, count))

    for _ in range(WARMUP):
        api_run(), check(engine_batch(1)), raw(1)
    check(engine_batch(10)), raw(10)
    api_s, engine_s, raw_s = [], [], []
    for _ in range(SINGLE_REPS):  # interleaved, so drifting background load hits all alike
        api_s.append(timed(api_run))
        engine_s.append(timed(lambda: engine_batch(1)))
        raw_s.append(timed(lambda: raw(1)))
    flowat_b, raw_b, ids = [], [], []
    for _ in range(BATCH_REPS):  # time starting and waiting only; check the store afterwards
        flowat_b.append(timed(lambda: ids.extend(engine_batch(CONCURRENT))))
        raw_b.append(timed(lambda: raw(CONCURRENT)))
    check(ids)
    med = statistics.median
    single = {
        "flowat_api_run_ms": med(api_s) * 1000,
        "flowat_engine_ms": med(engine_s) * 1000,
        "raw_ms": med(raw_s) * 1000,
        "samples_ms": {
            "flowat_api_run": [round(s * 1000, 1) for s in api_s],
            "flowat_engine": [round(s * 1000, 1) for s in engine_s],
            "raw": [round(s * 1000, 1) for s in raw_s],
        },
    }
    for key in ("flowat_api_run", "flowat_engine", "raw"):
        single[f"{key}_ms_per_step"] = single[f"{key}_ms"] / STEPS
    single["ratio"] = single["flowat_api_run_ms"] / single["raw_ms"]
    single["ratio_engine_path"] = single["flowat_engine_ms"] / single["raw_ms"]
    total = CONCURRENT * STEPS
    concurrent = {
        "runs": CONCURRENT,
        "flowat_steps_per_s": total / med(flowat_b),
        "raw_steps_per_s": total / med(raw_b),
        "samples_s": {
            "flowat": [round(s, 3) for s in flowat_b],
            "raw": [round(s, 3) for s in raw_b],
        },
    }
    concurrent["ratio"] = concurrent["raw_steps_per_s"] / concurrent["flowat_steps_per_s"]
    return {"single": single, "concurrent": concurrent}


def machine_info() -> dict[str, Any]:
    return machine(temporalio=getattr(temporalio, "__version__", "?"))


def report(results: dict) -> None:
    print(
        f"\n{STEPS}-step no-op chain; single = median of {SINGLE_REPS}, "
        f"concurrent = {CONCURRENT} runs at once, median of {BATCH_REPS}"
    )
    print(f"{'case':<28}{'FlowAt':>22}{'raw SDK':>22}{'FlowAt/raw':>12}")
    for kind, case in results["cases"].items():
        s, c = case["single"], case["concurrent"]
        for label, ms, ratio in (
            ("api.run", s["flowat_api_run_ms"], s["ratio"]),
            ("engine", s["flowat_engine_ms"], s["ratio_engine_path"]),
        ):
            flowat = f"{ms:.0f} ms ({ms / STEPS:.1f}/step)"
            raw = f"{s['raw_ms']:.0f} ms ({s['raw_ms'] / STEPS:.1f}/step)"
            print(f"{f'single, {kind}, {label}':<28}{flowat:>22}{raw:>22}{ratio:>11.2f}x")
        flowat = f"{c['flowat_steps_per_s']:.0f} steps/s"
        raw = f"{c['raw_steps_per_s']:.0f} steps/s"
        print(f"{f'{CONCURRENT} at once, {kind}':<28}{flowat:>22}{raw:>22}{c['ratio']:>11.2f}x")
    print("FlowAt/raw is time per step (>1: FlowAt slower). Target: <= 1.2x.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        choices=("both", "activities", "local"),
        default="both",
        help="which cases to measure (default: both)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="flowat-bench-engine-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = "bench-flowat"
    from flowat_kernel import api
    from flowat_kernel.engine import devserver
    from flowat_kernel.engine.worker import build_worker
    from flowat_kernel.runtime import get_runtime, reset_runtime

    info = machine_info()
    server, _ = devserver.ensure_running(home / "temporal")
    raw_worker = None
    runtime = get_runtime()
    try:
        concurrency = inspect.signature(build_worker).parameters["max_concurrent_steps"].default
        runtime.call(runtime.ensure_worker())
        raw_client = runtime.call(Client.connect(server.address))
        raw_worker = runtime.call(start_raw_worker(raw_client, concurrency))
        cases = {}
        chosen = {"both": (False, True), "activities": (False,), "local": (True,)}[args.cases]
        for local in chosen:
            kind = "local activities" if local else "activities"
            name = "noop_chain_local" if local else "noop_chain"
            version = api.publish(name, cells=chain_cells(local)).version
            cases[kind] = measure(runtime, raw_client, name, version, local)
        results = {
            "benchmark": "engine",
            "steps": STEPS,
            "worker_max_concurrency": concurrency,
            "machine": info,
            "cases": cases,
        }
        report(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written {args.out}")
    finally:
        if raw_worker is not None:
            worker, task, executor = raw_worker

            async def stop_raw() -> None:
                await worker.shutdown()
                await task

            runtime.call(stop_raw(), timeout=30)
            executor.shutdown(wait=False)
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
