"""Load: 1,000 runs of a small workflow queued at once, drained by one worker.

One Temporal dev server (FlowAt's own ``devserver.ensure_running``, in a temporary
FLOWAT_HOME) serves both sides, each on its own task queue:

- **FlowAt**: a 3-step workflow (``make`` and ``transform`` as activities, ``report``
  as a local activity) is published, then N runs are started through the public API
  (``flowat_kernel.run(..., wait=False, worker="never")``) with no worker polling.
  Only then one ``python -m flowat_kernel.cli.main worker`` subprocess starts and
  drains the queue. Its RSS is sampled throughout.
- **raw SDK**: the same 3 activities (two activities, one local activity, the same
  arithmetic and the same ledger line per execution) in one workflow written with
  temporalio, N executions started at once, then one worker subprocess configured like
  FlowAt's (thread-pool executor, 32 concurrent activities and local activities,
  sandbox with its own module passed through).

Every step execution appends ``run step attempt`` to a ledger file, so duplicate
executions show up; every run must end succeeded with each step run exactly once.

Memory, both sides in the same run: each worker's RSS sampled throughout, the PSS of
the FlowAt worker's child processes (step processes and their template) at each
quarter of the runs, and before the load what each worker process holds once started,
import group by import group (``worker_memory.py``; ``--memory-only`` measures just
that).
Run: ``python benchmarks/bench_load.py`` (results in benchmarks/results/load.json).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import worker_memory
from common import machine
from temporalio import activity, workflow

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "load.json"
REPO = HERE.parent
WORKFLOW = "load_small"
STEPS = ("make", "transform", "report")
RAW_WORKFLOW = "bench.load_raw"
STEP_TIMEOUT = timedelta(seconds=120)
CONCURRENCY = 32  # FlowAt's build_worker default, read again at run time
SUBMIT_THREADS = 8
QUARTERS = (0.25, 0.5, 0.75, 1.0)
SAMPLE_EVERY = 0.05
POLL_EVERY = 0.1
SERVER_PID: int | None = None  # the Temporal dev server, set by main()


# -- the raw temporalio baseline (imported by the raw worker subprocess) ---------------


def _ledger(path: str, run: str, step: str) -> None:
    with open(path, "a") as file:
        file.write(f"{run} {step} {activity.info().attempt}\n")


@activity.defn(name="bench.load.make")
def raw_make(ledger: str, run: str, n: int) -> int:
    """Step 1: a value from the parameter."""
    _ledger(ledger, run, "make")
    return n * 2


@activity.defn(name="bench.load.transform")
def raw_transform(ledger: str, run: str, value: int) -> int:
    """Step 2: transform it."""
    _ledger(ledger, run, "transform")
    return value + 1


@activity.defn(name="bench.load.report")
def raw_report(ledger: str, run: str, n: int, scaled: int) -> dict:
    """Step 3: report (a local activity, like FlowAt's ``report --local``)."""
    _ledger(ledger, run, "report")
    return {"n": n, "result": scaled}


@workflow.defn(name=RAW_WORKFLOW)
class RawLoad:
    """make -> transform -> report, the same shape as the FlowAt workflow."""

    @workflow.run
    async def run(self, n: int, ledger: str) -> dict:
        run = workflow.info().workflow_id
        value = await workflow.execute_activity(
            raw_make, args=[ledger, run, n], start_to_close_timeout=STEP_TIMEOUT
        )
        scaled = await workflow.execute_activity(
            raw_transform, args=[ledger, run, value], start_to_close_timeout=STEP_TIMEOUT
        )
        return await workflow.execute_local_activity(
            raw_report, args=[ledger, run, n, scaled], start_to_close_timeout=STEP_TIMEOUT
        )


def raw_worker_main(address: str, task_queue: str, concurrency: int) -> None:
    """Entry point of the raw worker subprocess: poll until SIGINT/SIGTERM."""
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import (
        SandboxedWorkflowRunner,
        SandboxRestrictions,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        client = await Client.connect(address)
        executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="raw-step")
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[RawLoad],
            activities=[raw_make, raw_transform, raw_report],
            activity_executor=executor,
            max_concurrent_activities=concurrency,
            max_concurrent_local_activities=concurrency,
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules("bench_load")
            ),
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            sys.stderr.write(f"raw worker polling task queue {task_queue!r}\n")
            sys.stderr.flush()
            await stop.wait()
        executor.shutdown(wait=False)

    asyncio.run(main())


