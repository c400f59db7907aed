"""Bursts of short runs: N two-step webhook-style runs, executions per second end to end.

One Temporal dev server (FlowAt's own ``devserver.ensure_running``, in a temporary
FLOWAT_HOME) serves every mode; everything (starting side, API server, workers) runs in
this one process, as ``flowat dev`` would. Each event is a small JSON object
``{"id": i, "amount": ...}``; step 1 (``parse``) picks its fields, step 2 (``reply``)
builds a small JSON answer; both steps are ``--local`` (local activities).

Modes:

- ``run``: ``flowat.run(W, parameters=..., wait=False)`` from ``--threads`` threads,
  then every run awaited (its Temporal workflow closing);
- ``rest``: ``POST /api/v1/workflows/W/runs`` to the in-process ``ApiServer`` on
  loopback with an API key, from ``--clients`` keep-alive HTTP clients; then awaited;
- ``raw``: the raw SDK's best set-up on the same server: ``start_workflow`` with
  ``request_eager_start=True`` on the worker's own client, both steps local activities,
  unsandboxed workflow runner (``benchmarks/raw_burst.py``), ``--clients`` starts in
  flight;
- ``batch``: signed deliveries to a webhook created with ``batch`` / ``batch_window``,
  from ``--batch-clients`` HTTP clients; the workflow runs its two steps
  ``--foreach events``; every event's delivery must end ``succeeded`` with its answer;
- ``chunked``: the same webhook set-up, the two steps ``--foreach events --chunk N``
  (``--chunk``, default 100): each chunk of events is one activity and one step process,
  every event still its own item (recorded, retried, counted), the same checks.
  ``--senders N`` sends their deliveries from N other processes (``--batch-clients``
  threads each) instead of threads of this one, as real webhook senders are;
- ``looped`` (not run by default): the same webhook, but each step loops over
  ``events`` in one cell, so an event is no item of its own (no per-event attempt,
  retry or analytics): what the rest of the path costs, a ceiling for the two above.

Every mode checks that every execution completed and returned the right answer
(nothing lost). Run: ``python benchmarks/bench_burst.py [--runs 2000]`` (results in
benchmarks/results/burst.json); ``--rounds N`` splits the runs into N rounds that
interleave the modes (on a machine shared with other work, load changes then fall on
every mode alike); ``--profile DIR`` writes cProfile statistics of the starting side
and of the worker's event loop for the ``run`` and ``rest`` modes (the last round's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import temporalio
from burst_cells import (
    answer,
    batched_cells,
    event,
    looped_cells,
    single_cells,
)
from burst_profiles import Profiles, profile_loop, stop_loop_profile
from burst_senders import Clients, fire_deliveries, sender_ready
from common import machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "burst.json"
SINGLE = "burst_single"
BATCHED = "burst_batched"
CHUNKED = "burst_chunked"
LOOPED = "burst_looped"
FINISHED = ("succeeded", "failed", "cancelled", "timed_out")


def await_runs(runtime: Any, ids: list[str], timeout: float) -> None:
    """Until every run's workflow closed (success or failure)."""
    from flowat_kernel.engine.runner import StartedRun, wait_for_result

    store = runtime.store
    started = [StartedRun(i, store.get_run(i).temporal_workflow_id) for i in ids[-1:]]

    async def all_closed() -> None:
        from sqlalchemy import func, select

        from flowat_kernel.store.tables import RunRow

        await asyncio.gather(*(wait_for_result(runtime, s) for s in started))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = await asyncio.to_thread(
                store.read,
                select(func.count())
                .select_from(RunRow)
                .where(RunRow.id.in_(ids), RunRow.status.in_(FINISHED)),
            )
            if int(rows[0][0]) == len(ids):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"runs not finished after {timeout:g}s")

    runtime.call(all_closed(), timeout=timeout + 30)


