"""The worker's egress gateway for ``--allow-network`` sandboxes, driven in-process.

The sandbox's side of each connection is one end of a real socket pair handed to a
real gateway over a real Unix socket (``SCM_RIGHTS``), as the forwarder does.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from flowat_kernel.sandbox.egress import EgressGateway, EgressPolicy, host_addresses, public_only
from flowat_kernel.testing import LoopbackHTTPServer, Reply


class Gateway:
    """A gateway fed by hand: :meth:`connect` gives the sandbox's end of one connection."""

    def __init__(self, policy: EgressPolicy | None = None) -> None:
        self.channel, theirs = socket.socketpair()
        self.gateway = EgressGateway(theirs, time.monotonic() + 30, policy)
        self.gateway.start()

    def connect(self) -> socket.socket:
        mine, handed = socket.socketpair()
        socket.send_fds(self.channel, [b"c"], [handed.fileno()])
        handed.close()
        mine.settimeout(10)
        return mine

    def ask(self, request: bytes) -> str:
        with self.connect() as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        return answer.decode(errors="replace")

    def close(self) -> None:
        self.channel.close()
        self.gateway.stop()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    made = Gateway()
    yield made
    made.close()


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:5432",
        "localhost:6379",
        "127.1:80",
        "0.0.0.0:80",
        "[::1]:6379",
        "[::ffff:127.0.0.1]:5432",
        "[::]:80",
        "10.0.0.1:80",
        "172.16.0.1:80",
        "192.168.1.1:80",
        "169.254.169.254:80",
        "100.64.0.1:80",
        "224.0.0.1:80",
        "[fd00::1]:80",
        "[fe80::1]:80",
        "2130706433:80",
    ],
)
def test_non_public_destinations_are_refused(gateway: Gateway, target: str) -> None:
    answer = gateway.ask(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith("HTTP/1.1 403 Forbidden"), answer
    assert "FlowAt sandbox egress refused" in answer


def test_the_machines_own_addresses_are_refused() -> None:
    own = sorted(host_addresses(), key=str)
    assert own, "no address of this machine found in /proc"
    for address in own:
        assert public_only(address, 443) is not None
    assert public_only(ipaddress.ip_address("93.184.216.34"), 443) is None


def test_plain_http_urls_to_loopback_are_refused(gateway: Gateway) -> None:
    with LoopbackHTTPServer(lambda request: Reply(body="secret")) as server:
        answer = gateway.ask(f"GET {server.url}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert server.requests == []
    assert answer.startswith("HTTP/1.1 403")


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /relative HTTP/1.1",
        b"hello",
        b"GET ftp://example.com/ HTTP/1.1",
        b"CONNECT x HTTP/1.1",
    ],
)
def test_other_requests_get_a_clear_400(gateway: Gateway, request_line: bytes) -> None:
    answer = gateway.ask(request_line + b"\r\n\r\n")
    assert answer.startswith("HTTP/1.1 400 Bad Request"), answer


def test_an_endless_request_head_is_cut(gateway: Gateway) -> None:
    with gateway.connect() as conn:
        conn.sendall(b"CONNECT " + b"a" * 20_000)
        answer = conn.recv(200).decode()
    assert answer.startswith("HTTP/1.1 431")


def test_allowed_destinations_are_relayed_and_proxy_headers_dropped() -> None:
    with LoopbackHTTPServer(lambda request: Reply(body="pong")) as server:
        port = int(server.url.rsplit(":", 1)[1])
        made = Gateway(policy=lambda address, to: None if to == port else "no")
        try:
            head = "Host: x\r\nProxy-Authorization: t\r\n\r\n"
            plain = made.ask(f"GET {server.url}/a?q=1 HTTP/1.0\r\n{head}".encode())
            get = "GET /b HTTP/1.0\r\nHost: x\r\n\r\n"
            tunnel = made.ask(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n{get}".encode())
            refused = made.ask(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n")
        finally:
            made.close()
        assert [r.path for r in server.requests] == ["/a?q=1", "/b"]
        assert "Proxy-Authorization" not in server.requests[0].headers
    assert plain.startswith("HTTP/1.0 200") and plain.endswith("pong")
    assert tunnel.startswith("HTTP/1.1 200 Connection established") and tunnel.endswith("pong")
    assert refused.startswith("HTTP/1.1 403")


def test_stop_ends_open_connections() -> None:
    made = Gateway(policy=lambda address, to: None)
    with socket.create_server(("127.0.0.1", 0)) as server:
        conn = made.connect()
        conn.sendall(f"CONNECT 127.0.0.1:{server.getsockname()[1]} HTTP/1.1\r\n\r\n".encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
        made.close()
        assert conn.recv(100) == b""  # the gateway hung up
        conn.close()
