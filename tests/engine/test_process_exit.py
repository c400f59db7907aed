"""A script that ran a workflow with its own in-process worker exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import flowat_kernel as flowat
from flowat_kernel.testing import cells


def test_a_script_with_an_in_process_worker_exits_without_errors(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step a\nx = 1", "%%flowat step b\ny = x"))
    script = textwrap.dedent(
        f"""
        import flowat_kernel as flowat
        run = flowat.run({workflow_name!r}, worker="always")
        print(run.status)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, FLOWAT_TASK_QUEUE=temporal),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "succeeded"
    assert "Traceback" not in done.stderr, done.stderr
    assert "eviction" not in done.stderr, done.stderr
