"""Embedding throughput and vector search latency, each against a same-run baseline.

Embeddings: documents per second through the ``llm.embed`` action (input validation,
breaker, usage record) with the local backend, against the bundled model called
directly (``static_model.get_embeddings``) on the same documents; interleaved rounds,
median kept.

Search: 100,000 chunks (by default) in a DuckDB index built by
``flowat_kernel.ai.vectors.VectorIndex`` (``FLOAT[n]`` column), top-k by
``array_cosine_similarity``, against a plain numpy brute-force scan of the same
normalised float32 matrix held in memory (one matrix-vector product and
``argpartition``). Timed: ``VectorIndex.search`` as ``llm.search`` runs it (opening
the file read-only each time), the same query on a warm connection, and numpy. Two
sizes of vector: 64 dimensions (the local model's real embeddings of synthetic
documents) and 384 (random unit vectors, the size of common hosted small models). The
top-1 hit of DuckDB and numpy must agree on every query, or the benchmark fails.

Run: ``python benchmarks/bench_vectors.py`` (results in benchmarks/results/vectors.json).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

RESULTS = Path(__file__).resolve().parent / "results" / "vectors.json"
_VOCABULARY = (
    "invoice payment order customer shipment delay refund warehouse stock price discount "
    "kitten dog cat garden weather rain sunny forecast vacation holiday travel flight hotel "
    "password login account security badge office meeting report budget revenue profit "
    "engine workflow notebook cell step retry queue worker server database table query"
)
WORDS = _VOCABULARY.split(" ")


def documents(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(30, 90))) for _ in range(count)]


def median_rate(fn: Any, items: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return items / statistics.median(times)


def bench_embeddings(count: int, rounds: int) -> dict[str, Any]:
    from static_model import get_embeddings

    from flowat_connectors.llm import connector
    from flowat_kernel.testing import call

    texts = documents(count)
    get_embeddings(texts[:10])
    call(connector, "embed", texts=texts[:10])
    flowat_rates, raw_rates = [], []
    for _ in range(rounds):  # interleaved
        flowat_rates.append(median_rate(lambda: call(connector, "embed", texts=texts), count, 1))
        raw_rates.append(median_rate(lambda: get_embeddings(texts), count, 1))
    flowat = statistics.median(flowat_rates)
    raw = statistics.median(raw_rates)
    return {
        "documents": count,
        "words_per_document": "30-90",
        "llm_embed_docs_per_s": round(flowat),
        "raw_model_docs_per_s": round(raw),
        "ratio_raw_over_flowat": round(raw / flowat, 2),
    }


def bench_search(vectors: np.ndarray, queries: np.ndarray, k: int, folder: Path) -> dict[str, Any]:
    import duckdb

    from flowat_kernel.ai.vectors import VectorIndex

    count, dimensions = vectors.shape
    names = [f"doc{i}" for i in range(count)]
    index = VectorIndex(folder / f"bench{dimensions}.duckdb")
    started = time.perf_counter()
    index.load_arrays("bench", names, vectors)
    build_seconds = time.perf_counter() - started
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def numpy_top(q: np.ndarray) -> list[int]:
        scores = normalised @ (q / np.linalg.norm(q))
        top = np.argpartition(-scores, k)[:k]
        return [int(i) for i in top[np.argsort(-scores[top])]]

    sql = (
        f"SELECT document, array_cosine_similarity(embedding, ?::FLOAT[{dimensions}]) AS score "
        "FROM chunks ORDER BY score DESC LIMIT ?"
    )
    warm = duckdb.connect(str(index.path), read_only=True)
    index.search(queries[0].tolist(), k)
    warm.execute(sql, [queries[0].tolist(), k]).fetchall()
    numpy_top(queries[0])
    cold_ms, warm_ms, numpy_ms = [], [], []
    for q in queries:  # interleaved per query
        listed = q.tolist()
        started = time.perf_counter()
        hits = index.search(listed, k)
        cold_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        warm.execute(sql, [listed, k]).fetchall()
        warm_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        top = numpy_top(q)
        numpy_ms.append(1000 * (time.perf_counter() - started))
        if hits[0].document != names[top[0]]:
            raise AssertionError(f"top-1 differs: duckdb {hits[0].document}, numpy {names[top[0]]}")
    warm.close()
    numpy_median = statistics.median(numpy_ms)
    return {
        "chunks": count,
        "dimensions": dimensions,
        "k": k,
        "queries": len(queries),
        "index_build_s": round(build_seconds, 2),
        "index_file_mb": round(index.path.stat().st_size / 1e6, 1),
        "duckdb_search_ms_median": round(statistics.median(cold_ms), 2),
        "duckdb_warm_connection_ms_median": round(statistics.median(warm_ms), 2),
        "numpy_ms_median": round(numpy_median, 2),
        "ratio_duckdb_over_numpy": round(statistics.median(cold_ms) / numpy_median, 1),
        "ratio_warm_duckdb_over_numpy": round(statistics.median(warm_ms) / numpy_median, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=5000, help="documents to embed")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved embedding rounds")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the index")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import duckdb
    import static_model

    from flowat_kernel.ai.vectors import embed_local

    report: dict[str, Any] = {
        "machine": machine(duckdb=duckdb.__version__, numpy=np.__version__),
        "model_package": Path(static_model.__file__).parent.name,
    }
    report["embeddings"] = bench_embeddings(args.documents, args.rounds)
    print(json.dumps(report["embeddings"], indent=2))
    texts = documents(args.chunks, seed=11)
    started = time.perf_counter()
    real = np.asarray(embed_local(texts), dtype=np.float32)
    report["embed_index_texts_seconds"] = round(time.perf_counter() - started, 2)
    print("embedded", len(texts), "texts in", report["embed_index_texts_seconds"], "s")
    query_texts = documents(args.queries, seed=99)
    real_queries = np.asarray(embed_local(query_texts), dtype=np.float32)
    rng = np.random.default_rng(3)
    wide = rng.standard_normal((args.chunks, 384)).astype(np.float32)
    wide_queries = rng.standard_normal((args.queries, 384)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        report["search"] = [
            bench_search(real, real_queries, args.k, Path(folder)),
            bench_search(wide, wide_queries, args.k, Path(folder)),
        ]
    print(json.dumps(report["search"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
