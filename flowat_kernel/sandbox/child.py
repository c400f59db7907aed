"""The sandbox's process: ``python -m flowat_kernel.sandbox.child RESULT_FD STATUS_FD``.

The launcher starts it (under ``unshare`` when namespaces are available) with the
request on stdin. It becomes two processes:

- the **supervisor** (PID 1 of the new PID namespace, or the first process without
  namespaces) reads the request, sets up the mounts, forks the worker, kills it at the
  wall-clock limit, kills whatever it left behind, and reports how it ended on
  ``STATUS_FD``;
- with ``--allow-network`` (under namespaces), a **forwarder** listens on the
  namespace's own ``127.0.0.1:3128`` and hands each connection to the worker's
  egress gateway (:mod:`flowat_kernel.sandbox.egress`), as the unprivileged uid;
- the **worker** drops to the unprivileged uid, applies the rlimits, runs the step's
  prelude and code, and writes the result (exports, or the error) on ``RESULT_FD``.

Only the standard library and FlowAt's light sandbox modules are imported here, so
the process starts in a few tens of milliseconds.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

from flowat_kernel.engine.cell_code import cell_line, compile_cell
from flowat_kernel.sandbox import egress, inside, protocol
from flowat_kernel.sandbox.confine import (
    apply_limits,
    drop_privileges,
    loopback_up,
    mount_view,
    set_dumpable,
    set_subreaper,
)
from flowat_kernel.sandbox.limits import SandboxLimits

__all__ = ["main"]

_MEMORY_ERROR = protocol.pack(
    {
        "status": "error",
        "limit": "memory",
        "error": {"type": "MemoryError", "message": "", "cell_line": None, "traceback": ""},
    }
)


def main(argv: list[str]) -> None:
    """Run one sandboxed step: supervise a worker that runs it; never returns."""
    result_fd, status_fd = int(argv[0]), int(argv[1])
    header, blobs = protocol.unpack(sys.stdin.buffer.read())
    plan: dict[str, Any] = header["isolation"]
    limits = SandboxLimits.from_dict(header["limits"])
    uid: int | None = plan.get("uid")
    namespaces = bool(plan.get("namespaces"))
    gateway = plan.get("gateway_fd")
    if namespaces:
        loopback_up()
        mount_view(plan["hide"], plan["needed"], limits.file_size_bytes, uid is not None)
        if isinstance(gateway, int):
            _start_forwarder(gateway, uid, (result_fd, status_fd))
        workdir = Path("/tmp/work")
    else:
        set_subreaper()
        workdir = Path(plan["workdir"])
    workdir.mkdir(mode=0o700, exist_ok=True)
    if uid is not None:
        os.chown(workdir, uid, uid)
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(status_fd)
            _worker(header, blobs, result_fd, workdir, uid, namespaces, limits)
            code = 0
        finally:
            os._exit(code)
    os.close(result_fd)
    del header, blobs
    _supervise(pid, float(plan["timeout"]), status_fd, namespaces)


def _start_forwarder(gateway_fd: int, uid: int | None, others: tuple[int, ...]) -> None:
    """Fork the process that hands proxy connections to the worker's gateway.

    The listening socket is bound before the step's code starts; the gateway's end
    stays only in the forwarder (the step's code never holds it).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", egress.PROXY_PORT))
    listener.listen(64)
    gateway = socket.socket(fileno=gateway_fd)
    if os.fork() == 0:
        try:
            for fd in others:
                os.close(fd)
            if uid is not None:
                drop_privileges(uid)
            egress.forward_connections(gateway, listener)
        finally:
            os._exit(0)
    gateway.close()
    listener.close()


# -- the supervisor ---------------------------------------------------------------------


def _supervise(pid: int, timeout: float, status_fd: int, namespaces: bool) -> None:
    timed_out = not _wait_exit(pid, timeout)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    report: dict[str, Any] = {"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}
    if timed_out:
        report["timeout"] = True
    elif os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit"] = os.WEXITSTATUS(status)
    if not namespaces:  # under a PID namespace, our exit kills everything left
        _kill_descendants()
    os.write(status_fd, json.dumps(report).encode())
    os._exit(0)


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to end, not reaping it; ``False``: still running."""
    if hasattr(os, "pidfd_open"):
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(max(1, int(timeout * 1000))))
        finally:
            os.close(pidfd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # kernels before 5.3: poll the state
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.02)
    return False


def _children() -> list[int]:
    me = os.getpid()
    try:
        text = Path(f"/proc/{me}/task/{me}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry))
    return found


def _kill_descendants() -> None:
    """Kill and reap every descendant (orphans are reparented to us: subreaper)."""
    while True:
        for child in _children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


# -- the worker -------------------------------------------------------------------------


def _worker(
    header: dict[str, Any],
    blobs: list[bytes],
    result_fd: int,
    workdir: Path,
    uid: int | None,
    namespaces: bool,
    limits: SandboxLimits,
) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(workdir)
    if uid is not None:
        drop_privileges(uid)
        if namespaces:
            set_dumpable()
    apply_limits(limits)
    stub = sys.modules.get("flowat_kernel")
    if stub is not None and getattr(stub, "__file__", None) is None:
        # The launcher's light stand-in: an ``import flowat_kernel`` now loads the real one.
        del sys.modules["flowat_kernel"]
    context = header.get("context") or {}
    inside.install(
        dict(header.pop("secrets", {})),
        inside.GuestStep(
            run_id=context.get("run_id"),
            workflow=context.get("workflow"),
            step=header["step"],
            attempt=int(context.get("attempt") or 1),
            owner=context.get("owner"),
        ),
    )
    me = os.getpid()
    try:
        message = _run(header, blobs, limits, me)
    except MemoryError:
        message = _MEMORY_ERROR
    if os.getpid() != me:
        os._exit(0)
    view = memoryview(message)
    while view:
        written = os.write(result_fd, view)
        view = view[written:]


def _display(*objects: Any, **_: Any) -> None:
    for obj in objects:
        print(repr(obj))


def _inputs(entries: dict[str, Any], blobs: list[bytes]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, entry in entries.items():
        if "json" in entry:
            values[name] = entry["json"]
        elif "secret" in entry:
            values[name] = inside.GuestHandle(entry["secret"])
        else:
            import pickle

            values[name] = pickle.loads(blobs[entry["pickle"]])  # the parent's own data
    return values


def _run(header: dict[str, Any], blobs: list[bytes], limits: SandboxLimits, me: int) -> bytes:
    name = header["step"]
    filename = f"<flowat step {name}>"
    namespace: dict[str, Any] = {
        "__name__": f"__flowat_step__{name}",
        "__builtins__": builtins,
        "flowat": inside.build_module(),
        "display": _display,
    }
    try:
        namespace.update(_inputs(header["inputs"], blobs))
        del blobs[:]
        for index, source in enumerate(header["prelude"]):
            exec(compile_cell(source, f"<flowat prelude {name}#{index}>"), namespace)
        exec(compile_cell(header["source"], filename), namespace)
    except BaseException as exc:
        if os.getpid() != me:  # a process the step forked ends here
            os._exit(1)
        namespace.clear()
        return _error(exc, filename)
    if os.getpid() != me:
        os._exit(0)
    return _exports(namespace, header["exports"], limits)


def _limit_of(exc: BaseException) -> str | None:
    """Which limit an exception means was hit, if any (looking through its causes)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, MemoryError):
            return "memory"
        if isinstance(seen, OSError):
            if seen.errno in (errno.EMFILE, errno.ENFILE):
                return "open_files"
            if seen.errno == errno.EFBIG:
                return "file_size"
            if seen.errno in (errno.ENOSPC, errno.EDQUOT):
                return "disk"
            if seen.errno == errno.ENOMEM:
                return "memory"
            if isinstance(seen, BlockingIOError) and seen.errno == errno.EAGAIN:
                return "processes"
        if isinstance(seen, RuntimeError) and "can't start new thread" in str(seen):
            return "processes"
        seen = seen.__cause__ or seen.__context__
    return None


def _error(exc: BaseException, filename: str) -> bytes:
    try:
        message = str(exc)
    except Exception:
        message = "(the exception's message could not be shown)"
    trace = "".join(traceback.format_exception(exc))
    return protocol.pack(
        {
            "status": "error",
            "limit": _limit_of(exc),
            "error": {
                "type": type(exc).__name__,
                "message": message[: protocol.MAX_ERROR_MESSAGE],
                "cell_line": cell_line(exc.__traceback__, filename),
                "traceback": trace[-protocol.MAX_TRACEBACK :],
                "retryable": getattr(exc, "retryable", None),
            },
            "revealed": inside.revealed(),
        }
    )


def _is_code(value: Any) -> bool:
    return isinstance(
        value, types.ModuleType | types.FunctionType | types.BuiltinFunctionType | type
    )


def _exports(namespace: dict[str, Any], names: list[str], limits: SandboxLimits) -> bytes:
    blobs: list[bytes] = []
    entries: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    total = 0
    for name in names:
        if name not in namespace:
            skipped[name] = "not assigned in this run"
            continue
        value = namespace[name]
        if _is_code(value):
            skipped[name] = f"a {type(value).__name__}, which travels as code, not data"
            continue
        if isinstance(value, inside.GuestHandle):
            entries[name] = {"secret": value.name}
            continue
        if isinstance(value, str | bytes | bytearray) and total + len(value) > limits.exports_bytes:
            total += len(value)
            break
        try:
            entry, reason, size = protocol.encode_export(value, blobs)
        except MemoryError:
            return _MEMORY_ERROR
        except Exception as exc:
            skipped[name] = f"could not be encoded ({type(exc).__name__}: {exc})"
            continue
        total += size
        if total > limits.exports_bytes:
            break
        if entry is None:
            skipped[name] = reason
        else:
            entries[name] = entry
    if total > limits.exports_bytes:
        return protocol.pack(
            {
                "status": "error",
                "limit": "exports",
                "error": {
                    "type": "SandboxError",
                    "message": f"exported values are larger than {limits.exports_bytes} bytes",
                    "cell_line": None,
                    "traceback": "",
                },
                "revealed": inside.revealed(),
            }
        )
    return protocol.pack(
        {"status": "ok", "exports": entries, "skipped": skipped, "revealed": inside.revealed()},
        blobs,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