def check_single(runtime: Any, ids: list[str], first: int) -> dict[str, Any]:
    """Every run succeeded with the answer of its own event."""
    from sqlalchemy import select

    from flowat_kernel.store.tables import RunRow, StepRunRow

    store = runtime.store
    statuses = dict(store.read(select(RunRow.id, RunRow.status).where(RunRow.id.in_(ids))))
    answers = dict(
        store.read(
            select(StepRunRow.run_id, StepRunRow.outputs).where(
                StepRunRow.run_id.in_(ids), StepRunRow.step == "reply"
            )
        )
    )
    wrong = [
        run_id
        for n, run_id in enumerate(ids, start=first)
        if statuses.get(run_id) != "succeeded"
        or ((answers.get(run_id) or {}).get("answer") or {}).get("inline") != answer(n)
    ]
    return {"runs": len(ids), "recorded": len(statuses), "wrong_or_missing": len(wrong)}


# -- the modes -----------------------------------------------------------------------------


def mode_run(runtime: Any, runs: int, threads: int, profile: Path | None) -> dict[str, Any]:
    import flowat_kernel as flowat

    profiles = Profiles(profile)
    loop_profiles = profile_loop(runtime, profile)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads, initializer=profiles.start_thread) as pool:
        ids = list(
            pool.map(
                lambda i: flowat.run(SINGLE, parameters={"payload": event(i)}, wait=False).run_id,
                range(runs),
            )
        )
        fired = time.perf_counter() - start
        await_runs(runtime, ids, 600)
        elapsed = time.perf_counter() - start
    profiles.stop_all("run-starting-side")
    stop_loop_profile(runtime, loop_profiles, "run-worker-loop")
    return {"fired_s": fired, "elapsed_s": elapsed, "checks": check_single(runtime, ids, 0)}


def mode_rest(runtime: Any, server: Any, key: str, runs: int, clients: int, first: int) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    path = f"/api/v1/workflows/{SINGLE}/runs"
    pool = Clients(server.port, clients)

    def fire(i: int) -> str:
        body = json.dumps({"parameters": {"payload": event(i)}}).encode()
        status, document = pool.post(path, body, headers)
        if status != 202:
            raise RuntimeError(f"REST start answered {status}: {document}")
        return str(document["run_id"])

    start = time.perf_counter()
    ids = list(pool.pool.map(fire, range(first, first + runs)))
    fired = time.perf_counter() - start
    await_runs(runtime, ids, 600)
    elapsed = time.perf_counter() - start
    pool.close()
    return {"fired_s": fired, "elapsed_s": elapsed, "checks": check_single(runtime, ids, first)}


def mode_raw(runtime: Any, address: str, runs: int, in_flight: int) -> dict[str, Any]:
    from raw_burst import RawBurst, parse, reply
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"

    async def run_all() -> dict[str, Any]:
        client = await Client.connect(address)
        executor = ThreadPoolExecutor(32, thread_name_prefix="raw-step")
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[RawBurst],
            activities=[parse, reply],
            activity_executor=executor,
            max_concurrent_activities=32,
            max_concurrent_local_activities=32,
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        task = asyncio.get_running_loop().create_task(worker.run())
        gate = asyncio.Semaphore(in_flight)
        eager = 0

        async def one(i: int) -> bool:
            nonlocal eager
            async with gate:
                handle = await client.start_workflow(
                    RawBurst.run,
                    event(i),
                    id=f"raw-{uuid.uuid4().hex}",
                    task_queue=queue,
                    request_eager_start=True,
                )
                eager += bool(getattr(handle, "__temporal_eagerly_started", False))
            return bool(await handle.result() == answer(i))

        await asyncio.gather(*(one(i) for i in range(10)))  # warm-up
        eager = 0
        start = time.perf_counter()
        ok = await asyncio.gather(*(one(i) for i in range(runs)))
        elapsed = time.perf_counter() - start
        await worker.shutdown()
        await task
        executor.shutdown(wait=False)
        return {
            "elapsed_s": elapsed,
            "eagerly_started": eager,
            "checks": {"runs": runs, "wrong_or_missing": runs - sum(ok)},
        }

    return runtime.call(run_all(), timeout=900)  # type: ignore[no-any-return]


