"""The analytics views agree with the store's own records, for real runs, on both stores.

Every number a view gives (run counts, durations, percentiles, step attempts, retry and
failure rates, LLM usage, breaker openings) is recomputed here independently from the
run records of the metadata store (SQLite or PostgreSQL) and compared.

``FLOWAT_HOME`` (so the analytics folder) is shared by the whole test session: every
query is filtered by this test's own workflow name or connector id.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

import flowat_kernel as flowat
from flowat_kernel.analytics import sql
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.store import RunRecord
from flowat_kernel.testing import cells, registered

PARAMETERS = "n = 1\nfail = False\nflaky = False\nmarker = ''"
STEPS = (
    "%%flowat step load\nvalues = list(range(n))",
    "%%flowat step check --retries 0\n"
    "if fail:\n    raise ValueError(f'n={n} was asked to fail')\n"
    "total = sum(values)",
    "%%flowat step wobble --retries 2 --after check\n"
    "import os\n"
    "if flaky and not os.path.exists(marker):\n"
    "    open(marker, 'w').close()\n"
    "    raise RuntimeError('the first attempt fails')\n"
    "doubled = [v * 2 for v in values]",
)
REPORT_V1 = "%%flowat step report\nreport = {'total': total, 'count': len(doubled)}"
REPORT_V2 = "%%flowat step report\nreport = {'total': total, 'count': len(doubled), 'v': 2}"

# (n, fail, flaky) for version 1, then for version 2.
RUNS_V1 = [(1, False, False), (2, False, True), (3, True, False), (4, False, False),
           (5, False, True), (6, True, False), (7, False, False)]  # fmt: skip
RUNS_V2 = [(8, False, False), (9, True, False), (10, False, True), (11, False, False),
           (12, False, True)]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, temporal: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The metadata store the runtime uses: the session's SQLite file, or a PostgreSQL db."""
    if request.param == "postgresql":
        monkeypatch.setenv("FLOWAT_DATABASE_URL", request.getfixturevalue("postgres_url"))
        reset_runtime()
    url = get_runtime().settings.database_url
    assert url.startswith(request.param), url
    yield request.param
    reset_runtime()


def rows(query: str) -> list[dict[str, Any]]:
    """The result of ``query`` over the views, as dicts."""
    relation = sql(query)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def _run_all(workflow: str, tmp_path: Path) -> list[RunRecord]:
    """Publish two versions, run each with varied parameters; the store's full records."""
    run_ids = []
    for report, plan in ((REPORT_V1, RUNS_V1), (REPORT_V2, RUNS_V2)):
        published = flowat.publish(workflow, cells=cells(*STEPS, report, parameters=PARAMETERS))
        for n, fail, flaky in plan:
            marker = str(tmp_path / f"marker-{n}")
            run = flowat.run(
                workflow,
                version=published.number,
                parameters={"n": n, "fail": fail, "flaky": flaky, "marker": marker},
            )
            assert run.status == ("failed" if fail else "succeeded"), run.error
            run_ids.append(run.run_id)
    # The store says a run ended a moment before its run_finished event is written.
    finished = f"SELECT count(*) FROM runs WHERE workflow = '{workflow}' AND ended_at IS NOT NULL"
    deadline = time.monotonic() + 30
    while sql(finished).fetchall() != [(len(run_ids),)]:
        assert time.monotonic() < deadline, "some runs' run_finished events never arrived"
        time.sleep(0.05)
    listed = flowat.runs(workflow, limit=100)
    assert sorted(r.run_id for r in listed) == sorted(run_ids)
    return [flowat.get_run(run_id).record for run_id in run_ids]


def test_views_equal_the_store_records(backend: str, workflow_name: str, tmp_path: Path) -> None:
    records = _run_all(workflow_name, tmp_path)
    assert {r.version for r in records} == {1, 2}
    assert Counter(r.status for r in records) == {"succeeded": 9, "failed": 3}

    # runs: one row per run, with the store's status, version, trigger and duration.
    view = {r["run_id"]: r for r in rows(f"SELECT * FROM runs WHERE workflow = '{workflow_name}'")}
    assert set(view) == {r.run_id for r in records}
    for record in records:
        row = view[record.run_id]
        assert (row["workflow"], row["version"], row["status"]) == (
            record.workflow,
            record.version,
            record.status,
        )
        assert row["owner"] == record.owner and row["trigger"] == record.trigger
        assert record.duration_seconds is not None
        # run_finished's duration is computed from this very record: equal to the µs.
        assert row["duration_ms"] == pytest.approx(1000 * record.duration_seconds, abs=0.01)
        assert row["queued_at"] <= row["started_at"] <= row["ended_at"]
        assert row["error_type"] == (record.error or {}).get("type")

    # counts per workflow and version
    counted = rows(
        "SELECT version, count(*) AS total, count(*) FILTER (WHERE status = 'succeeded') AS ok,"
        " count(*) FILTER (WHERE status = 'failed') AS failed"
        f" FROM runs WHERE workflow = '{workflow_name}' GROUP BY version ORDER BY version"
    )
    expected_counts = [
        {
            "version": version,
            "total": sum(r.version == version for r in records),
            "ok": sum(r.version == version and r.status == "succeeded" for r in records),
            "failed": sum(r.version == version and r.status == "failed" for r in records),
        }
        for version in (1, 2)
    ]
    assert counted == expected_counts

    _check_workflow_stats(workflow_name, records)
    _check_steps(workflow_name, records)
    _check_step_stats(workflow_name, records)


