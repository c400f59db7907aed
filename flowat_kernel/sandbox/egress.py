"""Outbound network for ``--allow-network`` sandboxes: an HTTP proxy the worker runs.

A sandboxed step always has its own network namespace. Its only interface is its own
loopback; it has no route to the host's loopback, the host's addresses or anything
else. With ``--allow-network`` the way out is an HTTP proxy on the namespace's
``127.0.0.1:3128`` (``HTTP_PROXY`` and ``HTTPS_PROXY`` point at it):

- inside the sandbox a small forwarder (see :func:`forward_connections`) accepts each
  connection and hands the socket itself to the worker over a Unix socket pair
  (``SCM_RIGHTS``);
- in the worker, :class:`EgressGateway` reads the request (``CONNECT host:port`` for
  TLS and any TCP, or an absolute ``http://`` URL), resolves the name, and connects
  **only** if every address it resolves to passes the policy: by default a public
  (globally routable) unicast address that is not one of this machine's own. Loopback,
  private, link-local, shared, reserved and multicast ranges, and the host's own
  addresses, are refused with ``403`` and the reason. The checked address is the one
  connected to (no second lookup).

So sandboxed code reaches public services through the proxy, and nothing on the host
(PostgreSQL, Redis, Temporal, FlowAt's API, any other local service) either way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "PROXY_PORT",
    "EgressGateway",
    "EgressPolicy",
    "forward_connections",
    "host_addresses",
    "proxy_environment",
    "public_only",
]

#: The proxy's port on the sandbox's own loopback.
PROXY_PORT = 3128
_HEAD_LIMIT = 16 * 1024
_HEAD_SECONDS = 10.0
_CONNECT_SECONDS = 10.0
_MAX_CONNECTIONS = 32
_CHUNK = 1 << 16

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``policy(address, port)``: ``None`` to allow, else why the destination is refused.
EgressPolicy = Callable[[IPAddress, int], str | None]


def proxy_environment() -> dict[str, str]:
    """The variables that point HTTP clients inside the sandbox at the proxy."""
    url = f"http://127.0.0.1:{PROXY_PORT}"
    return {
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
    }


def host_addresses() -> set[IPAddress]:
    """The addresses of the machine FlowAt runs on (every interface), read from ``/proc``."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in itertools.pairwise(lines):
            if line.strip() == "/32 host LOCAL":
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.IPv4Address(previous.split()[-1]))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            with contextlib.suppress(ValueError, IndexError):
                found.add(ipaddress.IPv6Address(int(line.split()[0], 16)))
    return found


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def public_only(address: IPAddress, port: int) -> str | None:
    """The default policy: public unicast addresses that are not this machine's own."""
    plain = _unmapped(address)
    if plain.is_loopback or plain.is_unspecified:
        return f"{address} is a loopback address"
    if plain in host_addresses() or address in host_addresses():
        return f"{address} is an address of the machine running FlowAt"
    if not plain.is_global or plain.is_multicast:
        return f"{address} is not a public address (private, link-local or reserved range)"
    return None


def forward_connections(gateway: socket.socket, listener: socket.socket) -> None:
    """Inside the sandbox: hand every accepted connection's socket to the worker.

    Runs until the gateway closes (the worker ended the step) or this process is killed.
    """
    while True:
        connection, _ = listener.accept()
        try:
            socket.send_fds(gateway, [b"c"], [connection.fileno()])
        except OSError:
            return
        finally:
            connection.close()


