"""The http connector against real loopback HTTP servers, directly and in workflow runs."""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
import uuid
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_connectors.http import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError, egress
from flowat_kernel.sdk.registry import connectors, get_action
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, call, free_port


@pytest.fixture
def token(home: Path) -> tuple[str, str]:
    """A secret in the vault: (name, value)."""
    name = f"api_{uuid.uuid4().hex[:8]}"
    value = f"tok-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


def echo(request: Recorded) -> Reply:
    return Reply(200, {"method": request.method, "path": request.path})


def fail(**params: object) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(connector, "request", **params)
    return caught.value


# -- success, bodies and formats ------------------------------------------------------


def test_get_returns_status_headers_json_final_url_and_time() -> None:
    with LoopbackHTTPServer(echo) as server:
        out = call(connector, "request", url=server.url + "/items?a=1", params={"b": [2, 3]})
    assert out.status == 200
    assert out.json_body == {"method": "GET", "path": "/items?a=1&b=2&b=3"}
    assert out.text is None
    assert out.headers["content-type"] == "application/json"
    assert out.url == server.url + "/items?a=1&b=2&b=3"
    assert out.elapsed_ms >= 0
    assert server.requests[0].headers["Host"] == server.url.removeprefix("http://")


@pytest.mark.parametrize(
    ("reply", "field", "expected"),
    [
        (Reply(200, {"a": [1, None]}), "json_body", {"a": [1, None]}),
        (Reply(200, "plain words"), "text", "plain words"),
        (Reply(200, "<p>x</p>", {"Content-Type": "text/html"}), "text", "<p>x</p>"),
        (Reply(200, "{not json", {"Content-Type": "application/json"}), "text", "{not json"),
        (
            Reply(200, '{"k": 1}', {"Content-Type": "application/problem+json"}),
            "json_body",
            {"k": 1},
        ),
        (Reply(200, b"\x89PNG\xff\x00"), "body_base64", base64.b64encode(b"\x89PNG\xff\x00")),
        (Reply(204, ""), "text", ""),
    ],
    ids=["json", "text", "html", "bad-json", "problem-json", "binary", "empty"],
)
def test_json_text_and_binary_bodies(reply: Reply, field: str, expected: object) -> None:
    with LoopbackHTTPServer(lambda _: reply) as server:
        out = call(connector, "request", url=server.url)
    value = getattr(out, field)
    assert (value.encode() if field == "body_base64" else value) == expected
    others = {"json_body", "text", "body_base64"} - {field}
    assert all(getattr(out, other) is None for other in others)


def test_json_and_raw_bodies_are_sent_with_their_content_types() -> None:
    with LoopbackHTTPServer(echo) as server:
        call(connector, "request", url=server.url, method="post", json={"n": 1, "s": "é"})
        call(connector, "request", url=server.url, method="PUT", body="raw text")
        call(
            connector,
            "request",
            url=server.url,
            method="PATCH",
            body="<a/>",
            headers={"content-type": "application/xml"},
        )
    sent_json, sent_text, sent_xml = server.requests
    assert (sent_json.method, sent_json.json()) == ("POST", {"n": 1, "s": "é"})
    assert sent_json.headers["Content-Type"] == "application/json"
    assert (sent_text.method, sent_text.body) == ("PUT", b"raw text")
    assert sent_text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert (sent_xml.method, sent_xml.body) == ("PATCH", b"<a/>")
    assert sent_xml.headers["content-type"] == "application/xml"


def test_a_response_over_the_limit_is_refused() -> None:
    with LoopbackHTTPServer(lambda _: Reply(200, "x" * 5000)) as server:
        error = fail(url=server.url, max_response_bytes=1000)
    assert not error.retryable
    assert "max_response_bytes=1000" in str(error)


# -- errors: what is retryable --------------------------------------------------------


def test_a_4xx_is_not_retryable_and_quotes_the_body() -> None:
    reply = Reply(404, "no such   item\n here")
    with LoopbackHTTPServer(lambda _: reply) as server:
        error = fail(url=server.url + "/items/7?key=abc")
    assert not error.retryable
    assert "404" in str(error)
    assert "no such item here" in str(error)
    assert f"GET {server.url}/items/7" in str(error)
    assert "key=abc" not in str(error)  # query strings may hold tokens
    assert error.host == server.url.removeprefix("http://")


