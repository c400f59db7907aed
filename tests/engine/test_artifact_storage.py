"""Artifact storage backends: the home's folder, PostgreSQL rows and S3 objects.

The PostgreSQL backend runs against the server on 127.0.0.1:5432 (a fresh database per
session), the S3 backend against moto's S3 server started here on loopback in its own
process (no hosted S3 is reachable). Every backend must round-trip values sealed,
refuse tampered bytes, stream (memory measured with tracemalloc), delete per artifact
and per run, and give a clear ConfigError naming the variable when misconfigured.
Real runs on the dev server then pass a frame over the inline limit between steps and
to ``get_run(...).outputs`` through PostgreSQL and S3.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import flowat_kernel as flowat
from flowat_kernel.config import settings
from flowat_kernel.engine.artifact_backends import ArtifactBackend, LocalBackend, open_backend
from flowat_kernel.engine.artifact_s3 import PART_BYTES, PARTS_IN_FLIGHT, S3Backend
from flowat_kernel.engine.artifacts import ArtifactRef, ArtifactStore
from flowat_kernel.engine.values import Value
from flowat_kernel.errors import ConfigError, FlowAtError, VaultAuthenticationError
from flowat_kernel.runtime import get_runtime, reset_runtime
from flowat_kernel.store import Store
from flowat_kernel.store.artifact_chunks import DatabaseBackend
from flowat_kernel.testing import cells
from flowat_kernel.vault.artifact_cipher import ArtifactCipher

S3_KEY = "flowat-test-key-id"
S3_SECRET = "flowat-test-secret-value-9c1d"


# -- an S3 server on loopback ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a child process on 127.0.0.1 (its own memory, like real S3)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto's S3 server did not start on {endpoint}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the FLOWAT_ARTIFACTS_* S3 settings point at the server."""
    bucket = f"flowat-{uuid.uuid4().hex[:12]}"
    _s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("FLOWAT_ARTIFACTS_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("FLOWAT_ARTIFACTS_REGION", "us-east-1")
    monkeypatch.setenv("FLOWAT_ARTIFACTS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY", S3_SECRET)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return bucket


# -- one store per backend --------------------------------------------------------------


def _cipher() -> ArtifactCipher:
    key = os.urandom(32)
    return ArtifactCipher(lambda: ("k1", {"k1": key}))


@pytest.fixture(scope="module")
def pg_store(new_postgres_database: Callable[[str], str]) -> Iterator[Store]:
    """The metadata store on a fresh PostgreSQL database (migrated: 0013's tables)."""
    store = Store(new_postgres_database("flowat_artifacts"))
    yield store
    store.close()


@pytest.fixture(params=["local", "database", "s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ArtifactBackend:
    """Each backend, as ``open_backend`` builds it from ``FLOWAT_ARTIFACTS_URL``."""
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path))
    if request.param == "local":
        monkeypatch.delenv("FLOWAT_ARTIFACTS_URL", raising=False)
        return open_backend(settings(), lambda: pytest.fail("no store for the folder"))
    if request.param == "database":
        store: Store = request.getfixturevalue("pg_store")
        with store.engine.begin() as conn:  # each test starts from an empty table
            conn.execute(sa.text("DELETE FROM artifact_chunks"))
            conn.execute(sa.text("DELETE FROM artifacts"))
        monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", "database")
        return open_backend(settings(), lambda: store.engine)
    bucket = request.getfixturevalue("s3_bucket")
    monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", f"s3://{bucket}/team/a")
    return open_backend(settings(), lambda: pytest.fail("no store for S3"))


def _tamper(backend: ArtifactBackend, reference: str, offset: int) -> None:
    """Flip one stored byte of ``reference`` behind FlowAt's back."""
    if isinstance(backend, LocalBackend):
        path = backend.root / reference
        data = bytearray(path.read_bytes())
        data[offset] ^= 1
        path.write_bytes(data)
    elif isinstance(backend, DatabaseBackend):
        with backend.engine.begin() as conn:
            chunk = conn.execute(
                sa.text("SELECT data FROM artifact_chunks WHERE reference = :r AND seq = 0"),
                {"r": reference},
            ).scalar_one()
            changed = bytearray(chunk)
            changed[offset] ^= 1
            conn.execute(
                sa.text("UPDATE artifact_chunks SET data = :d WHERE reference = :r AND seq = 0"),
                {"d": bytes(changed), "r": reference},
            )
    else:
        assert isinstance(backend, S3Backend)
        key = backend.prefix + reference
        body = bytearray(backend.client.get_object(Bucket=backend.bucket, Key=key)["Body"].read())
        body[offset] ^= 1
        backend.client.put_object(Bucket=backend.bucket, Key=key, Body=bytes(body))


def test_values_round_trip_sealed_in_every_backend(
    backend: ArtifactBackend, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    run = uuid.uuid4().hex
    # 20 MB: several PostgreSQL chunks and S3 multipart parts; small ones in one piece.
    array = np.random.default_rng(3).random(2_500_000)
    frame = pd.DataFrame({"a": np.arange(30_000), "b": ["text-marker-51"] * 30_000})
    refs = {
        "array": store.put(f"runs/{run}/make", "array", array),
        "frame": store.put(f"runs/{run}/make", "frame", frame),
        "blob": store.put(f"runs/{run}/other", "blob", b"x" * 10),
        "obj": store.put(f"runs/{run}/other", "obj", {"a", "b"}),
    }
    assert refs["array"].size_bytes > array.nbytes  # sealed: header and tag added
    np.testing.assert_array_equal(store.get(refs["array"]), array)
    pd.testing.assert_frame_equal(store.get(refs["frame"]), frame)
    assert store.get(refs["blob"]) == b"x" * 10
    assert store.get(refs["obj"]) == {"a", "b"}

    # Overwriting a reference (a retried step) replaces it whole.
    again = store.put(f"runs/{run}/other", "blob", b"y" * 5)
    assert again.path == refs["blob"].path and store.get(again) == b"y" * 5

    # The stored bytes are ciphertext: the frame's text is nowhere in them.
    with backend.open(refs["frame"].path) as (handle, size):
        stored = handle.read(size + 1)
    assert len(stored) == size and b"text-marker-51" not in stored

    # The frame's sealed bytes put under another reference: refused (it is authenticated).
    swapped = ArtifactRef(
        path=f"runs/{run}/other/swapped.parquet",
        format="parquet",
        size_bytes=len(stored),
        description="x",
    )
    backend.write(swapped.path, lambda out: out.write(stored))
    with pytest.raises(VaultAuthenticationError, match="failed authentication"):
        store.get(swapped)


@pytest.mark.parametrize("offset", [0, 60, -1])
def test_a_changed_byte_is_refused_in_every_backend(
    backend: ArtifactBackend, tmp_path: Path, offset: int
) -> None:
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    ref = store.put("runs/r1/make", "blob", b"secret-payload" * 1000)
    _tamper(backend, ref.path, offset if offset >= 0 else ref.size_bytes - 1)
    with pytest.raises(VaultAuthenticationError, match="failed authentication"):
        store.get(ref)


def test_truncated_and_missing_artifacts(backend: ArtifactBackend, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    ref = store.put("runs/r2/make", "blob", os.urandom(9 << 20))  # over one chunk and part
    with backend.open(ref.path) as (handle, size):
        head = handle.read(size - 100)
    backend.write(ref.path, lambda out: out.write(head))  # cut short behind FlowAt's back
    with pytest.raises(VaultAuthenticationError):
        store.get(ref)
    assert store.delete(ref) is True
    assert store.delete(ref) is False
    with pytest.raises(FlowAtError, match=r"is missing from .*FLOWAT_ARTIFACTS_URL"):
        store.get(ref)


def test_delete_per_artifact_and_per_run(backend: ArtifactBackend, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    kept = store.put("runs/keep/make", "blob", b"k" * 100)
    doomed = [store.put(f"runs/gone/step{i}", f"v{i}", b"d" * 100) for i in range(3)]
    # A run whose id starts like the doomed one's is not a prefix match.
    near = store.put("runs/gone2/make", "blob", b"n" * 100)
    assert store.run_ids() == ["gone", "gone2", "keep"]
    assert store.delete(doomed[0]) is True
    assert store.delete_run("gone") == 2
    assert store.delete_run("gone") == 0  # idempotent
    assert store.delete_run("never-ran") == 0
    for ref in doomed:
        with pytest.raises(FlowAtError, match="missing"):
            store.get(ref)
    assert store.get(kept) == b"k" * 100 and store.get(near) == b"n" * 100
    assert store.run_ids() == ["gone2", "keep"]
    for bad in ("..", "a/b", ".hidden", "", "gone/../keep"):
        with pytest.raises(FlowAtError, match="not a run id"):
            store.delete_run(bad)
    with pytest.raises(VaultAuthenticationError, match="not valid"):
        store.delete("../outside.bin")
    assert store.get(kept) == b"k" * 100


def test_writes_and_reads_stream(backend: ArtifactBackend, tmp_path: Path) -> None:
    """Writing 64 MB allocates a chunk or part at a time; reading, the plaintext once."""
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    value = os.urandom(64 << 20)
    store.put("runs/warm/make", "blob", b"warm-up: imports, keys, connections")
    tracemalloc.start()
    try:
        ref = store.put("runs/big/make", "blob", value)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = store.get(ref)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded == value
    # A chunk (PostgreSQL) or the parts in flight (S3) at a time, never the whole value.
    bound = (PARTS_IN_FLIGHT + 2) * PART_BYTES if isinstance(backend, S3Backend) else 24 << 20
    assert write_peak < bound, f"write held {write_peak >> 20} MiB of a 64 MiB value"
    # The decrypted buffer, then bytes() of it for a bytes value: two copies at most.
    assert read_peak < (2 * 64 + 16) << 20, f"read held {read_peak >> 20} MiB"


def test_a_failed_write_leaves_nothing(backend: ArtifactBackend, tmp_path: Path) -> None:
    def broken(out: Any) -> None:
        out.write(os.urandom(9 << 20))  # past the first part and chunk
        raise RuntimeError("the step process died mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        backend.write("runs/r3/make/blob.bin", broken)
    with pytest.raises(FileNotFoundError), backend.open("runs/r3/make/blob.bin"):
        pass
    assert backend.delete_folder("runs/r3") == 0  # nothing (but empty folders) was left
    if isinstance(backend, S3Backend):
        uploads = backend.client.list_multipart_uploads(Bucket=backend.bucket)
        assert not uploads.get("Uploads"), "an aborted upload's parts were kept"


# -- configuration errors -------------------------------------------------------------


def _config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        open_backend(settings(), lambda: sa.create_engine("sqlite://"))
    return str(caught.value)


def test_bad_artifact_urls_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path))
    message = _config_error(monkeypatch, FLOWAT_ARTIFACTS_URL="ftp://user:pw@host/x")
    assert "FLOWAT_ARTIFACTS_URL" in message and "pw" not in message
    assert "FLOWAT_ARTIFACTS_URL" in _config_error(
        monkeypatch, FLOWAT_ARTIFACTS_URL="file://relative/dir"
    )
    message = _config_error(monkeypatch, FLOWAT_ARTIFACTS_URL="database")
    assert "FLOWAT_DATABASE_URL to be PostgreSQL" in message
    message = _config_error(monkeypatch, FLOWAT_ARTIFACTS_URL="s3://")
    assert "names no bucket" in message
    message = _config_error(
        monkeypatch,
        FLOWAT_ARTIFACTS_URL="postgresql+psycopg://flowat:hunter2@127.0.0.1:1/none",
    )
    assert "FLOWAT_ARTIFACTS_URL" in message and "hunter2" not in message


def test_s3_misconfiguration_is_a_clear_config_error(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path))
    message = _config_error(monkeypatch, FLOWAT_ARTIFACTS_URL="s3://no-such-bucket-here/p")
    assert "FLOWAT_ARTIFACTS_URL" in message and "does not exist" in message
    assert S3_SECRET not in message and S3_KEY not in message

    monkeypatch.delenv("FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY")
    message = _config_error(monkeypatch, FLOWAT_ARTIFACTS_URL=f"s3://{s3_bucket}")
    assert "FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY" in message
    monkeypatch.setenv("FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY", S3_SECRET)

    message = _config_error(
        monkeypatch,
        FLOWAT_ARTIFACTS_URL=f"s3://{s3_bucket}",
        FLOWAT_ARTIFACTS_ENDPOINT=f"http://127.0.0.1:{_free_port()}",
    )
    assert "FLOWAT_ARTIFACTS_ENDPOINT" in message and "cannot reach" in message
    assert S3_SECRET not in message


# -- real runs ------------------------------------------------------------------------


def _publish_big_frame(workflow_name: str) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step make\nimport numpy as np\nimport pandas as pd\n"
            "frame = pd.DataFrame({'n': np.arange(200_000), 'x': np.arange(200_000) * 0.5})",
            "%%flowat step use\ntotal = float(frame['x'].sum())\nrows = len(frame)",
        ),
    )


