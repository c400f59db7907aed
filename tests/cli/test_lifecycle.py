"""``flowat worker``, ``serve`` and ``dev`` stop on SIGINT or SIGTERM, whenever it arrives.

A signal handler runs in the main thread between any two of its lines, including while
that thread holds a lock. The stop handler used to call ``threading.Event.set`` while the
main thread waited on the same event: a signal landing inside ``Event.wait``, with its
lock held, hung the command for good (a ``flowat worker`` ignored SIGINT under test
load). These tests deliver the signal at every line of the wait, deterministically.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

#: Calls the installed SIGINT handler at every line the main thread runs inside the
#: wait (FlowAt's lifecycle and the standard library's threading), as if the signal
#: had arrived exactly there.
_EVERY_LINE = """
import signal, sys
from flowat_kernel.cli.lifecycle import stop_event, wait_until

stop = stop_event()
handler = signal.getsignal(signal.SIGINT)

def tracer(frame, event, arg):
    if event == "line" and frame.f_code.co_filename.endswith(("threading.py", "lifecycle.py")):
        handler(signal.SIGINT, frame)
    return tracer

sys.settrace(tracer)
wait_until(stop)
sys.settrace(None)
print("stopped", flush=True)
"""

_WAITS = """
from flowat_kernel.cli.lifecycle import stop_event, wait_until

stop = stop_event()
print("waiting", flush=True)
wait_until(stop)
print("stopped", flush=True)
"""


def _run(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:  # the handler catches SIGTERM: run() kills it
        pytest.fail(f"the wait did not end within {timeout:g}s: the stop handler hung")


def test_a_signal_at_any_line_of_the_wait_stops_it() -> None:
    done = _run(_EVERY_LINE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_the_wait(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _WAITS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # well inside the wait
        os.kill(process.pid, sig)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
