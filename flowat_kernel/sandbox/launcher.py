"""The parent side: run one step's code in a fresh, confined process and read back data.

:func:`run_sandboxed` starts ``python -m flowat_kernel.sandbox.child`` (under
``unshare`` when namespaces are available; see :mod:`flowat_kernel.sandbox.isolation`)
with an empty environment, sends it the request on stdin, and reads three pipes at
once: the step's stdout and stderr (bounded), its result (bounded, data only) and the
supervisor's status. It kills the whole process group at the wall-clock limit, on a
violation, and when the calling thread is interrupted (a step cancelled by Temporal
raises ``CancelledError`` in it), and always removes the temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from flowat_kernel.engine.executor import ExecutionResult
from flowat_kernel.sandbox import protocol
from flowat_kernel.sandbox.egress import EgressGateway, EgressPolicy, proxy_environment
from flowat_kernel.sandbox.errors import SandboxedCodeError, SandboxError, SandboxSecretError
from flowat_kernel.sandbox.isolation import Isolation, detect_isolation, minimal_environment
from flowat_kernel.sandbox.limits import LIMIT_SETTINGS, SandboxLimits, format_size
from flowat_kernel.spec import StepSpec
from flowat_kernel.vault.redaction import redact_text, register

__all__ = ["LOG_LIMIT", "isolation_line", "run_sandboxed"]

#: Captured output kept in the step's record (more is cut, up to the output limit).
LOG_LIMIT = 64 * 1024
#: How long past the wall-clock limit the parent waits for the child's own kill.
_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.1  # how often the waiting thread can notice a cancellation
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# The child imports only the sandbox's light modules: a stand-in for the package
# keeps ``flowat_kernel/__init__`` (and IPython, which it imports) out of its start-up.
_BOOT = (
    "import sys,types;p=types.ModuleType('flowat_kernel');p.__path__=[{root!r}+'/flowat_kernel'];"
    "sys.modules['flowat_kernel']=p;from flowat_kernel.sandbox.child import main;"
    "main(sys.argv[1:])"
)


def _needed_paths() -> list[str]:
    """Installations the child needs to reach: Python, its site-packages, FlowAt."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, _PACKAGE_ROOT}
    paths.update(site.getsitepackages())
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib"))
    return sorted(p for p in paths if os.path.isdir(p))


def _reachable_by_others(paths: Iterable[str]) -> str:
    """The first folder on the way to ``paths`` that other uids cannot enter ("": none)."""
    for raw in paths:
        path = Path(raw).resolve()
        for folder in [*reversed(path.parents), path]:
            if not folder.stat().st_mode & 0o001:
                return str(folder)
    return ""


def isolation_line(
    isolation: Isolation,
    namespaces: bool,
    network: bool,
    uid: int | None,
    limits: SandboxLimits,
    timeout: float,
) -> str:
    """The first line of a sandboxed step's log: what isolation was in force."""
    return (
        f"[sandbox] isolation: {isolation.describe(namespaces, network, uid)}; "
        f"{limits.describe()}; wall clock {timeout:g}s"
    )