@pytest.mark.parametrize(
    ("method", "extra", "retryable"),
    [
        ("GET", {}, True),
        ("DELETE", {}, True),
        ("PUT", {}, True),
        ("POST", {}, False),
        ("PATCH", {}, False),
        ("POST", {"idempotency_header": "Idempotency-Key"}, True),
    ],
)
def test_a_5xx_is_retryable_when_repeating_the_call_is_safe(
    method: str, extra: dict[str, str], retryable: bool
) -> None:
    with LoopbackHTTPServer(lambda _: Reply(500, "database on fire")) as server:
        error = fail(url=server.url, method=method, **extra)
    assert error.retryable is retryable
    assert "500" in str(error)
    assert "database on fire" in str(error)
    if not retryable:
        assert "idempotency_header" in str(error)


@pytest.mark.parametrize("status", [408, 429, 503])
def test_statuses_saying_nothing_was_done_are_retryable_even_for_post(status: int) -> None:
    with LoopbackHTTPServer(lambda _: Reply(status, "later")) as server:
        error = fail(url=server.url, method="POST", json={})
    assert error.retryable
    assert str(status) in str(error)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_refused_connection_is_retryable_for_any_method(method: str) -> None:
    error = fail(url=f"http://127.0.0.1:{free_port()}/x", method=method)
    assert error.retryable
    assert "could not connect" in str(error)
    assert "not sent" in str(error)


@pytest.mark.parametrize(("method", "retryable"), [("GET", True), ("POST", False)])
def test_a_timeout_is_retryable_when_repeating_the_call_is_safe(
    method: str, retryable: bool
) -> None:
    release = threading.Event()

    def slow(_: Recorded) -> Reply:
        release.wait(10)
        return Reply(200, "late")

    with LoopbackHTTPServer(slow) as server:
        try:
            error = fail(url=server.url, method=method, timeout=0.3)
        finally:
            release.set()
    assert error.retryable is retryable
    assert "timeout=0.3 s" in str(error)


# -- redirects and egress -------------------------------------------------------------


def redirecting(target: str, status: int = 302) -> LoopbackHTTPServer:
    def handler(request: Recorded) -> Reply:
        if request.path.startswith("/old"):
            return Reply(status, "", {"Location": target})
        return Reply(200, {"method": request.method, "path": request.path})

    return LoopbackHTTPServer(handler)


def test_redirects_are_followed_and_the_final_url_reported() -> None:
    with redirecting("/new?x=1") as server:
        out = call(connector, "request", url=server.url + "/old")
        raw = call(connector, "request", url=server.url + "/old", follow_redirects=False)
    assert out.status == 200
    assert out.url == server.url + "/new?x=1"
    assert out.json_body == {"method": "GET", "path": "/new?x=1"}
    assert [r.path for r in server.requests] == ["/old", "/new?x=1", "/old"]
    assert raw.status == 302
    assert raw.headers["location"] == "/new?x=1"


def test_a_redirect_loop_stops_after_ten_and_is_not_retryable() -> None:
    with LoopbackHTTPServer(lambda _: Reply(302, "", {"Location": "/again"})) as server:
        error = fail(url=server.url)
    assert not error.retryable
    assert "more than 10 redirects" in str(error)
    assert len(server.requests) == 11


def test_credentials_are_not_forwarded_to_another_origin(token: tuple[str, str]) -> None:
    name, value = token
    with LoopbackHTTPServer(echo) as other, redirecting(other.url + "/landing") as first:
        out = call(
            connector,
            "request",
            url=first.url + "/old",
            auth=flowat.secret(name),
            headers={"X-Api-Key": flowat.secret(name), "X-Plain": "kept"},
        )
    assert out.json_body == {"method": "GET", "path": "/landing"}
    assert first.requests[0].headers["Authorization"] == f"Bearer {value}"
    assert first.requests[0].headers["X-Api-Key"] == value
    landed = other.requests[0].headers
    assert "Authorization" not in landed
    assert "X-Api-Key" not in landed
    assert landed["X-Plain"] == "kept"


def test_same_origin_redirects_keep_credentials(token: tuple[str, str]) -> None:
    name, value = token
    with redirecting("/new") as server:
        call(connector, "request", url=server.url + "/old", headers={"X-Key": flowat.secret(name)})
    assert [r.headers.get("X-Key") for r in server.requests] == [value, value]


