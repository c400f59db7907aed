"""Deletion and retention through REST, the command line and the magic: the same use
cases with the same permissions; refusals say what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.api import workspace_for
from flowat_kernel.testing import cells
from tests.server.helpers import Api, api, api_server, new_org, publish  # noqa: F401

WAIT_STEP = "%%flowat step approval --wait-for go --timeout 5m\n{'ok': True}"


def test_rest_deletes_runs_and_workflows_and_manages_policies(
    temporal: str,
    api_server: str,  # noqa: F811
) -> None:
    org = new_org("restdel")
    publish("kept", owner=org.slug)
    publish("doomed", owner=org.slug)
    owner = Api(api_server, org.keys[Role.OWNER])
    admin = Api(api_server, org.keys[Role.ADMINISTRATOR])
    editor = Api(api_server, org.keys[Role.EDITOR])
    viewer = Api(api_server, org.keys[Role.VIEWER])
    started = editor.post("/workflows/kept/runs", json={"wait_seconds": 60})
    assert started.status_code == 200, started.text
    run_id = started.json()["run_id"]
    # a Viewer may not; another organization's run is "no run" like a missing one
    assert viewer.delete(f"/runs/{run_id}").status_code == 403
    stranger = Api(api_server, new_org("restother").keys[Role.OWNER])
    foreign = stranger.delete(f"/runs/{run_id}")
    missing = stranger.delete(f"/runs/{'0' * len(run_id)}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["message"].replace(run_id, "X") == missing.json()["error"][
        "message"
    ].replace("0" * len(run_id), "X")
    assert editor.delete(f"/runs/{run_id}?force=maybe").status_code == 400
    gone = editor.delete(f"/runs/{run_id[:12]}")
    assert gone.status_code == 200, gone.text
    assert gone.json()["deleted"]["runs"] == 1
    assert owner.get(f"/runs/{run_id}").status_code == 404
    # policies: a workflow's by an Editor, the organization's by an Administrator
    assert viewer.put("/workflows/kept/retention", json={"keep": 5}).status_code == 403
    bad = editor.put("/workflows/kept/retention", json={"keep": 0})
    assert bad.status_code == 422, bad.text
    assert editor.put("/workflows/kept/retention", json={}).status_code == 422
    assert editor.put("/workflows/nope/retention", json={"keep": 5}).status_code == 404
    set_ = editor.put("/workflows/kept/retention", json={"keep": 5, "days": 7})
    assert set_.status_code == 200 and set_.json()["keep"] == 5, set_.text
    assert editor.put("/retention", json={"days": 30}).status_code == 403
    assert admin.put("/retention", json={"days": 30}).status_code == 200
    shown = viewer.get("/workflows/kept/retention").json()
    assert shown["policy"]["keep"] == 5 and shown["organization_default"]["days"] == 30
    assert {p["workflow"] for p in viewer.get("/retention").json()["items"]} == {None, "kept"}
    assert stranger.get("/retention").json()["items"] == []
    assert editor.post("/retention/apply").status_code == 403
    applied = admin.post("/retention/apply")
    assert applied.status_code == 200 and applied.json()["deleted"]["runs"] == 0
    assert editor.delete("/workflows/kept/retention").status_code == 200
    assert editor.delete("/workflows/kept/retention").status_code == 404
    assert admin.delete("/retention").status_code == 200
    # a workflow with an active run: 409 without force, deleted with it
    door = workspace_for(org.principal(Role.OWNER))
    door.publish("doomed", cells=cells(WAIT_STEP))
    active = door.run("doomed", wait=False, worker="always")
    refused = editor.delete("/workflows/doomed")
    assert refused.status_code == 409 and "--force" in refused.text
    assert viewer.delete("/workflows/doomed?force=true").status_code == 403
    deleted = editor.delete("/workflows/doomed?force=true")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"]["runs"] == 1
    assert owner.get("/workflows/doomed").status_code == 404
    assert owner.get(f"/runs/{active.run_id}").status_code == 404
    # the OpenAPI document has them, with their permissions
    paths = owner.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/runs/{run_id}"]["delete"]["x-flowat-permission"] == "runs:write"
    assert set(paths["/api/v1/workflows/{workflow}/retention"]) == {"get", "put", "delete"}
    assert paths["/api/v1/retention"]["put"]["x-flowat-permission"] == "retention:write"


def _cli(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", *words],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_cli_and_the_magic(
    temporal: str, workflow_name: str, shell: object, flowat_home: Path
) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step s\nx = 1"))
    first = flowat.run(workflow_name, worker="always")
    second = flowat.run(workflow_name, worker="always")
    set_ = _cli("retention", "set", workflow_name, "--keep", "3", "--json")
    assert set_.returncode == 0, set_.stderr
    assert json.loads(set_.stdout)["keep"] == 3
    org = _cli("retention", "set", "--org", "--days", "90", "--json")
    assert org.returncode == 0, org.stderr
    assert json.loads(org.stdout)["workflow"] is None
    neither = _cli("retention", "set", "--days", "3")
    assert neither.returncode == 2 and "needs a WORKFLOW, or --org" in neither.stderr
    zero = _cli("retention", "set", workflow_name, "--keep", "0")
    assert zero.returncode == 2 and "at least 1" in zero.stderr
    shown = _cli("retention", "show")
    assert shown.returncode == 0 and "newest 3" in shown.stdout and "90 days" in shown.stdout
    nope = _cli("runs", "delete", "0123456789abcdef")
    assert nope.returncode == 2 and "no run" in nope.stderr
    empty = _cli("runs", "delete")
    assert empty.returncode == 2 and "at least one RUN" in empty.stderr
    deleted = _cli("runs", "delete", first.run_id[:12], "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["runs"] == 1
    listed = _cli("runs", workflow_name, "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [second.run_id]
    assert _cli("retention", "clear", "--org").returncode == 0
    # the magic
    ip = shell
    policy = ip.run_line_magic("flowat", f"retention set {workflow_name} --days 5")  # type: ignore[attr-defined]
    assert policy["days"] == 5 and policy["keep"] is None
    assert [p["workflow"] for p in ip.run_line_magic("flowat", "retention show")] == [  # type: ignore[attr-defined]
        workflow_name
    ]
    report = ip.run_line_magic("flowat", f"delete run {second.run_id}")  # type: ignore[attr-defined]
    assert report["runs"] == 1
    ip.run_line_magic("flowat", f"retention clear {workflow_name}")  # type: ignore[attr-defined]
    summary = ip.run_line_magic("flowat", f"delete workflow {workflow_name}")  # type: ignore[attr-defined]
    assert summary["versions"] == 1 and summary["runs"] == 0
    gone = _cli("versions", workflow_name)
    assert gone.returncode == 2