# -- the FlowAt workflow -----------------------------------------------------------------


def flowat_cells() -> list[Any]:
    from flowat_kernel.compiler import Cell

    def step(header: str, body: str) -> str:
        return (
            f"%%flowat step {header}\n"
            "import flowat_kernel as _flowat\n"
            "_me = _flowat.current_step()\n"
            "with open(ledger, 'a') as _file:\n"
            "    _file.write(f'{_me.run_id} {_me.step} {_me.attempt}\\n')\n"
            f"{body}\n"
        )

    return [
        Cell("n = 0\nledger = ''", 1, tags=("parameters",)),
        Cell(step("make", "value = n * 2"), 2),
        Cell(step("transform", "scaled = value + 1"), 3),
        Cell(step("report --local", "report = {'n': n, 'result': scaled}"), 4),
    ]


# -- measuring a worker subprocess -------------------------------------------------------


class WorkerProcess:
    """A worker subprocess: its readiness (a line on stderr) and its memory over time."""

    def __init__(self, argv: list[str], ready_text: str, env: dict[str, str]) -> None:
        import psutil

        self.spawned = time.time()
        self.popen = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.process = psutil.Process(self.popen.pid)
        self.ready_text = ready_text
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self.stderr: list[str] = []
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.stderr.append(line.rstrip())
            if not self.ready.is_set() and self.ready_text in line:
                self.ready_at = time.time()
                self.ready.set()

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def children_memory(self) -> dict[str, float]:
        """The worker's child processes (step processes and their template): count, PSS.

        PSS (proportional set size) splits pages shared between processes, such as a
        forked child's copy-on-write pages, among them, so the sum does not count a
        page twice; the worker's own PSS is given next to it for the same reason.
        """
        children, pss = 0, 0
        for child in self.process.children(recursive=True):
            try:
                pss += child.memory_full_info().pss
                children += 1
            except Exception:  # it just ended
                continue
        try:
            own = self.process.memory_full_info().pss
        except Exception:
            own = 0
        return {"children": children, "children_pss_mb": pss / 2**20, "worker_pss_mb": own / 2**20}

    def _sample(self) -> None:
        while not self._stop.is_set() and self.popen.poll() is None:
            try:
                self.samples.append((time.time(), self.rss()))
            except Exception:  # the process just ended
                return
            time.sleep(SAMPLE_EVERY)

    def status_kb(self, field: str) -> int:
        """A ``VmHWM`` / ``VmRSS`` line of /proc/PID/status, in kB."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self) -> dict[str, Any]:
        """Measure what is left to measure, then SIGINT the worker and wait for it."""
        self._stop.set()
        times = self.process.cpu_times()
        facts = {
            "peak_rss_mb_vmhwm": self.status_kb("VmHWM") / 1024,
            "peak_rss_mb_sampled": max((r for _, r in self.samples), default=0) / 2**20,
            "rss_mb_at_end": self.rss() / 2**20,
            "cpu_s": round(times.user + times.system, 2),
            "rss_samples": len(self.samples),
        }
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        facts["exit_code"] = self.popen.returncode
        return facts


def cpu_snapshot(worker: WorkerProcess) -> dict[str, float]:
    """CPU seconds so far: the worker, the Temporal server, this process, the machine."""
    import psutil

    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system + times.children_user + times.children_system)

    machine = psutil.cpu_times()
    snapshot = {
        "worker": used(worker.process),
        "this_process": used(psutil.Process()),
        "machine_busy": float(sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)),
        "wall": time.time(),
    }
    if SERVER_PID is not None:
        snapshot["temporal_server"] = used(psutil.Process(SERVER_PID))
    return snapshot


def cpu_during(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two snapshots, and what other processes used."""
    spent = {key: round(after[key] - before[key], 1) for key in before}
    ours = sum(v for k, v in spent.items() if k not in ("machine_busy", "wall"))
    spent["other_processes"] = round(spent["machine_busy"] - ours, 1)
    spent["cores"] = len(os.sched_getaffinity(0))
    return spent


