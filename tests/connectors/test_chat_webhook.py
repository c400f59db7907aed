"""The chat-webhook connector against a real loopback server playing a Slack webhook."""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_connectors.chat_webhook import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.registry import get_action
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, call

HOOK_PATH = "/services/T0001/B0002/"


def slack(status: int = 200, body: str = "ok") -> LoopbackHTTPServer:
    """A webhook that answers like Slack: ``ok``, or a status with a short text."""
    return LoopbackHTTPServer(lambda _: Reply(status, body))


def hook_secret(url: str) -> tuple[str, str]:
    """Store a webhook URL (with a token-like path) in the vault: (name, full URL)."""
    name = f"hook_{uuid.uuid4().hex[:8]}"
    full = f"{url}{HOOK_PATH}{uuid.uuid4().hex}"
    flowat.set_secret(name, full)
    return name, full


def fail(**params: object) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(connector, "post", **params)
    return caught.value


def test_posts_text_blocks_and_options_as_json(home: Path) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]
    with slack() as server:
        name, full = hook_secret(server.url)
        out = call(
            connector,
            "post",
            url=flowat.secret(name),
            text="run finished",
            blocks=blocks,
            attachments=[{"color": "#36a64f", "text": "details"}],
            username="flowat",
            icon_emoji=":robot_face:",
        )
    assert (out.ok, out.status) == (True, 200)
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", full.removeprefix(server.url))
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json() == {
        "text": "run finished",
        "blocks": blocks,
        "attachments": [{"color": "#36a64f", "text": "details"}],
        "username": "flowat",
        "icon_emoji": ":robot_face:",
    }


def test_a_plain_url_works_and_unset_options_are_not_sent() -> None:
    with LoopbackHTTPServer(lambda _: Reply(204, "")) as server:
        out = call(connector, "post", url=server.url + "/hook", text="hi")
    assert (out.ok, out.status) == (True, 204)
    assert server.requests[0].json() == {"text": "hi"}


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "invalid_payload"), (403, "invalid_token"), (404, "no_service"), (410, "gone")],
)
def test_a_4xx_is_not_retryable_and_says_what_slack_said(status: int, body: str) -> None:
    with slack(status, body) as server:
        error = fail(url=server.url + "/hook", text="x")
    assert not error.retryable
    assert str(status) in str(error)
    assert body in str(error)


@pytest.mark.parametrize(("status", "body"), [(500, "internal_error"), (429, "rate_limited")])
def test_5xx_and_rate_limits_are_retryable(status: int, body: str) -> None:
    with slack(status, body) as server:
        error = fail(url=server.url + "/hook", text="x")
    assert error.retryable
    assert body in str(error)


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = fail(url=f"http://127.0.0.1:{port}/hook", text="x")
    assert error.retryable
    assert "could not connect" in str(error)


def test_a_timeout_is_retryable() -> None:
    release = threading.Event()

    def slow(_: Recorded) -> Reply:
        release.wait(10)
        return Reply(200, "ok")

    with LoopbackHTTPServer(slow) as server:
        try:
            error = fail(url=server.url + "/hook", text="x", timeout=0.3)
        finally:
            release.set()
    assert error.retryable
    assert "timeout" in str(error)


def test_no_part_of_the_webhook_url_in_any_error(home: Path) -> None:
    with slack(404, "no_service") as server:
        name, full = hook_secret(server.url)
        errors = [fail(url=flowat.secret(name), text="x")]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    dead_name, dead_full = hook_secret(dead)
    errors.append(fail(url=flowat.secret(dead_name), text="x"))
    flowat.set_secret("not_a_url", "just-some-token-value")
    errors.append(fail(url=flowat.secret("not_a_url"), text="x"))
    for error in errors:
        text = str(error)
        for url in (full, dead_full):
            assert url not in text
            assert url.rpartition("/")[2] not in text  # the token at the end
            assert HOOK_PATH not in text
    assert "just-some-token-value" not in str(errors[2])
    assert "'not_a_url'" in str(errors[2])
    assert "127.0.0.1" in str(errors[0])  # the host is named, so people know where


def test_a_missing_secret_and_bad_input_are_not_retryable(home: Path) -> None:
    missing = fail(url=flowat.secret("hook_never_set"), text="x")
    assert not missing.retryable
    assert "hook_never_set" in str(missing)
    empty = fail(url="http://127.0.0.1/hook", text="")
    assert not empty.retryable
    assert "text" in str(empty)
    bad = fail(url="mailto:someone@example.com", text="x")
    assert "http:// or https://" in str(bad)
    assert "someone" not in str(bad)


def test_the_connector_is_discovered_and_described() -> None:
    action = get_action("chat-webhook.post")
    assert action.retry_safe is False
    schema = connector.describe()["actions"][0]["input"]
    assert set(schema["required"]) == {"url", "text"}


def test_an_action_step_posts_with_the_url_from_the_vault(
    temporal: str, workflow_name: str
) -> None:
    with slack() as server:
        name, full = hook_secret(server.url)
        flowat.publish(
            workflow_name,
            cells=[
                Cell("who = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step notify --action chat-webhook.post\n"
                    f"url = flowat.secret({name!r})\n"
                    "text = f'hello {who}'",
                    2,
                ),
            ],
        )
        run = flowat.run(workflow_name, parameters={"who": "team"})
    assert run.status == "succeeded", run.error
    assert run.outputs["notify"]["notify"] == {"ok": True, "status": 200}
    (seen,) = server.requests
    assert seen.json() == {"text": "hello team"}
    assert seen.path == full.removeprefix(server.url)