def _run_and_check(workflow_name: str) -> ArtifactRef:
    _publish_big_frame(workflow_name)
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["use"] == {"rows": 200_000, "total": float(sum(range(200_000)) * 0.5)}
    again = flowat.get_run(run.run_id)
    frame = again.outputs["make"]["frame"]
    assert list(frame.columns) == ["n", "x"] and len(frame) == 200_000
    step = next(s for s in again.record.steps if s.name == "make")
    ref = Value.model_validate((step.outputs or {})["frame"]).ref
    assert ref is not None and ref.size_bytes > 256 * 1024
    return ref


def test_runs_pass_frames_through_postgresql(
    temporal: str,
    workflow_name: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", "database")
    reset_runtime()
    ref = _run_and_check(workflow_name)
    backend = get_runtime().artifacts.backend
    assert isinstance(backend, DatabaseBackend)
    assert not (get_runtime().settings.artifacts_dir / ref.path).exists()
    with backend.engine.connect() as conn:
        chunks = conn.execute(
            sa.text("SELECT count(*) FROM artifact_chunks WHERE reference = :r"),
            {"r": ref.path},
        ).scalar_one()
    assert chunks >= 1
    _tamper(backend, ref.path, 70)
    reset_runtime()  # a fresh process's view: nothing cached
    with pytest.raises(VaultAuthenticationError):
        flowat.get_run(ref.path.split("/")[1]).outputs  # noqa: B018


def test_runs_pass_frames_through_s3(
    temporal: str,
    workflow_name: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", f"s3://{s3_bucket}/shared")
    reset_runtime()
    ref = _run_and_check(workflow_name)
    backend = get_runtime().artifacts.backend
    assert isinstance(backend, S3Backend)
    listed = backend.client.list_objects_v2(Bucket=s3_bucket, Prefix="shared/runs/")
    assert f"shared/{ref.path}" in {item["Key"] for item in listed["Contents"]}
    assert not (get_runtime().settings.artifacts_dir / ref.path).exists()
    _tamper(backend, ref.path, 70)
    reset_runtime()
    with pytest.raises(VaultAuthenticationError):
        flowat.get_run(ref.path.split("/")[1]).outputs  # noqa: B018
    assert get_runtime().artifacts.delete_run(ref.path.split("/")[1]) >= 1
    with pytest.raises(FlowAtError, match="missing"):
        flowat.get_run(ref.path.split("/")[1]).outputs  # noqa: B018


_READER = """
import json, os, sys
import flowat_kernel as flowat
run = flowat.get_run(sys.argv[1])
frame = run.outputs["make"]["frame"]
local = os.path.join(os.environ["FLOWAT_HOME"], "artifacts", "runs")
print(json.dumps({"rows": len(frame), "total": float(frame["x"].sum()),
                  "local_artifacts": os.path.exists(local)}))
"""


@pytest.mark.parametrize("storage", ["database", "s3"])
def test_another_host_reads_the_frame_through_shared_storage(
    storage: str,
    request: pytest.FixtureRequest,
    temporal: str,
    workflow_name: str,
    new_postgres_database: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process with its own FLOWAT_HOME, sharing only the store, key and storage."""
    from flowat_kernel.vault.keyring import encode_key, new_key

    url = new_postgres_database("flowat_two_hosts")
    monkeypatch.setenv("FLOWAT_DATABASE_URL", url)
    monkeypatch.setenv("FLOWAT_MASTER_KEY", encode_key(new_key()))
    if storage == "s3":
        monkeypatch.setenv(
            "FLOWAT_ARTIFACTS_URL", f"s3://{request.getfixturevalue('s3_bucket')}/two"
        )
    else:
        monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", "database")
    reset_runtime()
    _publish_big_frame(workflow_name)
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error

    other_home = tmp_path / "host-b"
    env = {k: v for k, v in os.environ.items() if k != "FLOWAT_TASK_QUEUE"}
    env["FLOWAT_HOME"] = str(other_home)
    read = subprocess.run(
        [sys.executable, "-c", _READER, run.run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    seen = json.loads(read.stdout.strip().splitlines()[-1])
    assert seen == {
        "rows": 200_000,
        "total": float(sum(range(200_000)) * 0.5),
        "local_artifacts": False,
    }
    assert S3_SECRET not in read.stdout + read.stderr

    # Without the shared storage setting, host B looks in its own empty folder.
    env.pop("FLOWAT_ARTIFACTS_URL")
    missing = subprocess.run(
        [sys.executable, "-c", _READER, run.run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "is missing from" in missing.stderr and "FLOWAT_ARTIFACTS_URL" in missing.stderr


def test_concurrent_writers_of_one_reference_take_turns_in_postgresql(
    pg_store: Store, tmp_path: Path
) -> None:
    """A step's attempt and its retry on another worker may write the same artifact."""
    import threading

    backend = DatabaseBackend(pg_store.engine)
    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    values = [bytes([n]) * (6 << 20) for n in range(4)]  # two chunks each
    barrier = threading.Barrier(len(values))
    errors: list[BaseException] = []

    def write(value: bytes) -> None:
        try:
            barrier.wait()
            store.put("runs/race/make", "blob", value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ref = ArtifactRef(
        path="runs/race/make/blob.bin", format="bytes", size_bytes=0, description="bytes"
    )
    assert store.get(ref) in values  # one writer's whole value, never a mix
    with pg_store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*) FROM artifact_chunks WHERE reference = :r"),
            {"r": ref.path},
        ).scalar_one()
    assert rows == 2


def test_a_folder_url_and_a_database_of_its_own(
    new_postgres_database: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWAT_HOME", str(tmp_path / "home"))
    shared = tmp_path / "shared-mount" / "artifacts"
    monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", f"file://{shared}")
    folder = open_backend(settings(), lambda: pytest.fail("no store for a folder"))
    assert isinstance(folder, LocalBackend) and folder.root == shared
    cipher = _cipher()
    store = ArtifactStore(tmp_path / "home" / "artifacts", cipher, folder)
    ref = store.put("runs/r/make", "blob", b"on the shared mount")
    assert (shared / ref.path).stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "home" / "artifacts").exists()

    url = new_postgres_database("flowat_artifacts_only")  # no FlowAt store in it
    monkeypatch.setenv("FLOWAT_ARTIFACTS_URL", url)
    database = open_backend(settings(), lambda: pytest.fail("not the store's database"))
    assert isinstance(database, DatabaseBackend)
    other = ArtifactStore(tmp_path / "home" / "artifacts", cipher, database)
    ref = other.put("runs/r/make", "frame", pd.DataFrame({"a": [1, 2, 3]}))
    pd.testing.assert_frame_equal(other.get(ref), pd.DataFrame({"a": [1, 2, 3]}))
    with database.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables == {"artifacts", "artifact_chunks"}  # only its own two tables
    again = open_backend(settings(), lambda: pytest.fail("not the store's database"))
    assert ArtifactStore(tmp_path, cipher, again).get(ref).equals(pd.DataFrame({"a": [1, 2, 3]}))


def test_racing_run_deletions_are_not_errors(backend: ArtifactBackend, tmp_path: Path) -> None:
    """Retention passes on several workers may delete the same run at once."""
    import threading

    store = ArtifactStore(tmp_path / "artifacts", _cipher(), backend)
    # The folder's race (a subfolder removed while counted) needs a few rounds to show.
    for round_ in range(15 if isinstance(backend, LocalBackend) else 3):
        run = f"race{round_}"
        for step in range(6):
            for name in range(4):
                store.put(f"runs/{run}/s{step}", f"v{name}", b"x" * 100)
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def delete(
            run: str = run,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait()
                store.delete_run(run)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=delete) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert run not in store.run_ids()
        assert store.delete_run(run) == 0
