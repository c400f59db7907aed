"""Artifact write/read throughput with and without sealing, for a 100 MB data frame.

*Plain* is what the artifact store did before artifacts were sealed: ``to_parquet`` to
a file and ``read_parquet`` from it. *Sealed* is today's ``ArtifactStore.put`` and
``get``: Parquet into memory, AES-256-GCM (streamed in 1 MiB chunks, key derived per
file from a vault payload key, bound to the reference) to a 0600 file, and back after
the tag verified. The keys come from a real vault over a SQLite store in a temporary
``FLOWAT_HOME``. Cases are interleaved, so drifting load hits both alike; the result
is the median of ``--reps``. The same for a 100 MB float64 array (``.npy``), and the
cipher alone on the Parquet bytes, to show where the time goes.

    python benchmarks/bench_artifacts.py        # ~1 min, writes benchmarks/results/artifacts.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, throughput, timed

ROWS = 6_553_600  # two float64 columns: 104,857,600 bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "artifacts.json"))
    args = parser.parse_args()

    import cryptography
    import numpy as np
    import pandas as pd
    import pyarrow

    home = Path(tempfile.mkdtemp(prefix="flowat-bench-artifacts-"))
    os.environ["FLOWAT_HOME"] = str(home)
    os.environ.pop("FLOWAT_MASTER_KEY", None)
    try:
        from flowat_kernel.engine.artifacts import ArtifactStore
        from flowat_kernel.store import Store
        from flowat_kernel.vault.artifact_cipher import ArtifactCipher
        from flowat_kernel.vault.vault import Vault

        store = Store(f"sqlite:///{home / 'flowat.db'}")
        vault = Vault(store, home, "bench")
        artifacts = ArtifactStore(home / "artifacts", ArtifactCipher(vault.payload_keys))
        plain_dir = home / "plain"
        plain_dir.mkdir()

        frame = pd.DataFrame(
            {
                "a": np.arange(ROWS, dtype="float64"),
                "b": np.random.default_rng(7).random(ROWS),
            }
        )
        array = np.random.default_rng(8).random(ROWS * 2)
        frame_bytes = int(frame.memory_usage(index=False).sum())
        array_bytes = int(array.nbytes)

        times: dict[str, list[float]] = {
            k: []
            for k in (
                "frame_plain_write",
                "frame_plain_read",
                "frame_sealed_write",
                "frame_sealed_read",
                "array_plain_write",
                "array_plain_read",
                "array_sealed_write",
                "array_sealed_read",
                "cipher_seal",
                "cipher_open",
            )
        }
        refs: dict[str, Any] = {}
        parquet = plain_dir / "frame.parquet"
        npy = plain_dir / "array.npy"

        def plain_frame_write() -> None:
            frame.to_parquet(parquet)

        def sealed_frame_write() -> None:
            refs["frame"] = artifacts.put("runs/bench/make", "frame", frame)

        def plain_array_write() -> None:
            np.save(npy, array, allow_pickle=False)

        def sealed_array_write() -> None:
            refs["array"] = artifacts.put("runs/bench/make", "array", array)

        # warm-up: imports, keys, page cache
        for warm_up in (
            plain_frame_write,
            sealed_frame_write,
            plain_array_write,
            sealed_array_write,
        ):
            warm_up()
        pd.read_parquet(parquet)
        artifacts.get(refs["frame"])
        parquet_payload = parquet.read_bytes()
        cipher = artifacts.cipher
        reference = "runs/bench/make/frame.parquet"

        def seal_into(sink: io.BytesIO) -> bytes:
            cipher.seal(sink, parquet_payload, reference, "parquet")
            return sink.getvalue()

        def open_from(sealed: bytes) -> None:
            cipher.open(io.BytesIO(sealed), len(sealed), reference, "parquet")

        for _ in range(args.reps):
            times["frame_plain_write"].append(timed(plain_frame_write))
            times["frame_sealed_write"].append(timed(sealed_frame_write))
            times["frame_plain_read"].append(timed(lambda: pd.read_parquet(parquet)))
            times["frame_sealed_read"].append(timed(lambda: artifacts.get(refs["frame"])))
            times["array_plain_write"].append(timed(plain_array_write))
            times["array_sealed_write"].append(timed(sealed_array_write))
            times["array_plain_read"].append(timed(lambda: np.load(npy, allow_pickle=False)))
            times["array_sealed_read"].append(timed(lambda: artifacts.get(refs["array"])))
            times["cipher_seal"].append(timed(lambda: seal_into(io.BytesIO())))
            sealed = seal_into(io.BytesIO())
            times["cipher_open"].append(timed(lambda: open_from(sealed)))  # noqa: B023
        assert artifacts.get(refs["frame"]).equals(frame)

        sealed_file = artifacts.root / refs["frame"].path
        results: dict[str, Any] = {
            "machine": machine(
                pandas=pd.__version__,
                pyarrow=pyarrow.__version__,
                numpy=np.__version__,
                cryptography=cryptography.__version__,
            ),
            "reps": args.reps,
            "frame": {
                "rows": ROWS,
                "memory_bytes": frame_bytes,
                "parquet_bytes": parquet.stat().st_size,
                "sealed_bytes": sealed_file.stat().st_size,
            },
            "array": {"memory_bytes": array_bytes},
            "note": "MB/s are of the in-memory value (1 MB = 10^6 bytes); cipher_* on the "
            "Parquet bytes",
        }
        for key, seconds in times.items():
            size = array_bytes if key.startswith("array") else frame_bytes
            if key.startswith("cipher"):
                size = len(parquet_payload)
            results[key] = throughput(seconds, size)
        for kind in ("frame", "array"):
            for op in ("write", "read"):
                plain = results[f"{kind}_plain_{op}"]["median_s"]
                sealed_s = results[f"{kind}_sealed_{op}"]["median_s"]
                results[f"{kind}_{op}_ratio_sealed_over_plain"] = round(sealed_s / plain, 3)
        store.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        if isinstance(value, dict) and "median_s" in value:
            print(f"{key:22} {value['median_s']:8.3f} s  {value['mb_per_s']:8.1f} MB/s")
        elif key.endswith("ratio_sealed_over_plain"):
            print(f"{key:40} {value}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
