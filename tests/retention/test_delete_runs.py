"""Deleting runs and workflows against the real stack: the Temporal dev server, the store,
the artifact folder and the DuckDB analytics; and who may not."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from flowat_kernel.access import Role
from flowat_kernel.access.errors import Conflict, Forbidden
from flowat_kernel.analytics.views import connect
from flowat_kernel.api import workspace_for
from flowat_kernel.errors import NotFoundError
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from tests.server.helpers import new_org

#: A step that exports a value too large for Temporal history (an artifact) and a small one.
BIG_STEP = "%%flowat step make\nblob = bytes(range(256)) * 400\nsmall = n + 1"
WAIT_STEP = "%%flowat step approval --wait-for go --timeout 5m\n{'ok': True}"


def _publish(workspace: Any, name: str, *sources: str) -> None:
    workspace.publish(name, cells=cells(*sources, parameters="n = 1"))


def _execution_status(temporal_workflow_id: str) -> str | None:
    """The execution's status as Temporal describes it; ``None`` once Temporal has none."""
    runtime = get_runtime()

    async def describe() -> str | None:
        client = await runtime.client()
        try:
            found = await client.get_workflow_handle(temporal_workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return found.status.name if found.status else "UNKNOWN"

    return runtime.call(describe())


def _until_gone(temporal_workflow_id: str) -> None:
    """Temporal deletes an execution asynchronously: wait until describe fails."""
    deadline = time.monotonic() + 60
    while _execution_status(temporal_workflow_id) is not None:
        assert time.monotonic() < deadline, "Temporal still describes the deleted execution"
        time.sleep(0.2)


def _events(home: Path, run_id: str) -> int:
    get_runtime().events.flush()
    # Every event on disk, whichever organization's (``sql`` sees the caller's only).
    with connect(home / "analytics") as raw:
        found = raw.execute("SELECT count(*) FROM events WHERE run_id = ?", [run_id])
        return int(found.fetchall()[0][0])


def test_deleting_a_run_removes_its_records_artifacts_events_and_execution(
    temporal: str, flowat_home: Path
) -> None:
    org = new_org("del")
    editor = workspace_for(org.principal(Role.EDITOR))
    _publish(editor, "blobs", BIG_STEP)
    run = editor.run("blobs", parameters={"n": 4}, worker="always")
    assert run.status == "succeeded", run.error
    record = editor.record(run.run_id)
    folder = flowat_home / "artifacts" / "runs" / run.run_id
    assert any(p.is_file() for p in folder.rglob("*")), "the step stored no artifact"
    assert _events(flowat_home, run.run_id) >= 3
    assert _execution_status(record.temporal_workflow_id) == "COMPLETED"
    kept = editor.run("blobs", parameters={"n": 5}, worker="always")

    report = editor.delete_runs([run.run_id[:12]])  # a short id, as FlowAt prints them

    assert report.runs == 1 and report.artifacts >= 1 and report.events >= 3
    store = get_runtime().store
    with pytest.raises(NotFoundError):
        store.get_run(run.run_id)
    assert not folder.exists()
    assert _events(flowat_home, run.run_id) == 0
    _until_gone(record.temporal_workflow_id)
    assert store.run_refs([run.run_id]) == []
    # the other run is untouched
    assert editor.get_run(kept.run_id).outputs["make"]["small"] == 6
    assert _events(flowat_home, kept.run_id) >= 3
    # the audit log keeps who deleted what
    from flowat_kernel.access.audit import query

    log = query(store, org.slug, limit=50)
    deleted = [e for e in log if e["action"] == "run.deleted"]
    assert deleted and deleted[0]["actor"] == f"editor-{org.slug}"
    assert deleted[0]["detail"]["run_id"] == run.run_id
    assert deleted[0]["detail"]["status"] == "succeeded"
    # deleting it again: it is gone, exactly like a run that never was
    with pytest.raises(NotFoundError, match="no run"):
        editor.delete_runs([run.run_id])


def test_refusals_viewer_other_organization_and_active_runs(temporal: str) -> None:
    org = new_org("delref")
    owner = workspace_for(org.principal(Role.OWNER))
    _publish(owner, "waits", WAIT_STEP)
    _publish(owner, "quick", "%%flowat step s\nx = n")
    done = owner.run("quick", worker="always")
    viewer = workspace_for(org.principal(Role.VIEWER))
    with pytest.raises(Forbidden, match="runs:write"):
        viewer.delete_runs([done.run_id])
    with pytest.raises(Forbidden, match="workflows:write"):
        viewer.delete_workflow("quick")
    # another organization: "no run", word for word what a missing run says
    other = workspace_for(new_org("stranger").principal(Role.OWNER))
    with pytest.raises(NotFoundError) as foreign:
        other.delete_runs([done.run_id])
    missing_id = "f" * len(done.run_id)
    with pytest.raises(NotFoundError) as missing:
        other.delete_runs([missing_id])
    assert str(foreign.value).replace(done.run_id, "ID") == str(missing.value).replace(
        missing_id, "ID"
    )
    with pytest.raises(NotFoundError):
        other.delete_workflow("quick")
    assert owner.record(done.run_id).status == "succeeded"
    # an active run is refused without force, and nothing of a batch is deleted
    active = owner.run("waits", wait=False, worker="always")
    with pytest.raises(Conflict, match="--force"):
        owner.delete_runs([done.run_id, active.run_id])
    assert owner.record(done.run_id).status == "succeeded"
    with pytest.raises(Conflict, match="active runs"):
        owner.delete_workflow("waits")
    temporal_id = owner.record(active.run_id).temporal_workflow_id
    report = owner.delete_runs([active.run_id], force=True)
    assert report.runs == 1
    _until_gone(temporal_id)
    with pytest.raises(NotFoundError):
        owner.record(active.run_id)


def test_deleting_a_workflow_with_force_cancels_its_runs_and_removes_everything(
    temporal: str, flowat_home: Path
) -> None:
    org = new_org("delwf")
    owner = workspace_for(org.principal(Role.OWNER))
    _publish(owner, "gone", WAIT_STEP)
    _publish(owner, "gone", WAIT_STEP, "%%flowat step after\ny = 2")  # a second version
    _publish(owner, "stays", "%%flowat step s\nx = n")
    active = owner.run("gone", wait=False, worker="always")
    owner.add_alert("gone", on="failure", kind="chat", target="https://chat.example/h")
    owner.set_retention("gone", keep=3)
    owner.add_webhook("gone")
    schedule = owner.add_schedule("gone", every="1h", paused=True)
    store = get_runtime().store
    store.set_concurrency_limit(org.slug, "gone", 2, "queue", "test")
    stays = owner.run("stays", worker="always")
    # an Editor key without schedules:write changes nothing (checked before acting)
    from flowat_kernel.access import Principal

    narrow = Principal(
        user=f"editor-{org.slug}",
        owner=org.slug,
        role=Role.EDITOR,
        scopes=("workflows:write", "runs:write", "runs:read", "workflows:read"),
    )
    with pytest.raises(Forbidden, match="schedules:write"):
        workspace_for(narrow).delete_workflow("gone", force=True)
    assert owner.record(active.run_id).status in ("queued", "running")
    temporal_id = owner.record(active.run_id).temporal_workflow_id

    summary = owner.delete_workflow("gone", force=True)

    assert summary["versions"] == 2 and summary["runs"] == 1 and summary["cancelled"] == 1
    assert summary["webhooks"] == 1 and summary["schedules"] == 1
    assert all(s.id != schedule.id for s in owner.list_schedules())
    assert store.concurrency_limit(org.slug, "gone") is None
    with pytest.raises(NotFoundError):
        owner.versions("gone")
    assert owner.alerts("gone") == []
    assert owner.retention() == []
    assert all(h.workflow != "gone" for h in owner.list_webhooks())
    _until_gone(temporal_id)
    assert [v.workflow for v in owner.workflows()] == ["stays"]
    assert owner.record(stays.run_id).status == "succeeded"
    from flowat_kernel.access.audit import query

    actions = [e["action"] for e in query(get_runtime().store, org.slug, limit=50)]
    assert "workflow.deleted" in actions and "run.deleted" in actions
    # publishing the name again starts at version 1
    _publish(owner, "gone", "%%flowat step s\nx = 1")
    assert owner.version("gone").number == 1
