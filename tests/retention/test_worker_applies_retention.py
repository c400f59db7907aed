"""Two real ``flowat worker`` processes apply a retention policy on their own schedule:
the expired runs go (records, artifacts), the rest stay, and each run is deleted and
audited once although both workers try every second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowat_kernel.access.audit import query
from flowat_kernel.engine import devserver
from flowat_kernel.runtime import Runtime, get_runtime, reset_runtime
from flowat_kernel.vault.keyring import encode_key, new_key
from tests.retention.bulk import insert_runs, survivors


@pytest.fixture
def shared(
    temporal: str, flowat_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, dict[str, str]]]:
    """This process and the workers share a store, a home and the master key."""
    server = devserver.status(flowat_home / "temporal")
    assert server is not None
    env = {
        "FLOWAT_HOME": str(tmp_path / "home"),
        "FLOWAT_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "FLOWAT_TEMPORAL_ADDRESS": server.address,
        "FLOWAT_MASTER_KEY": encode_key(new_key()),
        "FLOWAT_TASK_QUEUE": temporal,
        "FLOWAT_RETENTION_INTERVAL": "0",  # none in this process
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    yield get_runtime(), env
    reset_runtime()


def test_workers_apply_the_policy_once_each_run(
    shared: tuple[Runtime, dict[str, str]], tmp_path: Path
) -> None:
    runtime, env = shared
    bulk = insert_runs(runtime, "ops", {"wf": 400}, artifact_sample=40, event_sample=0)
    runtime.store.set_retention("ops", "wf", None, 25, "ada")
    expected = survivors(bulk, {"wf": (None, 25)})
    workers = []
    for name in ("a", "b"):
        log = tmp_path / f"{name}.log"
        workers.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "flowat_kernel.cli.main", "worker"],
                    env={**os.environ, **env, "FLOWAT_RETENTION_INTERVAL": "1"},
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while runtime.store.existing_run_ids(bulk.ids()) != expected:
            for process, log in workers:
                assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the workers did not apply the policy"
            time.sleep(0.5)
        time.sleep(3)  # both workers try again meanwhile: nothing more goes
        assert runtime.store.existing_run_ids(bulk.ids()) == expected
    finally:
        for process, _ in workers:
            process.send_signal(signal.SIGINT)
        for process, _ in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert set(runtime.artifacts.run_ids()) == bulk.with_artifacts & expected
    entries = query(runtime.store, "ops", limit=1000, action="run.expired")
    audited = [run["run_id"] for e in entries for run in e["detail"].get("runs", [e["detail"]])]
    assert sorted(audited) == sorted(bulk.ids() - expected)
