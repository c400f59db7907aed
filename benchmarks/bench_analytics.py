"""Analytics: event ingest rate, and dashboard queries over 1 million (and more) step events.

Ingest: ``EventWriter.emit_many`` in batches of realistic run/step/action events built
with ``events.event``, in a temporary folder, until every event is in Parquet (emit only,
and emit + flush); single ``emit`` calls for comparison, and the same batches with
masked secrets registered. A breakdown times each stage of the writer on the same rows.

Queries: synthetic step events are generated with numpy straight into Parquet (one
zstd file per day, as ``compact`` leaves them) over 30 days, 50 workflows and 10 steps,
then the dashboard's queries are timed through ``views.connect(folder)``, each on a fresh
connection and on a reused one. Baseline in the same run: the same runs and step records
loaded into the metadata store's ``runs`` / ``step_runs`` tables (SQLite through
``Store(url)``, and PostgreSQL in a fresh database when a server answers), and the same
aggregations run there in SQL.
Run: ``python benchmarks/bench_analytics.py`` (results in benchmarks/results/analytics.json).

Shared mode (``--shared``; the store on PostgreSQL, every host's events in one database):
ingest is ``EventWriter`` with the shared backend (emit, then one ``COPY`` per flush)
against, in the same run, the local Parquet writer on the same rows and a bare
``COPY`` of the same rows as CSV; queries run the dashboard's queries over the 1 million
step events loaded into the shared tables and compacted to segments, each through the
path a REST query takes (``sealed.one_select``, refresh of the process's cache, the
organization's kept filter and sealed database, a fresh cursor on it), against the same
queries over the same events as local Parquet (``views.connect``). Run:
``python benchmarks/bench_analytics.py --shared`` (results in
benchmarks/results/analytics_shared.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import sqlalchemy
from analytics_data import (
    LLM_STEPS,
    OWNER,
    STEPS,
    Model,
    events_table,
    generate_day,
    store_rows,
)
from common import machine, pg_create, pg_drop, psycopg_version
from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "analytics.json"
INGEST_TARGET = 100_000  # events/s, batched
QUERY_TARGET_MS = 300.0  # p95 over 1 million step events
TARGET_EVENTS = 1_000_000


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def rank(q: float) -> float:  # nearest-rank percentile
        return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": rank(0.95),
        "max_ms": 1000 * ordered[-1],
        "min_ms": 1000 * ordered[0],
        "reps": len(ordered),
    }


def git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def cpu_now() -> tuple[float, float]:
    """(busy core-seconds of the whole machine, CPU seconds of this process) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    times = os.times()
    return (sum(fields[:8]) - idle) / tick, times.user + times.system


def cpu_since(start: tuple[float, float], wall: float) -> dict[str, float]:
    """CPU used since ``start``: this process, and everything else (PostgreSQL included)."""
    machine, own = cpu_now()
    return {
        "wall_s": wall,
        "self_cpu_s": own - start[1],
        "others_cpu_s": (machine - start[0]) - (own - start[1]),
    }


def folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


# -- synthetic history -----------------------------------------------------------------


def build_dataset(
    folder: Path,
    model: Model,
    step_events: int,
    seed: int,
    schema: pa.Schema,
    sides: tuple[Any, ...] | list[Any] = (),
) -> dict[str, Any]:
    """Write one file per day (zstd, sorted by ts, as ``compact`` leaves them).

    The same runs are loaded into each store of ``sides`` (each keeps its insert time).
    """
    rng = np.random.default_rng(seed)
    per_day = model.runs_per_day(step_events, rng)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for day, n in enumerate(per_day):
        b = generate_day(model, day, int(n), rng)
        table = events_table(model, b, schema)
        for name, count in zip(
            *np.unique(table["event"].to_numpy(zero_copy_only=False), return_counts=True),
            strict=True,
        ):
            counts[str(name)] = counts.get(str(name), 0) + int(count)
        stamp = model.first_day + timedelta(days=day)
        target = (
            folder
            / "events"
            / f"day={stamp.isoformat()}"
            / f"compacted-{uuid.uuid4().hex[:12]}.parquet"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, compression="zstd")
        for side in sides:
            side.load(b)
    return {
        "runs": int(per_day.sum()),
        "events": sum(counts.values()),
        "step_events": sum(v for k, v in counts.items() if k.startswith("step_")),
        "by_event": dict(sorted(counts.items())),
        "files": len(list((folder / "events").glob("day=*/*.parquet"))),
        "parquet_mb": folder_size_mb(folder / "events"),
        "generate_and_load_s": time.perf_counter() - started,
    }


# -- ingest --------------------------------------------------------------------------