def test_egress_open_reaches_loopback() -> None:
    with LoopbackHTTPServer(echo) as server:
        out = call(connector, "request", url=server.url, egress_policy="open")
    assert out.status == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_egress_public_refuses_loopback_before_connecting(host: str) -> None:
    with LoopbackHTTPServer(echo) as server:
        url = server.url.replace("127.0.0.1", host)
        error = fail(url=url, egress_policy="public")
    assert not error.retryable
    assert "egress policy 'public' (the step asked for it) refuses" in str(error)
    assert server.requests == []


def test_egress_public_checks_every_redirect(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both servers are on 127.0.0.1, so let the first check pass as if the first host
    # were public: the redirect's host must then be checked, and refused, on its own.
    checked: list[str] = []

    def first_only(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        checked.append(str(address))
        return len(checked) == 1

    monkeypatch.setattr(egress, "is_public", first_only)
    with LoopbackHTTPServer(echo) as inner, redirecting(inner.url + "/secret") as outer:
        error = fail(url=outer.url + "/old", egress_policy="public")
    assert not error.retryable
    assert "refuses 127.0.0.1" in str(error)
    assert [r.path for r in outer.requests] == ["/old"]
    assert inner.requests == []
    assert checked == ["127.0.0.1", "127.0.0.1"]


def test_egress_public_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name only our resolver knows (.test never resolves in DNS): the request can only
    # arrive if the connection goes to the checked address, with the name as Host.
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["127.0.0.1"])
    monkeypatch.setattr(egress, "is_public", lambda address: True)
    with LoopbackHTTPServer(echo) as server:
        port = server.url.rpartition(":")[2]
        out = call(
            connector, "request", url=f"http://api.example.test:{port}/p", egress_policy="public"
        )
    assert out.status == 200
    assert out.url == f"http://api.example.test:{port}/p"
    assert server.requests[0].headers["Host"] == f"api.example.test:{port}"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),
        ("64:ff9b::808:808", True),
        ("2002:a00:1::", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert egress.is_public(ipaddress.ip_address(address)) is public


# -- credentials, idempotency and secrets ---------------------------------------------


def test_auth_sends_the_vault_secret_as_a_bearer_token(token: tuple[str, str]) -> None:
    name, value = token
    with LoopbackHTTPServer(echo) as server:
        call(connector, "request", url=server.url, auth=flowat.secret(name))
        call(connector, "request", url=server.url, auth={"$secret": name}, auth_scheme="Token")
    assert server.requests[0].headers["Authorization"] == f"Bearer {value}"
    assert server.requests[1].headers["Authorization"] == f"Token {value}"


def test_basic_auth_and_secret_header_values(token: tuple[str, str]) -> None:
    name, value = token
    with LoopbackHTTPServer(echo) as server:
        call(connector, "request", url=server.url, username="ann", password=flowat.secret(name))
        call(connector, "request", url=server.url, headers={"X-Api-Key": flowat.secret(name)})
    expected = base64.b64encode(f"ann:{value}".encode()).decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {expected}"
    assert server.requests[1].headers["X-Api-Key"] == value


def test_idempotency_header_carries_the_idempotency_key() -> None:
    with LoopbackHTTPServer(echo) as server:
        call(connector, "request", url=server.url, method="POST", idempotency_header="Idem-Key")
        call(connector, "request", url=server.url, method="POST")
    assert server.requests[0].headers["Idem-Key"] == "test:http.request"
    assert "Idem-Key" not in server.requests[1].headers


def test_a_missing_secret_is_a_clear_non_retryable_error(home: Path) -> None:
    with LoopbackHTTPServer(echo) as server:
        error = fail(url=server.url, auth=flowat.secret("never_set"))
    assert not error.retryable
    assert "never_set" in str(error)
    assert server.requests == []


def test_no_secret_in_any_connector_error(token: tuple[str, str]) -> None:
    """Even a server that echoes the request's headers in its error body leaks nothing."""
    name, value = token
    basic = base64.b64encode(f"ann:{value}".encode()).decode()

    def tattletale(status: int) -> LoopbackHTTPServer:
        return LoopbackHTTPServer(lambda r: Reply(status, json.dumps(r.headers)))

    errors = []
    for status in (401, 500):
        with tattletale(status) as server:
            errors.append(fail(url=server.url, auth=flowat.secret(name)))
            errors.append(fail(url=server.url, username="ann", password=flowat.secret(name)))
            errors.append(fail(url=server.url, headers={"X-Key": flowat.secret(name)}))
            assert value in json.dumps(server.requests[0].headers)  # so its reply did too
    errors.append(fail(url=f"http://127.0.0.1:{free_port()}", auth=flowat.secret(name)))
    for error in errors:
        text = str(error)
        assert value not in text
        assert basic not in text
    assert f"[secret:{name}]" in str(errors[0])  # the echoed token was masked


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"url": "ftp://host/x"}, "http:// or https://"),
        ({"url": "http://127.0.0.1/", "json": {}, "body": "x"}, "either json or body"),
        ({"url": "http://127.0.0.1/", "username": "u"}, "both username and password"),
        ({"url": "http://127.0.0.1/", "method": "BREW"}, "method"),
        ({"url": "http://127.0.0.1/", "idempotency_header": "a b"}, "header name"),
        ({"url": "http://127.0.0.1/", "timeout": 0}, "timeout"),
        ({"url": "http://127.0.0.1/", "jsn": {}}, "jsn"),
    ],
)
def test_invalid_input_is_refused_before_any_request(
    params: dict[str, object], message: str
) -> None:
    error = fail(**params)
    assert not error.retryable
    assert "invalid input" in str(error)
    assert message in str(error)