class EgressGateway:
    """The worker's side: serves the connections one sandbox hands over.

    Start it with the parent's end of the socket pair (the gateway owns it from then
    on), call :meth:`stop` when the step ends. Every socket is closed exactly once, by
    the thread that uses it; :meth:`stop` only shuts sockets down.
    """

    def __init__(
        self, channel: socket.socket, deadline: float, policy: EgressPolicy | None = None
    ) -> None:
        self._channel = channel
        self._deadline = deadline
        self._policy = policy or public_only
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._stopped = False
        self.refused: list[str] = []
        self._thread = threading.Thread(target=self._accept, name="flowat-sandbox-egress")
        self._thread.daemon = True

    def start(self) -> None:
        """Start serving in a background thread."""
        self._track(self._channel)
        self._thread.start()

    def stop(self) -> None:
        """End every connection of this sandbox and wait for the accepting thread."""
        with self._lock:
            self._stopped = True
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    # -- bookkeeping -------------------------------------------------------------------

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._live.add(sock)
            return True

    def _release(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)
        sock.close()

    # -- the accepting thread ----------------------------------------------------------

    def _accept(self) -> None:
        try:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(self._channel, 16, 1)
                except OSError:
                    return
                if not fds:
                    return  # the sandbox is gone
                try:
                    client = socket.socket(fileno=fds[0])
                except OSError:
                    socket.close(fds[0])  # not a socket: refuse
                    continue
                if not self._slots.acquire(blocking=False):
                    client.close()
                    continue
                if not self._track(client):
                    self._slots.release()
                    client.close()
                    return
                thread = threading.Thread(
                    target=self._serve, args=(client,), name="flowat-sandbox-egress-conn"
                )
                thread.daemon = True
                thread.start()
        finally:
            self._release(self._channel)

    # -- one connection ----------------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            head, rest = self._read_head(client)
            if head is None:
                return
            request = _parse(head)
            if isinstance(request, str):
                _answer(client, 400, request)
                return
            host, port, forward = request
            upstream, why = self._connect(host, port)
            if upstream is None:
                self.refused.append(f"{host}:{port}: {why}")
                _answer(client, 403, f"FlowAt sandbox egress refused {host}:{port}: {why}")
                return
            if forward is None:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                forward = b""
            upstream.sendall(forward + rest)  # with whatever came after the head
            self._relay(client, upstream)
        except OSError:
            return
        finally:
            if upstream is not None:
                self._release(upstream)
            self._release(client)
            self._slots.release()

    def _read_head(self, client: socket.socket) -> tuple[bytes | None, bytes]:
        buffer = b""
        client.settimeout(min(_HEAD_SECONDS, max(0.1, self._deadline - time.monotonic())))
        while b"\r\n\r\n" not in buffer:
            chunk = client.recv(4096)
            if not chunk:
                return None, b""
            buffer += chunk
            if len(buffer) > _HEAD_LIMIT:
                _answer(client, 431, "request head too large")
                return None, b""
        client.settimeout(None)
        head, _, rest = buffer.partition(b"\r\n\r\n")
        return head, rest

    def _connect(self, host: str, port: int) -> tuple[socket.socket | None, str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return None, f"cannot resolve {host!r} ({exc})"
        candidates = []
        for family, kind, proto, _, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            why = self._policy(address, port)
            if why is not None:
                return None, why  # one forbidden answer refuses the name
            candidates.append((family, kind, proto, sockaddr))
        last = "no address"
        for family, kind, proto, sockaddr in candidates:
            upstream = socket.socket(family, kind, proto)
            if not self._track(upstream):
                upstream.close()
                return None, "the step ended"
            try:
                upstream.settimeout(_CONNECT_SECONDS)
                upstream.connect(sockaddr)
                upstream.settimeout(None)
                return upstream, ""
            except OSError as exc:
                last = str(exc)
                self._release(upstream)
        return None, f"cannot connect ({last})"

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        open_reads = {client, upstream}
        while open_reads:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return
            ready, _, _ = select.select(list(open_reads), [], [], min(remaining, 1.0))
            for sock in ready:
                data = sock.recv(_CHUNK)
                if data:
                    peers[sock].sendall(data)
                    continue
                open_reads.discard(sock)
                with contextlib.suppress(OSError):
                    peers[sock].shutdown(socket.SHUT_WR)


def _parse(head: bytes) -> tuple[str, int, bytes | None] | str:
    """(host, port, request to send upstream or None for CONNECT), or why it is refused."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return "not an HTTP proxy request"
    method, target, version = parts
    if method == "CONNECT":
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit():
            return "CONNECT needs host:port"
        return host.strip("[]"), int(port_text), None
    if not target.startswith("http://"):
        return "only CONNECT and absolute http:// URLs go through this proxy"
    authority, _, path = target.removeprefix("http://").partition("/")
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        port_text = tail.removeprefix(":") or "80"
    else:
        host, _, port_text = authority.partition(":")
        port_text = port_text or "80"
    if not host or not port_text.isdigit():
        return "bad URL in the request"
    headers = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
    request = "\r\n".join([f"{method} /{path} {version}", *headers]) + "\r\n\r\n"
    return host, int(port_text), request.encode("latin-1")


def _answer(client: socket.socket, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large"}
    body = (message + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + body)