def _encode_inputs(step: str, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    from flowat_kernel.vault.handles import SecretHandle

    entries: dict[str, Any] = {}
    blobs: list[bytes] = []
    for name, value in inputs.items():
        if isinstance(value, SecretHandle):
            entries[name] = {"secret": value.name}
        elif protocol.is_plain_json(value):
            entries[name] = {"json": value}
        else:
            import cloudpickle

            try:
                blobs.append(cloudpickle.dumps(value))
            except Exception as exc:
                raise SandboxError(
                    step,
                    "inputs",
                    f"input {name!r} ({type(value).__name__}) cannot be passed into the "
                    f"sandbox: {type(exc).__name__}: {exc}",
                ) from None
            entries[name] = {"pickle": len(blobs) - 1}
    return entries, blobs


def _close_once(fd: int) -> None:
    """Close ``fd``, which the caller has already forgotten (never retried)."""
    with contextlib.suppress(OSError):  # EINTR: Linux has released it anyway
        os.close(fd)


def _write_all(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):  # the child died before reading it all
        stream.write(data)
    with contextlib.suppress(OSError):
        stream.close()


class _Pipes:
    """The three pipes read at once, each with its own cap.

    Each descriptor is closed exactly once: it is forgotten before it is closed, so a
    number another thread may have been given since is never closed again.
    """

    def __init__(self, caps: dict[str, int]) -> None:
        self.caps = caps
        self.reads: dict[str, int] = {}
        self.writes: dict[str, int] = {}
        self.data: dict[str, bytearray] = {name: bytearray() for name in caps}
        try:
            for name in caps:
                self.reads[name], self.writes[name] = os.pipe()
        except BaseException:
            self.close()
            raise

    def child_end(self, name: str) -> int:
        return self.writes[name]

    def close_child_ends(self) -> None:
        """Close the write ends (the child has its copies); only once."""
        while self.writes:
            _, fd = self.writes.popitem()
            _close_once(fd)

    def close(self) -> None:
        """Close every descriptor still held; only once."""
        self.close_child_ends()
        while self.reads:
            _, fd = self.reads.popitem()
            _close_once(fd)

    def read_until_closed(self, deadline: float) -> str | None:
        """Read until every pipe closes.

        Returns the name of the first pipe over its cap, ``"wall_clock"`` past
        ``deadline``, or ``None``.
        """
        selector = selectors.DefaultSelector()
        names: dict[int, str] = {}
        for name, read in self.reads.items():
            os.set_blocking(read, False)
            selector.register(read, selectors.EVENT_READ)
            names[read] = name
        try:
            while names:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "wall_clock"
                for key, _ in selector.select(min(_POLL_SECONDS, remaining)):
                    name = names[key.fd]
                    try:
                        chunk = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(key.fd)
                        del names[key.fd]
                        continue
                    buffer = self.data[name]
                    buffer += chunk
                    if len(buffer) > self.caps[name]:
                        return name
            return None
        finally:
            selector.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _cut(text: str) -> str:
    if len(text) <= LOG_LIMIT:
        return text
    return text[:LOG_LIMIT] + "\n[output truncated]\n"


def run_sandboxed(
    step: StepSpec,
    inputs: Mapping[str, Any],
    *,
    secrets: Mapping[str, str] | None = None,
    limits: SandboxLimits | None = None,
    timeout: float | None = None,
    hidden: Iterable[str | os.PathLike[str]] = (),
    context: Mapping[str, Any] | None = None,
    isolation: str = "auto",
    uid: int = 65534,
    egress: EgressPolicy | None = None,
) -> ExecutionResult:
    """Run ``step``'s prelude and code in a new confined process; return its exports.

    Args:
        step: the step (its ``allow_network`` decides the network namespace).
        inputs: values of the names it reads (the parent's own data).
        secrets: values of the secrets the code may reveal, by name; they are
            registered for masking here.
        limits: resource limits (defaults: :class:`SandboxLimits`).
        timeout: wall-clock limit in seconds (default: the step's ``timeout_seconds``).
        hidden: paths the code must not see (``FLOWAT_HOME``, the metadata database).
        context: ``run_id``, ``workflow``, ``attempt``, ``owner`` for
            ``flowat.current_step()`` inside.
        isolation: ``auto`` (namespaces if available), ``namespaces`` (required) or
            ``rlimits`` (no namespaces).
        uid: the unprivileged uid the code runs as when this process is root.
        egress: with ``allow_network`` under namespaces, which destinations the
            sandbox's proxy may connect to (default:
            :func:`~flowat_kernel.sandbox.egress.public_only`).

    Returns:
        The exports (JSON values, data frames, numpy arrays, bytes, and handles on
        secrets the step was granted with ``--secret`` or received as inputs),
        the captured output (first line: the isolation in force; masked), and the
        exports that could not leave the sandbox, with the reason.

    Raises:
        SandboxedCodeError: the code raised (type, message, cell line, traceback).
        SandboxError: a limit was hit, or the sandbox could not run the code.
        SandboxSecretError: the code exported a handle on a secret it was not granted.

    """
    limits = limits or SandboxLimits()
    timeout = float(timeout if timeout is not None else step.timeout_seconds)
    secrets = dict(secrets or {})
    for name, value in secrets.items():
        register(name, value)
    found = detect_isolation()
    if isolation == "namespaces" and not found.namespaces:
        raise SandboxError(
            step.name,
            "isolation",
            f"namespaces are required (FLOWAT_SANDBOX_ISOLATION=namespaces) but not "
            f"available: {found.reason}",
        )
    namespaces = found.namespaces and isolation != "rlimits"
    run_as = uid if found.root else None
    needed = _needed_paths()
    if run_as is not None and not namespaces:
        blocked = _reachable_by_others(needed)
        if blocked:
            raise SandboxError(
                step.name,
                "isolation",
                f"without namespaces ({found.reason or 'FLOWAT_SANDBOX_ISOLATION=rlimits'}) "
                f"untrusted code must run as uid {run_as}, which cannot enter {blocked} to "
                f"reach Python; make it enterable (chmod o+x {blocked}) or allow namespaces",
            )
    header_line = isolation_line(found, namespaces, step.allow_network, run_as, limits, timeout)
    entries, blobs = _encode_inputs(step.name, inputs)
    granted = _granted_secrets(step, secrets, inputs)
    gateway = _Gateway() if namespaces and step.allow_network else None
    workdir = tempfile.mkdtemp(prefix="flowat-sandbox-")
    plan = {
        "namespaces": namespaces,
        "uid": run_as,
        "hide": [str(Path(p).resolve()) for p in hidden],
        "needed": needed,
        "workdir": workdir,
        "timeout": timeout,
        "gateway_fd": gateway.child_fd if gateway is not None else None,
    }
    request = protocol.pack(
        {
            "step": step.name,
            "source": step.source,
            "prelude": list(step.prelude),
            "exports": list(step.exports),
            "inputs": entries,
            "secrets": secrets,
            "context": dict(context or {}),
            "limits": limits.as_dict(),
            "isolation": plan,
        },
        blobs,
    )
    del blobs
    pipes = _Pipes(
        {"output": limits.output_bytes, "result": limits.exports_bytes + (4 << 20), "status": 4096}
    )
    command = [
        *(found.command() if namespaces else []),
        sys.executable,
        "-I",
        "-u",
        "-B",
        "-c",
        _BOOT.format(root=_PACKAGE_ROOT),
        str(pipes.child_end("result")),
        str(pipes.child_end("status")),
    ]
    home = "/tmp" if namespaces else workdir
    environment = minimal_environment(home)
    passed = [pipes.child_end("result"), pipes.child_end("status")]
    if gateway is not None:
        environment.update(proxy_environment())
        passed.append(gateway.child_fd)
    process: subprocess.Popen[bytes] | None = None
    try:
        if run_as is not None:
            os.chown(workdir, run_as, run_as)
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=pipes.child_end("output"),
            stderr=pipes.child_end("output"),
            pass_fds=passed,
            env=environment,
            cwd=workdir,
            start_new_session=True,
        )
        pipes.close_child_ends()
        if gateway is not None:
            gateway.start(time.monotonic() + timeout + _GRACE_SECONDS, egress)
        assert process.stdin is not None
        writer = threading.Thread(
            target=_write_all, args=(process.stdin, request), name="flowat-sandbox-input"
        )
        writer.daemon = True
        writer.start()
        del request
        over = pipes.read_until_closed(time.monotonic() + timeout + _GRACE_SECONDS)
        if over is not None:
            _kill(process)
        else:
            process.wait()
    finally:
        if process is not None and process.returncode is None:
            _kill(process)  # cancelled (or failed) while waiting: nothing may outlive us
        pipes.close()
        if gateway is not None:
            gateway.close()
        shutil.rmtree(workdir, ignore_errors=True)
    output = pipes.data["output"][: limits.output_bytes].decode("utf-8", errors="replace")
    logs = redact_text(header_line + "\n" + _cut(output))
    return _outcome(step, over, pipes.data, logs, limits, timeout, process.returncode, granted)