def test_an_authorization_header_and_auth_together_are_refused(token: tuple[str, str]) -> None:
    name, _ = token
    error = fail(url="http://127.0.0.1/", headers={"authorization": "x"}, auth=flowat.secret(name))
    assert "Authorization header and auth" in str(error)


def test_the_connector_is_discovered_and_described() -> None:
    assert connectors()["http"] is connector
    action = get_action("http.request")
    assert action.retry_safe is False
    described = connector.describe()
    schema = described["actions"][0]["input"]
    assert schema["properties"]["auth"]["anyOf"][0]["required"] == ["$secret"]
    assert "json" in json.dumps(schema)  # the alias of json_body
    assert {f["name"] for f in described["auth"]} == {"auth", "password"}


# -- in workflows, on the Temporal dev server -----------------------------------------


def test_an_action_step_in_a_workflow_run(temporal: str, workflow_name: str) -> None:
    with LoopbackHTTPServer(echo) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("base = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step fetch --action http.request\nurl = base + '/x'\nmethod = 'GET'",
                    2,
                ),
                Cell("%%flowat step use\nstatus = fetch['status'] + 1", 3),
            ],
        )
        run = flowat.run(workflow_name, parameters={"base": server.url})
    assert run.status == "succeeded", run.error
    assert run.outputs["fetch"]["fetch"]["status"] == 200
    assert run.outputs["fetch"]["fetch"]["json_body"] == {"method": "GET", "path": "/x"}
    assert run.outputs["use"]["status"] == 201
    assert [r.path for r in server.requests] == ["/x"]


def test_flowat_action_from_step_code_with_a_vault_secret(
    temporal: str, workflow_name: str
) -> None:
    name, value = f"wf_{uuid.uuid4().hex[:8]}", f"wf-token-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    with LoopbackHTTPServer(echo) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("base = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step call\n"
                    "reply = flowat.action('http.request', url=base + '/y', method='POST',\n"
                    f"    json={{'n': 1}}, auth=flowat.secret({name!r}),\n"
                    "    idempotency_header='Idempotency-Key')\n"
                    "status = reply.status\n"
                    "body = reply.json_body\n"
                    "del reply",
                    2,
                ),
            ],
        )
        run = flowat.run(workflow_name, parameters={"base": server.url})
    assert run.status == "succeeded", run.error
    assert run.outputs["call"]["status"] == 200
    assert run.outputs["call"]["body"] == {"method": "POST", "path": "/y"}
    (seen,) = server.requests
    assert seen.headers["Authorization"] == f"Bearer {value}"
    assert seen.json() == {"n": 1}
    # The key is stable for the step in this run: a retried attempt would send it again.
    assert seen.headers["Idempotency-Key"].startswith(f"flowat:{run.run_id}:call")


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (503, 2)])
def test_a_workflow_retries_only_retryable_failures(
    temporal: str, workflow_name: str, status: int, attempts: int
) -> None:
    with LoopbackHTTPServer(lambda _: Reply(status, "nope")) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("base = ''", 1, tags=("parameters",)),
                Cell("%%flowat step fetch --action http.request --retries 1\nurl = base", 2),
            ],
        )
        run = flowat.run(workflow_name, parameters={"base": server.url})
    assert run.status == "failed"
    assert len(server.requests) == attempts
    assert str(status) in str(run.error)
