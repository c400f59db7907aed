"""DuckDB views over every event: ``runs``, ``steps``, statistics, connectors, LLM cost.

``flowat.analytics.sql("SELECT * FROM workflow_stats")`` returns a DuckDB relation
(``.df()`` for a data frame, ``.fetchall()`` for tuples) over the caller's
organization's events (:func:`flowat_kernel.analytics.query.sql`). :func:`connect`
reads a local analytics folder: the Parquet files and live spool files, so a query
sees runs as they happen, whichever process emitted them. Point lookups of one run
stay on the metadata store.

Only what the DuckDB wheel carries is used (Parquet and JSON readers; no downloads).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from flowat_kernel.analytics.events import SCHEMA
from flowat_kernel.analytics.writer import recover_orphans
from flowat_kernel.config import settings
from flowat_kernel.errors import FlowAtError

__all__ = ["VIEWS", "analytics_folder", "connect", "query_failed"]

_DUCK_TYPES = {
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "double": "DOUBLE",
}
_JSON_COLUMNS = "{" + ", ".join(f"'{f.name}': '{_DUCK_TYPES[str(f.type)]}'" for f in SCHEMA) + "}"
_NAMES = ", ".join(SCHEMA.names)
_NULLS = ", ".join(f"NULL::{_DUCK_TYPES[str(f.type)]} AS {f.name}" for f in SCHEMA)

#: Each view's SQL, in dependency order.
VIEWS: dict[str, str] = {
    "runs": """
        SELECT run_id,
               any_value(workflow) FILTER (WHERE workflow IS NOT NULL) AS workflow,
               any_value(version) FILTER (WHERE version IS NOT NULL) AS version,
               any_value(owner) FILTER (WHERE owner IS NOT NULL) AS owner,
               any_value(trigger) FILTER (WHERE trigger IS NOT NULL) AS trigger,
               coalesce(arg_max(status, ts) FILTER (WHERE event = 'run_finished'),
                        CASE WHEN bool_or(event = 'run_started') THEN 'running' ELSE 'queued' END
               ) AS status,
               min(ts) FILTER (WHERE event = 'run_queued') AS queued_at,
               min(ts) FILTER (WHERE event = 'run_started') AS started_at,
               max(ts) FILTER (WHERE event = 'run_finished') AS ended_at,
               max(duration_ms) FILTER (WHERE event = 'run_finished') AS duration_ms,
               any_value(error_type) FILTER (WHERE event = 'run_finished') AS error_type,
               CAST(max(ts) FILTER (WHERE event = 'run_finished') AS DATE) AS day
        FROM events WHERE run_id IS NOT NULL AND event LIKE 'run_%'
        GROUP BY run_id""",
    "steps": """
        SELECT run_id, step,
               any_value(workflow) AS workflow, any_value(version) AS version,
               arg_max(regexp_replace(event, '^step_', ''), ts)
                   FILTER (WHERE event <> 'step_started') AS status,
               max(attempt) AS attempts,
               count(*) FILTER (WHERE event = 'step_retried') AS retries,
               max(duration_ms) FILTER (WHERE event IN ('step_succeeded', 'step_failed'))
                   AS duration_ms,
               max(bytes_out) AS bytes_out,
               arg_max(error_type, ts) FILTER (WHERE error_type IS NOT NULL) AS error_type,
               min(ts) FILTER (WHERE event = 'step_started') AS started_at,
               max(ts) FILTER (WHERE event NOT IN ('step_started', 'step_retried')) AS ended_at
        FROM events WHERE event LIKE 'step_%'
        GROUP BY run_id, step""",
    "workflow_stats": """
        SELECT workflow, version, day,
               count(*) AS runs,
               count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'succeeded') / count(*) AS success_rate,
               quantile_cont(duration_ms, 0.5) AS p50_ms,
               quantile_cont(duration_ms, 0.95) AS p95_ms,
               quantile_cont(duration_ms, 0.99) AS p99_ms
        FROM runs WHERE ended_at IS NOT NULL
        GROUP BY workflow, version, day""",
    "step_stats": """
        SELECT workflow, step,
               count(*) AS executions,
               count(*) FILTER (WHERE status = 'failed') AS failures,
               count(*) FILTER (WHERE status = 'failed') / count(*) AS failure_rate,
               sum(retries) AS retries,
               count(*) FILTER (WHERE retries > 0) / count(*) AS retry_rate,
               quantile_cont(duration_ms, 0.5) AS p50_ms,
               quantile_cont(duration_ms, 0.95) AS p95_ms,
               quantile_cont(duration_ms, 0.99) AS p99_ms,
               mode(error_type) AS top_error
        FROM steps WHERE status IN ('succeeded', 'failed')
        GROUP BY workflow, step""",
    "connector_health": """
        SELECT connector, host, CAST(ts AS DATE) AS day,
               count(*) FILTER (WHERE event = 'action') AS calls,
               count(*) FILTER (WHERE event = 'action' AND status <> 'succeeded') AS errors,
               coalesce(count(*) FILTER (WHERE event = 'action' AND status <> 'succeeded')
                        / nullif(count(*) FILTER (WHERE event = 'action'), 0), 0) AS error_rate,
               quantile_cont(duration_ms, 0.95) FILTER (WHERE event = 'action') AS p95_ms,
               count(*) FILTER (WHERE event = 'breaker_opened') AS breaker_openings
        FROM events WHERE event IN ('action', 'breaker_opened')
        GROUP BY connector, host, day""",
    "llm_usage": """
        SELECT workflow, step, model,
               count(*) AS calls,
               sum(tokens_in) AS tokens_in,
               sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd
        FROM events WHERE event = 'action' AND model IS NOT NULL
        GROUP BY workflow, step, model""",
    "dlq": """
        SELECT ts AS parked_at, run_id, workflow, version, step, error_type, error
        FROM events WHERE event = 'dead_lettered'""",
    "schedule_lateness": """
        SELECT run_id, workflow, scheduled_at, ts AS started_at,
               epoch_ms(ts) - epoch_ms(scheduled_at) AS lateness_ms
        FROM events WHERE event = 'run_started' AND scheduled_at IS NOT NULL""",
}


def _quoted(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _define_events(connection: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Define ``events`` over a consistent snapshot of the files, read now.

    Live spool files are copied into a temporary table first, then the Parquet files
    are listed; if a spool was converted in between (its events would then be in both),
    the snapshot is taken again.
    """
    spool_dir = folder / "spool"
    files: list[Path] = []
    spools: list[Path] = []
    for _ in range(5):
        spools = (
            [p for p in sorted(spool_dir.glob("*.jsonl")) if p.stat().st_size]
            if (spool_dir.exists())
            else []
        )
        connection.execute("DROP TABLE IF EXISTS live_events")
        try:
            if spools:
                connection.execute(
                    f"CREATE TEMP TABLE live_events AS SELECT {_NAMES} FROM read_json("
                    f"{_quoted(spools)}, format = 'newline_delimited', "
                    f"columns = {_JSON_COLUMNS}, ignore_errors = true)"
                )
        except duckdb.IOException:
            continue  # a spool was converted while being read
        files = sorted((folder / "events").glob("day=*/*.parquet"))
        if all(p.exists() for p in spools):
            break
    parts = []
    if files:
        parts.append(f"SELECT {_NAMES} FROM read_parquet({_quoted(files)}, union_by_name = true)")
    if spools:
        parts.append(f"SELECT {_NAMES} FROM live_events")
    source = " UNION ALL ".join(parts) if parts else f"SELECT {_NULLS} WHERE false"
    connection.execute(f"CREATE VIEW events AS {source}")


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every view defined over ``folder``'s events.

    The events are those on disk now (Parquet files and live spools): a relation
    evaluated later does not see newer ones; connect again to refresh.
    """
    recover_orphans(folder)
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    connection.execute("SET TimeZone = 'UTC'")
    _define_events(connection, folder)
    for name, query in VIEWS.items():
        connection.execute(f"CREATE VIEW {name} AS {query}")
    return connection


def query_failed(exc: duckdb.Error) -> FlowAtError:
    """DuckDB's complaint about a query, as one line that says where to look."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ") and set(line) != {"^"}]
    return FlowAtError(
        f"the analytics query failed: {' '.join(kept)} (the views are {', '.join(VIEWS)} "
        "and events; docs/analytics.md lists their columns)"
    )


def analytics_folder() -> Path:
    """``FLOWAT_HOME/analytics`` of the current settings."""
    return settings().home / "analytics"