class _Gateway:
    """The socket pair of one ``--allow-network`` sandbox; each end closed exactly once."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._parent: socket.socket | None = parent
        self._child: socket.socket | None = child
        self.child_fd = child.fileno()
        self._server: EgressGateway | None = None

    def start(self, deadline: float, policy: EgressPolicy | None) -> None:
        """The child holds its copy now: drop ours, serve the parent's end."""
        self._close_child()
        parent, self._parent = self._parent, None
        if parent is not None:
            self._server = EgressGateway(parent, deadline, policy)  # owns it from here
            self._server.start()

    def _close_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def close(self) -> None:
        """End the sandbox's connections; close whatever this object still owns."""
        self._close_child()
        parent, self._parent = self._parent, None
        if parent is not None:
            parent.close()
        if self._server is not None:
            self._server.stop()


def _granted_secrets(
    step: StepSpec, secrets: Mapping[str, str], inputs: Mapping[str, Any]
) -> frozenset[str]:
    """Secrets whose handles may come back: named with ``--secret`` or received as inputs."""
    from flowat_kernel.vault.handles import SecretHandle

    received = {v.name for v in inputs.values() if isinstance(v, SecretHandle)}
    return frozenset(step.secrets) | frozenset(secrets) | frozenset(received)


def _outcome(
    step: StepSpec,
    over: str | None,
    data: dict[str, bytearray],
    logs: str,
    limits: SandboxLimits,
    timeout: float,
    returncode: int,
    granted: frozenset[str],
) -> ExecutionResult:
    """Turn what the child left in the pipes into a result or the right error."""
    if over == "output":
        raise SandboxError(step.name, "output", limits.violation("output"), logs)
    if over == "result":
        raise SandboxError(step.name, "exports", limits.violation("exports"), logs)
    try:
        status = json.loads(bytes(data["status"]) or b"{}")
    except ValueError:
        status = {}
    if over == "wall_clock" or status.get("timeout"):
        raise SandboxError(
            step.name,
            "wall_clock",
            f"wall-clock limit of {timeout:g}s exceeded; the step's processes were killed "
            "(raise the step's --timeout if it needs longer)",
            logs,
        )
    try:
        header, blobs = protocol.unpack(bytes(data["result"]))
    except protocol.ProtocolError:
        header, blobs = {}, []
    if status.get("exit") == 0 and header.get("status") == "ok":
        return _result(step, header, blobs, logs, granted)
    if header.get("status") == "error" and "signal" not in status:
        error = _mapping(header.get("error"))
        limit = header.get("limit")
        if isinstance(limit, str) and limit in LIMIT_SETTINGS:
            detail = str(error.get("type") or "")
            message = str(error.get("message") or "")[:500]
            cause = f" ({detail}: {message})" if message else f" ({detail})" if detail else ""
            raise SandboxError(step.name, limit, limits.violation(limit) + cause, logs)
        line = error.get("cell_line")
        raise SandboxedCodeError(
            step.name,
            str(error.get("type") or "Error"),
            redact_text(str(error.get("message") or "")[: protocol.MAX_ERROR_MESSAGE]),
            line if isinstance(line, int) and not isinstance(line, bool) else None,
            redact_text(str(error.get("traceback") or "")[-protocol.MAX_TRACEBACK :]),
            logs,
            error.get("retryable") if isinstance(error.get("retryable"), bool) else None,
        )
    return _no_result(step, status, logs, limits, returncode)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _no_result(
    step: StepSpec, status: dict[str, Any], logs: str, limits: SandboxLimits, returncode: int
) -> ExecutionResult:
    number = status.get("signal")
    if isinstance(number, int):
        cpu = float(status.get("cpu") or 0.0)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= limits.cpu_seconds):
            raise SandboxError(step.name, "cpu", limits.violation("cpu"), logs)
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        raise SandboxError(
            step.name,
            "crash",
            f"the sandboxed process was killed by {name}; with a memory limit of "
            f"{format_size(limits.memory_bytes)} this often means it ran out of memory "
            "(raise FLOWAT_SANDBOX_MEMORY)",
            logs,
        )
    if "exit" in status:
        raise SandboxError(
            step.name,
            "crash",
            f"the sandboxed process ended with exit status {status['exit']} without a result "
            "(did the code call os._exit() or close its output?)",
            logs,
        )
    raise SandboxError(
        step.name,
        "isolation",
        f"the sandbox could not start the step (exit status {returncode}); its output: "
        f"{logs.splitlines()[-1] if logs.strip() else 'none'}",
        logs,
    )


def _result(
    step: StepSpec, header: dict[str, Any], blobs: list[bytes], logs: str, granted: frozenset[str]
) -> ExecutionResult:
    from flowat_kernel.vault.handles import SecretHandle

    wanted = set(step.exports)
    exports: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    raw_skipped = _mapping(header.get("skipped"))
    for name, reason in raw_skipped.items():
        if name in wanted:
            skipped[name] = redact_text(str(reason)[:500])
    raw_exports = _mapping(header.get("exports"))
    for name, entry in raw_exports.items():
        if name not in wanted:
            continue  # only names the step declares may come back
        try:
            value = protocol.decode_export(entry, blobs)
        except (protocol.ProtocolError, ValueError) as exc:
            skipped[name] = redact_text(f"could not be read back from the sandbox ({exc})")
            continue
        if isinstance(value, SecretHandle) and value.name not in granted:
            raise SandboxSecretError(step.name, name, value.name, logs)
        exports[name] = value
    for name in wanted - exports.keys() - skipped.keys():
        skipped[name] = "not assigned in this run"
    return ExecutionResult(exports=exports, logs=logs, skipped_exports=skipped)
