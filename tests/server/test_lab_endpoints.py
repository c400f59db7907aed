"""The endpoints the JupyterLab panel and run view use: secrets set, replaced and deleted
through REST (the value never comes back, nor reaches a log), a run's report notebook and
its page in Temporal's Web UI. Real API server on loopback, real Temporal dev server."""

from __future__ import annotations

import logging
import urllib.request

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.testing import cells
from tests.server.helpers import Api, new_org

VALUE = "lab-secret-value-5e0d9a"


def test_a_secret_is_set_replaced_and_deleted_never_shown(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = api.put("/secrets/lab_token", json={"value": VALUE})
    assert reply.status_code == 200, reply.text
    assert reply.json()["name"] == "lab_token" and VALUE not in reply.text
    replaced = api.put("/secrets/lab_token", json={"value": VALUE + "-2"})
    assert replaced.status_code == 200 and VALUE not in replaced.text
    listed = api.get("/secrets")
    assert "lab_token" in [s["name"] for s in listed.json()["items"]]
    assert VALUE not in listed.text
    history = api.get("/secrets/lab_token/history")
    assert history.status_code == 200 and len(history.json()["items"]) >= 2
    assert VALUE not in history.text
    audit = api.get("/audit", params={"action": "secret"})
    assert "lab_token" in audit.text and VALUE not in audit.text
    assert flowat.secret("lab_token").reveal() == VALUE + "-2"

    deleted = api.delete("/secrets/lab_token")
    assert deleted.status_code == 200, deleted.text
    assert "lab_token" not in [s["name"] for s in api.get("/secrets").json()["items"]]
    assert api.delete("/secrets/lab_token").status_code == 404
    assert VALUE not in caplog.text


def test_bad_secret_bodies_are_refused_without_echoing_the_value(api: Api) -> None:
    cases = [
        api.put("/secrets/lab_x", json={"value": ""}),
        api.put("/secrets/lab_x", json={"value": 5}),
        api.put("/secrets/lab_x", json={"value": VALUE, "extra": VALUE}),
        api.put("/secrets/lab_x", json={}),
        api.put("/secrets/lab_x", json={"value": VALUE * 3000}),
    ]
    for reply in cases:
        assert reply.status_code == 422, reply.text
        assert VALUE not in reply.text and reply.json()["error"]["code"] == "invalid"
    bad_name = api.put("/secrets/no%20spaces%21", json={"value": VALUE})
    assert 400 <= bad_name.status_code < 500 and VALUE not in bad_name.text
    assert "lab_x" not in [s["name"] for s in api.get("/secrets").json()["items"]]


def test_secret_writes_follow_roles_and_organizations(api_server: str) -> None:
    org = new_org("labsec")
    owner = Api(api_server, org.keys[Role.OWNER])
    assert owner.put("/secrets/shared", json={"value": VALUE}).status_code == 200
    for role in (Role.EDITOR, Role.VIEWER):
        member = Api(api_server, org.keys[role])
        assert member.put("/secrets/shared", json={"value": "x"}).status_code == 403
        assert member.delete("/secrets/shared").status_code == 403
    other = Api(api_server, new_org("labsec2").keys[Role.OWNER])
    assert other.delete("/secrets/shared").status_code == 404
    assert "shared" in [s["name"] for s in owner.get("/secrets").json()["items"]]


def test_report_and_temporal_link_of_a_run(api: Api, temporal: str, workflow_name: str) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step one\nout = n + 1", parameters="n = 1"))
    run = api.post(
        f"/workflows/{workflow_name}/runs", json={"parameters": {"n": 4}, "wait_seconds": 60}
    ).json()
    assert run["status"] == "succeeded", run
    short = run["run_id"][:12]

    report = api.get(f"/runs/{short}/report")
    assert report.status_code == 200, report.text
    notebook = report.json()
    assert notebook["nbformat"] == 4 and notebook["cells"]
    assert workflow_name in report.text

    link = api.get(f"/runs/{short}/temporal")
    assert link.status_code == 200, link.text
    found = link.json()
    assert found["run_id"] == run["run_id"] and found["namespace"] == "default"
    assert found["workflow_id"].endswith(run["run_id"])
    assert found["url"] == (
        f"{found['ui_url']}/namespaces/default/workflows/{found['workflow_id']}"
    )
    # the link leads to Temporal's Web UI, which answers for it
    with urllib.request.urlopen(found["ui_url"], timeout=10) as reply:
        assert reply.status == 200

    other = api.as_(new_org("labrun").keys[Role.OWNER])
    assert other.get(f"/runs/{run['run_id']}/temporal").status_code == 404
    assert other.get(f"/runs/{run['run_id']}/report").status_code == 404
    assert api.get("/runs/0123456789abcdef0123/temporal").status_code == 404


def test_compile_check_reports_problems_per_cell_and_stores_nothing(api: Api) -> None:
    good = [
        {"source": "n = 1", "tags": ["parameters"]},
        {"source": "%%flowat step load\nx = n + 1"},
        {"source": "# a note", "cell_type": "markdown"},
        {"source": "%%flowat step use\ny = x * 2"},
    ]
    reply = api.post("/compile", json={"name": "lab_check", "cells": good})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"ok": True, "problems": []}
    assert "lab_check" not in [w["name"] for w in api.get("/workflows").json()["items"]]

    # a reference to an unknown step, and an undefined name: both on cell 4
    unknown = [*good[:3], {"source": "%%flowat step use --after nowhere\ny = missing * 2"}]
    problems = api.post("/compile", json={"cells": unknown}).json()
    assert problems["ok"] is False
    codes = {(p["cell"], p["code"]) for p in problems["problems"]}
    assert (4, "unknown-step") in codes and (4, "undefined-name") in codes, problems
    assert all(p["message"] and p["step"] == "use" for p in problems["problems"])
    # a duplicate step name is on the second cell that uses it
    duplicate = [*good, {"source": "%%flowat step load\nz = 1"}]
    problems = api.post("/compile", json={"cells": duplicate}).json()
    assert [(p["cell"], p["code"]) for p in problems["problems"]] == [(5, "duplicate-step")]

    # no step cells at all, and a bad workflow name, are problems with no cell
    empty = api.post("/compile", json={"name": "bad name!", "cells": [{"source": "x = 1"}]})
    codes = {p["code"] for p in empty.json()["problems"]}
    assert "bad-option" in codes


def test_compile_check_refuses_bad_bodies(api: Api, api_server: str) -> None:
    for body in (
        {},
        {"cells": "x"},
        {"cells": [{"source": 5}]},
        {"cells": [{"source": "x", "cell_type": "python"}]},
        {"cells": [{"source": "x"}] * 2001},
        {"cells": [], "extra": 1},
    ):
        reply = api.post("/compile", json=body)
        assert reply.status_code == 422, (body if len(str(body)) < 200 else "big", reply.text)
    anonymous = Api(api_server, None).post("/compile", json={"cells": []})
    assert anonymous.status_code == 401
