"""REST parity over real HTTP on the real Temporal dev server: rerun, resume, signals,
report and history of a run, the dead-letter queue, and analytics queries, each with
the CLI's permission, another organization's objects answered as missing ones, and
bad input refused with a clear 4xx."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from tests.server.helpers import Api, Org, new_org

FAILING = "if n == 0:\n    raise ValueError('n must not be 0')\nout = n * 2"
FIXED = "out = n + 5"


def _publish(org: Org, name: str, body: str, *more: str) -> int:
    spec = flowat.compile_workflow(
        name,
        cells=cells(f"%%flowat step work --local --retries 0\n{body}", *more, parameters="n = 1"),
    )
    version, _ = get_runtime().store.publish(spec, owner=org.slug, created_by="test")
    return version.number


def _run(api: Api, name: str, n: int, wait: float = 60) -> dict[str, Any]:
    reply = api.post(f"/workflows/{name}/runs", json={"parameters": {"n": n}, "wait_seconds": wait})
    assert reply.status_code in (200, 202), reply.text
    document: dict[str, Any] = reply.json()
    return document


def _missing(reply: Any, missing: Any, wrong_id: str, missing_id: str) -> None:
    """``reply`` (another organization's object) is exactly the reply for a missing one."""
    assert reply.status_code == missing.status_code == 404, (reply.text, missing.text)
    assert reply.json()["error"]["code"] == missing.json()["error"]["code"]
    text = reply.json()["error"]["message"].replace(wrong_id, "ID")
    assert text == missing.json()["error"]["message"].replace(missing_id, "ID")


@pytest.fixture(scope="module")
def orgs(api_server: str) -> tuple[Org, Org]:
    return new_org("parity"), new_org("other")


def _as(api_server: str, org: Org, role: Role = Role.OWNER) -> Api:
    return Api(api_server, org.keys[role])


def _failed_run(api_server: str, org: Org, name: str) -> dict[str, Any]:
    _publish(org, name, FAILING)
    failed = _run(_as(api_server, org), name, 0)
    assert failed["status"] == "failed", failed
    return failed


def test_rerun_and_resume_over_rest(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    org, other = orgs
    owner, viewer, editor = (
        _as(api_server, org, r) for r in (Role.OWNER, Role.VIEWER, Role.EDITOR)
    )
    failed = _failed_run(api_server, org, workflow_name)
    run_id = failed["run_id"]

    # The same version fails again; a Viewer may not re-run (the CLI refuses it too).
    again = owner.post(f"/runs/{run_id}/rerun", json={"wait_seconds": 60})
    assert again.status_code == 200 and again.json()["status"] == "failed", again.text
    assert again.json()["run_id"] != run_id and again.json()["trigger"] == "rerun"
    assert viewer.post(f"/runs/{run_id}/rerun", json={}).status_code == 403
    assert viewer.post(f"/runs/{run_id}/resume", json={}).status_code == 403

    # Bad input: a clear 4xx naming what to fix.
    for body in ({"version": 0}, {"version": "newest"}, {"wait_seconds": -1}, {"bogus": 1}):
        reply = owner.post(f"/runs/{run_id}/rerun", json=body)
        assert reply.status_code == 422, (body, reply.text)
        assert reply.json()["error"]["message"], reply.text
    reply = owner.post(f"/runs/{run_id}/rerun", content=b"{not json")
    assert reply.status_code == 400 and "JSON" in reply.json()["error"]["message"]
    assert owner.post(f"/runs/{run_id}/rerun", json={"version": 9}).status_code == 404

    # Another organization's run is answered exactly as a missing one.
    stranger = _as(api_server, other)
    for action in ("rerun", "resume"):
        _missing(
            stranger.post(f"/runs/{run_id}/{action}", json={}),
            stranger.post(f"/runs/{'0' * 32}/{action}", json={}),
            run_id,
            "0" * 32,
        )

    # Resume with an edited cell: published as a new version, then run from the failure.
    cell = {"source": f"%%flowat step work --local --retries 0\n{FIXED}"}
    resumed = editor.post(f"/runs/{run_id}/resume", json={"cells": [cell], "wait_seconds": 60})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "succeeded"
    assert resumed.json()["version"] == 2 and resumed.json()["outputs"]["work"]["out"] == 5
    versions = owner.get(f"/workflows/{workflow_name}/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]

    # A succeeded run has nothing to resume; a bad cell does not compile; a rerun on the
    # latest version (the fix) succeeds.
    done = resumed.json()["run_id"]
    nothing = owner.post(f"/runs/{done}/resume", json={})
    assert nothing.status_code == 422 and "nothing to resume" in nothing.text
    broken = owner.post(
        f"/runs/{run_id}/resume", json={"cells": [{"source": "%%flowat step 9bad\nx = 1"}]}
    )
    assert broken.status_code == 422, broken.text
    latest = owner.post(f"/runs/{run_id}/rerun", json={"version": "latest", "wait_seconds": 60})
    assert latest.status_code == 200 and latest.json()["status"] == "succeeded", latest.text


def test_signal_report_and_history_over_rest(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    org, other = orgs
    owner, viewer = _as(api_server, org), _as(api_server, org, Role.VIEWER)
    _publish(org, workflow_name, "out = n", "%%flowat step gate --wait-for go --timeout 120s\nNone")
    started = _run(owner, workflow_name, 3, wait=0)
    run_id = started["run_id"]
    assert viewer.post(f"/runs/{run_id}/signals/go", json={"payload": 1}).status_code == 403
    bad = owner.post(f"/runs/{run_id}/signals/not-a-name", json={"payload": 1})
    assert bad.status_code == 422 and "--wait-for" in bad.json()["error"]["message"]
    assert owner.post(f"/runs/{run_id}/signals/go", json={"data": 1}).status_code == 422
    stranger = _as(api_server, other)
    _missing(
        stranger.post(f"/runs/{run_id}/signals/go", json={"payload": 1}),
        stranger.post(f"/runs/{'f' * 32}/signals/go", json={"payload": 1}),
        run_id,
        "f" * 32,
    )
    # The signal may arrive before the wait step starts: the run keeps it.
    sent = owner.post(f"/runs/{run_id}/signals/go", json={"payload": {"ok": True, "by": "ada"}})
    assert sent.status_code == 202, sent.text
    finished = owner.get(f"/runs/{run_id}", params={})
    deadline = time.monotonic() + 60
    while finished.json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, finished.text
        time.sleep(0.3)
        finished = owner.get(f"/runs/{run_id}")
    assert finished.json()["status"] == "succeeded", finished.text
    assert finished.json()["outputs"]["gate"]["gate"] == {"ok": True, "by": "ada"}
    late = owner.post(f"/runs/{run_id}/signals/go", json={"payload": 2})
    assert late.status_code == 422 and "already finished" in late.text

    # Report (the executed notebook) and history: readable by a Viewer, as on the CLI.
    report = viewer.get(f"/runs/{run_id}/report")
    assert report.status_code == 200, report.text
    notebook = report.json()
    assert notebook["nbformat"] == 4 and notebook["cells"]
    assert run_id in str(notebook["metadata"])
    history = viewer.get(f"/runs/{run_id}/history")
    assert history.status_code == 200 and len(history.json()["items"]) > 3
    for what in ("report", "history"):
        _missing(
            stranger.get(f"/runs/{run_id}/{what}"),
            stranger.get(f"/runs/{'f' * 32}/{what}"),
            run_id,
            "f" * 32,
        )


def test_dead_letters_over_rest(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    org, other = orgs
    owner, viewer = _as(api_server, org), _as(api_server, org, Role.VIEWER)
    failed = _failed_run(api_server, org, workflow_name)
    listed = owner.get("/dead-letters").json()["items"]
    letter = next(d for d in listed if d["run_id"] == failed["run_id"])
    letter_id = letter["id"]
    assert letter["status"] == "parked" and letter["step"] == "work"
    shown = owner.get(f"/dead-letters/{letter_id}")
    assert shown.status_code == 200 and shown.json()["inputs"]["n"] == 0, shown.text

    # A Viewer may not read or act on the queue (flowat dlq refuses a Viewer too).
    assert viewer.get("/dead-letters").status_code == 403
    assert viewer.get(f"/dead-letters/{letter_id}").status_code == 403
    assert viewer.post(f"/dead-letters/{letter_id}/retry", json={}).status_code == 403
    assert viewer.post(f"/dead-letters/{letter_id}/discard").status_code == 403

    # Another organization: not listed, and every action answers as for a missing entry.
    stranger = _as(api_server, other)
    assert all(
        d["id"] != letter_id for d in stranger.get("/dead-letters?status=all").json()["items"]
    )
    missing_id = "0" * 32
    _missing(
        stranger.get(f"/dead-letters/{letter_id}"),
        stranger.get(f"/dead-letters/{missing_id}"),
        letter_id,
        missing_id,
    )
    for action in ("retry", "discard"):
        _missing(
            stranger.post(f"/dead-letters/{letter_id}/{action}", json={}),
            stranger.post(f"/dead-letters/{missing_id}/{action}", json={}),
            letter_id,
            missing_id,
        )
    assert owner.get(f"/dead-letters/{letter_id}").json()["status"] == "parked"

    # Bad input.
    assert owner.get("/dead-letters?status=lost").status_code == 400
    assert owner.get("/dead-letters?limit=0").status_code == 400
    assert (
        owner.post(f"/dead-letters/{letter_id}/retry", json={"wait_seconds": -1}).status_code == 422
    )

    # Fixed, re-driven once: the entry is retried as the new run; a second retry is a 409.
    _publish(org, workflow_name, FIXED)
    retried = owner.post(f"/dead-letters/{letter_id}/retry", json={"wait_seconds": 60})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "succeeded" and retried.json()["outputs"]["work"]["out"] == 5
    entry = owner.get(f"/dead-letters/{letter_id}").json()
    assert entry["status"] == "retried" and entry["redrive_run_id"] == retried.json()["run_id"]
    twice = owner.post(f"/dead-letters/{letter_id}/retry", json={})
    assert twice.status_code == 409 and "retried already" in twice.json()["error"]["message"]
    assert owner.post(f"/dead-letters/{letter_id}/discard").status_code in (409, 422)
    assert [d["id"] for d in owner.get("/dead-letters?status=retried").json()["items"]].count(
        letter_id
    ) == 1


def test_concurrent_rest_retries_start_one_run(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    org, _ = orgs
    owner = _as(api_server, org)
    failed = _failed_run(api_server, org, workflow_name)
    letter = next(
        d for d in owner.get("/dead-letters").json()["items"] if d["run_id"] == failed["run_id"]
    )
    _publish(org, workflow_name, FIXED)
    gate = threading.Barrier(4)
    replies: list[Any] = []

    def retry() -> None:
        gate.wait()
        replies.append(owner.post(f"/dead-letters/{letter['id']}/retry", json={}))

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in replies)
    assert codes == [202, 409, 409, 409], [r.text for r in replies]
    reruns = [
        r
        for r in owner.get("/runs", params={"workflow": workflow_name, "limit": 50}).json()["items"]
        if r["trigger"] == "rerun"
    ]
    assert len(reruns) == 1
    entry = owner.get(f"/dead-letters/{letter['id']}").json()
    assert entry["status"] == "retried" and entry["redrive_run_id"] == reruns[0]["run_id"]


def test_discard_over_rest(
    api_server: str, temporal: str, workflow_name: str, orgs: tuple[Org, Org]
) -> None:
    org, _ = orgs
    owner, editor = _as(api_server, org), _as(api_server, org, Role.EDITOR)
    failed = _failed_run(api_server, org, workflow_name)
    letter = next(
        d for d in owner.get("/dead-letters").json()["items"] if d["run_id"] == failed["run_id"]
    )
    discarded = editor.post(f"/dead-letters/{letter['id']}/discard")
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert letter["id"] not in [d["id"] for d in owner.get("/dead-letters").json()["items"]]
    again = owner.post(f"/dead-letters/{letter['id']}/retry", json={})
    assert again.status_code == 409 and "discarded already" in again.text


def test_templates_over_rest(api_server: str, orgs: tuple[Org, Org], workflow_name: str) -> None:
    org, other = orgs
    owner, editor, viewer = (
        _as(api_server, org, r) for r in (Role.OWNER, Role.EDITOR, Role.VIEWER)
    )
    listed = viewer.get("/templates").json()["items"]
    assert "approval_flow" in [t["name"] for t in listed]
    tagged = viewer.get("/templates", params={"tag": "signal"}).json()["items"]
    assert [t["name"] for t in tagged] == ["approval_flow"]
    shown = viewer.get("/templates/approval_flow")
    assert shown.status_code == 200 and shown.json()["steps"], shown.text
    assert "path" not in shown.json()
    missing = viewer.get("/templates/no_such_template")
    assert missing.status_code == 404 and "approval_flow" in missing.json()["error"]["message"]

    assert (
        viewer.post("/templates/approval_flow/use", json={"name": workflow_name}).status_code == 403
    )
    used = editor.post("/templates/approval_flow/use", json={"name": workflow_name})
    assert used.status_code == 201, used.text
    assert used.json()["workflow"] == workflow_name and used.json()["version"] == 1
    assert used.json()["notebook_document"]["nbformat"] == 4 and used.json()["notebook"] is None
    again = editor.post("/templates/approval_flow/use", json={"name": workflow_name})
    assert again.status_code == 200 and again.json()["created"] is False
    assert owner.get(f"/workflows/{workflow_name}").status_code == 200
    # Published into the caller's organization only.
    assert _as(api_server, other).get(f"/workflows/{workflow_name}").status_code == 404
    for body in ({"name": "not a name!"}, {}, {"name": "x", "dir": "/tmp"}):
        bad = owner.post("/templates/approval_flow/use", json=body)
        assert bad.status_code == 422 and bad.json()["error"]["message"], (body, bad.text)
