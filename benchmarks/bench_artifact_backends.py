"""Artifact storage throughput per backend for a 100 MB data frame, against raw transfers.

For each backend of ``FLOWAT_ARTIFACTS_URL`` (the home's folder, PostgreSQL rows,
S3 objects) the same run measures:

* **frame**: ``ArtifactStore.put`` and ``get`` of a 100 MB data frame (Parquet
  streamed through AES-256-GCM into the backend, and back);
* **bytes**: ``put`` and ``get`` of the frame's sealed bytes as a ``bytes`` value, the
  same size, so no Parquet: sealing plus the backend's transfer;
* **raw**: the same bytes moved by the plainest tool for that storage: a file write
  and read (``Path.write_bytes``/``read_bytes``); PostgreSQL ``COPY ... FROM STDIN``
  / ``TO STDOUT`` in binary format of 4 MiB rows (what ``psql``'s ``\\copy`` uses);
  boto3's managed ``upload_fileobj`` / ``download_fileobj`` (multipart, threaded).

PostgreSQL is the server on 127.0.0.1:5432 (a fresh database, dropped afterwards);
S3 is moto's S3 server started on loopback in a child process (no hosted S3 is
reachable here), so S3 figures are moto's, not a cloud's. Cases are interleaved per
round; results are medians of ``--reps``.

    python benchmarks/bench_artifact_backends.py    # ~3 min, results/artifact_backends.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, pg_create, pg_drop, psycopg_version, throughput, timed

ROWS = 6_553_600  # two float64 columns: 104,857,600 bytes
CHUNK = 4 << 20
S3_KEY, S3_SECRET = "bench-key-id", "bench-secret"


def _moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "artifact_backends.json")
    )
    args = parser.parse_args()

    import boto3
    import numpy as np
    import pandas as pd
    import psycopg

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-backends-"))
    os.environ["FLOWAT_HOME"] = str(home)
    os.environ.pop("FLOWAT_MASTER_KEY", None)
    pg_url, why = pg_create("flowat_bench_artifacts")
    if pg_url is None:
        raise SystemExit(why)
    moto, endpoint = _moto()
    try:
        from flowat_kernel.config import settings
        from flowat_kernel.engine.artifact_backends import LocalBackend
        from flowat_kernel.engine.artifact_s3 import S3Backend
        from flowat_kernel.engine.artifacts import ArtifactStore
        from flowat_kernel.store import Store
        from flowat_kernel.store.artifact_chunks import DatabaseBackend
        from flowat_kernel.vault.artifact_cipher import ArtifactCipher
        from flowat_kernel.vault.vault import Vault

        store = Store(f"sqlite:///{home / 'flowat.db'}")
        cipher = ArtifactCipher(Vault(store, home, "bench").payload_keys)
        pg_store = Store(pg_url)  # migrated: the artifacts tables exist
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        os.environ.update(
            FLOWAT_ARTIFACTS_URL=f"s3://{bucket}/flowat",
            FLOWAT_ARTIFACTS_ENDPOINT=endpoint,
            FLOWAT_ARTIFACTS_REGION="us-east-1",
            FLOWAT_ARTIFACTS_ACCESS_KEY_ID=S3_KEY,
            FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY=S3_SECRET,
        )
        raw_s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        raw_s3.create_bucket(Bucket=bucket)
        stores = {
            "local": ArtifactStore(home / "artifacts", cipher, LocalBackend(home / "artifacts")),
            "postgresql": ArtifactStore(
                home / "artifacts", cipher, DatabaseBackend(pg_store.engine)
            ),
            "s3": ArtifactStore(home / "artifacts", cipher, S3Backend.from_settings(settings())),
        }

        frame = pd.DataFrame(
            {"a": np.arange(ROWS, dtype="float64"), "b": np.random.default_rng(7).random(ROWS)}
        )
        frame_bytes = int(frame.memory_usage(index=False).sum())
        ref = stores["local"].put("runs/bench/make", "frame", frame)
        with stores["local"].backend.open(ref.path) as (handle, size):
            sealed = handle.read(size)
        raw_file = home / "raw" / "frame.sealed"
        raw_file.parent.mkdir()
        pg = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        pg.execute("CREATE TABLE raw_copy (seq int, data bytea)")
        pg.execute("ALTER TABLE raw_copy ALTER COLUMN data SET STORAGE EXTERNAL")

        def raw_write(kind: str) -> None:
            if kind == "local":
                raw_file.write_bytes(sealed)
            elif kind == "postgresql":
                with pg.transaction():
                    pg.execute("TRUNCATE raw_copy")
                    with pg.cursor().copy("COPY raw_copy FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["int4", "bytea"])
                        view = memoryview(sealed)
                        for seq, start in enumerate(range(0, len(view), CHUNK)):
                            copy.write_row((seq, view[start : start + CHUNK]))
            else:
                raw_s3.upload_fileobj(io.BytesIO(sealed), bucket, "raw/frame.sealed")

        def raw_read(kind: str) -> int:
            if kind == "local":
                return len(raw_file.read_bytes())
            if kind == "postgresql":
                out = bytearray()
                query = "COPY (SELECT data FROM raw_copy ORDER BY seq) TO STDOUT (FORMAT BINARY)"
                with pg.cursor().copy(query) as copy:
                    copy.set_types(["bytea"])
                    for row in copy.rows():
                        out += row[0]
                return len(out)
            sink = io.BytesIO()
            raw_s3.download_fileobj(bucket, "raw/frame.sealed", sink)
            return len(sink.getbuffer())

        cases = ("frame_write", "frame_read", "bytes_write", "bytes_read", "raw_write", "raw_read")
        times: dict[str, dict[str, list[float]]] = {k: {c: [] for c in cases} for k in stores}
        refs: dict[str, Any] = {}

        def round_of(kind: str, record: bool) -> None:
            artifacts = stores[kind]
            steps: dict[str, Callable[[], Any]] = {
                "frame_write": lambda: refs.__setitem__(
                    (kind, "frame"), artifacts.put("runs/bench/make", "frame", frame)
                ),
                "frame_read": lambda: artifacts.get(refs[(kind, "frame")]),
                "bytes_write": lambda: refs.__setitem__(
                    (kind, "bytes"), artifacts.put("runs/bench/make", "blob", sealed)
                ),
                "bytes_read": lambda: artifacts.get(refs[(kind, "bytes")]),
                "raw_write": lambda: raw_write(kind),
                "raw_read": lambda: raw_read(kind),
            }
            for case in cases:
                seconds = timed(steps[case])
                if record:
                    times[kind][case].append(seconds)

        for kind in stores:  # warm-up: connections, keys, page cache
            round_of(kind, record=False)
        for _ in range(args.reps):
            for kind in stores:
                round_of(kind, record=True)
        for kind, artifacts in stores.items():
            assert artifacts.get(refs[(kind, "frame")]).equals(frame), kind
            assert artifacts.get(refs[(kind, "bytes")]) == sealed, kind
            assert raw_read(kind) == len(sealed), kind

        results: dict[str, Any] = {
            "machine": machine(
                pandas=pd.__version__,
                numpy=np.__version__,
                psycopg=psycopg_version(),
                boto3=boto3.__version__,
            ),
            "reps": args.reps,
            "frame_memory_bytes": frame_bytes,
            "sealed_bytes": len(sealed),
            "note": "frame_* MB/s are of the frame in memory, bytes_* and raw_* of the sealed "
            "bytes (1 MB = 10^6 bytes); S3 is moto's server on loopback",
        }
        for kind, by_case in times.items():
            entry: dict[str, Any] = {}
            for case, seconds in by_case.items():
                entry[case] = throughput(seconds, frame_bytes if case[0] == "f" else len(sealed))
            for op in ("write", "read"):
                raw = entry[f"raw_{op}"]["median_s"]
                entry[f"bytes_{op}_over_raw"] = round(entry[f"bytes_{op}"]["median_s"] / raw, 2)
                entry[f"frame_{op}_over_raw"] = round(entry[f"frame_{op}"]["median_s"] / raw, 2)
            results[kind] = entry
        pg.close()
        pg_store.close()
        store.close()
    finally:
        moto.terminate()
        moto.wait(10)
        pg_drop(pg_url)
        shutil.rmtree(home, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for kind in stores:
        for case in cases:
            value = results[kind][case]
            print(f"{kind:10} {case:12} {value['median_s']:8.3f} s  {value['mb_per_s']:8.1f} MB/s")
        for op in ("write", "read"):
            print(
                f"{kind:10} {op}: bytes/raw {results[kind][f'bytes_{op}_over_raw']}, "
                f"frame/raw {results[kind][f'frame_{op}_over_raw']}"
            )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