def ingest_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` events as a worker emits them: run, step and action events via ``event``."""
    from flowat_kernel.analytics.events import event

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        run_id = uuid.uuid4().hex
        w = int(rng.integers(0, 50))
        common = {"run_id": run_id, "workflow": f"wf_{w:02d}", "version": 1, "owner": OWNER}
        rows.append(event("run_queued", **common, trigger="schedule"))
        rows.append(event("run_started", run_id=run_id))
        for position, step in enumerate(STEPS):
            ms = float(rng.lognormal(math.log(800), 1.0))
            rows.append(event("step_started", **common, step=step, attempt=1))
            rows.append(
                event(
                    "step_succeeded",
                    **common,
                    step=step,
                    attempt=1,
                    duration_ms=ms,
                    bytes_in=int(rng.integers(100, 100_000)),
                    bytes_out=int(rng.integers(100, 100_000)),
                )
            )
            if position in LLM_STEPS and w % 3 == 0:
                rows.append(
                    event(
                        "action",
                        **common,
                        step=step,
                        attempt=1,
                        connector="llm",
                        action="complete",
                        host="api.openai.com",
                        status="succeeded",
                        duration_ms=0.8 * ms,
                        model="gpt-4o-mini",
                        tokens_in=int(rng.integers(500, 3000)),
                        tokens_out=int(rng.integers(50, 800)),
                        cost_usd=0.0012,
                    )
                )
        rows.append(
            event(
                "run_finished", **common, status="succeeded", duration_ms=12_345.6, error_type=None
            )
        )
    return rows[:count]


def parquet_rows(folder: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("events/day=*/*.parquet"))


def wait_converted(folder: Path, timeout: float = 120.0) -> None:
    """Until no spool file holds events (the background thread may still be converting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = []
        for path in (folder / "spool").glob("*.jsonl"):
            try:
                if path.stat().st_size:
                    busy.append(path)
            except FileNotFoundError:  # converted meanwhile
                continue
        if not busy:
            return
        time.sleep(0.002)
    raise TimeoutError("spool files not converted in time")


def ingest_case(
    rows: list[dict[str, Any]], batch: int, background: bool, single: bool = False
) -> dict[str, Any]:
    """Emit ``rows`` through a fresh EventWriter; time emitting, then until all is Parquet."""
    from flowat_kernel.analytics.writer import EventWriter

    folder = Path(tempfile.mkdtemp(prefix="flowat-bench-ingest-"))
    try:
        kwargs = {} if background else {"flush_events": 1 << 62, "flush_seconds": 3600.0}
        writer = EventWriter(folder, **kwargs)
        time.sleep(0.05)  # let the background thread's startup recovery pass
        files_before = 0
        start = time.perf_counter()
        if single:
            for row in rows:
                writer.emit(row)
        else:
            for i in range(0, len(rows), batch):
                writer.emit_many(rows[i : i + batch])
        emitted = time.perf_counter()
        files_before = len(list(folder.glob("events/day=*/*.parquet")))
        writer.flush()
        wait_converted(folder)
        done = time.perf_counter()
        writer.close()
        stored = parquet_rows(folder)
        if stored != len(rows):
            raise RuntimeError(f"{len(rows)} events emitted, {stored} in Parquet")
        emit_s, total_s = emitted - start, done - start
        return {
            "events": len(rows),
            "batch": 1 if single else batch,
            "background_flush": background,
            "emit_s": emit_s,
            "flush_s": done - emitted,
            "total_s": total_s,
            "emit_events_per_s": len(rows) / emit_s,
            "total_events_per_s": len(rows) / total_s,
            "parquet_files_at_emit_end": files_before,
            "parquet_files": len(list(folder.glob("events/day=*/*.parquet"))),
            "parquet_rows_checked": stored,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingest_breakdown(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each stage of the writer alone, in microseconds per event, on the same rows."""
    from flowat_kernel.analytics import writer as w
    from flowat_kernel.vault.redaction import redact_data

    n = len(rows)
    out: dict[str, float] = {}

    def stage(name: str, action: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = action()
        out[name] = 1e6 * (time.perf_counter() - start) / n
        return result

    stage("redact_data_no_secrets", lambda: [redact_data(r) for r in rows])
    lines = stage(
        "json_dumps", lambda: [json.dumps(r, separators=(",", ":"), default=str) for r in rows]
    )
    data = stage("join_encode", lambda: ("\n".join(lines) + "\n").encode())
    folder = Path(tempfile.mkdtemp(prefix="flowat-bench-breakdown-"))
    try:
        spool = folder / "spool.jsonl"
        stage("write_file", lambda: spool.write_bytes(data))
        parsed = stage("flush_read_json_loads", lambda: w._rows_of(spool))
        table = stage("flush_to_arrow_from_pylist", lambda: w._as_table(parsed))
        stage(
            "flush_write_parquet_zstd",
            lambda: pq.write_table(table, folder / "x.parquet", compression="zstd"),
        )
        # Not what the writer does: Arrow's C++ JSON reader with the schema, for comparison.
        options = pj.ParseOptions(explicit_schema=w.SCHEMA, unexpected_field_behavior="ignore")
        alt = stage(
            "alternative_pyarrow_json_read", lambda: pj.read_json(spool, parse_options=options)
        )
        if alt.num_rows != n:
            raise RuntimeError("pyarrow.json read a different number of rows")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def measure_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from flowat_kernel.vault import redaction

    print(f"[ingest] building {args.ingest_events} events with events.event ...", flush=True)
    start = time.perf_counter()
    rows = ingest_rows(args.ingest_events, args.seed)
    build_s = time.perf_counter() - start
    out: dict[str, Any] = {
        "events": len(rows),
        "event_mix": dict(
            sorted(
                {
                    k: sum(1 for r in rows if r["event"] == k) for k in {r["event"] for r in rows}
                }.items()
            )
        ),
        "event_call_us": 1e6 * build_s / len(rows),
        "json_bytes_per_event": len(
            "\n".join(json.dumps(r, separators=(",", ":"), default=str) for r in rows[:10_000])
        )
        / min(len(rows), 10_000),
    }
    ingest_case(rows[:5000], args.batch, background=False)  # warm-up: first-use imports
    secrets = {f"bench_secret_{i}": f"sk-bench-{i:02d}-" + os.urandom(16).hex() for i in range(10)}

    def masked() -> dict[str, Any]:
        for name, value in secrets.items():
            redaction.register(name, value)
        try:
            return ingest_case(rows, args.batch, background=True)
        finally:  # the product has no unregistering: reset this process's registry
            redaction._values.clear()
            redaction._pattern = None

    single = rows[: args.single_events]
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "batched": lambda: ingest_case(rows, args.batch, background=True),
        "batched_no_background": lambda: ingest_case(rows, args.batch, background=False),
        "single": lambda: ingest_case(single, 1, background=True, single=True),
        "batched_masking": masked,
    }
    print(
        f"[ingest] {args.ingest_reps} x (emit_many x {args.batch} with and without the "
        f"background flush, {len(single):,} single emit() calls, emit_many with 10 secrets "
        "registered) ...",
        flush=True,
    )
    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in cases}
    for _ in range(args.ingest_reps):  # interleaved, so drifting load hits all alike
        for key, case in cases.items():
            samples[key].append(case())
    for key, runs in samples.items():
        middle = sorted(runs, key=lambda r: r["total_s"])[len(runs) // 2]
        out[key] = {
            **middle,
            "emit_events_per_s": statistics.median(r["emit_events_per_s"] for r in runs),
            "total_events_per_s": statistics.median(r["total_events_per_s"] for r in runs),
            "samples_emit_per_s": [round(r["emit_events_per_s"]) for r in runs],
            "samples_total_per_s": [round(r["total_events_per_s"]) for r in runs],
        }
    for name, value in secrets.items():
        redaction.register(name, value)
    try:
        out["breakdown_masking_us"] = {
            "redact_data_10_secrets": ingest_breakdown(rows[:50_000])["redact_data_no_secrets"]
        }
    finally:
        redaction._values.clear()
        redaction._pattern = None
    out["breakdown_us_per_event"] = ingest_breakdown(rows)
    return out


# -- the dashboard's queries ---------------------------------------------------------

#: key -> (what it shows, DuckDB SQL over the views). ``$wf``: the workflow shown.
QUERIES: dict[str, tuple[str, str]] = {
    "volume_all": (
        "runs and failure rate per day, all workflows",
        """SELECT day, count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed,
                  count(*) FILTER (WHERE status = 'failed') / count(*) AS failure_rate
           FROM runs WHERE ended_at IS NOT NULL GROUP BY day ORDER BY day""",
    ),
    "volume_one": (
        "runs and failure rate per day, one workflow",
        """SELECT day, count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed,
                  count(*) FILTER (WHERE status = 'failed') / count(*) AS failure_rate
           FROM runs WHERE ended_at IS NOT NULL AND workflow = $wf GROUP BY day ORDER BY day""",
    ),
    "versions_one": (
        "p50/p95 run duration by version and day, one workflow (workflow_stats)",
        """SELECT day, version, runs, failed, success_rate, p50_ms, p95_ms
           FROM workflow_stats WHERE workflow = $wf ORDER BY day, version""",
    ),
    "versions_all": (
        "p50/p95 run duration by workflow, version and day (workflow_stats)",
        """SELECT workflow, version, day, runs, failed, success_rate, p50_ms, p95_ms
           FROM workflow_stats ORDER BY workflow, version, day""",
    ),
    "slowest_steps_one": (
        "steps by p95 duration, one workflow (step_stats)",
        """SELECT workflow, step, executions, failures, p50_ms, p95_ms
           FROM step_stats WHERE workflow = $wf ORDER BY p95_ms DESC, step""",
    ),
    "slowest_steps_all": (
        "10 slowest steps by p95, all workflows (step_stats)",
        """SELECT workflow, step, executions, failures, p50_ms, p95_ms
           FROM step_stats ORDER BY p95_ms DESC, workflow, step LIMIT 10""",
    ),
    "top_errors_one": (
        "failed steps by error type, one workflow (steps)",
        """SELECT error_type, count(*) AS failures FROM steps
           WHERE status = 'failed' AND workflow = $wf
           GROUP BY error_type ORDER BY failures DESC, error_type LIMIT 10""",
    ),
    "top_errors_all": (
        "failed steps by error type, all workflows (steps)",
        """SELECT error_type, count(*) AS failures FROM steps WHERE status = 'failed'
           GROUP BY error_type ORDER BY failures DESC, error_type LIMIT 10""",
    ),
    "llm_cost_one": (
        "LLM calls, tokens and cost by step and model, one workflow (llm_usage)",
        """SELECT step, model, calls, tokens_in, tokens_out, cost_usd
           FROM llm_usage WHERE workflow = $wf ORDER BY cost_usd DESC, step""",
    ),
    "llm_cost_all": (
        "LLM calls, tokens and cost by model, all workflows (llm_usage)",
        """SELECT model, sum(calls) AS calls, sum(tokens_in) AS tokens_in,
                  sum(tokens_out) AS tokens_out, sum(cost_usd) AS cost_usd
           FROM llm_usage GROUP BY model ORDER BY cost_usd DESC""",
    ),
}
DASHBOARDS = {
    "dashboard_one": [k for k in QUERIES if k.endswith("_one")],
    "dashboard_all": [k for k in QUERIES if k.endswith("_all")],
}
#: Diagnostics (where the time goes): the views' own cost, and the same one-workflow
#: query with the filter applied to the events before grouping (not what the views do).
DIAGNOSTICS: dict[str, str] = {
    "count_events": "SELECT count(*) FROM events",
    "count_runs_view": "SELECT count(*) FROM runs",
    "count_steps_view": "SELECT count(*) FROM steps",
    "slowest_steps_one_filter_first": """
        WITH steps AS (
            SELECT run_id, step, any_value(workflow) AS workflow,
                   arg_max(regexp_replace(event, '^step_', ''), ts)
                       FILTER (WHERE event <> 'step_started') AS status,
                   max(duration_ms) FILTER (WHERE event IN ('step_succeeded', 'step_failed'))
                       AS duration_ms
            FROM events WHERE event LIKE 'step_%' AND workflow = $wf GROUP BY run_id, step)
        SELECT workflow, step, count(*) AS executions,
               count(*) FILTER (WHERE status = 'failed') AS failures,
               quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms
        FROM steps WHERE status IN ('succeeded', 'failed')
        GROUP BY workflow, step ORDER BY p95_ms DESC, step""",
}


def _params(query: str, workflow: str) -> dict[str, str]:
    return {"wf": workflow} if "$wf" in query else {}


def duck_run(connection: duckdb.DuckDBPyConnection, query: str, workflow: str) -> list:
    return connection.execute(query, _params(query, workflow)).fetchall()


# -- the same aggregations on the metadata store ---------------------------------------


def _store_sql(dialect: str, key: str) -> str | None:
    """The store's SQL for dashboard query ``key`` (``None``: the store has no such data)."""
    pg = dialect == "postgresql"
    day = "(r.ended_at AT TIME ZONE 'UTC')::date" if pg else "date(r.ended_at)"

    def ms(t: str) -> str:
        if pg:
            return f"extract(epoch FROM {t}.ended_at - {t}.started_at) * 1000"
        return f"(julianday({t}.ended_at) - julianday({t}.started_at)) * 86400000.0"

    def count_if(cond: str) -> str:
        return f"count(*) FILTER (WHERE {cond})" if pg else f"sum({cond})"

    failed_r = count_if("r.status = 'failed'")
    failed, succeeded = count_if("status = 'failed'"), count_if("status = 'succeeded'")
    one = key.endswith("_one")
    join = " JOIN workflows w ON w.id = r.workflow_id" if one else ""
    where_wf = " AND w.name = :wf" if one else ""
    if key.startswith("volume_"):
        return (
            f"SELECT {day} AS day, count(*) AS runs, {failed_r} AS failed,"
            f" 1.0 * {failed_r} / count(*) AS failure_rate"
            f" FROM runs r{join} WHERE r.ended_at IS NOT NULL{where_wf} GROUP BY 1 ORDER BY 1"
        )
    if key.startswith("versions_"):
        source = (
            f"SELECT w.name AS workflow, r.version_number AS version, {day} AS day,"
            f" r.status AS status, {ms('r')} AS ms"
            " FROM runs r JOIN workflows w ON w.id = r.workflow_id"
            f" WHERE r.ended_at IS NOT NULL{where_wf}"
        )
        keys = ["day", "version"] if one else ["workflow", "version", "day"]
        aggs = f"count(*) AS runs, {failed} AS failed, 1.0 * {succeeded} / count(*) AS success_rate"
        return _percentiles(pg, source, keys, aggs, ", ".join(keys))
    if key.startswith("slowest_steps_"):
        source = (
            f"SELECT w.name AS workflow, s.step AS step, s.status AS status, {ms('s')} AS ms"
            " FROM step_runs s JOIN runs r ON r.id = s.run_id"
            " JOIN workflows w ON w.id = r.workflow_id"
            f" WHERE s.status IN ('succeeded', 'failed'){where_wf}"
        )
        aggs = f"count(*) AS executions, {failed} AS failures"
        order = "p95_ms DESC, step" if one else "p95_ms DESC, workflow, step LIMIT 10"
        return _percentiles(pg, source, ["workflow", "step"], aggs, order)
    if key.startswith("top_errors_"):
        error_type = "s.error ->> 'type'" if pg else "json_extract(s.error, '$.type')"
        joins = " JOIN runs r ON r.id = s.run_id JOIN workflows w ON w.id = r.workflow_id"
        return (
            f"SELECT {error_type} AS error_type, count(*) AS failures FROM step_runs s"
            f"{joins if one else ''} WHERE s.status = 'failed'{where_wf}"
            " GROUP BY 1 ORDER BY failures DESC, error_type LIMIT 10"
        )
    return None  # llm_cost_*: the store keeps no LLM usage


def _percentiles(pg: bool, source: str, keys: list[str], aggs: str, order: str) -> str:
    """Group ``source`` (with columns ``status`` and ``ms``) by ``keys``; p50 and p95 of ms.

    PostgreSQL: ``percentile_cont``. SQLite has no percentile function: each row is ranked
    in its group with window functions and the two rows around ``(n - 1) * q`` are
    interpolated, which is what ``percentile_cont`` and DuckDB's ``quantile_cont`` compute.
    """
    group = ", ".join(keys)
    if pg:
        return (
            f"SELECT {group}, {aggs},"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50_ms,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms"
            f" FROM ({source}) d GROUP BY {group} ORDER BY {order}"
        )

    def quantile(q: float) -> str:
        pos = f"(n - 1) * {q}"
        low = f"CAST({pos} AS INTEGER)"
        at_low = f"max(CASE WHEN rn = {low} THEN ms END)"
        at_high = f"max(CASE WHEN rn = min({low} + 1, n - 1) THEN ms END)"
        return f"({at_low} + ({pos} - {low}) * ({at_high} - {at_low}))"

    return (
        f"WITH d AS ({source}), ranked AS (SELECT d.*,"
        f" row_number() OVER (PARTITION BY {group} ORDER BY ms) - 1 AS rn,"
        f" count(*) OVER (PARTITION BY {group}) AS n FROM d)"
        f" SELECT {group}, {aggs}, {quantile(0.5)} AS p50_ms, {quantile(0.95)} AS p95_ms"
        f" FROM ranked GROUP BY {group} ORDER BY {order}"
    )


class StoreSide:
    """A metadata store (SQLite or PostgreSQL) holding the same runs as the events."""

    def __init__(self, label: str, url: str, model: Model) -> None:
        from flowat_kernel.store import Store

        self.label = label
        self.store = Store(url)
        self.engine = self.store.engine
        self.dialect = self.engine.dialect.name
        self.model = model
        self.version_ids: dict[tuple[int, int], int] = {}
        self.load_s = 0.0
        self.rows = {"runs": 0, "step_runs": 0}
        self._seed_definitions()

    def _seed_definitions(self) -> None:
        from flowat_kernel.store.tables import VersionRow, WorkflowRow

        now = datetime.now(UTC)
        workflows, versions = [], []
        for w, name in enumerate(self.model.names):
            workflows.append({"id": w + 1, "owner": OWNER, "name": name, "created_at": now})
            for number in range(1, int(self.model.versions[w]) + 1):
                vid = len(versions) + 1
                self.version_ids[w, number] = vid
                versions.append(
                    {
                        "id": vid,
                        "workflow_id": w + 1,
                        "number": number,
                        "spec_hash": f"{name}-{number}",
                        "spec": "{}",
                        "created_at": now,
                        "created_by": OWNER,
                    }
                )
        with self.engine.begin() as conn:
            conn.execute(insert(WorkflowRow.__table__), workflows)
            conn.execute(insert(VersionRow.__table__), versions)

    def load(self, b: dict[str, Any]) -> None:
        """Insert one day's runs and step records (Core executemany, 10,000 rows a call)."""
        from flowat_kernel.store.tables import RunRow, StepRunRow

        runs, steps = store_rows(self.model, b, self.version_ids)
        start = time.perf_counter()
        with self.engine.begin() as conn:
            for table, rows in ((RunRow.__table__, runs), (StepRunRow.__table__, steps)):
                for i in range(0, len(rows), 10_000):
                    conn.execute(insert(table), rows[i : i + 10_000])
        self.load_s += time.perf_counter() - start
        self.rows["runs"] += len(runs)
        self.rows["step_runs"] += len(steps)

    def finish_load(self) -> dict[str, Any]:
        start = time.perf_counter()
        if self.dialect == "postgresql":  # what autovacuum would have done by then
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - start
        out: dict[str, Any] = {"rows": dict(self.rows), "insert_s": self.load_s}
        if self.dialect == "postgresql":
            out["vacuum_analyze_s"] = analyze_s
            with self.engine.connect() as conn:
                out["server_version"] = str(conn.exec_driver_sql("SHOW server_version").scalar())
                out["database_mb"] = (
                    conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
                    / 1e6
                )
        else:
            database = Path(self.engine.url.database or "")
            out["database_mb"] = (
                sum(p.stat().st_size for p in database.parent.glob(database.name + "*")) / 1e6
            )
        return out

    def run(self, key: str, workflow: str) -> list:
        query = _store_sql(self.dialect, key)
        assert query is not None
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), {"wf": workflow} if ":wf" in query else {}))

    def close(self) -> None:
        self.store.close()


def compare_keyed(duck: list, store: list) -> dict[str, Any]:
    """Slowest steps: the store's step durations include earlier failed attempts (its
    ``started_at`` is the first attempt's), so p50/p95 differ a little and so may the
    order. Per (workflow, step) found in both: executions and failures must be equal."""
    theirs = {tuple(r[:2]): r for r in store}
    common = [(r, theirs[tuple(r[:2])]) for r in duck if tuple(r[:2]) in theirs]
    same = all(tuple(a[2:4]) == tuple(b[2:4]) for a, b in common)
    p95 = [abs(b[5] - a[5]) / a[5] for a, b in common if a[5]]
    return {
        "same_counts": same,
        "keys_in_both": len(common),
        "rows": [len(duck), len(store)],
        "max_relative_p95_difference": max(p95, default=0.0),
    }


def compare(duck: list, store: list) -> dict[str, Any]:
    """Same rows? Keys and counts must be equal; floats may differ (reported)."""
    if len(duck) != len(store):
        return {"same_rows": False, "rows": [len(duck), len(store)]}
    worst = 0.0
    for a, b in zip(duck, store, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None:
                    if x is not y:
                        return {"same_rows": False, "first_difference": [str(a), str(b)]}
                    continue
                worst = max(worst, abs(float(x) - float(y)) / max(abs(float(x)), 1e-9))
            elif str(x) != str(y):
                return {"same_rows": False, "first_difference": [str(a), str(b)]}
    return {"same_rows": True, "rows": len(duck), "max_relative_float_difference": worst}


# -- timing ----------------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure_queries(
    folder: Path, sides: list[StoreSide], reps: int, store_reps: int, workflow: str
) -> dict[str, Any]:
    """Every dashboard query: fresh connection, reused connection, each store; interleaved."""
    from flowat_kernel.analytics.views import connect

    def fresh(query: str) -> Callable[[], Any]:
        def action() -> None:
            connection = connect(folder)
            try:
                duck_run(connection, query, workflow)
            finally:
                connection.close()

        return action

    reused = connect(folder)
    out: dict[str, Any] = {"queries": {}, "workflow": workflow}
    # Warm-up (untimed) and checks: each query once everywhere, results compared.
    for key, (what, query) in QUERIES.items():
        rows = duck_run(reused, query, workflow)
        entry: dict[str, Any] = {"what": what, "result_rows": len(rows), "checks": {}}
        for side in sides:
            if _store_sql(side.dialect, key) is not None:
                check = compare_keyed if key.startswith("slowest_steps_") else compare
                entry["checks"][side.label] = check(rows, side.run(key, workflow))
        out["queries"][key] = entry
    samples: dict[str, dict[str, list[float]]] = {k: {} for k in QUERIES}
    for rep in range(reps):
        for key, (_, query) in QUERIES.items():
            s = samples[key]
            s.setdefault("duckdb_fresh", []).append(timed(fresh(query)))
            s.setdefault("duckdb_reused", []).append(
                timed(lambda q=query: duck_run(reused, q, workflow))
            )
            if rep < store_reps:
                for side in sides:
                    if _store_sql(side.dialect, key) is not None:
                        s.setdefault(side.label, []).append(
                            timed(lambda k=key, sd=side: sd.run(k, workflow))
                        )
    for key, by_path in samples.items():
        entry = out["queries"][key]
        for path, values in by_path.items():
            entry[path] = summary_ms(values)
        for side in sides:
            if side.label in entry:
                base = entry[side.label]["p50_ms"]
                entry[f"ratio_fresh_over_{side.label}"] = entry["duckdb_fresh"]["p50_ms"] / base
                entry[f"ratio_reused_over_{side.label}"] = entry["duckdb_reused"]["p50_ms"] / base
    out["connect_only"] = summary_ms([timed(lambda: connect(folder).close()) for _ in range(reps)])
    out["dashboards"] = measure_dashboards(folder, max(3, reps // 2), workflow)
    out["diagnostics"] = {
        key: summary_ms(
            [timed(lambda q=query: duck_run(reused, q, workflow)) for _ in range(max(3, reps // 4))]
        )
        for key, query in DIAGNOSTICS.items()
    }
    reused.close()
    return out


def measure_dashboards(folder: Path, reps: int, workflow: str) -> dict[str, Any]:
    """Each dashboard: one new connection, then its five queries (what a widget would do)."""
    from flowat_kernel.analytics.views import connect

    def load(keys: list[str]) -> None:
        connection = connect(folder)
        try:
            for key in keys:
                duck_run(connection, QUERIES[key][1], workflow)
        finally:
            connection.close()

    out = {}
    for name, keys in DASHBOARDS.items():
        load(keys)
        out[name] = {
            "queries": keys,
            **summary_ms([timed(lambda k=keys: load(k)) for _ in range(reps)]),
        }
    return out


def split_small_files(source: Path, target: Path, per_file: int) -> int:
    """The same events as files of ``per_file`` events, as the writer leaves them uncompacted."""
    files = 0
    for path in sorted(source.glob("events/day=*/*.parquet")):
        table = pq.read_table(path)
        day = target / "events" / path.parent.name
        day.mkdir(parents=True, exist_ok=True)
        for i in range(0, table.num_rows, per_file):
            pq.write_table(
                table.slice(i, per_file), day / f"part-{i:09d}.parquet", compression="zstd"
            )
            files += 1
    return files


# -- one size ----------------------------------------------------------------------------


def run_size(step_events: int, args: argparse.Namespace, first: bool) -> dict[str, Any]:
    from flowat_kernel.analytics.events import SCHEMA

    big = step_events > TARGET_EVENTS
    reps = args.large_reps if big else args.reps
    with_store = step_events <= args.store_max_events
    home = Path(tempfile.mkdtemp(prefix="flowat-bench-analytics-"))
    folder = home / "analytics"
    sides: list[StoreSide] = []
    pg_url = None
    out: dict[str, Any] = {"target_step_events": step_events, "reps": reps}
    try:
        model = Model(args.workflows, args.days, args.seed)
        if with_store:
            sides.append(StoreSide("sqlite", f"sqlite:///{home}/store/flowat.db", model))
            if args.no_postgres:
                out["postgresql"] = {"skipped": "--no-postgres"}
            else:
                pg_url, why = pg_create("flowat_bench_analytics")
                if pg_url is None:
                    print(f"PostgreSQL skipped: {why}")
                    out["postgresql"] = {"skipped": why}
                else:
                    sides.append(StoreSide("postgresql", pg_url, model))
        else:
            out["store"] = {"skipped": f"above --store-max-events {args.store_max_events}"}
        label = f"{step_events / 1e6:g}M"
        print(
            f"[{label}] generating {step_events:,} step events"
            + (f", loading them into {', '.join(s.label for s in sides)}" if sides else "")
            + " ...",
            flush=True,
        )
        out["dataset"] = build_dataset(folder, model, step_events, args.seed + 1, SCHEMA, sides)
        for side in sides:
            out[side.label] = side.finish_load()
        workflow = model.names[0]  # the busiest workflow, one that calls LLMs
        print(
            f"[{label}] {out['dataset']['events']:,} events; timing queries "
            f"({reps} reps DuckDB"
            + (f", {min(reps, args.store_reps)} reps per store" if sides else "")
            + ") ...",
            flush=True,
        )
        out["timings"] = measure_queries(
            folder, sides, reps, min(reps, args.store_reps) if sides else 0, workflow
        )
        if first and args.small_files:
            small = home / "small"
            out["small_files"] = {"events_per_file": args.small_files}
            out["small_files"]["files"] = split_small_files(folder, small, args.small_files)
            print(
                f"[{label}] same events in {out['small_files']['files']} files of "
                f"{args.small_files} events ...",
                flush=True,
            )
            from flowat_kernel.analytics.views import connect

            out["small_files"]["connect_only"] = summary_ms(
                [timed(lambda: connect(small).close()) for _ in range(3)]
            )
            out["small_files"]["dashboards"] = measure_dashboards(small, 3, workflow)
        return out
    finally:
        for side in sides:
            side.close()
        if pg_url:
            pg_drop(pg_url)
        shutil.rmtree(home, ignore_errors=True)


# -- report ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def report(results: dict[str, Any]) -> None:
    ing = results["ingest"]
    print(
        f"\n== ingest: {ing['events']:,} events, {ing['json_bytes_per_event']:.0f} B JSON each =="
    )
    print(f"{'case':<44}{'emit only':>14}{'emit + flush':>16}{'files':>7}")
    for key, text_ in (
        ("batched", f"emit_many x {ing['batched']['batch']}, default writer"),
        ("batched_no_background", "emit_many, background flush off"),
        ("single", f"emit() x {ing['single']['events']:,}, default writer"),
        ("batched_masking", "emit_many, 10 secrets registered"),
    ):
        case = ing[key]
        print(
            f"{text_:<44}{case['emit_events_per_s']:>10,.0f}/s{case['total_events_per_s']:>12,.0f}/s"
            f"{case['parquet_files']:>7}"
        )
    parts = ", ".join(f"{k} {v:.2f}" for k, v in ing["breakdown_us_per_event"].items())
    print(f"per event (us): event() {ing['event_call_us']:.2f}, {parts}")
    for size in results["sizes"]:
        t = size["timings"]
        d = size["dataset"]
        print(
            f"\n== {d['step_events']:,} step events ({d['events']:,} events, {d['runs']:,} runs, "
            f"{d['files']} files, {d['parquet_mb']:.0f} MB) =="
        )
        stores = [s for s in ("sqlite", "postgresql") if s in size and "rows" in size[s]]
        head = f"{'query':<20}{'fresh p50/p95':>16}{'reused p50/p95':>17}"
        for s in stores:
            head += f"{s + ' p50':>16}{'x':>7}"
        print(head + ("   (ms; x = DuckDB reused / store)" if stores else "   (ms)"))
        for key, q in t["queries"].items():
            line = (
                f"{key:<20}{_ms(q['duckdb_fresh']['p50_ms']):>8}/{_ms(q['duckdb_fresh']['p95_ms']):<7}"
                f"{_ms(q['duckdb_reused']['p50_ms']):>9}/{_ms(q['duckdb_reused']['p95_ms']):<7}"
            )
            for s in stores:
                if s in q:
                    line += f"{_ms(q[s]['p50_ms']):>16}{q[f'ratio_reused_over_{s}']:>6.2f}x"
                else:
                    line += f"{'n/a':>16}{'':>7}"
            print(line)
        print(f"connect() alone: p50 {_ms(t['connect_only']['p50_ms'])} ms")
        for name, dash in t["dashboards"].items():
            print(
                f"{name} (one connection, 5 queries): p50 {_ms(dash['p50_ms'])} ms, "
                f"p95 {_ms(dash['p95_ms'])} ms"
            )
        print(
            "diagnostics (reused): "
            + ", ".join(f"{k} {_ms(v['p50_ms'])} ms" for k, v in t["diagnostics"].items())
        )
        for s in stores:
            info = size[s]
            print(
                f"{s}: {info['rows']['step_runs']:,} step_runs, insert {info['insert_s']:.1f} s, "
                f"{info['database_mb']:.0f} MB"
            )
        if "small_files" in size:
            sf = size["small_files"]
            print(
                f"uncompacted ({sf['files']} files of {sf['events_per_file']} events): connect "
                f"{_ms(sf['connect_only']['p50_ms'])} ms, "
                + ", ".join(f"{k} p50 {_ms(v['p50_ms'])} ms" for k, v in sf["dashboards"].items())
            )
    for label, part in [("ingest", results["ingest"])] + [
        (f"{size['target_step_events']:,} step events", size) for size in results["sizes"]
    ]:
        c = part.get("cpu")
        if c:
            print(
                f"CPU during {label}: this process {c['self_cpu_s']:.0f} s, everything else "
                f"{c['others_cpu_s']:.0f} s, over {c['wall_s']:.0f} s wall on 2 cores"
            )
    for line in results["verdicts"]:
        print(line)


def verdicts(results: dict[str, Any]) -> list[str]:
    ing = results["ingest"]["batched"]
    lines = [
        f"target ingest >= {INGEST_TARGET:,}/s batched: "
        f"emit only {ing['emit_events_per_s']:,.0f}/s "
        f"({'met' if ing['emit_events_per_s'] >= INGEST_TARGET else 'NOT met'}), emit + flush to "
        f"Parquet {ing['total_events_per_s']:,.0f}/s "
        f"({'met' if ing['total_events_per_s'] >= INGEST_TARGET else 'NOT met'})"
    ]
    for size in results["sizes"]:
        if size["target_step_events"] != TARGET_EVENTS:
            continue
        q = size["timings"]["queries"]
        for path in ("duckdb_fresh", "duckdb_reused"):
            worst = max(q, key=lambda k: q[k][path]["p95_ms"])
            p95 = q[worst][path]["p95_ms"]
            lines.append(
                f"target p95 < {QUERY_TARGET_MS:g} ms at 1M, {path}: worst {worst} {p95:.0f} ms "
                f"({'met' if p95 < QUERY_TARGET_MS else 'NOT met'}; "
                f"{sum(v[path]['p95_ms'] < QUERY_TARGET_MS for v in q.values())}/{len(q)} queries)"
            )
    return lines


def machine_info() -> dict[str, Any]:
    return machine(
        duckdb=duckdb.__version__,
        pyarrow=pa.__version__,
        numpy=np.__version__,
        sqlalchemy=sqlalchemy.__version__,
        psycopg=psycopg_version(),
        sqlite=sqlite3.sqlite_version,
        git_commit=git("rev-parse", "HEAD"),
        product_code_changes=git("status", "--short", "--", "flowat_kernel"),
    )


# -- shared backend (PostgreSQL) ---------------------------------------------------------


def measure_shared(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest and query targets with the events in PostgreSQL (see the module docstring)."""
    import io

    import pyarrow.csv as pcsv

    from flowat_kernel.analytics.events import SCHEMA
    from flowat_kernel.analytics.organization import organization_cursor
    from flowat_kernel.analytics.sealed import one_select
    from flowat_kernel.analytics.shared_compaction import compact_shared
    from flowat_kernel.analytics.shared_store import SharedEvents
    from flowat_kernel.analytics.views import connect
    from flowat_kernel.analytics.writer import EventWriter

    url, why = pg_create("flowat_bench_shared")
    if url is None:
        raise SystemExit(f"--shared needs PostgreSQL: {why}")
    out: dict[str, Any] = {
        "database": url.rsplit("/", 1)[0] + "/<fresh>",
        "load_average_at_start": os.getloadavg(),
    }
    folder = Path(tempfile.mkdtemp(prefix="flowat-bench-shared-"))
    try:
        shared = SharedEvents(url)
        shared.ensure_tables()
        rows = ingest_rows(args.ingest_events, args.seed)
        ingest: dict[str, list[float]] = {"shared": [], "local_parquet": [], "bare_copy": []}
        for rep in range(args.ingest_reps):
            writer = EventWriter(
                folder / f"ingest-{rep}",
                flush_events=1 << 62,
                flush_seconds=3600.0,
                database_url=url,
            )
            start = time.perf_counter()
            for i in range(0, len(rows), args.batch):
                writer.emit_many(rows[i : i + args.batch])
            writer.flush()
            ingest["shared"].append(time.perf_counter() - start)
            writer.close()
            local = ingest_case(rows, args.batch, background=False)
            ingest["local_parquet"].append(local["total_s"])
            # The floor: the same rows, already CSV, in one COPY (no masking, no spool).
            table = pa.Table.from_pylist(
                [
                    {
                        **r,
                        "ts": datetime.fromisoformat(r["ts"]),
                        "scheduled_at": None,
                    }
                    for r in rows
                ],
                schema=SCHEMA,
            )
            buffer = io.BytesIO()
            pcsv.write_csv(table, buffer, pcsv.WriteOptions(include_header=False))
            data = buffer.getvalue()
            start = time.perf_counter()
            with shared.engine.begin() as conn:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(
                    f"COPY analytics_events ({', '.join(SCHEMA.names)}) FROM STDIN (FORMAT csv)"
                ) as copy:
                    copy.write(data)
            ingest["bare_copy"].append(time.perf_counter() - start)
        with shared.engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM analytics_events")).scalar_one()
        expected = len(rows) * args.ingest_reps * 2  # the writer's rows and the bare COPY's
        if stored != expected:
            raise RuntimeError(f"{expected} events sent, {stored} in PostgreSQL")
        out["ingest"] = {
            "events": len(rows),
            "batch": args.batch,
            **{
                f"{name}_events_per_s": len(rows) / statistics.median(values)
                for name, values in ingest.items()
            },
            "seconds": ingest,
        }
        out["ingest"]["ratio_shared_over_local"] = (
            out["ingest"]["local_parquet_events_per_s"] / out["ingest"]["shared_events_per_s"]
        )
        with shared.engine.begin() as conn:
            conn.execute(text("TRUNCATE analytics_events"))

        # Queries: the 1M-step-event dataset, as local Parquet and in the shared tables.
        local = folder / "local"
        model = Model(args.workflows, args.days, args.seed)
        dataset = build_dataset(local, model, TARGET_EVENTS, args.seed, SCHEMA)
        start = time.perf_counter()
        for path in sorted((local / "events").glob("day=*/*.parquet")):
            shared.insert_table(pq.read_table(path, schema=SCHEMA))
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        done = compact_shared(shared)
        compacted = time.perf_counter() - start
        assert done is not None and done.events_moved == dataset["events"], done
        out["dataset"] = {
            **dataset,
            "load_s": loaded,
            "compact_s": compacted,
            "segments": done.segments_after,
        }
        workflow = model.names[0]  # the busiest workflow, one that calls LLMs
        empty = folder / "empty"  # no local spools: the shared tables only
        empty.mkdir()

        def shared_query(query: str) -> Callable[[], Any]:
            def action() -> None:
                one_select(query)
                with organization_cursor(empty, OWNER, database_url=url) as cursor:
                    duck_run(cursor, query, workflow)

            return action

        def local_query(query: str) -> Callable[[], Any]:
            def action() -> None:
                with connect(local) as connection:
                    duck_run(connection, query, workflow)

            return action

        shared.forget()
        cold = timed(lambda: shared.snapshot())
        queries: dict[str, Any] = {}
        for key, (what, query) in QUERIES.items():
            shared_query(query)()  # warm-up, untimed
            with connect(local) as c:
                same = sorted(duck_run(c, query, workflow), key=str)
            with organization_cursor(empty, OWNER, database_url=url) as c:
                check = compare(sorted(duck_run(c, query, workflow), key=str), same)
            if not check["same_rows"] or check["max_relative_float_difference"] > 1e-9:
                raise RuntimeError(f"{key}: the shared result differs from the local one: {check}")
            samples: dict[str, list[float]] = {"shared": [], "local": []}
            for _ in range(args.reps):
                samples["shared"].append(timed(shared_query(query)))
                samples["local"].append(timed(local_query(query)))
            queries[key] = {
                "what": what,
                "check_against_local": check,
                "shared": summary_ms(samples["shared"]),
                "local": summary_ms(samples["local"]),
            }
            queries[key]["ratio_shared_over_local_p50"] = (
                queries[key]["shared"]["p50_ms"] / queries[key]["local"]["p50_ms"]
            )
        out["queries"] = queries
        out["load_average_at_end"] = os.getloadavg()
        out["cold_snapshot_ms"] = cold * 1000
        out["worst_shared_p95_ms"] = max(q["shared"]["p95_ms"] for q in queries.values())
        out["verdicts"] = [
            f"shared ingest {out['ingest']['shared_events_per_s']:,.0f} events/s "
            f"(target {INGEST_TARGET:,}): "
            + ("met" if out["ingest"]["shared_events_per_s"] >= INGEST_TARGET else "NOT met"),
            f"shared query worst p95 {out['worst_shared_p95_ms']:.0f} ms over 1M step events "
            f"(target {QUERY_TARGET_MS:.0f} ms): "
            + ("met" if out["worst_shared_p95_ms"] < QUERY_TARGET_MS else "NOT met"),
        ]
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        pg_drop(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        nargs="+",
        default=[TARGET_EVENTS],
        help="step events per dataset (several sizes: e.g. 1000000 10000000)",
    )
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per query")
    parser.add_argument(
        "--large-reps", type=int, default=5, help="repetitions above 1 million step events"
    )
    parser.add_argument(
        "--store-reps", type=int, default=5, help="repetitions per query on each store"
    )
    parser.add_argument(
        "--store-max-events",
        type=int,
        default=TARGET_EVENTS,
        help="load the stores only for datasets up to this many step events",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite baseline only")
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--ingest-events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per emit_many call")
    parser.add_argument("--ingest-reps", type=int, default=3, help="runs of each ingest case")
    parser.add_argument("--single-events", type=int, default=20_000, help="single emit() calls")
    parser.add_argument(
        "--small-files",
        type=int,
        default=2000,
        help="also query the first dataset split into files of N events (0: skip)",
    )
    parser.add_argument(
        "--ingest-only", action="store_true", help="measure the ingest rate only (no datasets)"
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="the shared backend (PostgreSQL) only: ingest and query targets",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args()
    if args.ingest_only:
        args.events = []
    if args.shared:
        started = time.perf_counter()
        shared = {
            "benchmark": "analytics, shared backend",
            "settings": vars(args),
            "targets": {
                "ingest_events_per_s": INGEST_TARGET,
                "query_p95_ms_at_1m": QUERY_TARGET_MS,
            },
            "machine": machine_info(),
            **measure_shared(args),
        }
        shared["wall_s"] = time.perf_counter() - started
        shared["machine"]["loadavg_at_end"] = os.getloadavg()
        print(json.dumps({k: shared[k] for k in ("ingest", "verdicts")}, indent=2, default=str))
        for key, entry in shared["queries"].items():
            print(
                f"{key:28} shared p50 {entry['shared']['p50_ms']:7.1f} p95 "
                f"{entry['shared']['p95_ms']:7.1f} ms | local p50 {entry['local']['p50_ms']:7.1f}"
                f" p95 {entry['local']['p95_ms']:7.1f} ms"
            )
        target = args.out.with_name("analytics_shared.json") if args.out == RESULTS else args.out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(shared, indent=2, default=str) + "\n")
        print(f"\nwritten {target} ({shared['wall_s']:.0f} s)")
        return

    results: dict[str, Any] = {
        "benchmark": "analytics",
        "settings": vars(args),
        "targets": {"ingest_events_per_s": INGEST_TARGET, "query_p95_ms_at_1m": QUERY_TARGET_MS},
        "machine": machine_info(),
    }
    started = time.perf_counter()
    cpu = cpu_now()
    results["ingest"] = measure_ingest(args)
    results["ingest"]["cpu"] = cpu_since(cpu, time.perf_counter() - started)
    results["sizes"] = []
    for i, n in enumerate(args.events):
        cpu, t0 = cpu_now(), time.perf_counter()
        results["sizes"].append(run_size(n, args, i == 0))
        results["sizes"][-1]["cpu"] = cpu_since(cpu, time.perf_counter() - t0)
        results["sizes"][-1]["loadavg_at_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["verdicts"] = verdicts(results)
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out} ({results['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
