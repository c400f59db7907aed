"""Concurrency limits through REST, the Python API, the command line and the magic.

Who may change them (Editor and up; a Viewer gets 403 / Forbidden), what another
organization sees, bad input with a message that says what to fix, and the OpenAPI
document.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.access.errors import Forbidden
from flowat_kernel.api import workspace_for
from flowat_kernel.errors import FlowAtError, NotFoundError
from flowat_kernel.runtime import get_runtime
from tests.server.helpers import Api, api, api_server, new_org, publish  # noqa: F401


def test_rest_sets_shows_and_clears_limits_and_a_viewer_cannot_change_them(
    flowat_home: Path,
    api_server: str,  # noqa: F811
) -> None:
    org = new_org("limits")
    publish("busy", owner=org.slug)
    owner = Api(api_server, org.keys[Role.OWNER])
    editor = Api(api_server, org.keys[Role.EDITOR])
    viewer = Api(api_server, org.keys[Role.VIEWER])
    body = {"max_concurrent_runs": 3, "when_full": "skip"}
    assert viewer.put("/workflows/busy/limits", json=body).status_code == 403
    assert viewer.put("/limits", json=body).status_code == 403
    shown = viewer.get("/workflows/busy/limits")
    assert shown.status_code == 200 and shown.json()["effective"] is None
    set_ = editor.put("/workflows/busy/limits", json=body)
    assert set_.status_code == 200, set_.text
    assert set_.json()["max_concurrent_runs"] == 3 and set_.json()["workflow"] == "busy"
    assert owner.put("/limits", json={"max_concurrent_runs": 10}).status_code == 200
    shown = viewer.get("/workflows/busy/limits").json()
    assert shown["limit"]["when_full"] == "skip"
    assert shown["organization_default"]["max_concurrent_runs"] == 10
    assert shown["organization_default"]["when_full"] == "queue"
    assert shown["effective"]["max_concurrent_runs"] == 3
    assert (shown["running"], shown["queued"]) == (0, 0)
    assert viewer.get("/limits").json()["effective"]["max_concurrent_runs"] == 10
    # bad input says what to fix
    for bad, word in (
        ({"max_concurrent_runs": 0}, "greater than or equal to 1"),
        ({"max_concurrent_runs": 2, "when_full": "later"}, "cancel-oldest"),
        ({"max_concurrent_runs": "many"}, "integer"),
        ({}, "max_concurrent_runs"),
    ):
        refused = editor.put("/workflows/busy/limits", json=bad)
        assert refused.status_code == 422 and word in refused.text, (bad, refused.text)
    assert editor.put("/workflows/nope/limits", json=body).status_code == 404
    assert viewer.get("/workflows/nope/limits").status_code == 404
    # another organization neither sees nor changes them
    other = Api(api_server, new_org("other").keys[Role.OWNER])
    assert other.get("/workflows/busy/limits").status_code == 404
    assert other.get("/limits").json()["effective"] is None
    assert other.delete("/workflows/busy/limits").status_code == 404
    assert viewer.delete("/workflows/busy/limits").status_code == 403
    cleared = editor.delete("/workflows/busy/limits")
    assert cleared.status_code == 200 and cleared.json()["cleared"] is True
    assert editor.delete("/workflows/busy/limits").json()["cleared"] is False
    assert viewer.get("/workflows/busy/limits").json()["effective"]["max_concurrent_runs"] == 10
    assert viewer.delete("/limits").status_code == 403
    assert owner.delete("/limits").json()["cleared"] is True


def test_the_openapi_document_lists_the_limit_endpoints(
    flowat_home: Path,
    api_server: str,  # noqa: F811
) -> None:
    paths = Api(api_server, None).get("/openapi.json").json()["paths"]
    assert {"get", "put", "delete"} <= set(paths["/api/v1/workflows/{workflow}/limits"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/limits"])
    put = paths["/api/v1/workflows/{workflow}/limits"]["put"]
    assert "requestBody" in put


def test_the_python_api_checks_roles_and_input(flowat_home: Path) -> None:
    org = new_org("limitsp")
    publish("busy", owner=org.slug)
    viewer = workspace_for(org.principal(Role.VIEWER))
    editor = workspace_for(org.principal(Role.EDITOR))
    with pytest.raises(Forbidden, match="workflows:write"):
        viewer.set_limit("busy", 2)
    with pytest.raises(Forbidden):
        viewer.clear_limit(None)
    with pytest.raises(FlowAtError, match="from 1 to"):
        editor.set_limit("busy", 0)
    with pytest.raises(FlowAtError, match="from 1 to"):
        editor.set_limit("busy", True)
    with pytest.raises(FlowAtError, match="one of queue, skip, cancel-oldest"):
        editor.set_limit("busy", 2, "drop")
    with pytest.raises(NotFoundError, match="nope"):
        editor.set_limit("nope", 2)
    editor.set_limit("busy", 2, "cancel-oldest")
    assert viewer.limit("busy")["effective"]["when_full"] == "cancel-oldest"
    store = get_runtime().store
    audit = store.audit_sources(
        org.slug, limit=10, before=None, logged_triggers=(), action="limit."
    )
    assert [(e.action, e.target) for e in audit] == [("limit.set", "busy")]


def _cli(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", "limits", *words],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_and_the_magic_set_show_and_clear(
    temporal: str, workflow_name: str, shell: Any
) -> None:
    flowat.publish(workflow_name, cells=flowat.testing.cells("%%flowat step s\nx = 1"))
    done = _cli("set", workflow_name, "--max-concurrent-runs", "2", "--when-full", "skip")
    assert done.returncode == 0, done.stderr
    assert "at most 2 run(s) at once, when full: skip" in done.stdout
    shown = _cli("show", workflow_name, "--json")
    assert shown.returncode == 0 and '"when_full": "skip"' in shown.stdout
    zero = _cli("set", workflow_name, "--max-concurrent-runs", "0")
    assert zero.returncode == 2 and "from 1 to" in zero.stderr
    policy = _cli("set", workflow_name, "--max-concurrent-runs", "2", "--when-full", "drop")
    assert policy.returncode == 2 and "invalid choice" in policy.stderr
    nothing = _cli("set", "--max-concurrent-runs", "2")
    assert nothing.returncode == 2 and "needs a WORKFLOW, or --org" in nothing.stderr
    org = _cli("set", "--org", "--max-concurrent-runs", "4")
    assert org.returncode == 0 and "organization's default" in org.stdout
    # the magic: same door, same answers
    shown_magic = shell.run_line_magic("flowat", f"limits show {workflow_name}")
    assert shown_magic["limit"]["max_concurrent_runs"] == 2
    assert shown_magic["organization_default"]["max_concurrent_runs"] == 4
    set_magic = shell.run_line_magic(
        "flowat", f"limits set {workflow_name} --max-concurrent-runs 1 --when-full cancel-oldest"
    )
    assert set_magic["when_full"] == "cancel-oldest"
    assert shell.run_line_magic("flowat", f"limits clear {workflow_name}")["cleared"] is True
    assert shell.run_line_magic("flowat", "limits clear --org")["cleared"] is True
    assert shell.run_line_magic("flowat", "limits show --org")["effective"] is None
    with pytest.raises(UsageError, match="takes no organization name"):
        shell.run_line_magic("flowat", "limits show --org someone-else")
    cleared = _cli("clear", workflow_name)
    assert cleared.returncode == 0 and "no limit was set" in cleared.stdout