def _check_workflow_stats(workflow: str, records: list[RunRecord]) -> None:
    """Counts and p50/p95/p99 per version and day, recomputed from the records."""
    # The view's day is the UTC date of the run's end.
    groups: dict[tuple[int, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        assert record.ended_at is not None
        day = record.ended_at.astimezone(UTC).date().isoformat()
        groups[(record.version, day)].append(record)
    stats = rows(f"SELECT * FROM workflow_stats WHERE workflow = '{workflow}'")
    assert len(stats) == len(groups)
    for row in stats:
        group = groups[(row["version"], row["day"].isoformat())]
        durations = [1000 * r.duration_seconds for r in group if r.duration_seconds is not None]
        ok = sum(r.status == "succeeded" for r in group)
        failed = sum(r.status == "failed" for r in group)
        assert (row["runs"], row["succeeded"], row["failed"]) == (len(group), ok, failed)
        assert row["success_rate"] == pytest.approx(ok / len(group))
        for column, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            # quantile_cont is numpy's default (linear interpolation between ranks).
            assert row[column] == pytest.approx(float(np.quantile(durations, q)), abs=0.01)


def _check_steps(workflow: str, records: list[RunRecord]) -> None:
    """Per run and step: the store's status and attempts; retries are attempts - 1."""
    view = {
        (r["run_id"], r["step"]): r
        for r in rows(f"SELECT * FROM steps WHERE workflow = '{workflow}'")
    }
    # A step left pending (below a failed one) never ran: it has no events, so no row.
    expected = {
        (rec.run_id, s.name): s for rec in records for s in rec.steps if s.status != "pending"
    }
    assert set(view) == set(expected)
    seen_statuses: Counter[str] = Counter()
    for key, step in expected.items():
        row = view[key]
        seen_statuses[step.status] += 1
        assert row["status"] == step.status, key
        if step.status == "skipped":
            assert row["attempts"] is None and row["retries"] == 0
            continue
        assert row["attempts"] == step.attempts, key
        assert row["retries"] == step.attempts - 1, key
        assert row["duration_ms"] is not None and row["duration_ms"] >= 0
        assert step.duration_seconds is not None
        # The view's duration is the worker's timing of the last attempt; the record's
        # spans every attempt, so a retried step's includes the backoff (1 s at least).
        if step.attempts > 1:
            assert row["duration_ms"] < 1000 * step.duration_seconds - 500
        if step.status == "failed":
            assert row["error_type"] == (step.error or {}).get("type") == "ValueError"
        elif step.attempts > 1:
            assert row["error_type"] == "RuntimeError"  # what the retried attempt raised
        else:
            assert row["error_type"] is None
    # The plan really exercised every kind of outcome.
    assert seen_statuses == {"succeeded": 4 * 9 + 1 * 3, "failed": 3}
    left_pending = [s for rec in records for s in rec.steps if s.status == "pending"]
    assert len(left_pending) == 2 * 3  # the two steps after each failure never started
    retried = [k for k, s in expected.items() if s.attempts > 1]
    assert len(retried) == 4 and {step for _, step in retried} == {"wobble"}


def _check_step_stats(workflow: str, records: list[RunRecord]) -> None:
    """Executions, failures, retries and their rates per step, from the records."""
    executed: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        for step in record.steps:
            if step.status in ("succeeded", "failed"):
                executed[step.name].append(step)
    stats = {r["step"]: r for r in rows(f"SELECT * FROM step_stats WHERE workflow = '{workflow}'")}
    assert set(stats) == set(executed) == {"load", "check", "wobble", "report"}
    for name, steps in executed.items():
        row = stats[name]
        failures = sum(s.status == "failed" for s in steps)
        with_retries = sum(s.attempts > 1 for s in steps)
        assert row["executions"] == len(steps)
        assert row["failures"] == failures
        assert row["failure_rate"] == pytest.approx(failures / len(steps))
        assert row["retries"] == sum(s.attempts - 1 for s in steps)
        assert row["retry_rate"] == pytest.approx(with_retries / len(steps))
    assert stats["check"]["failures"] == 3 and stats["wobble"]["retries"] == 4
    # An error a retry absorbed counts too: the steps view keeps each step's last error.
    assert stats["check"]["top_error"] == "ValueError"
    assert stats["wobble"]["top_error"] == "RuntimeError"
    assert stats["load"]["top_error"] is None and stats["report"]["top_error"] is None


# -- actions: connector health and LLM usage -------------------------------------------


class Prompt(BaseModel):
    text: str
    model: str
    explode: bool = False


class Completion(BaseModel):
    text: str


def _llm_connector(connector_id: str) -> Connector:
    connector = Connector(id=connector_id, name="Tiny LLM", description="Echoes, at a price")

    @connector.action(
        "complete",
        input=Prompt,
        output=Completion,
        retry_safe=True,
        target=lambda params: f"{params.model}.llm.test",
    )
    def complete(ctx: ActionContext, params: Prompt) -> Completion:
        """Echo the prompt; bill one token per character."""
        if params.explode:
            raise ActionError("the model is overloaded", retryable=True)
        ctx.usage.update(
            model=params.model,
            tokens_in=len(params.text),
            tokens_out=2 * len(params.text),
            cost_usd=0.001 * len(params.text),
        )
        return Completion(text=params.text * 2)

    return connector


ACTION_STEP = """%%flowat step ask
answers = [flowat.action(ACTION, text=prompt, model=model).text for prompt in prompts]
failures = 0
for _ in range(explosions):
    try:
        flowat.action(ACTION, text='boom', model=model, explode=True)
    except Exception:
        failures += 1"""


def test_connector_health_and_llm_usage_equal_the_calls_made(
    backend: str, workflow_name: str
) -> None:
    # Registered in this process only, not as an installed plugin: step processes receive
    # it with each step.
    connector_id = f"llm-{uuid.uuid4().hex[:8]}"
    action = f"{connector_id}.complete"
    plan = [
        (["hello", "world"], "small", 0),
        (["a longer prompt"], "large", 0),
        (["x", "yy", "zzz"], "small", 5),  # five retryable failures open the breaker
    ]
    with registered(_llm_connector(connector_id)):
        flowat.publish(
            workflow_name,
            cells=cells(
                ACTION_STEP.replace("ACTION", repr(action)),
                parameters="prompts = ['hi']\nmodel = 'small'\nexplosions = 0",
            ),
        )
        records = []
        for prompts, model, explosions in plan:
            run = flowat.run(
                workflow_name,
                parameters={"prompts": prompts, "model": model, "explosions": explosions},
            )
            assert run.status == "succeeded", run.error
            assert run.outputs["ask"]["failures"] == explosions
            records.append(run.record)

    usage = {
        r["model"]: r for r in rows(f"SELECT * FROM llm_usage WHERE workflow = '{workflow_name}'")
    }
    expected: dict[str, dict[str, Any]] = {}
    for prompts, model, _ in plan:
        totals = expected.setdefault(
            model, {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}
        )
        for prompt in prompts:
            totals["calls"] += 1
            totals["tokens_in"] += len(prompt)
            totals["tokens_out"] += 2 * len(prompt)
            totals["cost_usd"] += 0.001 * len(prompt)
    assert set(usage) == set(expected) == {"small", "large"}
    for model, totals in expected.items():
        row = usage[model]
        assert (row["step"], row["calls"], row["tokens_in"], row["tokens_out"]) == (
            "ask",
            totals["calls"],
            totals["tokens_in"],
            totals["tokens_out"],
        )
        assert row["cost_usd"] == pytest.approx(totals["cost_usd"])

    health = {
        r["host"]: r
        for r in rows(
            "SELECT host, sum(calls) AS calls, sum(errors) AS errors,"
            " sum(breaker_openings) AS openings"
            f" FROM connector_health WHERE connector = '{connector_id}' GROUP BY host"
        )
    }
    assert health == {
        "small.llm.test": {
            "host": "small.llm.test",
            "calls": 2 + 3 + 5,
            "errors": 5,
            "openings": 1,
        },
        "large.llm.test": {"host": "large.llm.test", "calls": 1, "errors": 0, "openings": 0},
    }
    # The breaker the view counted is the one the store holds.
    assert get_runtime().breakers.state(connector_id, "small.llm.test")["openings"] == 1
    assert all(r.status == "succeeded" for r in records)
