"""Alerts through the REST API, the CLI and the magic; who may change them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.access.errors import Forbidden
from flowat_kernel.api import workspace_for
from tests.server.helpers import Api, api, api_server, new_org, publish  # noqa: F401


def test_rest_adds_lists_and_removes_alerts_and_a_viewer_cannot_add(
    flowat_home: Path,
    api_server: str,  # noqa: F811
) -> None:
    org = new_org("alerts")
    publish("watched", owner=org.slug)
    owner = Api(api_server, org.keys[Role.OWNER])
    viewer = Api(api_server, org.keys[Role.VIEWER])
    body = {"workflow": "watched", "on": "failure", "kind": "chat", "target": "https://x.test/h"}
    refused = viewer.post("/alerts", json=body)
    assert refused.status_code == 403, refused.text
    assert owner.get("/alerts").json()["items"] == []
    created = owner.post("/alerts", json={**body, "message": "run {run_id} failed"})
    assert created.status_code == 201, created.text
    alert = created.json()
    assert alert["workflow"] == "watched" and alert["event"] == "failure"
    listed = viewer.get("/alerts", params={"workflow": "watched"})
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [alert["id"]]
    assert viewer.delete(f"/alerts/{alert['id']}").status_code == 403
    bad = owner.post("/alerts", json={**body, "message": "{run_id"})
    assert bad.status_code == 422 and "never closed" in bad.text
    unknown = owner.post("/alerts", json={**body, "workflow": "nope"})
    assert unknown.status_code == 404
    # another organization neither sees nor removes it
    other = Api(api_server, new_org("other").keys[Role.OWNER])
    assert other.get("/alerts").json()["items"] == []
    assert other.delete(f"/alerts/{alert['id']}").status_code == 404
    assert owner.delete(f"/alerts/{alert['id']}").status_code == 200
    assert owner.get("/alerts").json()["items"] == []


def test_a_viewer_cannot_add_an_alert_through_the_python_api(flowat_home: Path) -> None:
    org = new_org("alertsv")
    publish("watched", owner=org.slug)
    viewer = workspace_for(org.principal(Role.VIEWER))
    with pytest.raises(Forbidden, match="workflows:write"):
        viewer.add_alert("watched", on="failure", kind="chat", target="https://x.test/h")
    editor = workspace_for(org.principal(Role.EDITOR))
    added = editor.add_alert("watched", on="failure", kind="chat", target="https://x.test/h")
    assert [a.id for a in viewer.alerts()] == [added.id]
    with pytest.raises(Forbidden):
        viewer.remove_alert(added.id)


def test_the_cli_and_the_magic_add_list_and_remove(
    temporal: str, workflow_name: str, shell: object
) -> None:
    flowat.publish(workflow_name, cells=flowat.testing.cells("%%flowat step s\nx = 1"))

    def cli(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowat_kernel.cli.main", "alerts", *words],
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = cli("add", workflow_name, "--on", "failure", "--chat", "https://x.test/h", "--json")
    assert added.returncode == 0, added.stderr
    alert = json.loads(added.stdout)
    both = cli("add", workflow_name, "--on", "failure", "--chat", "https://a", "--email", "a@b.c")
    assert both.returncode == 2 and "exactly one of" in both.stderr
    listed = shell.run_cell(f"%flowat alerts list {workflow_name}")  # type: ignore[attr-defined]
    assert [a["id"] for a in listed.result if a["workflow"] == workflow_name] == [alert["id"]]
    made = shell.run_cell(  # type: ignore[attr-defined]
        f"%flowat alerts add {workflow_name} --on success --webhook https://x.test/ok"
    )
    assert made.error_in_exec is None and made.result["event"] == "success"
    removed = cli("remove", made.result["id"])
    assert removed.returncode == 0, removed.stderr
    table = cli("list", workflow_name)
    assert alert["id"] in table.stdout and made.result["id"] not in table.stdout
