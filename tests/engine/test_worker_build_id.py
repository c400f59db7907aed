"""Workers name their build themselves, so starting one does not hash every loaded module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flowat_kernel.engine.build_id import worker_build_id


def test_the_build_id_names_flowat_and_is_stable() -> None:
    first = worker_build_id()
    worker_build_id.cache_clear()
    again = worker_build_id()
    assert first == again
    prefix, digest = first.split("-")
    assert prefix == "flowat" and len(digest) == 16
    int(digest, 16)


def test_a_started_worker_polls_with_it_and_never_derives_one(
    temporal: str, flowat_home: Path
) -> None:
    """In a fresh process: both workers of ``flowat worker`` start; the SDK's own
    module-hashing build id (memoized in temporalio when computed) is never computed."""
    script = textwrap.dedent(
        """
        import temporalio.worker._worker as sdk
        from flowat_kernel.engine.build_id import worker_build_id
        from flowat_kernel.runtime import get_runtime, reset_runtime
        from flowat_kernel.triggers.worker import _tasks, ensure_trigger_worker

        runtime = get_runtime()
        runtime.call(runtime.ensure_worker())
        ensure_trigger_worker(runtime)
        step_worker = runtime._workers[runtime.settings.task_queue].worker
        trigger_worker = _tasks[runtime][0]
        print(step_worker.config()["build_id"] == worker_build_id())
        print(trigger_worker.config()["build_id"] == worker_build_id())
        print(sdk._default_build_id)
        reset_runtime()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOWAT_HOME": str(flowat_home), "FLOWAT_TASK_QUEUE": temporal},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "True", "None"]
