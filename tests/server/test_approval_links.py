"""Approval links on a real run (dev server) through the real HTTP server: the page shows
what is being approved without acting; the form decides once; and the attacks fail:
tampered, expired, reused, another run's, cross-site, no form token."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Principal, Role
from flowat_kernel.access.audit import query
from flowat_kernel.access.errors import Forbidden
from flowat_kernel.api import default_workspace, workspace_for
from flowat_kernel.runtime import get_runtime
from flowat_kernel.server.http import safe_path
from flowat_kernel.store import clock
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, cells
from tests.server.helpers import Api, api, api_server, new_org  # noqa: F401

SECRETISH = "hunter2-do-not-show"


def _publish(workflow: str) -> None:
    flowat.publish(
        workflow,
        cells=cells(
            "%%flowat step prepare\ndraft = f'invoice for {customer}'",
            "%%flowat step approval --wait-for approved --timeout 5m\n{'approved': False}",
            "%%flowat step send --when \"approval['approved']\"\nsent = draft",
            parameters=f"customer = 'ada'\napi_password = {SECRETISH!r}",
        ),
    )


def _form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _state(run_id: str) -> str:
    return flowat.get_run(run_id).status


def _wait_done(run_id: str) -> flowat.Run:
    return flowat.wait(run_id, timeout=120)


@pytest.mark.timeout(300)
def test_a_link_shows_then_decides_once_and_resists_attacks(
    temporal: str,
    workflow_name: str,
    api_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _publish(workflow_name)
    first = flowat.run(workflow_name, wait=False, worker="always")
    second = flowat.run(workflow_name, wait=False, worker="always")
    door = default_workspace()
    link = door.approval_link(first.run_id, "approval", reviewer="grace", base_url=api_server)
    assert link.url.startswith(f"{api_server}/flowat/approvals/{first.run_id}/")
    token = link.url.rsplit("/", 1)[1]
    client = httpx.Client(timeout=60)

    # GET shows the workflow, run, step and parameters (masked), and never acts.
    for _ in range(2):
        page = client.get(link.url)
        assert page.status_code == 200, page.text
        for shown in (workflow_name, first.run_id, "approval", "grace", "ada", "api_password"):
            assert shown in page.text
        assert SECRETISH not in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    form = _form_token(page.text)
    assert _state(first.run_id) == "running"
    assert door.approval_links(first.run_id)[0]["decision"] is None

    # Tampered tokens: one character of the id, or of the signature.
    flipped_sig = token[:-1] + ("A" if token[-1] != "A" else "B")
    flipped_id = ("1" if token[0] != "1" else "2") + token[1:]
    for bad in (flipped_sig, flipped_id, token + "x", "nonsense", token.split(".")[0]):
        url = f"{api_server}/flowat/approvals/{first.run_id}/{bad}"
        assert client.get(url).status_code == 404
        posted = client.post(url, data={"form_token": form, "decision": "approve"})
        assert posted.status_code == 404
        assert "not valid" in posted.text
    # Another run's URL with this token: refused, and that run keeps waiting.
    other = f"{api_server}/flowat/approvals/{second.run_id}/{token}"
    assert client.get(other).status_code == 404
    assert client.post(other, data={"form_token": form, "decision": "approve"}).status_code == 404
    # No form token, a wrong one, a cross-site post, a bad decision: nothing happens.
    assert client.post(link.url, data={"decision": "approve"}).status_code == 403
    wrong = client.post(link.url, data={"form_token": form[:-2] + "xx", "decision": "approve"})
    assert wrong.status_code == 403
    cross = client.post(
        link.url,
        data={"form_token": form, "decision": "approve"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    fetched = client.post(
        link.url,
        data={"form_token": form, "decision": "approve"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert fetched.status_code == 403
    assert client.post(link.url, data={"form_token": form, "decision": "yes"}).status_code == 400
    assert _state(first.run_id) == "running" and _state(second.run_id) == "running"

    # The real decision: once.
    decided = client.post(link.url, data={"form_token": form, "decision": "approve"})
    assert decided.status_code == 200, decided.text
    assert "approved" in decided.text and "grace" in decided.text
    again = client.post(link.url, data={"form_token": form, "decision": "reject"})
    assert again.status_code == 410 and "used already" in again.text
    assert client.get(link.url).status_code == 410
    done = _wait_done(first.run_id)
    assert done.status == "succeeded", done.error
    decision = done.outputs["approval"]["approval"]
    assert decision["approved"] is True and decision["by"] == "grace"
    assert decision["link"] == link.id
    assert done.outputs["send"]["sent"] == "invoice for ada"
    entries = query(get_runtime().store, door.owner, limit=50, before=None, action=None)
    decided_entries = [
        e for e in entries if e["action"] == "approval.approved" and e["target"] == first.run_id
    ]
    assert decided_entries and decided_entries[0]["actor"] == "grace", entries
    assert any(e["action"] == "approval.link_created" for e in entries)

    # Expired: a link whose time has passed shows and decides nothing.
    late = door.approval_link(second.run_id, "approval", expires_seconds=60, base_url=api_server)
    late_form = _form_token(client.get(late.url).text)
    real_now = clock.utcnow
    monkeypatch.setattr(clock, "utcnow", lambda: real_now() + timedelta(minutes=2))
    assert client.get(late.url).status_code == 410
    expired = client.post(late.url, data={"form_token": late_form, "decision": "approve"})
    assert expired.status_code == 410 and "expired" in expired.text
    monkeypatch.setattr(clock, "utcnow", real_now)
    assert _state(second.run_id) == "running"

    # Rejecting: the run gets approved False; the step after it is skipped.
    reject = door.approval_link(second.run_id, "approval", reviewer="lin", base_url=api_server)
    reject_form = _form_token(client.get(reject.url).text)
    said = client.post(reject.url, data={"form_token": reject_form, "decision": "reject"})
    assert said.status_code == 200 and "rejected" in said.text
    rejected = _wait_done(second.run_id)
    assert rejected.outputs["approval"]["approval"]["approved"] is False
    assert {s.name: s.status for s in rejected.record.steps}["send"] == "skipped"
    # A finished run takes no new link.
    with pytest.raises(flowat.FlowAtError, match="has finished"):
        door.approval_link(second.run_id, "approval")
    # The access log never shows the token.
    assert token not in safe_path(f"/flowat/approvals/{first.run_id}/{token}")


def test_links_over_rest_and_who_may_make_them(
    temporal: str,
    workflow_name: str,
    api_server: str,  # noqa: F811
    api: Api,  # noqa: F811
    shell: object,
) -> None:
    _publish(workflow_name)
    run = flowat.run(workflow_name, wait=False, worker="always")
    try:
        made = api.post(
            f"/runs/{run.run_id}/approval-links", json={"step": "approval", "reviewer": "ops"}
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["url"].startswith(f"{api_server}/flowat/approvals/{run.run_id}/")
        assert body["signal"] == "approved" and body["reviewer"] == "ops"
        not_waiting = api.post(f"/runs/{run.run_id}/approval-links", json={"step": "prepare"})
        assert not_waiting.status_code == 422 and "--wait-for" in not_waiting.text
        missing = api.post(f"/runs/{run.run_id}/approval-links", json={"step": "nope"})
        assert missing.status_code == 422 and "no step 'nope'" in missing.text
        bad_name = api.post(
            f"/runs/{run.run_id}/approval-links",
            json={"step": "approval", "reviewer": "<script>"},
        )
        assert bad_name.status_code == 422
        short = api.post(
            f"/runs/{run.run_id}/approval-links", json={"step": "approval", "expires_seconds": 1}
        )
        assert short.status_code == 422
        # Another organization does not see the run at all.
        stranger = Api(api_server, new_org("appr").keys[Role.OWNER])
        refused = stranger.post(f"/runs/{run.run_id}/approval-links", json={"step": "approval"})
        assert refused.status_code == 404
        # A Viewer of the organization may see the run but not make a link for it.
        viewer = workspace_for(
            Principal(user="watcher", owner=default_workspace().owner, role=Role.VIEWER)
        )
        with pytest.raises(Forbidden, match="runs:write"):
            viewer.approval_link(run.run_id, "approval")
        listed = default_workspace().approval_links(run.run_id)
        assert [x["reviewer"] for x in listed] == ["ops"]
        assert "url" not in listed[0]  # the list never shows a token
        # The magic makes one too; the CLI lists both, never with a token.
        made_here = shell.run_cell(  # type: ignore[attr-defined]
            f"%flowat approvals link {run.run_id} approval --reviewer lin --expires 2h"
        )
        assert made_here.error_in_exec is None, made_here.error_in_exec
        assert "/flowat/approvals/" in made_here.result["url"]
        token = made_here.result["url"].rsplit("/", 1)[1]
        listing = subprocess.run(
            [sys.executable, "-m", "flowat_kernel.cli.main", "approvals", "list", run.run_id],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert listing.returncode == 0, listing.stderr
        assert "ops" in listing.stdout and "lin" in listing.stdout
        assert token not in listing.stdout and token.split(".")[1] not in listing.stdout
        refused = subprocess.run(
            [
                sys.executable, "-m", "flowat_kernel.cli.main", "approvals", "link",
                run.run_id, "approval", "--expires", "soon",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert refused.returncode == 2 and "--expires" in refused.stderr
    finally:
        flowat.cancel(run.run_id)


@pytest.mark.timeout(240)
def test_a_link_sent_to_a_chat_webhook_reaches_only_the_reviewer(
    temporal: str,
    workflow_name: str,
    api_server: str,  # noqa: F811
    api: Api,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "open")  # the chat server is on loopback
    received: list[dict[str, object]] = []

    def chat(request: Recorded) -> Reply:
        received.append(request.json())
        return Reply(200, "ok")

    _publish(workflow_name)
    run = flowat.run(workflow_name, wait=False, worker="always")
    with LoopbackHTTPServer(chat) as server:
        cli = subprocess.run(
            [
                sys.executable, "-m", "flowat_kernel.cli.main", "approvals", "link",
                run.run_id, "approval", "--reviewer", "grace", "--chat", server.url,
                "--base-url", api_server,
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert "sent to chat" in cli.stdout and "/flowat/approvals/" not in cli.stdout
        bad = api.post(
            f"/runs/{run.run_id}/approval-links",
            json={"step": "approval", "send": {"kind": "chat", "target": "not a url"}},
        )
        assert bad.status_code == 422 and "http://" in bad.text
        sent = api.post(
            f"/runs/{run.run_id}/approval-links",
            json={"step": "approval", "send": {"kind": "webhook", "target": server.url}},
        )
        assert sent.status_code == 201, sent.text
        assert "url" not in sent.json() and sent.json()["sent_to"]["kind"] == "webhook"
    assert len(received) == 2
    text = str(received[0]["text"])
    assert "grace" in text and workflow_name in text and SECRETISH not in text
    url = re.search(r"(http://\S+/flowat/approvals/\S+)", text)
    assert url is not None, text
    assert received[1]["kind"] == "approval" and received[1]["run_id"] == run.run_id
    page = httpx.get(url.group(1), timeout=60)
    form = _form_token(page.text)
    decided = httpx.post(url.group(1), data={"form_token": form, "decision": "approve"}, timeout=60)
    assert decided.status_code == 200, decided.text
    done = _wait_done(run.run_id)
    assert done.outputs["approval"]["approval"]["by"] == "grace"


@pytest.mark.timeout(240)
def test_an_approval_alert_sends_a_link_when_the_step_waits(
    temporal: str,
    workflow_name: str,
    api_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "open")
    monkeypatch.setenv("FLOWAT_PUBLIC_URL", api_server)
    received: list[dict[str, object]] = []

    def chat(request: Recorded) -> Reply:
        received.append(request.json())
        return Reply(200, "ok")

    _publish(workflow_name)
    door = default_workspace()
    with pytest.raises(flowat.FlowAtError, match="--chat, --webhook or --email"):
        door.add_alert(workflow_name, on="approval", kind="workflow", target=workflow_name)
    with LoopbackHTTPServer(chat) as server:
        door.add_alert(workflow_name, on="approval", kind="chat", target=server.url)
        run = flowat.run(workflow_name, wait=False, worker="always")
        deadline = time.monotonic() + 60
        while not received:
            assert time.monotonic() < deadline, "no approval link was sent"
            time.sleep(0.2)
        text = str(received[0]["text"])
        url = re.search(r"(http://\S+/flowat/approvals/\S+)", text)
        assert url is not None and run.run_id in url.group(1), text
        page = httpx.get(url.group(1), timeout=60)
        assert page.status_code == 200 and "approval" in page.text
        decided = httpx.post(
            url.group(1),
            data={"form_token": _form_token(page.text), "decision": "approve"},
            timeout=60,
        )
        assert decided.status_code == 200, decided.text
        done = _wait_done(run.run_id)
    assert done.status == "succeeded", done.error
    assert done.outputs["approval"]["approval"]["approved"] is True
    assert len(received) == 1  # one link per alert, run and step
    links = door.approval_links(run.run_id)
    assert len(links) == 1 and links[0]["created_by"].startswith("alert:")
    assert links[0]["decision"] == "approve"
