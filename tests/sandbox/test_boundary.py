"""The sandbox returns only what it was given (issue 16, items 4, 6 and 12).

Attacks run for real through the launcher and, for the secret handle, through a real
run on the Temporal dev server: an ungranted secret handle exported, the descriptor
race of the launcher, an ``--allow-network`` sandbox aiming at the host's services,
and writes into host folders shared between sandboxes.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine import devserver
from flowat_kernel.engine.executor import ExecutionResult
from flowat_kernel.sandbox import SandboxError, SandboxSecretError, detect_isolation, run_sandboxed
from flowat_kernel.sandbox.egress import PROXY_PORT, host_addresses
from flowat_kernel.spec import StepSpec
from flowat_kernel.testing import LoopbackHTTPServer, Reply, cells

pytestmark = pytest.mark.skipif(
    not detect_isolation().namespaces, reason=f"no namespaces here ({detect_isolation().reason})"
)


def run(source: str, *exports: str, **options: Any) -> ExecutionResult:
    fields = {k: options.pop(k) for k in ("allow_network", "secrets_granted") if k in options}
    granted = fields.pop("secrets_granted", ())
    spec = StepSpec(name="probe", source=source, exports=exports, secrets=granted, **fields)
    options.setdefault("timeout", 60)
    inputs = options.pop("inputs", {})
    return run_sandboxed(spec, inputs, **options)


# -- item 4: only granted secret handles come back -----------------------------------


def test_ungranted_secret_handle_fails_the_step() -> None:
    with pytest.raises(SandboxSecretError) as caught:
        run("stolen = flowat.secret('api_token')\nother = 1", "stolen", "other")
    error = caught.value
    assert isinstance(error, SandboxError) and error.limit == "secrets"
    assert error.secret == "api_token" and error.retryable is False
    assert "'api_token'" in error.exc_message
    assert "grant it with --secret api_token" in error.exc_message


def test_ungranted_handle_through_flowat_kernel_stays_inside() -> None:
    source = "import flowat_kernel\nstolen = flowat_kernel.secret('db_password')"
    result = run(source, "stolen")
    assert result.exports == {} and "stolen" in result.skipped_exports


def test_forged_result_with_an_ungranted_handle_fails_the_step() -> None:
    """Writing the result channel by hand does not get a handle past the worker."""
    source = (
        "import json, os, struct, sys\n"
        "head = json.dumps({'status': 'ok', 'exports': {'stolen': {'secret': 'api_token'}},\n"
        "                   'skipped': {}, 'blobs': 0}).encode()\n"
        "os.write(int(sys.argv[1]), struct.pack('>Q', len(head)) + head)\n"
        "os._exit(0)\n"
    )
    with pytest.raises(SandboxSecretError) as caught:
        run(source, "stolen", secrets_granted=("other",), secrets={"other": "v"})
    assert caught.value.secret == "api_token"
    assert "grant it with --secret api_token" in caught.value.exc_message


def test_granted_and_received_handles_come_back() -> None:
    source = "mine = flowat.secret('api_token')\npassed = given\nsame = flowat.secret('given_one')"
    result = run(
        source,
        "mine",
        "passed",
        "same",
        secrets_granted=("api_token",),
        secrets={"api_token": "v"},
        inputs={"given": flowat.secret("given_one")},
    )
    assert result.exports == {
        "mine": flowat.secret("api_token"),
        "passed": flowat.secret("given_one"),
        "same": flowat.secret("given_one"),
    }


def test_exported_handle_never_reaches_a_later_request(temporal: str, workflow_name: str) -> None:
    """The review's attack: export an ungranted handle, let a later step send it."""
    name = f"api_token_{uuid.uuid4().hex[:8]}"
    value = f"tok-{os.urandom(8).hex()}"
    flowat.set_secret(name, value)
    with LoopbackHTTPServer(lambda request: Reply(body="got it")) as server:
        flowat.publish(
            workflow_name,
            cells=cells(
                "%%flowat step steal --untrusted\n"
                f"target = {server.url + '/collect'!r}\n"
                f"token = flowat.secret({name!r})",
                "%%flowat step send\n"
                "reply = flowat.action('http.request', url=target, method='POST', auth=token)\n"
                "status = reply.status\n"
                "del reply",
            ),
        )
        run_ = flowat.run(workflow_name)
        assert server.requests == []
    assert run_.status == "failed"
    assert run_.error is not None and run_.error["type"] == "SandboxError"
    assert f"grant it with --secret {name}" in run_.error["message"]
    steps = {s.name: s for s in run_.record.steps}
    assert steps["steal"].status == "failed" and steps["steal"].attempts == 1
    assert "send" not in steps or steps["send"].status != "succeeded"
    assert value not in json.dumps(run_.error)


# -- item 6: descriptors closed exactly once ------------------------------------------


