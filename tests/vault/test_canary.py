"""A canary secret goes through a real run and leaks nowhere.

A step reveals the canary, prints it to stdout and stderr, logs it, exports it and a
value built from it; a downstream step receives them intact and computes with them;
a second run raises with the canary in the message. Afterwards the canary's bytes are
in none of: the metadata store (SQLite file or every PostgreSQL table), the run's
Temporal history fetched through the client, the Temporal dev server's files, the run
records, `flowat run --json`, `flowat history`, the process's output or its logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import flowat_kernel as flowat
from flowat_kernel.cli.main import main as cli
from flowat_kernel.compiler import Cell
from flowat_kernel.runtime import get_runtime, reset_runtime


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[_Collect]:
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, temporal: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("FLOWAT_DATABASE_URL", url)
        reset_runtime()
        return url
    return get_runtime().settings.database_url


def _cells(secret_name: str) -> list[Cell]:
    return [
        Cell("explode = False", 1, tags=("parameters",)),
        Cell(
            "%%flowat step fetch\n"
            "import logging, sys\n"
            f"token = flowat.secret({secret_name!r}).reveal()\n"
            "print('fetched', token)\n"
            "print('on stderr', token, file=sys.stderr)\n"
            "logging.getLogger('user.step').warning('token is %s', token)\n"
            "header = {'Authorization': 'Bearer ' + token}\n"
            "handle = repr(flowat.secret(" + repr(secret_name) + "))\n",
            2,
        ),
        Cell(
            "%%flowat step use --retries 0\n"
            "import hashlib\n"
            "digest = hashlib.sha256(header['Authorization'].encode()).hexdigest()\n"
            "length = len(token)\n"
            "if explode:\n"
            "    raise ValueError('the API rejected ' + header['Authorization'])\n",
            3,
        ),
    ]


def _store_text(url: str) -> bytes:
    """Every byte the metadata store holds: the SQLite files, or every PostgreSQL row."""
    engine = sa.create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            path = Path(str(engine.url.database))
            files = [path, *path.parent.glob(path.name + "-*")]
            # Read in another process: closing a descriptor of the database in this one
            # would drop the POSIX locks this process's SQLite connections hold on it.
            read = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"
            return b"".join(
                subprocess.run(
                    [sys.executable, "-c", read, str(f)], capture_output=True, check=True
                ).stdout
                for f in files
                if f.exists()
            )
        chunks: list[bytes] = []
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for (row,) in conn.execute(sa.text(f'SELECT t::text FROM "{table}" t')):
                    chunks.append(row.encode())
        return b"\n".join(chunks)
    finally:
        engine.dispose()


def _files_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_canary_secret_leaks_nowhere(
    store_url: str,
    workflow_name: str,
    flowat_home: Path,
    logs: _Collect,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret_name = f"canary_{uuid.uuid4().hex[:8]}"
    canary = f"cAnArY-{uuid.uuid4().hex}"
    needle = canary.encode()
    flowat.set_secret(secret_name, canary)
    flowat.publish(workflow_name, cells=_cells(secret_name))

    ok = flowat.run(workflow_name)
    failed = flowat.run(workflow_name, parameters={"explode": True})

    # The downstream step received the value intact and computed with it.
    assert ok.status == "succeeded", ok.error
    expected = hashlib.sha256(f"Bearer {canary}".encode()).hexdigest()
    assert ok.outputs["use"]["digest"] == expected
    assert ok.outputs["use"]["length"] == len(canary)
    assert ok.outputs["fetch"]["handle"] == f"flowat.secret({secret_name!r})"
    # ... while what people see is masked, and says which secret it was.
    mark = f"[secret:{secret_name}]"
    fetch = next(s for s in ok.record.steps if s.name == "fetch")
    assert fetch.logs is not None and f"fetched {mark}" in fetch.logs
    assert ok.outputs["fetch"]["token"] == mark
    assert ok.outputs["fetch"]["header"] == {"Authorization": f"Bearer {mark}"}
    # What the step logged is the step's own output (as a notebook shows it), masked;
    # it never reaches the worker process's log.
    shown = (fetch.logs or "") + json.dumps(fetch.display or [])
    assert f"token is {mark}" in shown
    assert not any("token is" in line for line in logs.lines)

    assert failed.status == "failed"
    assert failed.error is not None and mark in str(failed.error["message"])
    use = next(s for s in failed.record.steps if s.name == "use")
    assert use.error is not None and mark in use.error["traceback"]

    # Usage metadata: which workflow used it, never the value.
    info = next(i for i in flowat.list_secrets() if i.name == secret_name)
    assert info.used_by == (workflow_name,) and info.last_used_at is not None

    # Temporal history, fetched through the client: ciphertext only.
    runtime = get_runtime()

    async def history_bytes(run: flowat.Run) -> bytes:
        client = await runtime.client()
        handle = client.get_workflow_handle(run.record.temporal_workflow_id)
        history = await handle.fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        return raw + history.to_json().encode()

    for run in (ok, failed):
        raw = runtime.call(history_bytes(run))
        assert b"binary/flowat-encrypted" in raw or b"YmluYXJ5L2Zsb3dhdC1lbmNyeXB0ZWQ" in raw
        assert needle not in raw
        assert json.dumps(canary)[1:-1].encode() not in raw

    # The CLI's views of the run: masked too.
    assert cli(["history", ok.run_id, "--json"]) == 0
    assert cli(["runs", workflow_name, "--json"]) == 0
    out, err = capfd.readouterr()
    assert mark in out
    assert canary not in out and canary not in err

    # Records, the store's bytes, Temporal's files, logs.
    records = json.dumps(
        [flowat.get_run(r.run_id).record.model_dump(mode="json") for r in (ok, failed)]
    )
    assert canary not in records
    assert needle not in _store_text(store_url)
    reset_runtime()  # flush and close connections before reading the files
    assert needle not in _files_under(flowat_home / "temporal")
    assert needle not in _files_under(flowat_home / "vault")
    assert all(canary not in line for line in logs.lines)


def test_cli_takes_values_from_stdin_only_and_masks_its_own_output(
    temporal: str, workflow_name: str
) -> None:
    import os
    import subprocess
    import sys

    secret_name = f"cli_{uuid.uuid4().hex[:8]}"
    canary = f"cLiCaNaRy-{uuid.uuid4().hex}"
    flowat_cli = [sys.executable, "-m", "flowat_kernel.cli.main"]
    env = dict(os.environ)

    def flowat_cmd(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*flowat_cli, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
        )

    refused = flowat_cmd("secrets", "set", secret_name, canary)
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
    empty = flowat_cmd("secrets", "set", secret_name, stdin="")
    assert empty.returncode == 2 and "standard input" in empty.stderr
    stored = flowat_cmd("secrets", "set", secret_name, stdin=canary + "\n")
    assert stored.returncode == 0, stored.stderr
    assert canary not in stored.stdout + stored.stderr

    flowat.publish(
        workflow_name,
        cells=[
            Cell(
                "%%flowat step leak\nimport sys, threading\n"
                f"token = flowat.secret({secret_name!r}).reveal()\n"
                "sys.stdout.write('direct ' + token + '\\n')\n"
                "sys.stderr.write('direct ' + token + '\\n')\n"
                "_t = threading.Thread(\n"
                "    target=lambda: sys.stdout.write('thread ' + token + '\\n')\n"
                ")\n"
                "_t.start(); _t.join()\n"
                "length = len(token)",
                1,
            )
        ],
    )
    ran = flowat_cmd("run", workflow_name, "--worker", "always", "--json")
    assert ran.returncode == 0, ran.stderr
    mark = f"[secret:{secret_name}]"
    assert canary not in ran.stdout + ran.stderr
    # What the step wrote (from its own thread too) is its output, masked: it is in the
    # run's record, never on the command's own streams (stdout holds only the JSON).
    document = json.loads(ran.stdout)
    (step,) = flowat.get_run(document["run_id"]).record.steps
    shown = (step.logs or "") + json.dumps(step.display or [])
    assert f"direct {mark}" in shown and f"thread {mark}" in shown
    assert canary not in shown
    listed = flowat_cmd("secrets", "list", "--json")
    assert listed.returncode == 0 and canary not in listed.stdout
    entry = next(e for e in json.loads(listed.stdout) if e["name"] == secret_name)
    assert entry["used_by"] == [workflow_name]
