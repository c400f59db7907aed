"""The step's own process: receive a step, run it as a notebook cell, send back the result.

A child is forked from the template (:mod:`flowat_kernel.engine.cells.template`), which
has already imported FlowAt and IPython. It starts its own process group (so the worker
can stop it and anything it started), waits for one task on its connection, takes the
worker's working directory, environment and ``sys.path`` from it, runs the step, and
waits for the next task (the items of a ``--chunk``) until the worker closes the
connection; then it exits. It never writes to the worker's streams: file descriptors 1
and 2 are captured.

Messages are ``cloudpickle`` frames (the child runs trusted code, as the worker does):

- worker to child: the task (a dict: step, inputs, names, scope, cwd, env, path, the
  connectors registered in the worker's process, and whether to send tables and arrays
  as artifact bytes: :mod:`flowat_kernel.engine.artifact_formats`), then replies
  ``("reply", ok, value)`` to the child's calls;
- child to worker: ``("outputs", [operation, ...])`` as the step shows things (see
  :mod:`flowat_kernel.engine.cells.forward`), ``("call", method, args)`` when step code
  reveals a secret or consults a circuit breaker (they live in the worker), then
  ``("done", result)``; the result carries no outputs: the worker has them already.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import cloudpickle

from flowat_kernel.engine.artifact_formats import materialize, prepare
from flowat_kernel.engine.cells.connectors import cannot_travel, install
from flowat_kernel.engine.cells.forward import Forwarder

__all__ = ["child_main", "pack_exports"]


class _Remote:
    """The step's connection to the worker: frames out from any thread, calls one at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._call = threading.Lock()
        self._send = threading.Lock()

    def send(self, frame: bytes) -> None:
        """Send one frame (whole, even when several threads send)."""
        with self._send:
            self._conn.send_bytes(frame)

    def call(self, method: str, *args: Any) -> Any:
        """Ask the worker to do ``method``; its answer, or its exception raised here."""
        with self._call:
            self.send(cloudpickle.dumps(("call", method, args)))
            _, ok, value = cloudpickle.loads(self._conn.recv_bytes())
        if not ok:
            raise value
        return value


class _RemoteSecrets:
    """The run organization's secrets, revealed by the worker on request."""

    def __init__(self, remote: _Remote) -> None:
        self._remote = remote

    def reveal(self, name: str) -> str:
        return str(self._remote.call("reveal", name))

    def record_usage(self, names: Any) -> None:
        self._remote.call("record_usage", list(names))


class _RemoteBreakers:
    """The worker's circuit breakers."""

    def __init__(self, remote: _Remote) -> None:
        self._remote = remote

    def before_call(self, connector: str, host: str) -> None:
        self._remote.call("before_call", connector, host)

    def success(self, connector: str, host: str) -> None:
        self._remote.call("success", connector, host)

    def failure(self, connector: str, host: str) -> None:
        self._remote.call("failure", connector, host)


class _RemoteRateLimits:
    """The worker's rate limits (for the step's own organization, which the worker knows)."""

    def __init__(self, remote: _Remote) -> None:
        self._remote = remote

    def try_acquire(self, connector: str, host: str) -> tuple[str | None, float]:
        lease, wait = self._remote.call("rate_try", connector, host)
        return lease, float(wait)

    def release(self, lease: str) -> None:
        self._remote.call("rate_release", lease)


def _describe(value: Any) -> str:
    name = type(value).__name__
    if type(value).__module__ == "builtins" and hasattr(value, "__len__"):
        with contextlib.suppress(Exception):
            return f"{name} of {len(value)} items"
    return name


def pack_exports(exports: dict[str, Any]) -> tuple[dict[str, bytes], dict[str, str]]:
    """Each export pickled on its own; those that cannot be, with what stops them."""
    packed: dict[str, bytes] = {}
    untravelled: dict[str, str] = {}
    for name, value in exports.items():
        try:
            packed[name] = cloudpickle.dumps(value)
        except Exception as exc:
            untravelled[name] = (
                f"{name!r} ({_describe(value)}) cannot be pickled ({exc.__class__.__name__}: {exc})"
            )
    return packed, untravelled