def mode_batch(
    runtime: Any,
    server: Any,
    key: str,
    runs: int,
    clients: int,
    batch: int,
    window: str,
    workflow: str = BATCHED,
    senders: int = 0,
) -> dict[str, Any]:
    from sqlalchemy import select

    from flowat_kernel.store.tables import WebhookDeliveryRow

    api = Clients(server.port, 1)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    spec = {"workflow": workflow, "signed": True, "batch": batch, "batch_window": window}
    status, hook = api.post("/api/v1/webhooks", json.dumps(spec).encode(), auth)
    if status != 201:
        raise RuntimeError(f"webhook create answered {status}: {hook}")
    api.close()
    start = time.perf_counter()
    if senders:  # other processes send, as webhook senders are never the server's process
        slices = [list(range(runs))[k::senders] for k in range(senders)]
        with ProcessPoolExecutor(senders, mp_context=get_context("spawn")) as processes:
            for ready in [processes.submit(sender_ready) for _ in range(senders)]:
                ready.result()  # every sender started and imported: not timed
            start = time.perf_counter()
            jobs = [
                processes.submit(
                    fire_deliveries, server.port, hook["path"], hook["secret"], part, clients
                )
                for part in slices
            ]
            by_number = dict(pair for job in jobs for pair in job.result())
        placed = [by_number[i] for i in range(runs)]
    else:
        placed = fire_deliveries(server.port, hook["path"], hook["secret"], range(runs), clients)
        placed = [pair for _, pair in placed]

    def outcomes() -> dict[str, int]:
        rows = runtime.store.read(
            select(WebhookDeliveryRow.status).where(WebhookDeliveryRow.webhook_id == hook["id"])
        )
        counts: dict[str, int] = {}
        for (value,) in rows:
            counts[str(value)] = counts.get(str(value), 0) + 1
        return counts

    fired = time.perf_counter() - start
    run_ids = sorted({run_id for run_id, _ in placed})
    await_runs(runtime, run_ids, 600)
    elapsed = time.perf_counter() - start
    # Each event's own outcome is recorded by its batch's supervisor once the run ended.
    deadline = time.monotonic() + 60
    statuses = outcomes()
    while statuses.get("succeeded", 0) + statuses.get("failed", 0) < runs:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        statuses = outcomes()
    answers = 0
    for run_id in run_ids:
        record = runtime.store.get_run(run_id)
        steps = {s.name: s for s in record.steps}
        merged = ((steps["reply"].outputs or {}).get("answer") or {}).get("inline") or []
        for n, (rid, index) in enumerate(placed):  # each event's item of the merged list
            if rid == run_id and index < len(merged):
                answers += merged[index] == answer(n)
    return {
        "fired_s": fired,
        "elapsed_s": elapsed,
        "batch_runs": len(run_ids),
        "events_per_run": runs / max(len(run_ids), 1),
        "checks": {
            "runs": runs,
            "deliveries": statuses,
            "wrong_or_missing": runs - answers,
        },
    }


# -- main ----------------------------------------------------------------------------------


