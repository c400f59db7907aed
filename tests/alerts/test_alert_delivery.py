"""Alerts delivered by an in-process worker on the real Temporal dev server."""

from __future__ import annotations

import time
import uuid

import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.testing import cells
from tests.alerts.conftest import Receiver, wait_until


def _deliveries(run_id: str) -> list:
    return default_workspace().alert_deliveries(run_id=run_id)


def _settled(run_id: str, count: int = 1) -> list:
    def done() -> list | None:
        found = _deliveries(run_id)
        if len(found) >= count and all(d.status in ("delivered", "failed") for d in found):
            return found
        return None

    return wait_until(done, what=f"{count} settled deliveries of {run_id}")


def test_a_failed_run_sends_one_chat_alert_naming_run_step_and_masked_error(
    temporal: str, workflow_name: str, receiver: Receiver, canary: str
) -> None:
    door = default_workspace()
    secret_name = f"token_{uuid.uuid4().hex[:8]}"
    door.set_secret(secret_name, canary)
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step prepare\nvalue = n",
            f"%%flowat step call\ntoken = flowat.secret({secret_name!r}).reveal()\n"
            "raise ValueError('refused with ' + token)",
            parameters="n = 3",
        ),
    )
    alert = door.add_alert(
        workflow_name,
        on="failure",
        kind="chat",
        target=receiver.url,
        message="{workflow} run {run_id} failed at {step}: {error_type}: {error} "
        "(n={parameters['n']}) {link}",
    )
    run = flowat.run(workflow_name, parameters={"n": "7"})
    assert run.status == "failed"
    (delivery,) = _settled(run.run_id)
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.alert_id == alert.id and delivery.event == "failure"
    time.sleep(1.0)  # nothing more arrives
    (request,) = receiver.received()
    text = request.json()["text"]
    assert run.run_id in text and "at call" in text and "ValueError" in text
    assert "(n=7)" in text and f"/api/v1/runs/{run.run_id}" in text
    assert canary not in request.body.decode()
    assert "refused with" in text
    assert request.headers.get("Idempotency-Key")
    assert request.headers["X-FlowAt-Alert"] == delivery.id


def test_a_succeeded_run_sends_its_success_alert_and_not_its_failure_alert(
    temporal: str, workflow_name: str, receiver: Receiver
) -> None:
    door = default_workspace()
    flowat.publish(workflow_name, cells=cells("%%flowat step only\nx = 1"))
    door.add_alert(workflow_name, on="failure", kind="webhook", target=receiver.url + "/f")
    ok = door.add_alert(workflow_name, on="success", kind="webhook", target=receiver.url + "/s")
    run = flowat.run(workflow_name)
    assert run.status == "succeeded"
    (delivery,) = _settled(run.run_id)
    assert delivery.alert_id == ok.id and delivery.status == "delivered"
    (request,) = receiver.wait_for(1)
    body = request.json()
    assert request.path.endswith("/s")
    assert body["run_id"] == run.run_id and body["status"] == "succeeded"
    assert body["event"] == "success" and body["delivery_id"] == delivery.id


def test_a_timed_out_run_sends_its_timeout_alert(
    temporal: str, workflow_name: str, receiver: Receiver
) -> None:
    door = default_workspace()
    flowat.publish(workflow_name, cells=cells("%%flowat step slow\nimport time\ntime.sleep(30)"))
    door.add_alert(workflow_name, on="timeout", kind="chat", target=receiver.url)
    door.add_alert(workflow_name, on="failure", kind="chat", target=receiver.url + "/f")
    run = flowat.run(workflow_name, timeout=2)
    assert run.status == "timed_out"
    (delivery,) = _settled(run.run_id)
    assert delivery.status == "delivered" and delivery.event == "timeout"
    (request,) = receiver.wait_for(1)
    assert "timed_out" in request.json()["text"]


def test_a_retried_step_that_succeeds_sends_no_failure_alert(
    temporal: str, workflow_name: str, receiver: Receiver, tmp_path
) -> None:
    marker = tmp_path / "tried"
    door = default_workspace()
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step flaky --retries 3\nimport pathlib\n"
            f"p = pathlib.Path({str(marker)!r})\n"
            "if not p.exists():\n    p.write_text('1')\n    raise RuntimeError('first try')\n"
            "ok = True"
        ),
    )
    door.add_alert(workflow_name, on="failure", kind="chat", target=receiver.url + "/f")
    door.add_alert(workflow_name, on="success", kind="chat", target=receiver.url + "/s")
    run = flowat.run(workflow_name)
    assert run.status == "succeeded"
    assert {s.name: s.attempts for s in run.record.steps} == {"flaky": 2}
    (delivery,) = _settled(run.run_id)
    assert delivery.event == "success"
    time.sleep(1.0)
    assert [r.path for r in receiver.received()] == ["/alerts/s"]


