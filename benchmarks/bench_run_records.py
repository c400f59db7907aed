"""The store's share of a run: CPU per run of the records every run writes and reads.

One run of a two-step workflow, as FlowAt's run path meets the store (SQLite in a new
``FLOWAT_HOME``): the start (``create_run``, with its audit entry), the worker's checks
(``run_version`` at the run's start and end, ``admit_run``), the record writer's batch
(the run marked running, each step's start folded into its end), the run's end
(``finish_run``) and a REST start's version lookup (``get_version``). The baseline, in
the same rounds: the same statements through Python's ``sqlite3`` module on the same
database, written by hand (prepared statements, no SQLAlchemy), so the ratio is what
FlowAt's store layer costs on top of the database's own work.

    python benchmarks/bench_run_records.py              # ~1 min; --runs 300 --rounds 5

Process CPU time (``time.process_time``), medians over the rounds; the rounds alternate
the two sides. Writes ``benchmarks/results/run_records.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import machine, write_results

HERE = Path(__file__).resolve().parent

_RAW_START = [
    "INSERT INTO runs (id, workflow_id, version_id, version_number, owner, status, trigger, "
    "parameters, temporal_workflow_id, task_queue, created_at) VALUES (?, (SELECT "
    "workflow_id FROM workflow_versions WHERE id = ?), ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
    "INSERT INTO step_runs (run_id, step, position, status, attempts) "
    "VALUES (?, ?, ?, 'pending', 0)",
    "INSERT INTO audit_log (owner, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
]
_RAW_VERSION = (
    "SELECT r.trigger, v.id, v.number, v.spec_hash, v.spec, v.created_at, v.created_by, "
    "w.name, w.owner FROM runs r JOIN workflow_versions v ON v.id = r.version_id "
    "JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?"
)
_RAW_ADMIT = [
    "SELECT r.workflow_id, r.owner, r.status, w.name, a.run_id FROM runs r JOIN workflows w "
    "ON w.id = r.workflow_id LEFT OUTER JOIN run_admissions a ON a.run_id = r.id "
    "WHERE r.id = ?",
    "SELECT * FROM concurrency_limits WHERE owner = ? AND workflow IN (?, '')",
]
_RAW_STARTED = (
    "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?) "
    "WHERE id = ? AND status IN ('queued', 'running')"
)
_RAW_STEP_END = (
    "UPDATE step_runs SET status = ?, attempts = ?, error = ?, logs = ?, ended_at = ?, "
    "started_at = coalesce(started_at, ?), outputs = ? WHERE run_id = ? AND step = ?"
)
_RAW_FINISH = [
    "SELECT step, status, outputs IS NULL, started_at IS NULL, ended_at IS NULL "
    "FROM step_runs WHERE run_id = ?",
    "UPDATE runs SET status = ?, error = ?, ended_at = ?, started_at = coalesce(started_at, ?) "
    "WHERE id = ?",
    "UPDATE step_runs SET status = 'cancelled', ended_at = ? "
    "WHERE run_id = ? AND status IN ('running', 'retrying')",
    "SELECT started_at FROM runs WHERE id = ?",
]
_RAW_LATEST = [
    "SELECT * FROM workflows WHERE owner = ? AND name = ?",
    "SELECT * FROM workflow_versions WHERE workflow_id = ? ORDER BY number DESC LIMIT 1",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(sep=" ")


def flowat_run(store: Any, version: Any, index: int) -> None:
    """One run's store calls, as FlowAt's run path makes them."""
    from flowat_kernel.store.record_changes import (
        RecordChange,
        RunStartedWrite,
        StepWrite,
        coalesced,
    )

    run_id = uuid.uuid4().hex
    parameters = {"payload": {"id": index, "amount": 1.5, "source": "bench"}}
    store.get_version(version.owner, version.workflow)
    store.create_run(run_id, version, parameters, "api", f"flowat-{run_id}", "q", actor="bench")
    store.run_version(run_id)
    store.admit_run(run_id)
    now = datetime.now(UTC)
    writes: list[RecordChange] = [RunStartedWrite(run_id, now)]
    for step, exports in (("parse", {"order": {"id": index}}), ("reply", {"answer": True})):
        writes.append(StepWrite(run_id, step, "running", 1, now))
        writes.append(StepWrite(run_id, step, "succeeded", 1, now, outputs=exports, logs=""))
    store.write_steps(coalesced(writes))
    store.run_version(run_id)
    states = {"parse": "succeeded", "reply": "succeeded"}
    succeeded: dict[str, dict[str, Any]] = {
        "parse": {"order": {"id": index}},
        "reply": {"answer": True},
    }
    store.finish_run(run_id, "succeeded", None, succeeded, states)


def raw_run(db: sqlite3.Connection, version: Any, index: int) -> None:
    """The same statements through ``sqlite3``, one transaction where FlowAt has one."""
    run_id = uuid.uuid4().hex
    parameters = json.dumps({"payload": {"id": index, "amount": 1.5, "source": "bench"}})
    with db:
        (workflow,) = db.execute(_RAW_LATEST[0], (version.owner, version.workflow)).fetchall()
        db.execute(_RAW_LATEST[1], (workflow[0],)).fetchall()
    with db:
        started = (run_id, version.id, version.id, version.number, version.owner, "api")
        db.execute(_RAW_START[0], (*started, parameters, f"flowat-{run_id}", "q", _now()))
        db.executemany(_RAW_START[1], [(run_id, "parse", 0), (run_id, "reply", 1)])
        detail = json.dumps({"run_id": run_id, "version": version.number, "trigger": "api"})
        db.execute(_RAW_START[2], (version.owner, _now(), "bench", "run.started", "wf", detail))
    with db:
        db.execute(_RAW_VERSION, (run_id,)).fetchall()
    with db:
        (found,) = db.execute(_RAW_ADMIT[0], (run_id,)).fetchall()
        db.execute(_RAW_ADMIT[1], (found[1], found[3])).fetchall()
    now = _now()
    with db:
        db.execute(_RAW_STARTED, (now, run_id))
        for step, outputs in (("parse", {"order": {"id": index}}), ("reply", {"answer": True})):
            db.execute(
                _RAW_STEP_END,
                ("succeeded", 1, "null", "", now, now, json.dumps(outputs), run_id, step),
            )
    with db:
        db.execute(_RAW_VERSION, (run_id,)).fetchall()
    with db:
        db.execute(_RAW_FINISH[0], (run_id,)).fetchall()
        db.execute(_RAW_FINISH[1], ("succeeded", "null", _now(), _now(), run_id))
        db.execute(_RAW_FINISH[2], (_now(), run_id))
        db.execute(_RAW_FINISH[3], (run_id,)).fetchall()


def cpu_per_run(action: Any, runs: int) -> float:
    """CPU seconds per call of ``action(index)``, over ``runs`` calls."""
    start = time.process_time()
    for index in range(runs):
        action(index)
    return (time.process_time() - start) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs per round (300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (5)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "run_records.json")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-records-"))
    os.environ["FLOWAT_HOME"] = str(home)
    for name in ("FLOWAT_DATABASE_URL", "FLOWAT_REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(HERE))
    from burst_cells import single_cells

    from flowat_kernel import api
    from flowat_kernel.runtime import get_runtime

    version = api.publish("records_bench", cells=single_cells()).version
    store = get_runtime().store
    db = sqlite3.connect(home / "flowat.db", timeout=5)  # `with db:` commits each block

    flowat_run(store, version, -1)  # warm both sides
    raw_run(db, version, -1)
    sides: dict[str, list[float]] = {"flowat": [], "sqlite3": []}
    for _ in range(args.rounds):
        sides["flowat"].append(cpu_per_run(lambda i: flowat_run(store, version, i), args.runs))
        sides["sqlite3"].append(cpu_per_run(lambda i: raw_run(db, version, i), args.runs))
    flowat_ms = statistics.median(sides["flowat"]) * 1000
    raw_ms = statistics.median(sides["sqlite3"]) * 1000
    result = {
        "machine": machine(),
        "runs_per_round": args.runs,
        "rounds": args.rounds,
        "cpu_ms_per_run": {"flowat_store": flowat_ms, "sqlite3": raw_ms},
        "ratio": flowat_ms / raw_ms,
        "samples_ms": {k: [v * 1000 for v in vs] for k, vs in sides.items()},
    }
    print(f"FlowAt's store: {flowat_ms:.2f} ms CPU per run")
    print(f"sqlite3, same statements: {raw_ms:.2f} ms CPU per run")
    print(f"ratio: {flowat_ms / raw_ms:.2f}x")
    write_results(args.out, result)


if __name__ == "__main__":
    main()
