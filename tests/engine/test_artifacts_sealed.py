"""Artifacts at rest: sealed, bound to their reference, never unpickled unauthenticated.

Each attack is the review's (issue 16, item 10) against real runs on the dev server:
another run's file copied over an artifact, one byte changed, a planted pickle that
would write a canary file when unpickled, and forged references (``..``, absolute, a
symbolic link out of the store). Each must fail with the vault's authentication error
and the canary must never appear.
"""

from __future__ import annotations

import os
import pickle
import shutil
import stat
from pathlib import Path
from typing import Literal

import pytest

import flowat_kernel as flowat
from flowat_kernel.engine.artifacts import ArtifactRef
from flowat_kernel.engine.values import Value, decode
from flowat_kernel.errors import VaultAuthenticationError
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from flowat_kernel.vault.artifact_cipher import MAGIC

PLAINTEXT_MARK = "plaintext-marker-7f3a"


class _Canary:
    """Unpickling this writes ``path``: proof that attacker bytes were unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.path)!r}, 'w').write('unpickled')",)


def _canary_pickle(path: Path) -> bytes:
    payload = pickle.dumps(_Canary(path))
    probe = path.with_name(path.name + ".probe")  # the payload really is live
    pickle.loads(pickle.dumps(_Canary(probe)))
    assert probe.read_text() == "unpickled"
    probe.unlink()
    return payload


def _publish_exports(workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step make\nimport numpy as np\nimport pandas as pd\n"
            "frame = pd.DataFrame({'tag': [tag] * 20_000, 'n': np.arange(20_000)})\n"
            "array = np.arange(50_000, dtype='int64')\n"
            "blob = (tag * 5).encode()\n"
            "obj = {tag: {1, 2, 3}}",
            parameters=f"tag = {PLAINTEXT_MARK!r}",
        ),
    )


def _ref(run: flowat.Run, step: str, name: str) -> ArtifactRef:
    outputs = next(s for s in run.record.steps if s.name == step).outputs or {}
    ref = Value.model_validate(outputs[name]).ref
    assert ref is not None, outputs[name]
    return ref


def _path(run: flowat.Run, step: str, name: str) -> Path:
    return get_runtime().artifacts.root / _ref(run, step, name).path


def test_artifacts_are_sealed_private_and_load_back(temporal: str, workflow_name: str) -> None:
    _publish_exports(workflow_name)
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    root = get_runtime().artifacts.root
    formats = {name: _ref(run, "make", name).format for name in ("frame", "array", "blob", "obj")}
    assert formats == {"frame": "parquet", "array": "npy", "blob": "bytes", "obj": "pickle"}
    for name in formats:
        path = _path(run, "make", name)
        raw = path.read_bytes()
        assert raw.startswith(MAGIC), name
        assert PLAINTEXT_MARK.encode() not in raw, f"{name} is stored in plaintext"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        folder = path.parent
        while folder != root.parent:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
            folder = folder.parent
    loaded = flowat.get_run(run.run_id).outputs["make"]
    assert loaded["frame"]["tag"].eq(PLAINTEXT_MARK).all() and len(loaded["frame"]) == 20_000
    assert int(loaded["array"].sum()) == sum(range(50_000))
    assert loaded["blob"] == (PLAINTEXT_MARK * 5).encode()
    assert loaded["obj"] == {PLAINTEXT_MARK: {1, 2, 3}}


def test_another_runs_file_copied_over_an_artifact_fails_authentication(
    temporal: str, workflow_name: str
) -> None:
    _publish_exports(workflow_name)
    first, second = flowat.run(workflow_name), flowat.run(workflow_name)
    assert first.status == second.status == "succeeded"
    for name in ("frame", "obj"):
        # a valid sealed file, same workflow, step and name: only the run differs
        shutil.copyfile(_path(first, "make", name), _path(second, "make", name))
    with pytest.raises(VaultAuthenticationError, match="failed authentication"):
        _ = flowat.get_run(second.run_id).outputs
    # the same file in its own place still opens
    assert flowat.get_run(first.run_id).outputs["make"]["obj"] == {PLAINTEXT_MARK: {1, 2, 3}}


@pytest.mark.parametrize("where", ["header", "body", "tag"])
def test_one_changed_byte_fails_authentication(
    temporal: str, workflow_name: str, where: str
) -> None:
    _publish_exports(workflow_name)
    run = flowat.run(workflow_name)
    path = _path(run, "make", "obj")
    raw = bytearray(path.read_bytes())
    index = {"header": len(MAGIC) + 3, "body": len(raw) // 2, "tag": len(raw) - 1}[where]
    raw[index] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(VaultAuthenticationError, match="failed authentication"):
        _ = flowat.get_run(run.run_id).outputs


def test_planted_pickle_is_never_unpickled_by_the_reader_or_the_worker(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    gate = tmp_path / "gate"
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step make\nobj = {'numbers': {1, 2, 3}}",
            "%%flowat step use\nfrom pathlib import Path\n"
            "if not Path(gate).exists():\n    raise RuntimeError('gate closed')\n"
            "count = len(obj['numbers'])",
            parameters=f"gate = {str(gate)!r}",
        ),
    )
    failed = flowat.run(workflow_name)
    assert failed.status == "failed" and failed.error and failed.error["step"] == "use"
    planted = _canary_pickle(canary)
    path = _path(failed, "make", "obj")
    for payload in (planted, MAGIC + planted):  # bare, and behind a sealed file's magic
        path.write_bytes(payload)
        with pytest.raises(VaultAuthenticationError, match="failed authentication"):
            _ = flowat.get_run(failed.run_id).outputs
        assert not canary.exists()
    # the worker: a re-run reuses make's output, so the step reads the planted file
    gate.write_text("open")
    again = flowat.rerun(failed.run_id)
    assert again.status == "failed", again.error
    assert again.error is not None and "failed authentication" in again.error["message"]
    assert not canary.exists(), "a planted pickle was unpickled"


def test_forged_references_are_refused_before_anything_is_opened(
    temporal: str, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    artifacts = get_runtime().artifacts
    artifacts.root.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    (outside / "step").mkdir(parents=True)
    (outside / "step" / "obj.pkl").write_bytes(_canary_pickle(canary))
    beside = artifacts.root.parent / "planted.pkl"
    beside.write_bytes(_canary_pickle(canary))
    link = artifacts.root / "runs" / f"link-{tmp_path.name}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    try:
        forged: list[tuple[str, Literal["pickle"]]] = [
            ("../planted.pkl", "pickle"),
            ("runs/../../planted.pkl", "pickle"),
            (str(outside / "step" / "obj.pkl"), "pickle"),
            ("./planted.pkl", "pickle"),
            ("runs//x.pkl", "pickle"),
            ("runs/x/obj.parquet", "pickle"),  # suffix of another format
            (f"runs/{link.name}/step/obj.pkl", "pickle"),  # a link out of the store
        ]
        for path, fmt in forged:
            ref = ArtifactRef(path=path, format=fmt, size_bytes=1, description="dict")
            with pytest.raises(VaultAuthenticationError):
                decode(Value(ref=ref), artifacts)
        assert not canary.exists()
    finally:
        link.unlink()
        beside.unlink()


def test_a_link_planted_as_an_artifact_file_is_not_followed(
    temporal: str, workflow_name: str, tmp_path: Path
) -> None:
    _publish_exports(workflow_name)
    run = flowat.run(workflow_name)
    path = _path(run, "make", "obj")
    other = flowat.run(workflow_name)
    # a valid sealed file of the same reference elsewhere, reached through a link
    target = tmp_path / "elsewhere.pkl"
    shutil.copyfile(path, target)
    os.unlink(path)
    path.symlink_to(target)
    with pytest.raises(VaultAuthenticationError):
        _ = flowat.get_run(run.run_id).outputs
    assert flowat.get_run(other.run_id).outputs["make"]["obj"] == {PLAINTEXT_MARK: {1, 2, 3}}
