"""FLOWAT_HOME is private: 0700 folders, 0600 files, loose homes tightened, others' refused.

The review (issue 16, item 10) found the home 0755 with 0644 files: any local user read
run records, key hashes, audit data and artifacts. These tests make a real run in a
fresh home (against the session's Temporal dev server) and look at every mode, tighten
a loose home left by an older FlowAt, and refuse homes FlowAt must not take over.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.config import settings
from flowat_kernel.engine import devserver
from flowat_kernel.errors import ConfigError
from flowat_kernel.runtime import Runtime, reset_runtime
from flowat_kernel.testing import cells


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _reachable_by_others(home: Path, path: Path) -> bool:
    """Whether another user could reach ``path``: every folder above it lets them in."""
    folder = path.parent
    while True:
        if not _mode(folder) & 0o011:
            return False
        if folder == home:
            return True
        folder = folder.parent


@pytest.fixture
def fresh_home(
    flowat_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workflow_name: str
) -> Iterator[Path]:
    """A new FLOWAT_HOME (not yet created) using the session's Temporal server."""
    server = devserver.status(flowat_home / "temporal")
    assert server is not None
    home = tmp_path / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.setenv("FLOWAT_TEMPORAL_ADDRESS", server.address)
    monkeypatch.setenv("FLOWAT_TASK_QUEUE", f"modes-{workflow_name}")
    monkeypatch.delenv("FLOWAT_MASTER_KEY", raising=False)
    reset_runtime()
    yield home
    reset_runtime()


def test_a_real_run_leaves_only_private_files(fresh_home: Path, workflow_name: str) -> None:
    old = os.umask(0o022)  # the usual umask: FlowAt must not rely on a stricter one
    try:
        flowat.publish(
            workflow_name,
            cells=cells(
                "%%flowat step make\nimport pandas as pd\n"
                "frame = pd.DataFrame({'token': ['abc'] * 1000})\nobj = {1, 2}",
                "%%flowat step use\nrows = len(frame)",
            ),
        )
        flowat.set_secret("api_token", "s3cr3t-value")
        run = flowat.run(workflow_name)
        assert run.status == "succeeded", run.error
    finally:
        os.umask(old)
    reset_runtime()  # close the store and the analytics writer: their files are final
    home = fresh_home
    assert _mode(home) == 0o700
    for name in ("artifacts", "temporal", "vault", "analytics"):
        assert _mode(home / name) == 0o700, name
    everything = sorted(home.rglob("*"))
    artifacts = [p for p in everything if p.is_relative_to(home / "artifacts")]
    assert any(p.suffix == ".parquet" for p in artifacts)
    for path in [*artifacts, home / "vault" / "master-keys.json"]:
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, f"{path} is {_mode(path):04o}"
    databases = [
        p for p in home.iterdir() if p.name.startswith("flowat.db") and "lock" not in p.name
    ]
    assert databases and all(_mode(p) == 0o600 for p in databases), databases
    reachable = [p for p in everything if _reachable_by_others(home, p)]
    assert reachable == [], reachable


def test_the_embedded_temporal_folder_is_private(flowat_home: Path) -> None:
    folder = flowat_home / "temporal"
    assert devserver.status(folder) is not None
    assert _mode(folder) == 0o700
    files = [p for p in folder.iterdir() if p.is_file()]
    assert any(p.name == "temporal.db" for p in files)
    loose = {p.name: f"{_mode(p):04o}" for p in files if _mode(p) & 0o077}
    assert loose == {}, loose


def test_a_loose_existing_home_is_tightened_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "old-home"
    run = home / "artifacts" / "runs" / "r1" / "make"
    run.mkdir(parents=True)
    (run / "frame.parquet").write_bytes(b"old")
    (home / "flowat.db").write_bytes(b"")
    (home / "temporal").mkdir()
    (home / "temporal" / "temporal.db").write_bytes(b"")
    (home / "analytics" / "events").mkdir(parents=True)
    outside = tmp_path / "not-flowat.txt"
    outside.write_text("someone else's file")
    (home / "link").symlink_to(outside)
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(outside, 0o644)
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.delenv("FLOWAT_DATABASE_URL", raising=False)
    Runtime(settings())
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, f"{path} is still {_mode(path):04o}"
    assert _mode(outside) == 0o644, "a link was followed out of the home"


def test_a_new_home_is_created_private_even_under_a_loose_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "a" / "b" / "home"
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    monkeypatch.delenv("FLOWAT_DATABASE_URL", raising=False)
    old = os.umask(0o000)
    try:
        Runtime(settings())
    finally:
        os.umask(old)
    assert _mode(home) == 0o700 and _mode(home / "flowat.db") == 0o600
    assert all(_mode(p) == 0o700 for p in home.iterdir() if p.is_dir())


def test_a_home_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    home = tmp_path / "theirs"
    home.mkdir(mode=0o755)
    os.chown(home, 65534, 65534)
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    with pytest.raises(ConfigError, match="belongs to uid 65534, not to you"):
        Runtime(settings())
    assert _mode(home) == 0o755 and list(home.iterdir()) == []


@pytest.mark.parametrize("mode", [0o1777, 0o777])
def test_a_shared_folder_as_home_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    os.chmod(home, mode)
    (home / "someone.txt").write_text("x")
    os.chmod(home / "someone.txt", 0o644)
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    with pytest.raises(ConfigError, match="shared or personal folder"):
        Runtime(settings())
    assert _mode(home) == mode and _mode(home / "someone.txt") == 0o644


def test_a_file_as_home_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "file"
    home.write_text("")
    monkeypatch.setenv("FLOWAT_HOME", str(home))
    with pytest.raises(ConfigError, match="is not a folder"):
        Runtime(settings())
