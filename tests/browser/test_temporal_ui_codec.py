"""Temporal's own Web UI reads FlowAt payloads through FlowAt's codec endpoint.

A Temporal dev server of this test's own (the session's is started without a codec)
serves its Web UI on 127.0.0.1 with ``--ui-codec-endpoint`` pointing at ``flowat
serve`` on loopback, the API key in the endpoint's path. A run whose input holds a
secret's value is opened in the UI in Debian's Chromium: the UI shows the decoded
input with the secret masked. Once the key is revoked (a wrong credential), the same
page shows only the encoded payload. Screenshots go to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import access, local_principal
from flowat_kernel.engine.devserver import find_temporal_binary
from flowat_kernel.runtime import reset_runtime
from flowat_kernel.testing import cells, free_port
from tests.browser.conftest import ARTIFACTS

CANARY = "canary-ui-codec-41c7d9"


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error: it answers
                return
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start; see {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Stack:
    """FlowAt's API and a Temporal dev server whose Web UI decodes through it."""

    api: str
    ui: str
    temporal: str
    key_id: str


@pytest.fixture
def stack(flowat_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """``flowat serve`` and ``temporal server start-dev --ui-codec-endpoint`` on loopback."""
    created = access().keys.create(local_principal(), name="temporal-ui", scopes=["runs:read"])
    api_port, port, ui_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    ARTIFACTS.mkdir(exist_ok=True)
    serve_log, temporal_log = ARTIFACTS / "codec-serve.log", ARTIFACTS / "codec-temporal.log"
    env = dict(os.environ, FLOWAT_HOME=str(flowat_home))
    flowat_cli = shutil.which("flowat", path=str(Path(sys.executable).parent)) or "flowat"
    with serve_log.open("w") as out:
        serve = subprocess.Popen(
            [flowat_cli, "serve", "--host", "127.0.0.1", "--port", str(api_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # the key is part of the endpoint the UI is given; it is never printed here
    codec = f"{api}/api/v1/codec/{created.key}"
    with temporal_log.open("w") as out:
        server = subprocess.Popen(
            [
                find_temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--ui-ip",
                "127.0.0.1",
                "--ui-port",
                str(ui_port),
                "--ui-codec-endpoint",
                codec,
                "--db-filename",
                str(tmp_path / "temporal.db"),
                "--log-level",
                "warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    print(f"\nflowat serve: {api}; Temporal: 127.0.0.1:{port}, Web UI http://127.0.0.1:{ui_port}")
    try:
        _wait_for(f"{api}/api/v1/openapi.json", serve, serve_log, "flowat serve")
        _wait_for(f"http://127.0.0.1:{ui_port}/", server, temporal_log, "Temporal's Web UI")
        monkeypatch.setenv("FLOWAT_TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
        monkeypatch.setenv("FLOWAT_TASK_QUEUE", f"ui-codec-{uuid.uuid4().hex[:10]}")
        reset_runtime()
        yield Stack(api, f"http://127.0.0.1:{ui_port}", f"127.0.0.1:{port}", created.info.id)
    finally:
        reset_runtime()
        _stop(server)
        _stop(serve)


def _codec_replies(page: Any) -> list[int]:
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/api/v1/codec/" in r.url else None,
    )
    return statuses


def test_temporal_web_ui_shows_decoded_masked_payloads_only_with_a_valid_key(
    stack: Stack, browser: Any, workflow_name: str
) -> None:
    flowat.set_secret("ui_codec_canary", CANARY)
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step shout\nloud = note.upper()", parameters="note = ''"),
    )
    run = flowat.run(workflow_name, parameters={"note": CANARY}, worker="always")
    assert run.status == "succeeded", run.error
    url = f"{stack.ui}/namespaces/default/workflows/{run.record.temporal_workflow_id}"

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        statuses = _codec_replies(page)
        page.goto(url)
        page.get_by_text('"note": "[secret:ui_codec_canary]"').first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "temporal-ui-decoded.png"), full_page=True)
        text = page.inner_text("body")
        # the run input as JSON, the parameter that held the secret's value masked
        assert f'"run_id": "{run.run_id}"' in text and f'"workflow": "{workflow_name}"' in text
        assert CANARY not in text
        assert "Codec Server could not connect" not in text
        assert 200 in statuses and 401 not in statuses, statuses

        # a wrong credential: the key in the UI's endpoint is revoked
        access().keys.revoke(local_principal(), stack.key_id)
        statuses.clear()
        page.reload()
        page.wait_for_function(  # the input shown as it is stored: base64 ciphertext
            """() => document.body.innerText.includes('Codec Server could not connect')
                && /Input\\s*"[A-Za-z0-9+/=]{64,}"/.test(document.body.innerText)""",
            timeout=60_000,
        )
        page.screenshot(path=str(ARTIFACTS / "temporal-ui-encoded.png"), full_page=True)
        text = page.inner_text("body")
        # only ciphertext: no field of the run input, no mask, no value
        assert '"run_id"' not in text and '"parameters"' not in text
        assert "[secret:" not in text and CANARY not in text
        assert statuses and set(statuses) == {401}, statuses
    finally:
        page.close()
