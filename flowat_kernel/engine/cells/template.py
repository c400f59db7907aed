"""The template process: imports FlowAt and IPython once, then forks a child per request.

The worker starts it with ``python -c`` (see :mod:`flowat_kernel.engine.cells.pool`)
and keeps one end of a Unix socket pair; the template reads requests on the other end.
A request carries one or more file descriptors (at most :data:`MAX_BATCH`), each the
child's end of a new socket pair: the template forks a child per descriptor, each
serves steps on its own (:func:`flowat_kernel.engine.cells.child.child_main`), and the
template answers with their pids, in order. Asking for several children in one request
saves the round trips between the worker's threads and the template, which under load
cost far more than the fork itself. Forking from this small, single-threaded process
(never from the multi-threaded worker) keeps a step's start-up to a fork.

The template reaps its children; when the worker's end closes (the worker exited), it
kills the children still running and exits.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import select
import signal
import socket
import struct
import sys

__all__ = ["MAX_BATCH", "main", "preload"]

#: The most children one request may ask for (one connection each, sent with it).
MAX_BATCH = 16
#: Imported before forking when installed, so steps do not import them each time.
PRELOAD = ("numpy", "pandas")


def preload(extra: str) -> None:
    """Import FlowAt, IPython's shell and the common data libraries (and ``extra``)."""
    # Importing these imports the ``flowat_kernel`` package (what steps see as ``flowat``).
    import flowat_kernel.engine.cells.cell as cell
    import flowat_kernel.engine.cells.child  # noqa: F401

    names = [*PRELOAD, *(n.strip() for n in extra.split(",") if n.strip())]
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    cell.notebook_shell()
    # One throw-away cell compiles the transformers' and tokenizer's regular expressions
    # and warms the display formatter here, once, instead of in every child.
    from flowat_kernel.spec import StepSpec

    warm = StepSpec(name="warm", source="%time x = 1\n!true\nx", exports=("x",))
    with contextlib.suppress(Exception):
        cell.run_cell(warm, {})
    # Children make their own capture: no pipe threads in the process they fork from.
    from flowat_kernel.engine.cells.capture import release

    release()
    # Children share the template's objects copy-on-write: keep the collector off them.
    gc.collect()
    gc.freeze()


def _reap(children: set[int]) -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid = os.waitpid(-1, os.WNOHANG)[0]
            if pid <= 0:
                return
            children.discard(pid)


def _stop_all(children: set[int]) -> None:
    """The worker is gone: end its steps' process groups too."""
    for pid in children:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _fork(control: socket.socket, fd: int, pending: list[int]) -> int:
    """Fork a child that serves steps on ``fd``; its pid (the child never returns).

    The child closes what it must not hold: the control socket, and the connections of
    the children this request forks after it (``pending``), so that each connection's
    only other end is its own child and the worker sees EOF when that child ends.
    """
    pid = os.fork()
    if pid == 0:
        control.close()
        for other in pending:
            os.close(other)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from flowat_kernel.engine.cells.child import child_main

        child_main(fd)
    os.close(fd)
    return pid


def main(fd: int, extra: str = "") -> None:
    """Serve fork requests on the socket ``fd`` until the worker closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the worker's
    control = socket.socket(fileno=fd)
    preload(extra)
    control.sendall(b"R")  # ready
    children: set[int] = set()
    while True:
        _reap(children)
        ready, _, _ = select.select([control], [], [], 1.0)
        if not ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, 1, MAX_BATCH)
        except OSError:
            break
        if not message or not fds:
            break
        pids = [_fork(control, fd, fds[i + 1 :]) for i, fd in enumerate(fds)]
        children.update(pids)
        control.sendall(struct.pack(f"!{len(pids)}i", *pids))
    _stop_all(children)
    sys.exit(0)