def test_files_other_threads_open_stay_open(tmp_path: Path) -> None:
    """A thread keeps opening files while sandboxed steps start and end (the review's race)."""
    stop = threading.Event()
    opened: list[tuple[int, int, str]] = []

    def opener() -> None:
        for index in range(1500):
            if stop.is_set():
                return
            path = tmp_path / f"spool-{index}"
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            opened.append((fd, os.fstat(fd).st_ino, path.name))
            time.sleep(0.002)

    thread = threading.Thread(target=opener)
    thread.start()
    try:
        for number in range(6):
            assert run(f"x = {number}", "x").exports == {"x": number}
    finally:
        stop.set()
        thread.join()
    assert len(opened) > 20, "the opening thread did not run alongside the steps"
    broken = []
    for fd, inode, name in opened:
        try:
            usable = os.fstat(fd).st_ino == inode and os.write(fd, b"ok") == 2
        except OSError:
            usable = False
        if not usable:
            broken.append(name)
    for fd, inode, _ in opened:
        try:
            if os.fstat(fd).st_ino == inode:
                os.close(fd)
        except OSError:
            pass
    assert broken == [], f"files closed under another thread: {broken[:10]}"


# -- item 12: the network ---------------------------------------------------------------

_PROBE_NETWORK = """
import socket, urllib.request
raw, proxied = {}, {}
for host, port in targets:
    key = f"{host}:{port}"
    try:
        socket.create_connection((host, port), timeout=3).close()
        raw[key] = "CONNECTED"
    except OSError as exc:
        raw[key] = f"failed: {exc}"
    try:
        with socket.create_connection(("127.0.0.1", proxy), timeout=5) as s:
            shown = f"[{host}]" if ":" in host else host
            s.sendall(f"CONNECT {shown}:{port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
            proxied[key] = s.recv(200).decode(errors="replace").split("\\r\\n")[0]
    except OSError as exc:
        proxied[key] = f"failed: {exc}"
try:
    urllib.request.urlopen(web + "/steal", timeout=5).read()
    fetched = "FETCHED"
except Exception as exc:
    fetched = f"{type(exc).__name__}: {exc}"
sockets = {}
for path in unix_sockets:
    try:
        u = socket.socket(socket.AF_UNIX)
        u.connect(path)
        sockets[path] = "CONNECTED"
    except OSError as exc:
        sockets[path] = f"failed: {exc}"
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname(), timeout=3)
peer, _ = server.accept()
client.sendall(b"own loopback")
own_loopback = peer.recv(100).decode()
"""


def test_allow_network_reaches_no_host_service(flowat_home: Path) -> None:
    temporal_port = devserver.ensure_running(flowat_home / "temporal")[0].port
    wide = socket.create_server(("0.0.0.0", 0))  # a host service on every interface
    wide.setblocking(False)
    wide_port = wide.getsockname()[1]
    with wide, LoopbackHTTPServer(lambda request: Reply(body="secret data")) as web:
        web_port = int(web.url.rsplit(":", 1)[1])
        targets = [
            ("127.0.0.1", 5432),  # PostgreSQL, trust auth
            ("127.0.0.1", 6379),  # Redis
            ("127.0.0.1", temporal_port),  # Temporal
            ("127.0.0.1", web_port),  # a loopback HTTP server (the FlowAt API, say)
            ("localhost", web_port),
            ("::1", 6379),
            ("127.0.0.2", wide_port),
            ("0.0.0.0", wide_port),
        ]
        targets += [(str(a), wide_port) for a in host_addresses() if not a.is_link_local]
        unix = [
            p
            for p in ("/var/run/postgresql/.s.PGSQL.5432", "/run/mysqld/mysqld.sock")
            if os.path.exists(p)
        ]
        result = run(
            _PROBE_NETWORK,
            "raw",
            "proxied",
            "fetched",
            "sockets",
            "own_loopback",
            allow_network=True,
            inputs={"targets": targets, "proxy": PROXY_PORT, "web": web.url, "unix_sockets": unix},
        )
        assert web.requests == []
        with pytest.raises(BlockingIOError):
            wide.accept()
    out = result.exports
    assert "outbound network through the egress proxy" in result.logs.splitlines()[0]
    connected = [k for k, v in out["raw"].items() if v == "CONNECTED"]
    assert connected == [], f"reached host services directly: {connected}"
    let_through = {k: v for k, v in out["proxied"].items() if not v.startswith("HTTP/1.1 403")}
    assert let_through == {}, f"the proxy let these through: {let_through}"
    assert out["fetched"].startswith("HTTPError: HTTP Error 403")
    assert all(v.startswith("failed") for v in out["sockets"].values()), out["sockets"]
    assert out["own_loopback"] == "own loopback"


