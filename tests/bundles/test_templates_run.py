"""Every shipped template publishes through ``templates use`` and runs on Temporal.

Outside services are loopback stand-ins, as in the connector tests: HTTP APIs and chat
webhooks (``LoopbackHTTPServer``), an OpenAI-compatible server (``FakeOpenAI``), a real
SMTP server (aiosmtpd), SQLite databases in the files root.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.bundles import use_template
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, free_port
from tests.connectors.fake_openai import FakeOpenAI

ORDERS = [
    {"id": 1, "region": "north", "amount": 120.0},
    {"id": 2, "region": "south", "amount": 35.5},
    {"id": 3, "region": "north", "amount": 8.0},
    {"id": 4, "region": "east", "amount": 250.0},
]


@pytest.fixture
def use(temporal: str, tmp_path: Path) -> Any:
    def publish(template: str) -> str:
        name = f"{template}_{secrets.token_hex(4)}"
        imported = use_template(default_workspace(), template, name=name, directory=tmp_path)
        assert imported.published.created and imported.notebook is not None
        assert imported.notebook.exists()
        return name

    return publish


@pytest.fixture
def data_root(flowat_home: Path) -> Path:
    root = flowat_home / "data"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def llm(temporal: str) -> Iterator[FakeOpenAI]:
    key = "sk-" + secrets.token_hex(12)
    flowat.set_secret("openai_api_key", key)
    with FakeOpenAI(api_key=key) as server:
        yield server


@pytest.fixture
def chat(temporal: str) -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer(lambda _: Reply(200, "ok")) as server:
        flowat.set_secret("chat_webhook_url", server.url + "/services/T000/B000/XXXX")
        yield server


def ran(name: str, **parameters: Any) -> Any:
    run = flowat.run(name, parameters=parameters)
    assert run.status == "succeeded", (run.error, [(s.name, s.error) for s in run.record.steps])
    return run.outputs


def test_api_to_duckdb(use: Any) -> None:
    answer = lambda r: Reply(200, {"orders": ORDERS})  # noqa: E731
    with LoopbackHTTPServer(answer) as api:
        out = ran(use("api_to_duckdb"), api_url=api.url + "/orders", min_amount=10.0)
    assert out["report"]["report"] == {"regions": 3, "top_region": "east", "revenue": 405.5}


def test_report_by_email(use: Any) -> None:
    received: list[Any] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        out = ran(
            use("report_by_email"),
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            smtp_starttls=False,
            recipients=["ops@example.com"],
        )
    finally:
        controller.stop()
    assert out["send"]["accepted"] == ["ops@example.com"]
    assert len(received) == 1 and b"mean: 13.81" in received[0].content


def test_webhook_to_chat(use: Any, chat: LoopbackHTTPServer) -> None:
    name = use("webhook_to_chat")
    out = ran(name)
    assert out["alert"]["posted"] is True
    assert "disk 91% full" in chat.requests[-1].json()["text"]
    quiet = flowat.run(
        name, parameters={"event": {"severity": "info", "host": "h", "message": "m"}}
    )
    assert quiet.status == "succeeded"
    assert {s.name: s.status for s in quiet.record.steps}["alert"] == "skipped"
    assert len(chat.requests) == 1


def test_llm_summarise(use: Any, llm: FakeOpenAI) -> None:
    out = ran(use("llm_summarise"), llm_base_url=llm.base_url, text="one two three")
    assert out["digest"]["digest"]["summary"] == "Summary: one two three"
    assert out["digest"]["digest"]["tokens"] > 0


def test_rag_local_docs(use: Any, llm: FakeOpenAI, data_root: Path) -> None:
    folder = data_root / "handbook"
    folder.mkdir(exist_ok=True)
    (folder / "expenses.md").write_text(
        "# Expenses\n\nSubmit expenses within 30 days of purchase.\n\nKeep receipts."
    )
    (folder / "security.md").write_text(
        "# Security\n\nLock your screen.\n\nUse a password manager."
    )
    (folder / "onboarding.md").write_text("# Onboarding\n\nYour first week: meet the team.")
    out = ran(use("rag_local_docs"), llm_base_url=llm.base_url)
    result = out["result"]["result"]
    assert result["sources"][0] == "expenses.md" and len(result["sources"]) == 2
    assert result["answer"].startswith("Summary:")
    # The prompt cell captured into the version, rendered with the nearest chunks.
    prompt = llm.requests[-1].json()["messages"][-1]["content"]
    assert prompt.startswith("Answer the question from these excerpts only;")
    assert "[expenses.md]" in prompt and "within 30 days" in prompt
    assert prompt.endswith("Question: How many days do I have to submit expenses?")


def test_data_quality_check(use: Any, chat: LoopbackHTTPServer, data_root: Path) -> None:
    import duckdb

    folder = data_root / "incoming"
    folder.mkdir(exist_ok=True)
    (folder / "orders.csv").write_text("id,region,amount\n1,north,10\n1,,20\n2,,30\n3,east,\n")
    name = use("data_quality_check")
    out = ran(name)
    assert out["passed"]["passed"] is False
    text = chat.requests[-1].json()["text"]
    assert "'region' is 50% empty" in text and "1 duplicate values of 'id'" in text
    clean = folder / "clean.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES (1, 'north', 1.5), (2, 'east', 2.5)) t(id, region, amount)"
    ).write_parquet(str(clean))
    out = ran(name, data_file="incoming/clean.parquet")
    assert out["passed"]["passed"] is True and out["problems"]["problems"] == []
    assert len(chat.requests) == 1


def test_approval_flow(use: Any) -> None:
    name = use("approval_flow")
    started = flowat.run(name, wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        steps = {s.name: s.status for s in flowat.get_run(started.run_id).record.steps}
        if steps.get("approval") == "running":
            break
        time.sleep(0.2)
    flowat.signal(started.run_id, "approve", {"approved": False, "by": "grace"})
    done = flowat.wait(started.run_id, timeout=60)
    assert done.status == "succeeded"
    assert done.outputs["decision"]["decision"] == {
        "request": "PO-1042",
        "approved": False,
        "by": "grace",
    }
    small = ran(name, request={"id": "PO-1", "requester": "a", "amount": 10.0, "purpose": "pen"})
    assert small["decision"]["decision"]["by"] == "auto"


def test_fanout_enrichment(use: Any) -> None:
    def answer(request: Recorded) -> Reply:
        number = int(request.path.rsplit("/", 1)[-1])
        return Reply(200, {"tier": "gold" if number % 2 else "silver"})

    with LoopbackHTTPServer(answer) as api:
        out = ran(use("fanout_enrichment"), api_url=api.url + "/customers")
        paths = sorted(r.path for r in api.requests)
    assert out["summary"]["summary"] == {"enriched": 5, "tiers": {"gold": 3, "silver": 2}}
    assert paths == [f"/customers/{n}" for n in range(101, 106)]


def test_database_sync(use: Any, data_root: Path) -> None:
    folder = data_root / f"sync_{secrets.token_hex(3)}"
    folder.mkdir()
    with sqlite3.connect(folder / "source.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER, name TEXT, email TEXT, updated_at TEXT)")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [(1, "ada", "ada@x", "2024-01-02"), (2, "alan", "alan@x", "2024-03-01")],
        )
    db.close()
    urls = {
        "source_url": f"sqlite:///{folder.name}/source.db",
        "target_url": f"sqlite:///{folder.name}/target.db",
    }
    name = use("database_sync")
    assert ran(name, **urls)["load"]["synced"] == {"rows": 2, "loaded": 2}
    with sqlite3.connect(folder / "source.db") as db:
        db.execute("UPDATE customers SET email = 'ada@new', updated_at = '2024-05-01' WHERE id = 1")
    db.close()
    assert ran(name, **urls, since="2024-04-01")["load"]["synced"]["rows"] == 1
    with sqlite3.connect(folder / "target.db") as db:
        rows = db.execute("SELECT id, email FROM customers ORDER BY id").fetchall()
    db.close()
    assert rows == [(1, "ada@new"), (2, "alan@x")]


def test_agent_with_tools(use: Any, llm: FakeOpenAI) -> None:
    parameters = {"llm_base_url": llm.base_url, "task": "count these four words"}
    run = flowat.run(use("agent_with_tools"), parameters=parameters)
    assert run.status == "succeeded", run.error
    result = run.outputs["result"]["result"]
    # The model called the count_words step (as its own activity) with its own argument.
    assert result["tools_called"] == ["count_words"]
    assert result["tool_results"] == [{"words": 4, "characters": 22}]
    assert result["model_calls"] == 2 and result["stop_reason"] == "done"
    assert result["answer"].startswith("Summary:")
    first = llm.requests[0].json()
    assert [t["function"]["name"] for t in first["tools"]] == ["count_words", "utc_now"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["text"]
    second = llm.requests[-1].json()["messages"]
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["words"] == 4
    steps = {s.name: s.status for s in run.record.steps}
    assert steps["count_words"] == "succeeded" and steps["utc_now"] == "skipped"


def test_use_lists_missing_secrets_and_how_to_set_them(
    temporal: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowat_kernel.cli.main import main

    secret = "smtp_password"
    with contextlib.suppress(flowat.NotFoundError):
        flowat.delete_secret(secret)
    name = f"mail_{secrets.token_hex(4)}"
    assert (
        main(["templates", "use", "report_by_email", "--name", name, "--dir", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert f"secret {secret!r} is not set yet: flowat secrets set {secret}" in out
    assert (tmp_path / f"{name}.ipynb").exists()
    assert (
        main(["templates", "use", "report_by_email", "--name", name, "--dir", str(tmp_path)]) == 2
    )
    assert "already exists" in capsys.readouterr().err
