"""What the dashboard shows: one snapshot of one organization's analytics views for a filter.

Filter values are user data: they reach DuckDB as query parameters, never as SQL text.
The views are those of a sealed database holding only the organization's events
(local or shared: :mod:`flowat_kernel.analytics.organization`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from flowat_kernel.analytics.organization import organization_cursor

_ALL = ""  # "all workflows": no workflow name is empty
_ALL_VERSIONS = 0  # "all versions": version numbers start at 1
#: Time range key -> (label, how far back, bucket seconds).
_RANGES: dict[str, tuple[str, timedelta | None, int]] = {
    "hour": ("last hour", timedelta(hours=1), 300),
    "day": ("last 24 hours", timedelta(days=1), 3600),
    "week": ("last 7 days", timedelta(days=7), 6 * 3600),
    "month": ("last 30 days", timedelta(days=30), 86400),
    "all": ("all time (fitted to the runs)", None, 0),
}
#: The range a dashboard opens with: fitted to the runs that exist, so a new user's few
#: runs spread over the axis instead of sharing one bar of a week.
DEFAULT_RANGE = "all"
#: How many runs the recent-runs list shows.
RECENT_RUNS = 20
_BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
_MAX_BARS = 48
_MAX_FAILURES = 3  # consecutive failed automatic refreshes before the timer gives up
_STACK = (  # volume columns, bottom to top
    ("succeeded", "#4c9a5b", "succeeded"),
    ("failed", "#d1495b", "failed"),
    ("stopped", "#edae49", "cancelled / timed out"),
    ("active", "#8fb8de", "queued / running"),
)

_PICKED = """
WITH picked AS (
    SELECT *, coalesce(queued_at, started_at, ended_at) AS run_at
    FROM runs
    WHERE workflow IS NOT NULL
      AND ($workflow IS NULL OR workflow = $workflow)
      AND ($version IS NULL OR version = $version)
      AND ($since IS NULL OR coalesce(queued_at, started_at, ended_at) >= $since)
)
"""
_QUERIES = {
    "span": "SELECT min(run_at), max(run_at) FROM picked",
    "volume": """
        SELECT to_timestamp(floor(epoch(run_at) / $bucket) * $bucket) AS bucket,
               count(*) AS runs,
               count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('cancelled', 'timed_out')) AS stopped,
               count(*) FILTER (WHERE status IN ('queued', 'running')) AS active,
               count(*) FILTER (WHERE status = 'failed')
                   / nullif(count(*) FILTER (WHERE status NOT IN ('queued', 'running')), 0)
                   AS failure_rate
        FROM picked GROUP BY bucket ORDER BY bucket""",
    "durations": """
        SELECT workflow, version,
               count(*) FILTER (WHERE status = 'succeeded') AS runs,
               quantile_cont(duration_ms, 0.5) FILTER (WHERE status = 'succeeded') AS p50_ms,
               quantile_cont(duration_ms, 0.95) FILTER (WHERE status = 'succeeded') AS p95_ms,
               count(*) FILTER (WHERE status = 'failed') AS failed_runs,
               quantile_cont(duration_ms, 0.5) FILTER (WHERE status = 'failed')
                   AS failed_p50_ms
        FROM picked WHERE duration_ms IS NOT NULL
        GROUP BY workflow, version ORDER BY workflow, version""",
    "slowest_steps": """
        SELECT workflow, step, count(*) AS executions,
               count(*) FILTER (WHERE status = 'failed') AS failures,
               CAST(sum(retries) AS BIGINT) AS retries,
               quantile_cont(duration_ms, 0.5) AS p50_ms,
               quantile_cont(duration_ms, 0.95) AS p95_ms
        FROM steps
        WHERE status IN ('succeeded', 'failed') AND run_id IN (SELECT run_id FROM picked)
        GROUP BY workflow, step ORDER BY p95_ms DESC NULLS LAST, workflow, step LIMIT 10""",
    "errors": """
        SELECT workflow, error_type, step, count(*) AS failures, max(run_at) AS last_seen,
               arg_max(run_id, run_at) AS last_run
        FROM (
            SELECT workflow, coalesce(error_type, 'unknown') AS error_type, step,
                   coalesce(ended_at, started_at) AS run_at, run_id
            FROM steps
            WHERE status = 'failed' AND run_id IN (SELECT run_id FROM picked)
            UNION ALL
            SELECT workflow, coalesce(error_type, 'unknown'), '(run)', coalesce(ended_at, run_at),
                   run_id
            FROM picked p
            WHERE status = 'failed' AND NOT EXISTS (
                SELECT 1 FROM steps s WHERE s.run_id = p.run_id AND s.status = 'failed')
        )
        GROUP BY workflow, error_type, step
        ORDER BY failures DESC, last_seen DESC LIMIT 10""",
    "llm": """
        SELECT workflow, model, step, count(*) AS calls,
               sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd
        FROM events
        WHERE event = 'action' AND model IS NOT NULL
          AND run_id IN (SELECT run_id FROM picked)
        GROUP BY workflow, model, step ORDER BY cost_usd DESC NULLS LAST, calls DESC""",
    "recent": f"""
        SELECT run_id, workflow, version, status, trigger, run_at AS queued_at, duration_ms
        FROM picked ORDER BY run_at DESC, run_id LIMIT {RECENT_RUNS}""",
}
_OPTIONS = """
    SELECT workflow, list(DISTINCT version ORDER BY version) FILTER (WHERE version IS NOT NULL),
           count(*)
    FROM runs WHERE workflow IS NOT NULL GROUP BY workflow ORDER BY workflow"""


@dataclass
class _Snapshot:
    """What one query of the views returned, and the time axis to draw it on."""

    workflows: dict[str, tuple[list[int], int]]  # name -> (versions, runs in total)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    bucket_seconds: int = 3600
    window: tuple[datetime, datetime] | None = None  # None: fit the data


def _query(
    folder: Path,
    workflow: str | None,
    version: int | None,
    range_key: str,
    *,
    owner: str,
    workflows: tuple[str, ...] | None = None,
    database_url: str | None = None,
) -> _Snapshot:
    """Read everything the dashboard shows of ``owner``'s events, over one connection.

    ``folder`` is the analytics folder; with the store on PostgreSQL (``database_url``,
    default ``FLOWAT_DATABASE_URL``) every host's events are read. This process's
    pending events count too.
    """
    _, back, bucket = _RANGES[range_key]
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "workflow": workflow,
        "version": version,
        "since": None if back is None else now - back,
    }
    with organization_cursor(folder, owner, workflows, database_url=database_url) as connection:
        rows = connection.execute(_OPTIONS).fetchall()
        snapshot = _Snapshot({str(name): (list(vs or []), int(n)) for name, vs, n in rows})
        if back is None:
            span_row = connection.execute(_PICKED + _QUERIES["span"], params).fetchone()
            first, last = span_row or (None, None)
            span = (last - first).total_seconds() if first and last else 0.0
            bucket = next((b for b in _BUCKETS if span / b <= _MAX_BARS), _BUCKETS[-1])
        else:
            start = math.floor((now - back).timestamp() / bucket) * bucket
            end = math.ceil(now.timestamp() / bucket) * bucket
            snapshot.window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        snapshot.bucket_seconds = bucket
        for name in ("volume", "durations", "slowest_steps", "errors", "llm", "recent"):
            extra = {"bucket": bucket} if name == "volume" else {}
            relation = connection.execute(_PICKED + _QUERIES[name], {**params, **extra})
            snapshot.frames[name] = relation.df()
    return snapshot
