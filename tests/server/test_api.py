"""The REST API over real HTTP on the real Temporal dev server: publish (spec, notebook
document, uploaded .ipynb), runs (start, wait, list with filters and pages, steps,
outputs, cancel), secrets metadata, the audit log, and clear errors."""

from __future__ import annotations

import json
import time

import nbformat
import pytest

import flowat_kernel as flowat
from flowat_kernel.api import set_secret
from flowat_kernel.runtime import reset_runtime
from flowat_kernel.testing import cells
from tests.server.helpers import Api

PARAMETERS = "n = 2"


def _notebook(body: str) -> dict[str, object]:
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(f"%%flowat step double\n{body}")]
    return json.loads(nbformat.writes(nb))


def test_publish_three_ways_and_read_versions(api: Api, workflow_name: str) -> None:
    spec = flowat.compile_workflow(
        workflow_name, cells=cells("%%flowat step a\nx = n", parameters=PARAMETERS)
    )
    reply = api.post("/workflows", json={"spec": spec.model_dump(mode="json")})
    assert reply.status_code == 201 and reply.json()["version"] == 1, reply.text
    again = api.post("/workflows", json={"spec": spec.model_dump(mode="json")})
    assert again.status_code == 200 and again.json()["created"] is False
    reply = api.post("/workflows", json={"name": workflow_name, "notebook": _notebook("y = n")})
    assert reply.status_code == 201 and reply.json()["version"] == 2
    upload = json.dumps(_notebook("z = n * 2")).encode()
    reply = api.post(
        "/workflows",
        data={"name": workflow_name},
        files={"notebook": ("flow.ipynb", upload, "application/x-ipynb+json")},
    )
    assert reply.status_code == 201 and reply.json()["version"] == 3, reply.text
    assert reply.json()["created_by"] == api.get("/me").json()["user"]
    versions = api.get(f"/workflows/{workflow_name}/versions").json()["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    one = api.get(f"/workflows/{workflow_name}/versions/1").json()
    assert one["steps"] == ["a"] and one["spec"]["name"] == workflow_name
    assert api.get(f"/workflows/{workflow_name}/versions/9").status_code == 404
    assert api.get(f"/workflows/{workflow_name}/versions/x").status_code == 400
    audit = api.get("/audit", params={"action": "workflow.published"}).json()["items"]
    assert {e["detail"]["version"] for e in audit if e["target"] == workflow_name} == {1, 2, 3}


def test_runs_start_wait_list_page_and_read(api: Api, temporal: str, workflow_name: str) -> None:
    api.post("/workflows", json={"name": workflow_name, "notebook": _notebook("y = n * 2")})
    first = api.post(
        f"/workflows/{workflow_name}/runs", json={"parameters": {"n": "4"}, "wait_seconds": 60}
    )
    assert first.status_code == 200, first.text
    run = first.json()
    assert run["status"] == "succeeded" and run["outputs"]["double"]["y"] == 8
    assert run["trigger"] == "rest" and run["parameters"] == {"n": 4}
    ids = [run["run_id"]]
    for n in (5, 6):
        queued = api.post(f"/workflows/{workflow_name}/runs", json={"parameters": {"n": n}})
        assert queued.status_code in (200, 202)
        ids.append(queued.json()["run_id"])
    for run_id in ids:
        deadline = time.monotonic() + 60
        while api.get(f"/runs/{run_id}").json()["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    page = api.get("/runs", params={"workflow": workflow_name, "limit": 2}).json()
    assert [r["run_id"] for r in page["items"]] == ids[:0:-1]
    rest = api.get("/runs", params={"workflow": workflow_name, "cursor": page["next_cursor"]})
    assert [r["run_id"] for r in rest.json()["items"]] == [ids[0]]
    assert rest.json()["next_cursor"] is None
    assert api.get("/runs", params={"workflow": workflow_name, "status": "failed"}).json() == {
        "items": [],
        "next_cursor": None,
    }
    steps = api.get(f"/runs/{ids[1]}/steps").json()["items"]
    assert steps[0]["name"] == "double" and steps[0]["status"] == "succeeded"
    assert api.get(f"/runs/{ids[2]}/outputs").json()["outputs"] == {"double": {"y": 12}}
    cancel = api.post(f"/runs/{ids[0]}/cancel")
    assert cancel.status_code == 409 and "finished" in cancel.json()["error"]["message"]
    started = api.get("/audit", params={"action": "run.started"}).json()["items"]
    assert {e["detail"]["run_id"] for e in started} >= set(ids)
    bad = api.post(f"/workflows/{workflow_name}/runs", json={"parameters": {"n": "lots"}})
    assert bad.status_code == 422 and "n" in bad.json()["error"]["message"]


def test_cancel_a_running_run(
    api: Api, temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_HEARTBEAT_TIMEOUT", "1")  # cancellation reaches steps sooner
    reset_runtime()
    api.post(
        "/workflows",
        json={
            "name": workflow_name,
            "notebook": _notebook("import time\nfor _ in range(300):\n    time.sleep(0.1)\ny = n"),
        },
    )
    run_id = api.post(f"/workflows/{workflow_name}/runs", json={}).json()["run_id"]
    deadline = time.monotonic() + 30
    while api.get(f"/runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.post(f"/runs/{run_id}/cancel").status_code == 202
    while api.get(f"/runs/{run_id}").json()["status"] != "cancelled":
        assert time.monotonic() < deadline + 30
        time.sleep(0.2)


def test_secrets_metadata_never_values(api: Api, flowat_home: object) -> None:
    set_secret("api_test_token", "s3cr3t-value-xyz")
    reply = api.get("/secrets")
    assert reply.status_code == 200
    names = [s["name"] for s in reply.json()["items"]]
    assert "api_test_token" in names and "s3cr3t-value-xyz" not in reply.text
    audit = api.get("/audit", params={"action": "secret"}).json()["items"]
    assert any(e["target"] == "api_test_token" for e in audit)


def test_malformed_requests_get_json_errors(api: Api) -> None:
    cases = [
        (
            api.post("/workflows", content=b"{oops", headers={"content-type": "application/json"}),
            400,
            "bad_json",
        ),
        (api.post("/workflows", json=[1, 2]), 422, "invalid"),
        (api.post("/workflows", json={"spec": {"name": 3}}), 422, "invalid"),
        (api.post("/workflows", json={"name": "x", "notebook": {"cells": [5]}}), 422, "invalid"),
        (api.post("/workflows", json={"unknown": 1}), 422, "invalid"),
        (api.get("/runs", params={"limit": "0"}), 400, "bad_query"),
        (api.get("/runs", params={"cursor": "!!"}), 400, "bad_query"),
        (api.get("/audit", params={"before": "yesterday"}), 400, "bad_query"),
        (api.put("/workflows"), 405, "method_not_allowed"),
        (api.get("/no/such/thing"), 404, "not_found"),
        (api.get("/runs/" + "x" * 300), 404, "not_found"),
        (api.post("/keys", content=b"x" * (5 * 1024 * 1024)), 413, "too_large"),
    ]
    for reply, status, code in cases:
        assert reply.status_code == status, reply.text
        assert reply.json()["error"]["code"] == code
        assert reply.headers["content-type"].startswith("application/json")