def rate(result: dict[str, Any], runs: int) -> float:
    """Executions per second of one mode's round."""
    return runs / float(result["elapsed_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16, help="flowat.run callers")
    parser.add_argument("--clients", type=int, default=16, help="REST clients; raw starts")
    parser.add_argument("--batch-clients", type=int, default=128)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--batch-window", default="20ms")
    parser.add_argument("--chunk", type=int, default=100, help="items per chunk (chunked mode)")
    parser.add_argument(
        "--senders",
        type=int,
        default=0,
        help="batch and chunked modes: send from this many other processes (0: threads here)",
    )
    parser.add_argument("--modes", default="raw,run,rest,batch,chunked")
    parser.add_argument("--rounds", type=int, default=1, help="interleave the modes this often")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    modes = args.modes.split(",")

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-burst-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = "bench-burst"
    os.environ["FLOWAT_API_PER_CREDENTIAL"] = str(args.clients)
    os.environ["FLOWAT_API_PER_WEBHOOK"] = str(max(args.batch_clients, args.batch))
    os.environ["FLOWAT_API_WAITS"] = str(max(args.batch_clients, 64))
    import flowat_kernel as flowat
    from flowat_kernel.access import access, local_principal
    from flowat_kernel.engine import devserver
    from flowat_kernel.runtime import get_runtime, reset_runtime
    from flowat_kernel.server.serve import ApiServer

    info = machine(temporalio=getattr(temporalio, "__version__", "?"))
    server, _ = devserver.ensure_running(home / "temporal")
    runtime = get_runtime()
    api = None
    results: dict[str, Any] = {
        "benchmark": "burst",
        "runs": args.runs,
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": info,
        "modes": {},
    }
    try:
        flowat.publish(SINGLE, cells=single_cells())
        flowat.publish(BATCHED, cells=batched_cells(min(args.batch, 64)))
        flowat.publish(CHUNKED, cells=batched_cells(min(args.batch, 64), args.chunk))
        flowat.publish(LOOPED, cells=looped_cells())
        key = access().keys.create(local_principal(), name="bench", scopes=["*"]).key
        api = ApiServer("127.0.0.1", 0).start()
        # warm-up: workers, imports, the API's pools
        warm = [flowat.run(SINGLE, parameters={"payload": event(i)}).status for i in range(5)]
        assert set(warm) == {"succeeded"}, warm
        mode_rest(runtime, api, key, 20, 4, 10**6)
        per_round = max(args.runs // args.rounds, 1)

        def one(mode: str, number: int) -> dict[str, Any]:
            runs = per_round
            if mode == "raw":
                return mode_raw(runtime, server.address, runs, args.clients * 4)
            if mode == "run":
                return mode_run(runtime, runs, args.threads, args.profile)
            if mode == "rest":
                profiles = profile_loop(runtime, args.profile)
                pool_profiles = Profiles(args.profile)
                if args.profile is not None:
                    api.gates._pool = ThreadPoolExecutor(  # profile the API's handler pool
                        api.gates.limits.threads, "flowat-api", pool_profiles.start_thread
                    )
                first = 10**7 + number * runs
                result = mode_rest(runtime, api, key, runs, args.clients, first)
                stop_loop_profile(runtime, profiles, "rest-worker-loop")
                if args.profile is not None:
                    pool = api.gates._pool
                    pool.submit(pool_profiles.stop_all, "rest-handlers").result()
                return result
            if mode in ("batch", "chunked", "looped"):
                workflow = {"batch": BATCHED, "chunked": CHUNKED, "looped": LOOPED}[mode]
                return mode_batch(
                    runtime,
                    api,
                    key,
                    runs,
                    args.batch_clients,
                    args.batch,
                    args.batch_window,
                    workflow,
                    args.senders,
                )
            raise SystemExit(f"unknown mode {mode}")

        # Rounds interleave the modes, so a change in the machine's load (other work on
        # it) falls on every mode alike; each mode's rate is over all its rounds.
        for number in range(args.rounds):
            for mode in modes:
                print(f"{mode}: {per_round} runs (round {number + 1})...", flush=True)
                result = one(mode, number)
                result["executions_per_s"] = rate(result, per_round)
                result["loadavg_after"] = os.getloadavg()
                print(f"  {result['executions_per_s']:.1f} executions/s  {result['checks']}")
                total = results["modes"].setdefault(
                    mode, {"runs": 0, "elapsed_s": 0.0, "wrong_or_missing": 0, "rounds": []}
                )
                total["runs"] += per_round
                total["elapsed_s"] += float(result["elapsed_s"])
                total["wrong_or_missing"] += int(result["checks"]["wrong_or_missing"])
                total["rounds"].append(result)
                partial = args.out.with_suffix(".partial.json")  # what a stopped run leaves
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps(results, indent=2, default=str) + "\n")
        for total in results["modes"].values():
            total["executions_per_s"] = total["runs"] / total["elapsed_s"]
            total["checks"] = {"runs": total["runs"], "wrong_or_missing": total["wrong_or_missing"]}
        raw = results["modes"].get("raw")
        for result in results["modes"].values():
            if raw:
                result["ratio_to_raw"] = result["executions_per_s"] / raw["executions_per_s"]
        report(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        args.out.with_suffix(".partial.json").unlink(missing_ok=True)
        print(f"written {args.out}")
    finally:
        if api is not None:
            api.stop()
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)


def report(results: dict[str, Any]) -> None:
    print(f"\n{results['runs']} two-step --local executions, end to end")
    print(f"{'mode':<8}{'exec/s':>10}{'x raw':>8}  checks")
    for mode, result in results["modes"].items():
        ratio = result.get("ratio_to_raw")
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        print(f"{mode:<8}{result['executions_per_s']:>10.1f}{shown:>8}  {result['checks']}")


if __name__ == "__main__":
    sys.exit(main())
