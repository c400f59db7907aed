"""Synthetic FlowAt events for the analytics benchmark: a model of workflows and days.

The same model feeds both sides: Parquet event files for DuckDB and run/step rows for
the metadata store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

OWNER = "bench"
STEPS = (
    "extract",
    "validate",
    "clean",
    "enrich",
    "classify",
    "summarize",
    "score",
    "join",
    "export",
    "notify",
)
HTTP_STEP = 0
LLM_STEPS = (4, 5)
ERRORS = (
    "TimeoutError",
    "HTTPError",
    "ValueError",
    "KeyError",
    "RateLimitError",
    "ConnectionError",
    "ActionError",
    "StepInputError",
)
ERROR_WEIGHTS = (0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.07, 0.03)
MESSAGES = (
    "request to {host} timed out after 30 s",
    "upstream answered 503 Service Unavailable",
    "could not convert string to float: 'n/a'",
)
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-3-5-sonnet")
MODEL_HOSTS = ("api.openai.com", "api.openai.com", "api.anthropic.com", "api.anthropic.com")
PRICES = ((0.15, 0.6), (2.5, 10.0), (0.8, 4.0), (3.0, 15.0))  # USD per million in, out
TRIGGERS = ("schedule", "manual", "api")
STEP_EVENTS_PER_RUN = 20.07  # measured: 10 steps x (started + ended), plus retries, less skips
RETRY_P = 0.02
MAX_STEP_MS = 120_000.0


# -- helpers -------------------------------------------------------------------------


class Model:
    """Fixed traits of the synthetic workflows: traffic, failure rates, step durations."""

    def __init__(self, workflows: int, days: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.workflows = workflows
        self.days = days
        self.names = [f"wf_{i:02d}" for i in range(workflows)]
        weight = 1.0 / np.arange(1, workflows + 1) ** 0.8  # a few busy workflows, a long tail
        self.traffic = weight / weight.sum()
        self.fail = rng.uniform(0.005, 0.12, workflows)  # run failure probability
        self.step_ms = np.clip(
            np.exp(rng.normal(math.log(800), 1.2, (workflows, len(STEPS)))), 20, 30_000
        )
        self.versions = rng.integers(1, 4, workflows)  # 1 to 3 versions over the period
        self.switch = np.sort(rng.integers(1, days, (workflows, 2)), axis=1)
        self.uses_llm = np.arange(workflows) % 3 == 0
        self.model = rng.integers(0, len(MODELS), workflows)
        self.first_day = datetime.now(UTC).date() - timedelta(days=days)

    def version(self, wf: np.ndarray, day: int) -> np.ndarray:
        v = np.ones(len(wf), dtype=np.int32)
        v += (day >= self.switch[wf, 0]) & (self.versions[wf] >= 2)
        v += (day >= self.switch[wf, 1]) & (self.versions[wf] >= 3)
        return v

    def day_start_us(self, day: int) -> int:
        start = datetime.combine(self.first_day + timedelta(days=day), datetime.min.time(), UTC)
        return int(start.timestamp()) * 1_000_000

    def runs_per_day(self, step_events: int, rng: np.random.Generator) -> np.ndarray:
        runs = max(1, round(step_events / STEP_EVENTS_PER_RUN))
        weekday = np.array(
            [(self.first_day + timedelta(days=d)).weekday() for d in range(self.days)]
        )
        weight = np.where(weekday >= 5, 0.6, 1.0)
        return rng.multinomial(runs, weight / weight.sum())


def generate_day(model: Model, day: int, n: int, rng: np.random.Generator) -> dict[str, Any]:
    """The runs of one day, as numpy arrays per run (``n``) and per run and step (n x S)."""
    S = len(STEPS)
    wf = rng.choice(model.workflows, n, p=model.traffic)
    version = model.version(wf, day)
    queued = model.day_start_us(day) + rng.integers(0, (86_400 - 7_200) * 1_000_000, n)
    started = queued + (np.clip(rng.lognormal(math.log(300), 0.8, n), 5, 60_000) * 1000).astype(
        np.int64
    )
    fails = rng.random(n) < model.fail[wf]
    fail_step = np.where(fails, rng.integers(0, S, n), S)
    s_idx = np.arange(S)[None, :]
    executed = s_idx <= fail_step[:, None]
    failed_cell = s_idx == fail_step[:, None]
    retried = executed & (rng.random((n, S)) < RETRY_P)
    slower = 1.0 + 0.15 * (version - 1)  # later versions are a little slower
    base = model.step_ms[wf] * slower[:, None]
    duration = np.clip(base * rng.lognormal(0, 0.5, (n, S)), 1, MAX_STEP_MS)
    first = np.where(retried, np.clip(base * rng.lognormal(0, 0.5, (n, S)), 1, MAX_STEP_MS), 0)
    gap, backoff = 15.0, 1000.0
    cell = np.where(executed, gap + first + retried * backoff + duration, 0.0)
    ends = np.cumsum(cell, axis=1)
    start_us = started[:, None] + ((ends - cell + gap) * 1000).astype(np.int64)
    end_us = started[:, None] + (ends * 1000).astype(np.int64)
    run_end = started + (ends[:, -1] * 1000).astype(np.int64) + 20_000
    error = rng.choice(len(ERRORS), (n, S), p=ERROR_WEIGHTS)
    message = error * len(MESSAGES) + rng.integers(0, len(MESSAGES), (n, S))
    ids = rng.bytes(16 * n).hex()
    return {
        "n": n,
        "day": day,
        "run_id": [ids[32 * i : 32 * i + 32] for i in range(n)],
        "wf": wf,
        "version": version,
        "trigger": rng.choice(len(TRIGGERS), n, p=(0.6, 0.25, 0.15)),
        "queued": queued,
        "started": started,
        "run_end": run_end,
        "fails": fails,
        "fail_step": fail_step,
        "executed": executed,
        "failed_cell": failed_cell,
        "retried": retried,
        "duration": duration,
        "first": first,
        "start_us": start_us,
        "first_end_us": start_us + (first * 1000).astype(np.int64),
        "retry_start_us": start_us + ((first + backoff) * 1000).astype(np.int64),
        "end_us": end_us,
        "error": error,
        "message": message,
        "bytes_in": rng.lognormal(math.log(20_000), 1.5, (n, S)).astype(np.int64),
        "bytes_out": rng.lognormal(math.log(20_000), 1.5, (n, S)).astype(np.int64),
        "tokens_in": rng.lognormal(math.log(1500), 0.6, (n, S)).astype(np.int64),
        "tokens_out": rng.lognormal(math.log(300), 0.7, (n, S)).astype(np.int64),
    }


_TS = pa.timestamp("us", tz="UTC")


def _strings(values: list[str] | tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pa.array(list(values)).take(pa.array(index))


def _nullable_strings(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    """``values[index]``, null where ``index`` is negative."""
    return pa.array(list(values)).take(pa.array(index, mask=index < 0))


def _message(index: np.ndarray) -> pa.Array:
    texts = [
        f"{kind}: " + template.format(host="api.example.com")
        for kind in ERRORS
        for template in MESSAGES
    ]
    return _strings(texts, index)


def _part(schema: pa.Schema, n: int, **columns: Any) -> pa.Table:
    arrays = []
    for field in schema:
        value = columns.pop(field.name, None)
        if value is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(field.type))
        elif isinstance(value, np.ndarray):
            arrays.append(pa.array(value).cast(field.type))
        else:
            arrays.append(pa.repeat(pa.scalar(value, field.type), n))
    assert not columns, columns
    return pa.Table.from_arrays(arrays, schema=schema)


def events_table(model: Model, b: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """Every event the runs of ``b`` emit, in the product's shapes (see engine.activities)."""
    n, wf = b["n"], b["wf"]
    run_ids = pa.array(b["run_id"])
    names = model.names
    parts = []
    everyone = np.arange(n)
    parts.append(  # runner.start_run
        _part(
            schema,
            n,
            ts=b["queued"],
            event="run_queued",
            run_id=run_ids,
            workflow=_strings(names, wf),
            version=b["version"],
            owner=OWNER,
            trigger=_strings(TRIGGERS, b["trigger"]),
        )
    )
    parts.append(_part(schema, n, ts=b["started"], event="run_started", run_id=run_ids))
    failed_error = np.where(b["fails"], b["error"][everyone, np.minimum(b["fail_step"], 9)], -1)
    parts.append(
        _part(
            schema,
            n,
            ts=b["run_end"],
            event="run_finished",
            run_id=run_ids,
            workflow=_strings(names, wf),
            version=b["version"],
            owner=OWNER,
            status=_strings(("succeeded", "failed"), b["fails"].astype(np.int64)),
            duration_ms=(b["run_end"] - b["started"]) / 1000.0,
            error_type=_nullable_strings(ERRORS, failed_error),
        )
    )

    def cells(mask: np.ndarray, **columns: Any) -> None:
        r, s = np.nonzero(mask)
        if len(r) == 0:
            return
        common = {
            "run_id": run_ids.take(pa.array(r)),
            "workflow": _strings(names, wf[r]),
            "version": b["version"][r],
            "owner": OWNER,
            "step": _strings(STEPS, s),
        }
        values = {k: v(r, s) if callable(v) else v for k, v in columns.items()}
        parts.append(_part(schema, len(r), **common, **values))

    executed, retried, failed = b["executed"], b["retried"], b["failed_cell"]
    err = b["error"]
    cells(executed, ts=lambda r, s: b["start_us"][r, s], event="step_started", attempt=1)
    cells(
        retried,
        ts=lambda r, s: b["first_end_us"][r, s],
        event="step_retried",
        attempt=1,
        duration_ms=lambda r, s: b["first"][r, s],
        error_type=lambda r, s: _strings(ERRORS, err[r, s]),
        error=lambda r, s: _message(b["message"][r, s]),
    )
    cells(
        retried,
        ts=lambda r, s: b["retry_start_us"][r, s],
        event="step_started",
        attempt=2,
    )
    ok = executed & ~failed
    cells(
        ok,
        ts=lambda r, s: b["end_us"][r, s],
        event="step_succeeded",
        attempt=lambda r, s: 1 + retried[r, s].astype(np.int32),
        duration_ms=lambda r, s: b["duration"][r, s],
        bytes_in=lambda r, s: b["bytes_in"][r, s],
        bytes_out=lambda r, s: b["bytes_out"][r, s],
    )
    cells(
        failed,
        ts=lambda r, s: b["end_us"][r, s],
        event="step_failed",
        attempt=lambda r, s: 1 + retried[r, s].astype(np.int32),
        duration_ms=lambda r, s: b["duration"][r, s],
        error_type=lambda r, s: _strings(ERRORS, err[r, s]),
        error=lambda r, s: _message(b["message"][r, s]),
    )
    cells(~executed, ts=lambda r, s: b["run_end"][r], event="step_skipped")  # _finish_events
    # Action events: an HTTP call in "extract", LLM calls in two steps of every third
    # workflow; one call per final attempt, emitted with the step's end.
    http = np.zeros_like(executed)
    http[:, HTTP_STEP] = True
    cells(
        executed & http,
        ts=lambda r, s: b["end_us"][r, s],
        event="action",
        attempt=lambda r, s: 1 + retried[r, s].astype(np.int32),
        connector="http",
        action="get",
        host=lambda r, s: _strings([f"api{i}.example.com" for i in range(7)], wf[r] % 7),
        status=lambda r, s: _strings(("succeeded", "failed"), failed[r, s].astype(np.int64)),
        duration_ms=lambda r, s: 0.5 * b["duration"][r, s],
    )
    llm = np.zeros_like(executed)
    llm[:, list(LLM_STEPS)] = True
    llm &= model.uses_llm[wf][:, None]
    tokens_in, tokens_out = b["tokens_in"], b["tokens_out"]
    prices = np.array(PRICES)

    def cost(r: np.ndarray, s: np.ndarray) -> np.ndarray:
        p = prices[model.model[wf[r]]]
        return (tokens_in[r, s] * p[:, 0] + tokens_out[r, s] * p[:, 1]) / 1e6

    cells(
        executed & llm,
        ts=lambda r, s: b["end_us"][r, s],
        event="action",
        attempt=lambda r, s: 1 + retried[r, s].astype(np.int32),
        connector="llm",
        action="complete",
        host=lambda r, s: _strings(MODEL_HOSTS, model.model[wf[r]]),
        status=lambda r, s: _strings(("succeeded", "failed"), failed[r, s].astype(np.int64)),
        duration_ms=lambda r, s: 0.8 * b["duration"][r, s],
        model=lambda r, s: _strings(MODELS, model.model[wf[r]]),
        tokens_in=lambda r, s: tokens_in[r, s],
        tokens_out=lambda r, s: tokens_out[r, s],
        cost_usd=cost,
    )
    return pa.concat_tables(parts).sort_by("ts")


