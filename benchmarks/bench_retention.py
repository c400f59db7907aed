"""A retention pass over 10,000 runs, against a plain DELETE of the same rows.

For each store (SQLite in a temporary ``FLOWAT_HOME``, and PostgreSQL on
127.0.0.1:5432 in a fresh database, dropped afterwards) the same run measures, on
three identical data sets of ``--runs`` runs each (three workflows, created over 60
days, every 97th run still active, one step record each, a dead letter and an alert
delivery for every 50th, artifacts for 300 and analytics events for 1,500 of them):

* **pass**: ``retention_pass`` with an organization default of 30 days, one workflow
  keeping its newest 100 and one 10 days and 50: it selects the expired runs, deletes
  their Temporal executions (none exists: inserted runs never ran, so each call is a
  real DeleteWorkflowExecution answered NOT_FOUND by the dev server), their records
  with audit entries and remembered ids, their artifacts and their analytics events,
  then sweeps files of deleted runs;
* **baseline**: the same runs' rows removed with plain ``DELETE ... WHERE id IN``
  statements (step records, dead letters, alert deliveries, runs; 500 ids each) in
  one transaction: what deleting them costs the database alone;
* **phases**: the pass's steps timed one by one on the third data set.

    python benchmarks/bench_retention.py      # ~3 min, writes benchmarks/results/retention.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, pg_create, pg_drop, psycopg_version  # noqa: E402

POLICIES: dict[str | None, tuple[int | None, int | None]] = {
    None: (30, None),
    "keepers": (None, 100),
    "both": (10, 50),
}


def _counts(total: int) -> dict[str, int]:
    return {"plain": total * 2 // 5, "keepers": total * 2 // 5, "both": total // 5}


def _policies(runtime: Any, owner: str) -> None:
    for workflow, (days, keep) in POLICIES.items():
        runtime.store.set_retention(owner, workflow, days, keep, "bench")


def _baseline(runtime: Any, ids: list[str]) -> float:
    from sqlalchemy import delete

    from flowat_kernel.store.tables import AlertDeliveryRow, DeadLetterRow, RunRow, StepRunRow

    def work(session: Any) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            session.execute(delete(StepRunRow).where(StepRunRow.run_id.in_(chunk)))
            session.execute(delete(DeadLetterRow).where(DeadLetterRow.run_id.in_(chunk)))
            session.execute(delete(AlertDeliveryRow).where(AlertDeliveryRow.run_id.in_(chunk)))
            session.execute(delete(RunRow).where(RunRow.id.in_(chunk)))

    started = time.perf_counter()
    runtime.store.transaction(work)
    return time.perf_counter() - started


def _phases(runtime: Any, owner: str, now: Any) -> dict[str, float]:
    from flowat_kernel.engine import deletion

    times: dict[str, float] = {}

    def timed(name: str, action: Any) -> Any:
        started = time.perf_counter()
        result = action()
        times[name] = round(time.perf_counter() - started, 3)
        return result

    refs = timed("select_expired", lambda: deletion.expired(runtime, owner, now))
    timed("temporal_deletes", lambda: runtime.call(deletion._delete_executions(runtime, refs)))
    timed(
        "records_audit_and_ids",
        lambda: runtime.store.delete_run_records(refs, "bench", "run.expired"),
    )
    timed("artifacts_and_events", lambda: deletion.purge_files(runtime, [r.run_id for r in refs]))
    timed("sweep_late_files", lambda: deletion.sweep_leftovers(runtime))
    times["runs"] = len(refs)
    return times


def one_store(label: str, url: str | None, total: int, temporal: str) -> dict[str, Any]:
    from flowat_kernel.engine.deletion import retention_pass
    from flowat_kernel.runtime import get_runtime, reset_runtime
    from tests.retention.bulk import insert_runs, survivors

    home = Path(tempfile.mkdtemp(prefix=f"flowat-bench-retention-{label}-"))
    os.environ["FLOWAT_HOME"] = str(home)
    os.environ["FLOWAT_TEMPORAL_ADDRESS"] = temporal
    os.environ["FLOWAT_RETENTION_INTERVAL"] = "0"
    if url:
        os.environ["FLOWAT_DATABASE_URL"] = url
    else:
        os.environ.pop("FLOWAT_DATABASE_URL", None)
    reset_runtime()
    runtime = get_runtime()
    try:
        counts = _counts(total)
        started = time.perf_counter()
        first = insert_runs(runtime, "pass", counts, artifact_sample=300, event_sample=1500)
        insert_seconds = time.perf_counter() - started
        _policies(runtime, "pass")
        doomed = len(first.ids() - survivors(first, POLICIES))
        started = time.perf_counter()
        report = retention_pass(runtime, now=first.now)
        pass_seconds = time.perf_counter() - started
        assert report.runs == doomed, (report.runs, doomed)

        second = insert_runs(runtime, "plain", counts, artifact_sample=300, event_sample=1500)
        ids = sorted(second.ids() - survivors(second, POLICIES))
        baseline_seconds = _baseline(runtime, ids)

        third = insert_runs(runtime, "phases", counts, artifact_sample=300, event_sample=1500)
        _policies(runtime, "phases")
        phases = _phases(runtime, "phases", third.now)
        return {
            "runs": total,
            "deleted": doomed,
            "insert_s": round(insert_seconds, 2),
            "pass_s": round(pass_seconds, 3),
            "baseline_plain_delete_s": round(baseline_seconds, 3),
            "ratio_pass_to_baseline": round(pass_seconds / baseline_seconds, 1),
            "pass_ms_per_deleted_run": round(1000 * pass_seconds / max(doomed, 1), 3),
            "report": report.as_dict() | {"kept": len(report.kept)},
            "phases_s": phases,
        }
    finally:
        reset_runtime()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    from flowat_kernel.engine import devserver

    temporal_home = Path(tempfile.mkdtemp(prefix="flowat-bench-retention-temporal-"))
    server, _ = devserver.ensure_running(temporal_home / "temporal")
    results: dict[str, Any] = {"machine": machine(psycopg=psycopg_version())}
    try:
        results["sqlite"] = one_store("sqlite", None, args.runs, server.address)
        print(json.dumps({"sqlite": results["sqlite"]}, indent=2), flush=True)
        if not args.no_postgres:
            url, why = pg_create("flowat_bench_retention")
            if url is None:
                results["postgresql"] = {"skipped": why}
            else:
                try:
                    results["postgresql"] = one_store("postgresql", url, args.runs, server.address)
                finally:
                    pg_drop(url)
            print(json.dumps({"postgresql": results["postgresql"]}, indent=2), flush=True)
    finally:
        devserver.stop(temporal_home / "temporal")
        shutil.rmtree(temporal_home, ignore_errors=True)
    out = Path(__file__).resolve().parent / "results" / "retention.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