def test_a_rerun_that_fails_again_alerts_once_for_its_own_run(
    temporal: str, workflow_name: str, receiver: Receiver
) -> None:
    door = default_workspace()
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step a\nx = 1", "%%flowat step b\nraise KeyError(x)"),
    )
    door.add_alert(workflow_name, on="failure", kind="chat", target=receiver.url)
    first = flowat.run(workflow_name)
    assert first.status == "failed"
    _settled(first.run_id)
    second = door.rerun(first.run_id)
    second = door.wait(second.run_id) if hasattr(second, "run_id") else second
    assert second.status == "failed" and second.run_id != first.run_id
    _settled(second.run_id)
    time.sleep(1.0)
    requests = receiver.received()
    assert len(requests) == 2
    assert [second.run_id in r.json()["text"] for r in requests] == [False, True]
    assert len(_deliveries(first.run_id)) == 1 and len(_deliveries(second.run_id)) == 1


def test_a_receiver_that_is_down_is_retried_and_delivered_once_it_is_back(
    temporal: str, workflow_name: str, receiver: Receiver
) -> None:
    door = default_workspace()
    flowat.publish(workflow_name, cells=cells("%%flowat step boom\nraise OSError('disk')"))
    door.add_alert(workflow_name, on="failure", kind="webhook", target=receiver.url)
    receiver.down = True
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    wait_until(lambda: len(receiver.received()) >= 2, what="two refused attempts")
    (pending,) = _deliveries(run.run_id)
    assert pending.status in ("retrying", "sending") and pending.attempts >= 2
    assert "503" in (pending.last_error or "")
    receiver.down = False
    (delivery,) = _settled(run.run_id)
    assert delivery.status == "delivered" and delivery.last_error is None
    time.sleep(1.0)
    requests = receiver.received()
    keys = {r.headers["Idempotency-Key"] for r in requests}
    assert len(keys) == 1  # every attempt carried the same key
    assert len(requests) == delivery.attempts


def test_organization_default_applies_only_without_the_workflows_own_alert(
    temporal: str, workflow_name: str, receiver: Receiver
) -> None:
    door = default_workspace()
    flowat.publish(workflow_name, cells=cells("%%flowat step s\nx = 1"))
    other = workflow_name + "_b"
    flowat.publish(other, cells=cells("%%flowat step s\ny = 2"))
    default = door.add_alert(None, on="success", kind="chat", target=receiver.url + "/org")
    own = door.add_alert(other, on="success", kind="chat", target=receiver.url + "/own")
    try:
        first = flowat.run(workflow_name)
        second = flowat.run(other)
        (d1,) = _settled(first.run_id)
        (d2,) = _settled(second.run_id)
        assert d1.alert_id == default.id and d2.alert_id == own.id
    finally:
        door.remove_alert(default.id)  # the organization's default would reach other tests


@pytest.mark.parametrize(
    ("kind", "target", "message", "fix"),
    [
        ("chat", "ftp://x", None, "http:// or https://"),
        ("email", "not-an-address", None, "one address"),
        ("chat", "http://127.0.0.1/x", "{run_id", "never closed"),
        ("chat", "http://127.0.0.1/x", "{__import__('os')}", "does not render"),
    ],
)
def test_bad_alerts_are_refused_with_what_to_fix(
    temporal: str, workflow_name: str, kind: str, target: str, message: str | None, fix: str
) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step s\nx = 1"))
    with pytest.raises(flowat.FlowAtError, match=fix):
        default_workspace().add_alert(
            workflow_name, on="failure", kind=kind, target=target, message=message
        )


def test_an_email_alert_reaches_a_loopback_smtp_server_with_a_fixed_message_id(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.controller import Controller

    from flowat_kernel.testing import free_port

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.messages.append(envelope.content)  # type: ignore[attr-defined]
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("FLOWAT_EGRESS", "open")
        monkeypatch.setenv("FLOWAT_ALERT_SMTP_HOST", f"127.0.0.1:{port}")
        monkeypatch.setenv("FLOWAT_ALERT_SMTP_TLS", "none")
        monkeypatch.setenv("FLOWAT_ALERT_SMTP_FROM", "flowat@example.com")
        door = default_workspace()
        flowat.publish(workflow_name, cells=cells("%%flowat step s\nraise ValueError('late')"))
        door.add_alert(workflow_name, on="failure", kind="email", target="ops@example.com")
        run = flowat.run(workflow_name)
        (delivery,) = _settled(run.run_id)
        assert delivery.status == "delivered", delivery.last_error
        (raw,) = inbox.messages
    finally:
        controller.stop()
    text = raw.decode()
    assert "ops@example.com" in text and run.run_id in text and "late" in text
    assert "Message-ID:" in text
