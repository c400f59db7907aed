"""The shared egress policy against every network connector, on loopback servers only.

Under ``public`` each of the bypass forms below (other spellings of loopback, private,
link-local and reserved addresses, IPv6 forms embedding them, user info before the
host) must be refused before any connection, by ``http``, ``llm``, ``chat-webhook``,
``sql`` and ``email`` alike. Which policy applies is configuration and the run's
trigger, never the step author's choice.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_connectors import chat_webhook, email_smtp, http, llm, sql
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError, egress
from flowat_kernel.step_context import StepScope, step_scope
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, call

#: Hosts (as written in a URL) that all lead to addresses ``public`` must refuse.
BYPASS_FORMS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "0x7f000001",
    "0x7f.0.0.1",
    "2130706433",
    "017700000001",
    "127.255.255.254",
    "localhost",
    "LOCALHOST",
    "LocalHost",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "[::127.0.0.1]",
    "0.0.0.0",
    "0",
    "[::]",
    "169.254.169.254",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "100.64.0.1",
    "[fd00::1]",
    "[fe80::1]",
    "224.0.0.1",
    "user@127.0.0.1",
    "public.example.com@127.0.0.1",
]


class Listener:
    """A TCP listener on 127.0.0.1 and ::1 (same port) that counts connections."""

    def __init__(self) -> None:
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        first.bind(("127.0.0.1", 0))
        self.port = int(first.getsockname()[1])
        self._sockets.append(first)
        try:
            second = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            second.bind(("::1", self.port))
            self._sockets.append(second)
        except OSError:
            pass  # no IPv6 loopback here
        self._stop = threading.Event()

    def __enter__(self) -> Listener:
        for sock in self._sockets:
            sock.listen(16)
            sock.settimeout(0.1)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = sock.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for sock in self._sockets:
            sock.close()


def bare(form: str) -> str:
    """The host alone: no user info, no IPv6 brackets."""
    return form.rpartition("@")[2].strip("[]")


def url_host(form: str) -> str:
    """The host as a URL's authority writes it (without user info)."""
    return form.rpartition("@")[2]


Attempt = Callable[[str, int], Any]

ATTEMPTS: dict[str, Attempt] = {
    "http": lambda form, port: call(
        http.connector, "request", url=f"http://{form}:{port}/x", timeout=5
    ),
    "llm": lambda form, port: call(
        llm.connector,
        "chat",
        base_url=f"http://{form}:{port}/v1",
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        timeout=5,
    ),
    "chat-webhook": lambda form, port: call(
        chat_webhook.connector, "post", url=f"http://{form}:{port}/hook", text="hi", timeout=5
    ),
    "sql": lambda form, port: call(
        sql.connector, "query", url=f"postgresql://u:pw@{url_host(form)}:{port}/db", sql="SELECT 1"
    ),
    "email": lambda form, port: call(
        email_smtp.connector,
        "send",
        host=bare(form),
        port=port,
        starttls=False,
        from_addr="robot@flowat.test",
        to=["ada@example.test"],
        timeout=5,
    ),
}


@pytest.fixture
def public(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "public")
    monkeypatch.delenv("FLOWAT_EGRESS_ALLOW", raising=False)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("connector", sorted(ATTEMPTS))
def test_every_bypass_form_is_refused_by_every_network_connector(
    public: None, connector: str
) -> None:
    attempt = ATTEMPTS[connector]
    with Listener() as listener:
        for form in BYPASS_FORMS:
            with pytest.raises(ActionError) as caught:
                attempt(form, listener.port)
            message = str(caught.value)
            assert "egress policy 'public' (FLOWAT_EGRESS=public) refuses" in message, (
                form,
                message,
            )
            assert not caught.value.retryable
    assert listener.accepted == 0


