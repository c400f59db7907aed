"""Embeddings and retrieval: the bundled local model for real, the OpenAI backend on the fake.

The local model runs in this process from the files its package installed; a separate
process with hub access off and every proxy pointing at a closed port shows it needs no
network. ``llm.index`` reads a folder of a files root (links never followed), and
``llm.search`` ranks by DuckDB's ``array_cosine_similarity``; indexes belong to one
organization and workflow.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_connectors.llm import connector
from flowat_kernel.compiler import Cell
from flowat_kernel.runtime import reset_runtime
from flowat_kernel.sdk import ActionError
from flowat_kernel.testing import call, free_port
from tests.connectors.fake_openai import FakeOpenAI, fake_embedding

DOCS = {
    "pets/cats.md": "Cats are small domestic animals. A kitten sleeps most of the day "
    "and a cat purrs when it is content.",
    "pets/dogs.txt": "Dogs are loyal pets. A puppy needs walks, training and play.",
    "finance/q3.md": "Quarterly revenue grew by ten percent; operating costs fell and the "
    "profit margin improved.",
    "howto/password.txt": "To reset a forgotten password, open the login page and follow "
    "the recovery link sent by email.",
    "notes.csv": "not,indexed",
}


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_the_local_model_puts_semantic_neighbours_above_unrelated_text(temporal: str) -> None:
    texts = [
        "The kitten is sleeping on the sofa.",
        "A cat naps on the couch.",
        "Quarterly revenue grew by ten percent.",
        "How do I recover my forgotten password?",
        "Steps to reset a lost login password",
    ]
    output: Any = call(connector, "embed", texts=texts)
    assert output.model == "tokenlearn-static-10k-64d" and output.dimensions == 64
    assert output.cost_usd == 0 and output.tokens == 0
    v = output.vectors
    assert all(abs(math.sqrt(sum(x * x for x in row)) - 1) < 1e-3 for row in v)
    assert _cosine(v[0], v[1]) > max(_cosine(v[0], v[2]), _cosine(v[0], v[3]))
    assert _cosine(v[3], v[4]) > max(_cosine(v[3], v[0]), _cosine(v[3], v[2]))


def test_the_local_model_needs_no_network_or_hub(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "ALL_PROXY": closed,
        "HF_HOME": str(tmp_path / "no-hub-cache"),
    }
    code = (
        "import json, static_model\n"
        "from flowat_kernel.ai.vectors import embed_local\n"
        "print(json.dumps([static_model.__file__, len(embed_local(['offline text'])[0])]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    where, dimensions = json.loads(done.stdout.strip().splitlines()[-1])
    assert "site-packages" in where and dimensions == 64
    assert not (tmp_path / "no-hub-cache").exists()


def test_the_openai_backend_embeds_in_batches_with_usage_and_cost(
    fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    texts = [f"text number {i}" for i in range(5)]
    output: Any = call(
        connector,
        "embed",
        texts=texts,
        backend="openai",
        base_url=fake.base_url,
        api_key=flowat.secret(api_key[0]),
        batch_size=2,
    )
    assert output.vectors == [fake_embedding(t) for t in texts]
    assert output.model == "text-embedding-3-small" and output.dimensions == 16
    assert output.tokens == 15
    assert output.cost_usd == pytest.approx(15 * 0.02 / 1e6)
    assert [len(r.json()["input"]) for r in fake.requests] == [2, 2, 1]
    headers = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert headers["authorization"] == f"Bearer {api_key[1]}"


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (401, False)])
def test_embedding_errors_are_classified(
    fake: FakeOpenAI, api_key: tuple[str, str], status: int, retryable: bool
) -> None:
    fake.fail(status)
    with pytest.raises(ActionError, match=f"llm.embed: .*{status}") as caught:
        call(
            connector,
            "embed",
            texts=["x"],
            backend="openai",
            base_url=fake.base_url,
            api_key=flowat.secret(api_key[0]),
        )
    assert caught.value.retryable is retryable
    assert api_key[1] not in str(caught.value)


@pytest.fixture
def documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, temporal: str) -> Path:
    """A files root ``docs`` holding :data:`DOCS`, a link out of it, and a secret beside it."""
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    outside = tmp_path / "outside.md"
    outside.write_text("TOP SECRET launch codes")
    (root / "pets" / "link.md").symlink_to(outside)
    monkeypatch.setenv("FLOWAT_FILES_ROOTS", f"docs={root}")
    reset_runtime()
    return root


def _rag_cells(index: str, query_only: bool = False) -> list[Cell]:
    build = Cell(
        "%%flowat step build --action llm.index\n"
        f'index = "{index}"\nroot = "docs"\nchunk_size = 120\noverlap = 20\n',
        2,
    )
    ask = Cell(
        "%%flowat step ask --action llm.search --after build\n"
        f'index = "{index}"\nquery = question\nk = 2\n',
        3,
    )
    if query_only:
        ask = Cell(ask.source.replace(" --after build", ""), 3)
    cells = [Cell('question = "my kitten sleeps all day"', 1, tags=("parameters",))]
    return [*cells, ask] if query_only else [*cells, build, ask]


def test_a_workflow_indexes_a_folder_and_retrieves_the_nearest_chunks(
    documents: Path, workflow_name: str
) -> None:
    flowat.publish(workflow_name, cells=_rag_cells("pets"))
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error

    built = run.outputs["build"]["build"]
    assert built["documents"] == 4 and built["chunks"] >= 4
    assert built["model"] == "tokenlearn-static-10k-64d" and built["dimensions"] == 64
    assert built["skipped"] == ["pets/link.md: a symbolic link (never followed)"]
    hits = run.outputs["ask"]["ask"]["hits"]
    assert hits[0]["document"] == "pets/cats.md"
    assert hits[0]["score"] >= hits[1]["score"]
    assert all("SECRET" not in h["text"] for h in hits)

    password = flowat.run(workflow_name, parameters={"question": "I lost my password"})
    assert password.outputs["ask"]["ask"]["hits"][0]["document"] == "howto/password.txt"

    # The index is this workflow's: another workflow does not see it.
    flowat.publish(workflow_name + "_other", cells=_rag_cells("pets", query_only=True))
    other = flowat.run(workflow_name + "_other")
    assert other.status == "failed"
    assert other.error is not None and "no index 'pets'" in other.error["message"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"folder": "../outside"}, "out of"),
        ({"root": "/etc"}, "not a configured files root"),
        ({"index": "../escape"}, "index"),
        ({"overlap": 200, "chunk_size": 100}, "overlap"),
    ],
)
def test_bad_index_input_is_refused(documents: Path, change: dict[str, Any], words: str) -> None:
    params = {"index": "x", "root": "docs", **change}
    with pytest.raises(ActionError, match=words) as caught:
        call(connector, "index", **params)
    assert caught.value.retryable is False


def test_searching_with_another_model_than_the_index_is_refused(
    documents: Path, fake: FakeOpenAI, api_key: tuple[str, str]
) -> None:
    built: Any = call(connector, "index", index="mixed", root="docs")
    assert built.chunks >= 4
    found: Any = call(connector, "search", index="mixed", query="cat", k=1)
    assert found.hits[0].document == "pets/cats.md"
    with pytest.raises(ActionError, match="built with 'tokenlearn-static-10k-64d'"):
        call(
            connector,
            "search",
            index="mixed",
            query="cat",
            backend="openai",
            base_url=fake.base_url,
            api_key=flowat.secret(api_key[0]),
        )
    assert fake.requests == []