def test_without_allow_network_there_is_no_way_out() -> None:
    with LoopbackHTTPServer(lambda request: Reply(body="x")) as web:
        result = run(
            _PROBE_NETWORK,
            "raw",
            "proxied",
            "fetched",
            "own_loopback",
            inputs={
                "targets": [("127.0.0.1", int(web.url.rsplit(":", 1)[1]))],
                "proxy": PROXY_PORT,
                "web": web.url,
                "unix_sockets": [],
            },
        )
        assert web.requests == []
    out = result.exports
    assert all(v.startswith("failed") for v in out["raw"].values())
    assert all(v.startswith("failed") for v in out["proxied"].values())  # no proxy at all
    assert out["fetched"].startswith("URLError")
    assert out["own_loopback"] == "own loopback"


def test_the_proxy_carries_traffic_to_allowed_destinations() -> None:
    """The whole way out (sandbox -> forwarder -> worker -> destination) works.

    No public address is reachable from this machine, so the test allows its own
    loopback server through a policy of its own; the default policy refuses it (above).
    """
    with LoopbackHTTPServer(lambda request: Reply(body="pong")) as web:
        port = int(web.url.rsplit(":", 1)[1])
        source = (
            "import socket, urllib.request\n"
            "plain = urllib.request.urlopen(web + '/plain', timeout=5).read().decode()\n"
            "with socket.create_connection(('127.0.0.1', proxy), timeout=5) as s:\n"
            "    s.sendall(f'CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\n'.encode())\n"
            "    answer = s.recv(100).decode()\n"
            "    s.sendall(b'GET /tunnel HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')\n"
            "    tunnel = b''\n"
            "    while chunk := s.recv(4096):\n"
            "        tunnel += chunk\n"
            "tunneled = tunnel.decode().rsplit('\\r\\n', 1)[-1]\n"
        )
        result = run(
            source,
            "plain",
            "answer",
            "tunneled",
            allow_network=True,
            inputs={"web": web.url, "proxy": PROXY_PORT, "port": port},
            egress=lambda address, to: None if to == port else "only the test server",
        )
        assert sorted(r.path for r in web.requests) == ["/plain", "/tunnel"]
    assert result.exports["plain"] == "pong"
    assert result.exports["answer"].startswith("HTTP/1.1 200")
    assert result.exports["tunneled"] == "pong"


# -- item 12: the filesystem ------------------------------------------------------------


def _writable_candidates() -> list[str]:
    """Host folders a sandbox might write into: the usual ones and any world-writable."""
    folders = {
        "/",
        "/run",
        "/run/lock",
        "/var/lock",
        "/var/tmp",
        "/tmp",
        "/dev/shm",
        "/dev/mqueue",
        "/etc",
        "/usr",
        "/usr/local/lib",
        "/var/lib",
        "/root",
        os.path.expanduser("~"),
    }
    for top in ("/var", "/run", "/dev", "/srv", "/opt", "/home", "/mnt"):
        for folder, subfolders, _ in os.walk(top):
            depth = folder.count("/")
            if depth >= 3:
                subfolders.clear()
            try:
                if os.stat(folder).st_mode & 0o002:
                    folders.add(folder)
            except OSError:
                continue
    return sorted(f for f in folders if os.path.isdir(f))


_WRITER = """
import os, time
written = {}
for folder in folders:
    path = os.path.join(folder, marker)
    try:
        with open(path, "w") as handle:
            handle.write("persisted")
        written[folder] = "written"
    except OSError as exc:
        written[folder] = f"refused: {exc.strerror}"
time.sleep(hold)
"""

_READER = """
import os, time
seen = []
deadline = time.monotonic() + watch
while time.monotonic() < deadline and not seen:
    seen = [f for f in folders if os.path.exists(os.path.join(f, marker))]
    time.sleep(0.05)
"""


def test_writes_stay_private_to_one_sandbox() -> None:
    folders = _writable_candidates()
    marker = f"flowat-probe-{uuid.uuid4().hex}"
    results: dict[str, Any] = {}

    def writer() -> None:
        results["writer"] = run(
            _WRITER, "written", inputs={"folders": folders, "marker": marker, "hold": 4}
        )

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        reader = run(_READER, "seen", inputs={"folders": folders, "marker": marker, "watch": 6})
    finally:
        thread.join()
    written = results["writer"].exports["written"]
    assert set(written) == set(folders)
    for folder in ("/etc", "/usr", "/root", os.path.expanduser("~"), "/", "/var/lib"):
        assert written[folder].startswith("refused"), (folder, written[folder])
    for folder in ("/run/lock", "/var/tmp", "/tmp", "/dev/shm"):
        assert written[folder] == "written"  # into its own private tmpfs
    assert reader.exports["seen"] == [], "a second sandbox saw the first one's files"
    on_host = [f for f in folders if os.path.exists(os.path.join(f, marker))]
    assert on_host == [], f"sandbox files landed on the host: {on_host}"
