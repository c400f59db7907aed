"""``flowat run`` starts the step processes' template as soon as its command line is parsed.

Only when the run executes in this process (``--worker here``/``always``, or ``auto``
with ``FLOWAT_RUN_ON=here``) and steps run in processes; never for a run a shared worker
takes. Each case in a fresh interpreter: the pool is per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
from flowat_kernel.cli.early_start import start_step_processes
start_step_processes(sys.argv[1])
from flowat_kernel.engine.cells import pool as pools
started = pools._pool is not None and pools._pool._filler is not None
if started:
    pools._pool.close()
print(json.dumps(started))
"""


@pytest.mark.parametrize(
    ("worker", "run_on", "executor", "started"),
    [
        ("auto", "here", "process", True),
        ("here", "shared", "process", True),
        ("always", "here", "process", True),
        ("auto", "shared", "process", False),
        ("shared", "here", "process", False),
        ("never", "here", "process", False),
        ("auto", "here", "thread", False),
        ("auto", "nowhere", "process", False),  # a bad setting: the run reports it, later
    ],
)
def test_the_template_starts_early_only_for_a_run_here(
    worker: str, run_on: str, executor: str, started: bool
) -> None:
    env = {**os.environ, "FLOWAT_RUN_ON": run_on, "FLOWAT_STEP_EXECUTOR": executor}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, worker],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) is started