def _datetimes(us: np.ndarray) -> list[datetime]:
    return [d.replace(tzinfo=UTC) for d in us.astype("datetime64[us]").astype(object)]


def store_rows(model: Model, b: dict[str, Any], version_ids: dict[tuple[int, int], int]) -> tuple:
    """The same runs as the store records them: one ``runs`` row, one ``step_runs`` per step.

    As in ``RunRecords``: a step's ``started_at`` is its first attempt's start, its
    ``ended_at`` the final attempt's end; steps after a failed one are ``skipped`` with no
    times; the store has no duration column (durations are ``ended_at - started_at``).
    """
    n, wf, version = b["n"], b["wf"], b["version"]
    created, started, ended = (_datetimes(b[k]) for k in ("queued", "started", "run_end"))
    runs = []
    for i in range(n):
        w = int(wf[i])
        error = None
        if b["fails"][i]:
            s = int(b["fail_step"][i])
            kind = ERRORS[b["error"][i, s]]
            error = {"step": STEPS[s], "type": kind, "message": f"{kind}: {MESSAGES[0]}"}
        runs.append(
            {
                "id": b["run_id"][i],
                "workflow_id": w + 1,
                "version_id": version_ids[w, int(version[i])],
                "version_number": int(version[i]),
                "owner": OWNER,
                "status": "failed" if b["fails"][i] else "succeeded",
                "trigger": TRIGGERS[b["trigger"][i]],
                "parameters": {"rows": 5000},
                "error": error,
                "temporal_workflow_id": f"flowat-{model.names[w]}-{b['run_id'][i]}",
                "created_at": created[i],
                "started_at": started[i],
                "ended_at": ended[i],
            }
        )
    starts = _datetimes(b["start_us"].ravel())
    ends = _datetimes(b["end_us"].ravel())
    executed, failed, retried = b["executed"], b["failed_cell"], b["retried"]
    steps = []
    S = len(STEPS)
    for i in range(n):
        for s in range(S):
            k = i * S + s
            ran = bool(executed[i, s])
            error = None
            if failed[i, s]:
                kind = ERRORS[b["error"][i, s]]
                error = {"step": STEPS[s], "type": kind, "message": f"{kind}: {MESSAGES[0]}"}
            steps.append(
                {
                    "run_id": b["run_id"][i],
                    "step": STEPS[s],
                    "position": s,
                    "status": ("failed" if failed[i, s] else "succeeded") if ran else "skipped",
                    "attempts": (1 + int(retried[i, s])) if ran else 0,
                    "started_at": starts[k] if ran else None,
                    "ended_at": ends[k] if ran else None,
                    "error": error,
                    "outputs": {"rows": {"inline": int(b["bytes_out"][i, s])}}
                    if ran and not failed[i, s]
                    else None,
                    "logs": None,
                }
            )
    return runs, steps