@pytest.mark.parametrize(
    ("configured", "trigger", "expected"),
    [
        ("auto", None, "open"),  # no run: an action tried in a notebook
        ("auto", "api", "open"),
        ("auto", "cli", "open"),
        ("auto", "notebook", "open"),
        ("auto", "papermill", "open"),
        ("auto", "rest", "public"),
        ("auto", "webhook", "public"),
        ("auto", "schedule", "public"),
        ("auto", "rerun", "public"),
        ("auto", "unknown", "public"),
        ("auto", "", "public"),  # a run whose record could not be read
        ("open", "webhook", "open"),
        ("public", "cli", "public"),
        ("public", None, "public"),
    ],
)
def test_the_policy_comes_from_configuration_and_the_runs_trigger(
    monkeypatch: pytest.MonkeyPatch, configured: str, trigger: str | None, expected: str
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", configured)
    if trigger is None:
        assert egress.policy() == expected
        return
    scope = StepScope("org", "wf", "run-1", "step", trigger=trigger or None)
    with step_scope(scope):
        assert egress.policy() == expected
        assert egress.policy("public") == "public"  # an author may tighten it
        assert egress.policy("open") == expected  # never loosen it


def test_an_author_asking_for_open_cannot_reach_loopback(
    public: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackHTTPServer(lambda _: Reply(200, "ok")) as server:
        with pytest.raises(ActionError, match="refuses"):
            call(http.connector, "request", url=server.url, egress_policy="open")
        monkeypatch.setenv("FLOWAT_EGRESS", "auto")
        scope = StepScope("org", "wf", "run-1", "step", trigger="webhook")
        with step_scope(scope), pytest.raises(ActionError, match="runs started by webhook"):
            call(http.connector, "request", url=server.url, egress_policy="open")
    assert server.requests == []


def test_a_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "closed")
    with pytest.raises(flowat.ConfigError, match="FLOWAT_EGRESS='closed' is not one of"):
        egress.policy()


def test_the_allow_list_opens_named_hosts_and_networks_only(
    public: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackHTTPServer(lambda _: Reply(200, {"ok": True})) as server:
        port = server.url.rpartition(":")[2]
        monkeypatch.setenv("FLOWAT_EGRESS_ALLOW", "127.0.0.0/8")
        assert call(http.connector, "request", url=server.url).status == 200
        with pytest.raises(ActionError, match="refuses"):  # ::1 is not in the network
            call(http.connector, "request", url=f"http://[::1]:{port}/")
        monkeypatch.setenv("FLOWAT_EGRESS_ALLOW", "db.internal, LOCALHOST")
        assert call(http.connector, "request", url=f"http://localhost:{port}/").status == 200
        with pytest.raises(ActionError, match="refuses"):
            call(http.connector, "request", url=server.url)
    assert len(server.requests) == 2


def test_sql_urls_that_choose_their_host_otherwise_are_refused(public: None) -> None:
    for url in (
        "postgresql://u@public.example.com/db?host=127.0.0.1",
        "postgresql://u@public.example.com/db?hostaddr=127.0.0.1",
        "postgresql://u@public.example.com/db?service=local",
        "postgresql://u@/db",
        "postgresql://u@/db?host=/var/run/postgresql",
    ):
        with pytest.raises(ActionError, match="must name its host in the URL") as caught:
            call(sql.connector, "query", url=url, sql="SELECT 1")
        assert not caught.value.retryable


def test_sql_connects_to_the_checked_address(
    public: None, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name only our resolver knows: the query can only succeed if libpq is pinned to
    # the address the policy checked (hostaddr), the name kept for the server.
    from sqlalchemy.engine import make_url

    real = make_url(postgres_url)
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["127.0.0.1"])
    monkeypatch.setenv("FLOWAT_EGRESS_ALLOW", "127.0.0.1/32")
    url = real.set(host="pg.example.test").render_as_string(hide_password=False)
    out = call(sql.connector, "query", url=url, sql="SELECT 41 + 1 AS answer")
    assert out.rows == [{"answer": 42}]


def test_a_run_started_by_a_webhook_gets_public(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWAT_EGRESS", raising=False)
    monkeypatch.delenv("FLOWAT_EGRESS_ALLOW", raising=False)

    def echo(request: Recorded) -> Reply:
        return Reply(200, {"path": request.path})

    with LoopbackHTTPServer(echo) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("target = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step fetch --retries 0\n"
                    "status = flowat.action('http.request', url=target,\n"
                    "    egress_policy='open').status",
                    2,
                ),
            ],
        )
        local = flowat.run(workflow_name, parameters={"target": server.url + "/local"})
        assert local.status == "succeeded", local.error
        for trigger in ("webhook", "rest", "schedule"):
            remote = flowat.run(
                workflow_name, parameters={"target": server.url + "/remote"}, trigger=trigger
            )
            assert remote.status == "failed"
            assert f"runs started by {trigger}" in str(remote.error)
    assert [r.path for r in server.requests] == ["/local"]
