"""Many runs at once, inserted through the store's own tables, for retention tests and the
benchmark: run and step records, dead letters and alert deliveries, artifacts and
analytics events for a sample, and the survivors each policy should leave."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from flowat_kernel.analytics.events import event
from flowat_kernel.spec import WorkflowSpec
from flowat_kernel.store.clock import utcnow
from flowat_kernel.store.tables import AlertDeliveryRow, DeadLetterRow, RunRow, StepRunRow
from flowat_kernel.testing import cells

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled", "timed_out")


@dataclass
class BulkRun:
    """One inserted run."""

    run_id: str
    workflow: str
    status: str
    created_at: datetime


@dataclass
class Bulk:
    """What :func:`insert_runs` made."""

    owner: str
    now: datetime
    runs: list[BulkRun] = field(default_factory=list)
    with_artifacts: set[str] = field(default_factory=set)
    with_events: set[str] = field(default_factory=set)

    def ids(self, workflow: str | None = None) -> set[str]:
        return {r.run_id for r in self.runs if workflow is None or r.workflow == workflow}


def _spec(name: str) -> WorkflowSpec:
    from flowat_kernel.compiler import compile_cells

    return compile_cells(cells("%%flowat step s\nx = 1"), name)


def insert_runs(
    services: Any,
    owner: str,
    counts: dict[str, int],
    *,
    span_days: float = 60.0,
    active_every: int = 97,
    artifact_sample: int = 0,
    event_sample: int = 0,
    seed: int = 7,
) -> Bulk:
    """Insert ``counts[workflow]`` runs per workflow, created evenly over ``span_days``.

    Every ``active_every``-th run is queued or running (never expired); one step record
    each; a dead letter and an alert delivery for every 50th run; artifacts for
    ``artifact_sample`` runs and ``run_queued``/``run_finished`` events for
    ``event_sample`` runs, chosen at random.
    """
    store = services.store
    rng = random.Random(seed)
    now = utcnow()
    bulk = Bulk(owner, now)
    version_ids: dict[str, tuple[int, int]] = {}
    for name in counts:
        version, _ = store.publish(_spec(name), owner=owner, created_by="bulk")
        version_ids[name] = (version.id, version.number)
    rows: list[dict[str, Any]] = []
    for name, count in counts.items():
        step = timedelta(days=span_days) / max(count, 1)
        for i in range(count):
            run_id = uuid.uuid4().hex
            status = ACTIVE[i % 2] if i % active_every == 3 else FINISHED[i % len(FINISHED)]
            created = now - step * i - step / 2  # never exactly on a cutoff
            bulk.runs.append(BulkRun(run_id, name, status, created))
            rows.append(
                {
                    "id": run_id,
                    "version_id": version_ids[name][0],
                    "version_number": version_ids[name][1],
                    "owner": owner,
                    "status": status,
                    "trigger": "api",
                    "parameters": {},
                    "temporal_workflow_id": f"flowat-bulk-{run_id}",
                    "created_at": created,
                    "started_at": created,
                    "ended_at": None if status in ACTIVE else created + timedelta(seconds=1),
                    "workflow": name,
                }
            )

    def work(session: Any) -> None:
        from sqlalchemy import select

        from flowat_kernel.store.tables import VersionRow

        workflow_of = dict(
            session.execute(
                select(VersionRow.id, VersionRow.workflow_id).where(
                    VersionRow.id.in_([v for v, _ in version_ids.values()])
                )
            ).all()
        )
        runs = [
            {
                **{k: v for k, v in r.items() if k != "workflow"},
                "workflow_id": workflow_of[r["version_id"]],
            }
            for r in rows
        ]
        for start in range(0, len(runs), 2000):
            session.execute(insert(RunRow), runs[start : start + 2000])
        steps = [
            {
                "run_id": r["id"],
                "step": "s",
                "position": 0,
                "status": "succeeded",
                "attempts": 1,
                "logs": "some output\n",
                "outputs": {"x": {"inline": 1}},
            }
            for r in rows
        ]
        for start in range(0, len(steps), 2000):
            session.execute(insert(StepRunRow), steps[start : start + 2000])
        sampled = rows[::50]
        session.execute(
            insert(DeadLetterRow),
            [
                {
                    "id": f"dl_{r['id']}",
                    "owner": owner,
                    "run_id": r["id"],
                    "workflow": r["workflow"],
                    "version": 1,
                    "step": "s",
                    "sealed_task": b"x",
                    "error": {"type": "Boom"},
                    "status": "parked",
                    "created_at": now,
                }
                for r in sampled
            ],
        )
        session.execute(
            insert(AlertDeliveryRow),
            [
                {
                    "id": f"ad_{r['id']}",
                    "alert_id": "al_bulk",
                    "run_id": r["id"],
                    "event": "failure",
                    "owner": owner,
                    "status": "delivered",
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in sampled
            ],
        )

    store.transaction(work)
    runs = list(bulk.runs)
    for run in rng.sample(runs, min(artifact_sample, len(runs))):
        services.artifacts.put(f"runs/{run.run_id}/s", "blob", bytes(range(64)) * 16)
        bulk.with_artifacts.add(run.run_id)
    chosen = rng.sample(runs, min(event_sample, len(runs)))
    services.events.emit_many(
        event(
            kind,
            run_id=r.run_id,
            workflow=r.workflow,
            owner=owner,
            status=r.status,
            ts=r.created_at,
        )
        for r in chosen
        for kind in ("run_queued", "run_finished")
    )
    services.events.flush()
    bulk.with_events.update(r.run_id for r in chosen)
    return bulk


def survivors(bulk: Bulk, policies: dict[str | None, tuple[int | None, int | None]]) -> set[str]:
    """The runs the policies keep: ``{workflow or None: (days, keep)}``."""
    kept: set[str] = set()
    for name in {r.workflow for r in bulk.runs}:
        days, keep = policies.get(name, policies.get(None, (None, None)))
        mine = sorted(
            (r for r in bulk.runs if r.workflow == name),
            key=lambda r: (r.created_at, r.run_id),
            reverse=True,
        )
        finished = [r for r in mine if r.status not in ACTIVE]
        for rank, run in enumerate(finished, start=1):
            young = days is None or run.created_at >= bulk.now - timedelta(days=days)
            within = keep is None or rank <= keep
            if young and within:
                kept.add(run.run_id)
        kept.update(r.run_id for r in mine if r.status in ACTIVE)
    return kept