def drain(
    worker: WorkerProcess, runs: int, count_done: Callable[[], int], timeout: float
) -> dict[str, Any]:
    """Poll ``count_done`` until every run is finished; RSS at each quarter of the runs."""
    if not worker.ready.wait(120):
        raise RuntimeError("the worker did not start:\n" + "\n".join(worker.stderr[-30:]))
    cpu_before = cpu_snapshot(worker)
    quarters: dict[str, Any] = {
        "0": {"done": 0, "rss_mb": worker.rss() / 2**20, "s": 0.0, **worker.children_memory()}
    }
    pending = [(q, max(1, round(runs * q))) for q in QUARTERS]
    deadline = time.time() + timeout
    done = 0
    while pending:
        if worker.popen.poll() is not None:
            raise RuntimeError("the worker died:\n" + "\n".join(worker.stderr[-30:]))
        if time.time() > deadline:
            break
        done = count_done()
        while pending and done >= pending[0][1]:
            q, _ = pending.pop(0)
            assert worker.ready_at is not None
            quarters[f"{q:g}"] = {
                "done": done,
                "rss_mb": worker.rss() / 2**20,
                "s": time.time() - worker.ready_at,
                **worker.children_memory(),
            }
        if pending:
            time.sleep(POLL_EVERY)
    return {
        "quarters": quarters,
        "timed_out": bool(pending),
        "done_at_end": done,
        "cpu_s_during_drain": cpu_during(cpu_before, cpu_snapshot(worker)),
        "loadavg_after_drain": os.getloadavg(),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {"p50": at(0.5), "p95": at(0.95), "max": ordered[-1], "min": ordered[0]}


def check_ledger(path: Path, runs: set[str]) -> dict[str, Any]:
    lines = path.read_text().splitlines() if path.exists() else []
    entries = Counter((line.split()[0], line.split()[1]) for line in lines)
    attempts = Counter(line.split()[2] for line in lines)
    expected = {(run, step) for run in runs for step in STEPS}
    return {
        "lines": len(lines),
        "expected_lines": len(expected),
        "duplicates": sum(c - 1 for c in entries.values() if c > 1),
        "missing": len(expected - entries.keys()),
        "unexpected": len(entries.keys() - expected),
        "attempts": dict(attempts),
        "ok": len(lines) == len(expected) and entries.keys() == expected,
    }


def worker_env(home: Path, queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env["FLOWAT_HOME"] = str(home)
    env["FLOWAT_TASK_QUEUE"] = queue
    env.pop("FLOWAT_TEMPORAL_ADDRESS", None)
    return env


def summarise(
    runs: int, submit_s: float, worker: WorkerProcess, progress: dict, ends: list[float]
) -> dict[str, Any]:
    assert worker.ready_at is not None
    last = max(ends) if ends else time.time()
    drain_s = last - worker.ready_at
    return {
        "submit_s": submit_s,
        "submit_runs_per_s": runs / submit_s,
        "worker_start_s": worker.ready_at - worker.spawned,
        "drain_s": drain_s,
        "drain_from_spawn_s": last - worker.spawned,
        "throughput_runs_per_s": len(ends) / drain_s,
        "rss_by_completed": progress["quarters"],
        "cpu_s_during_drain": progress["cpu_s_during_drain"],
        "loadavg_after_drain": progress["loadavg_after_drain"],
        "timed_out": progress["timed_out"],
        "worker_rss_mb_every_5s": rss_series(worker),
    }


def rss_series(worker: WorkerProcess, every: float = 5.0) -> list[tuple[float, float]]:
    """The worker's sampled RSS, the highest sample in each ``every`` seconds from spawn."""
    buckets: dict[int, int] = {}
    for at, rss in worker.samples:
        key = int((at - worker.spawned) // every)
        buckets[key] = max(buckets.get(key, 0), rss)
    return [(key * every, round(rss / 2**20, 1)) for key, rss in sorted(buckets.items())]


def max_in_flight(intervals: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one time."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, delta in events:
        current += delta
        most = max(most, current)
    return most


# -- the two sides -----------------------------------------------------------------------


def bench_flowat(home: Path, runs: int, timeout: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    import flowat_kernel as flowat
    from flowat_kernel.runtime import get_runtime
    from flowat_kernel.store.tables import RunRow, StepRunRow

    runtime = get_runtime()
    ledger = home / "flowat-ledger.txt"
    published = flowat.publish(WORKFLOW, cells=flowat_cells())
    print(f"FlowAt: {published.summary()}", flush=True)

    def submit(i: int) -> str:
        run = flowat.run(
            WORKFLOW, parameters={"n": i, "ledger": str(ledger)}, wait=False, worker="never"
        )
        return run.run_id

    start = time.perf_counter()
    with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
        ids = list(pool.map(submit, range(runs)))
    submit_s = time.perf_counter() - start
    store = runtime.store
    queued = store.read(select(func.count()).select_from(RunRow).where(RunRow.status == "queued"))
    print(f"FlowAt: {runs} runs submitted in {submit_s:.1f} s, {queued[0][0]} queued", flush=True)

    finished = ("succeeded", "failed", "cancelled", "timed_out")

    def count_done() -> int:
        rows = store.read(
            select(func.count()).select_from(RunRow).where(RunRow.status.in_(finished))
        )
        return int(rows[0][0])

    worker = WorkerProcess(
        [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
        "FlowAt worker polling task queue",
        worker_env(home, runtime.settings.task_queue),
    )
    try:
        progress = drain(worker, runs, count_done, timeout)
        time.sleep(0.5)  # let the last run_finished settle before measuring
        memory = worker.stop()
    except BaseException:
        worker.popen.kill()
        raise

    run_rows = store.read(
        select(RunRow.id, RunRow.status, RunRow.created_at, RunRow.started_at, RunRow.ended_at)
    )
    step_rows = store.read(
        select(StepRunRow.run_id, StepRunRow.step, StepRunRow.status, StepRunRow.attempts)
    )
    report_rows = store.read(
        select(StepRunRow.run_id, StepRunRow.outputs).where(StepRunRow.step == "report")
    )
    params = dict(
        store.read(select(RunRow.id, RunRow.parameters)),
    )

    def ts(value: datetime) -> float:
        from flowat_kernel.store.repository import aware

        return aware(value).timestamp()  # type: ignore[union-attr]

    statuses = Counter(row.status for row in run_rows)
    ends = [ts(row.ended_at) for row in run_rows if row.ended_at is not None]
    latencies = [
        ts(row.ended_at) - ts(row.created_at) for row in run_rows if row.ended_at is not None
    ]
    run_times = [  # run_started (the worker's first task for the run) to the end
        ts(row.ended_at) - ts(row.started_at)
        for row in run_rows
        if row.ended_at is not None and row.started_at is not None
    ]
    steps_per_run = Counter(row.run_id for row in step_rows)
    bad_steps = [r for r in step_rows if r.status != "succeeded" or r.attempts != 1]
    wrong_reports = [
        run_id
        for run_id, outputs in report_rows
        # small values are recorded inline (flowat_kernel.engine.values.Value)
        if ((outputs or {}).get("report") or {}).get("inline")
        != {"n": params[run_id]["n"], "result": params[run_id]["n"] * 2 + 1}
    ]
    checks = {
        "run_records": len(run_rows),
        "submitted_ids_all_recorded": set(ids) == {row.id for row in run_rows},
        "statuses": dict(statuses),
        "step_records": len(step_rows),
        "runs_without_3_steps": sum(1 for r in ids if steps_per_run[r] != len(STEPS)),
        "steps_not_succeeded_once": len(bad_steps),
        "step_attempts": dict(Counter(r.attempts for r in step_rows)),
        "wrong_report_outputs": len(wrong_reports),
        "ledger": check_ledger(ledger, set(ids)),
    }
    checks["all_ok"] = (
        checks["run_records"] == runs
        and checks["submitted_ids_all_recorded"]
        and statuses.get("succeeded", 0) == runs
        and checks["step_records"] == runs * len(STEPS)
        and checks["runs_without_3_steps"] == 0
        and checks["steps_not_succeeded_once"] == 0
        and checks["wrong_report_outputs"] == 0
        and checks["ledger"]["ok"]
    )
    result = summarise(runs, submit_s, worker, progress, ends)
    result.update(
        latency_s=percentiles(latencies) if latencies else None,
        run_time_s=percentiles(run_times) if run_times else None,
        max_runs_in_flight=max_in_flight(
            [(ts(r.started_at), ts(r.ended_at)) for r in run_rows if r.started_at and r.ended_at]
        ),
        worker=memory,
        checks=checks,
        worker_stderr_tail=worker.stderr[-10:],
    )
    if wrong_reports:
        result["wrong_report_example"] = next(
            {"run": r, "outputs": o} for r, o in report_rows if r == wrong_reports[0]
        )
    return result


def bench_raw(home: Path, address: str, runs: int, timeout: float) -> dict[str, Any]:
    from temporalio.client import Client, WorkflowExecutionStatus

    from flowat_kernel.runtime import get_runtime

    runtime = get_runtime()
    client = runtime.call(Client.connect(address))
    queue = f"bench-load-raw-{uuid.uuid4().hex[:8]}"
    ledger = home / "raw-ledger.txt"
    prefix = f"raw-{uuid.uuid4().hex[:8]}"

    def submit(i: int) -> str:
        handle = runtime.call(
            client.start_workflow(
                RAW_WORKFLOW, args=[i, str(ledger)], id=f"{prefix}-{i}", task_queue=queue
            )
        )
        return handle.id

    start = time.perf_counter()
    with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
        ids = list(pool.map(submit, range(runs)))
    submit_s = time.perf_counter() - start
    print(f"raw SDK: {runs} workflows submitted in {submit_s:.1f} s", flush=True)

    def count_done() -> int:
        query = f"TaskQueue = '{queue}' AND ExecutionStatus != 'Running'"
        return int(runtime.call(client.count_workflows(query)).count)

    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_load; "
        f"bench_load.raw_worker_main({address!r}, {queue!r}, {CONCURRENCY})"
    )
    worker = WorkerProcess(
        [sys.executable, "-c", code], "raw worker polling", worker_env(home, queue)
    )
    try:
        progress = drain(worker, runs, count_done, timeout)
        memory = worker.stop()
    except BaseException:
        worker.popen.kill()
        raise

    async def listing() -> list[Any]:
        return [w async for w in client.list_workflows(f"TaskQueue = '{queue}'")]

    executions = runtime.call(listing())
    statuses = Counter(w.status.name if w.status is not None else "UNKNOWN" for w in executions)
    ends = [w.close_time.timestamp() for w in executions if w.close_time is not None]
    latencies = [
        (w.close_time - w.start_time).total_seconds()
        for w in executions
        if w.close_time is not None
    ]
    completed = sum(1 for w in executions if w.status == WorkflowExecutionStatus.COMPLETED)
    checks = {
        "executions": len(executions),
        "statuses": dict(statuses),
        "ledger": check_ledger(ledger, set(ids)),
    }
    checks["all_ok"] = len(executions) == runs and completed == runs and checks["ledger"]["ok"]
    result = summarise(runs, submit_s, worker, progress, ends)
    result.update(
        latency_s=percentiles(latencies) if latencies else None,
        worker=memory,
        checks=checks,
        worker_stderr_tail=worker.stderr[-10:],
    )
    return result


# -- report ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import temporalio

    return machine(
        temporalio=getattr(temporalio, "__version__", "?"),
        git_commit=git("rev-parse", "HEAD"),
        product_code_changes=git("status", "--short", "--", "flowat_kernel"),
    )


def git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return done.stdout.strip()


def report(results: dict[str, Any]) -> None:
    sides = {"FlowAt": results["flowat"], "raw SDK": results.get("raw")}
    sides = {k: v for k, v in sides.items() if v is not None}
    rows: list[tuple[str, Callable[[dict], str]]] = [
        ("submit (all runs)", lambda r: f"{r['submit_s']:.1f} s"),
        ("worker start", lambda r: f"{r['worker_start_s']:.1f} s"),
        ("drain (ready -> last end)", lambda r: f"{r['drain_s']:.1f} s"),
        ("throughput", lambda r: f"{r['throughput_runs_per_s']:.1f} runs/s"),
        ("latency p50 (created->end)", lambda r: f"{r['latency_s']['p50']:.1f} s"),
        ("latency p95", lambda r: f"{r['latency_s']['p95']:.1f} s"),
        ("worker peak RSS (VmHWM)", lambda r: f"{r['worker']['peak_rss_mb_vmhwm']:.0f} MB"),
    ]
    for q in ("0", *(f"{q:g}" for q in QUARTERS)):
        rows.append(
            (
                f"worker RSS at {q} done",
                lambda r, q=q: (
                    f"{r['rss_by_completed'][q]['rss_mb']:.0f} MB"
                    if q in r["rss_by_completed"]
                    else "-"
                ),
            )
        )
    for q in ("0", *(f"{q:g}" for q in QUARTERS)):
        rows.append(
            (
                f"children PSS at {q} done",
                lambda r, q=q: (
                    f"{r['rss_by_completed'][q]['children_pss_mb']:.0f} MB "
                    f"({r['rss_by_completed'][q]['children']})"
                    if q in r["rss_by_completed"]
                    else "-"
                ),
            )
        )
    for key, label in (
        ("worker", "CPU in drain: worker"),
        ("temporal_server", "CPU in drain: server"),
        ("this_process", "CPU in drain: this script"),
        ("other_processes", "CPU in drain: others"),
    ):
        rows.append((label, lambda r, key=key: f"{r['cpu_s_during_drain'].get(key, 0):.0f} s"))
    rows.append(("all complete, none lost", lambda r: "yes" if r["checks"]["all_ok"] else "NO"))
    print(f"\n{results['runs']} runs of a 3-step workflow queued at once, one worker")
    print(f"{'':<30}" + "".join(f"{name:>18}" for name in sides))
    for label, cell in rows:
        print(f"{label:<30}" + "".join(f"{cell(side):>18}" for side in sides.values()))
    for name, side in sides.items():
        cpu = side["cpu_s_during_drain"]
        share = cpu["other_processes"] / (cpu["wall"] * cpu["cores"])
        if share > 0.1:
            print(
                f"note: other processes used {share:.0%} of the machine's CPU during "
                f"the {name} drain; compare sides with care"
            )
    if "ratio_flowat_over_raw" in results:
        print(
            f"throughput FlowAt/raw: {results['ratio_flowat_over_raw']:.2f} "
            "(below 1: FlowAt drains slower)"
        )


def memory_at_start(home: Path, address: str) -> dict[str, Any]:
    """What each side's worker process holds once started, import group by import group."""
    env = worker_env(home, f"bench-memory-{uuid.uuid4().hex[:8]}")
    return {
        "flowat": worker_memory.flowat_memory(env),
        "raw": worker_memory.raw_memory(address, env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw SDK side")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--raw-first", action="store_true", help="run the raw SDK side first (default: FlowAt)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait per side (900)"
    )
    parser.add_argument(
        "--database-url",
        help="FlowAt's metadata store (default: SQLite in the home), "
        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/DB for a deployment's figures",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only what each worker's memory is made of at start (worker_memory.py), no load",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-load-"))
    failed: list[str] = []
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_TEMPORAL_ADDRESS", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["FLOWAT_TASK_QUEUE"] = f"bench-load-{uuid.uuid4().hex[:8]}"
    if args.database_url:
        os.environ["FLOWAT_DATABASE_URL"] = args.database_url

    import psutil

    from flowat_kernel.engine import devserver
    from flowat_kernel.engine.worker import build_worker
    from flowat_kernel.runtime import reset_runtime

    global CONCURRENCY, SERVER_PID
    CONCURRENCY = inspect.signature(build_worker).parameters["max_concurrent_steps"].default
    info = machine_info()
    started = time.time()
    server, _ = devserver.ensure_running(home / "temporal")
    server_process = psutil.Process(server.pid)
    SERVER_PID = server.pid
    try:
        results: dict[str, Any] = {
            "benchmark": "load",
            "runs": args.runs,
            "steps": list(STEPS),
            "worker_max_concurrency": CONCURRENCY,
            "submit_threads": SUBMIT_THREADS,
            "machine": info,
        }
        sides = ["flowat"] if args.no_baseline else ["flowat", "raw"]
        if args.raw_first:
            sides.reverse()
        results["order"] = sides
        results["memory_at_start"] = memory_at_start(home, server.address)
        if args.memory_only:
            sides = []
        for side in sides:
            if side == "flowat":
                results["flowat"] = bench_flowat(home, args.runs, args.drain_timeout)
            else:
                results["raw"] = bench_raw(home, server.address, args.runs, args.drain_timeout)
            results[f"server_rss_mb_after_{side}"] = server_process.memory_info().rss / 2**20
        if sides and not args.no_baseline:
            results["ratio_flowat_over_raw"] = (
                results["flowat"]["throughput_runs_per_s"] / results["raw"]["throughput_runs_per_s"]
            )
        results["wall_s"] = time.time() - started
        if sides:
            report(results)
        worker_memory.show("FlowAt worker", results["memory_at_start"]["flowat"])
        worker_memory.show("raw SDK worker", results["memory_at_start"]["raw"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"written {args.out}")
        failed = [k for k in sides if not results[k]["checks"]["all_ok"]]
        for side in failed:
            print(f"{side}: checks FAILED: {json.dumps(results[side]['checks'])}", file=sys.stderr)
    finally:
        reset_runtime()
        devserver.stop(home / "temporal")
        shutil.rmtree(home, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