class _Applied:
    """The worker's environment this process took last (the same for a chunk's items)."""

    env: dict[str, str] | None = None


def _apply_context(task: dict[str, Any]) -> None:
    """Take the worker's working directory, environment and import path.

    The environment is taken once per process while the worker's stays the same: the
    items of a ``--chunk`` share it, as cells of a notebook share their kernel's.
    """
    if task["env"] != _Applied.env:
        os.environ.clear()
        os.environ.update(task["env"])
        # Figures show inline, as in a notebook, unless the worker chose a backend.
        os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        _Applied.env = task["env"]
    sys.path[:] = task["path"]
    with contextlib.suppress(OSError):
        os.chdir(task["cwd"])


def _run(task: dict[str, Any], remote: _Remote, forwarder: Forwarder) -> dict[str, Any]:
    from flowat_kernel.engine.cells.cell import run_cell
    from flowat_kernel.step_context import StepScope, StepServices, step_scope

    context = task["scope"]
    scope = StepScope(
        owner=context["owner"],
        workflow=context["workflow"],
        run_id=context["run_id"],
        step=context["step"],
        attempt=context["attempt"],
        trigger=context["trigger"],
        organization_egress=context.get("organization_egress"),
        services=StepServices(
            owner=context["owner"],
            secrets=_RemoteSecrets(remote),
            breakers=_RemoteBreakers(remote),
            files_dir=Path(context["files_dir"]),
            rate_limits=_RemoteRateLimits(remote),
        ),
    )
    unloaded = install(task.get("connectors", {}))
    inputs = materialize(cloudpickle.loads(task["inputs"]))
    for cid, why in sorted(unloaded.items()):  # shown first, on the step's stderr
        note = cannot_travel(cid, why)
        forwarder(("stream", "stderr", note), len(note))
    try:
        with step_scope(scope):
            outcome = run_cell(task["step"], inputs, task["names"], sink=forwarder)
    finally:
        forwarder.flush()  # everything shown reaches the worker before the result
    exports = outcome.exports
    if task.get("prepare"):  # Parquet and .npy made here, where pandas and numpy are loaded
        exports = {name: prepare(value) for name, value in exports.items()}
    packed, untravelled = pack_exports(exports)
    return {
        "stop_run": outcome.stop_run,
        "error": outcome.error,
        "exports": packed,
        "skipped": outcome.skipped,
        "untravelled": untravelled,
        "calls": dict(scope.calls),
        "actions": list(scope.actions),
    }


def _failed(message: str) -> dict[str, Any]:
    error = {
        "type": "StepProcessError",
        "message": message,
        "cell_line": None,
        "traceback": "",
        "retryable": False,
    }
    return {"stop_run": False, "error": error, "exports": {}, "skipped": {}}


def _serve(conn: Connection, remote: _Remote, forwarder: Forwarder) -> bool:
    """Run the next task on ``conn``; ``False`` when the worker closed the connection."""
    try:
        task = cloudpickle.loads(conn.recv_bytes())
    except EOFError:  # the worker closed the pool, or the chunk ended
        return False
    _apply_context(task)
    try:
        result = _run(task, remote, forwarder)
    except Exception as exc:  # FlowAt's side failed (inputs that do not unpickle...)
        result = _failed(f"the step's process could not run it: {type(exc).__name__}: {exc}")
    try:
        message = cloudpickle.dumps(("done", result))
    except Exception as exc:  # an output or error detail that will not pickle
        result = _failed(f"the step's result could not be sent to the worker: {exc}")
        message = cloudpickle.dumps(("done", result))
    remote.send(message)
    return True


def child_main(fd: int) -> None:
    """Serve steps on connection ``fd`` until the worker closes it, then exit (never returns).

    One step, usually; the items of a ``--chunk`` one after another
    (:func:`flowat_kernel.engine.cells.process.one_process`).
    """
    code = 0
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        conn = Connection(fd)
        remote = _Remote(conn)
        forwarder = Forwarder(remote.send)  # one for every step this process runs
        while _serve(conn, remote, forwarder):
            pass
    except BaseException:
        code = 1
    finally:
        os._exit(code)
