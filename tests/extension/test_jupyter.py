"""The Jupyter server extension, started for real (``jupyter server`` on loopback with a
token): the same API answers under Jupyter, as the notebook user when Jupyter
authenticated the request, and with FlowAt keys or webhook tokens otherwise."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowat_kernel.config import settings
from flowat_kernel.testing import free_port
from tests.server.helpers import local_key, publish

TOKEN = "jupyter-test-token"


@pytest.fixture(scope="module")
def jupyter(flowat_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    root = tmp_path_factory.mktemp("jupyter-root")
    log = root / "jupyter.log"
    env = {**os.environ, "FLOWAT_HOME": str(flowat_home), "FLOWAT_TASK_QUEUE": "jupyter-ext"}
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}", "--allow-root",
        # Enabled explicitly too, so the test does not depend on how the package was installed.
        "--ServerApp.jpserver_extensions={'flowat_extension': True}",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert "hooks/wh_" not in log.read_text()  # webhook tokens never reach the log
    assert "/codec/flowat_" not in log.read_text()  # nor the codec's path keys


def test_the_notebook_user_is_the_owner_of_the_personal_organization(jupyter: str) -> None:
    me = httpx.get(f"{jupyter}/api/v1/me", headers={"Authorization": f"token {TOKEN}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"] == settings().owner
    assert me.json()["organization"] == settings().owner
    assert me.json()["role"] == "owner" and me.json()["via"] == "jupyter"
    anonymous = httpx.get(f"{jupyter}/api/v1/me")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    assert httpx.get(f"{jupyter}/api/v1/nope").status_code in (401, 404)


def test_keys_and_webhooks_work_under_jupyter(jupyter: str, workflow_name: str) -> None:
    publish(workflow_name, body="out = {'n': n}")
    key = local_key()
    me = httpx.get(f"{jupyter}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["via"] == "key"
    hook = httpx.post(
        f"{jupyter}/api/v1/webhooks",
        json={"workflow": workflow_name, "signed": False},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert hook.status_code == 201, hook.text
    delivered = httpx.post(
        f"{jupyter}{hook.json()['path']}", params={"wait": "60s"}, json={"n": 9}, timeout=90
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outputs"]["work"]["out"] == {"n": 9}
    listed = httpx.get(
        f"{jupyter}/api/v1/runs",
        params={"workflow": workflow_name},
        headers={"Authorization": f"token {TOKEN}"},
    )
    assert [r["trigger"] for r in listed.json()["items"]] == ["webhook"]


def test_temporal_ui_decodes_through_the_codec_under_jupyter(
    jupyter: str, temporal: str, workflow_name: str
) -> None:
    import flowat_kernel as flowat
    from tests.server.test_codec_endpoint import _history_payloads

    publish(workflow_name, body="out = n + 1")
    run = flowat.run(workflow_name, parameters={"n": 4}, worker="always")
    assert run.status == "succeeded", run.error
    started = _history_payloads(run.record.temporal_workflow_id)["started"]
    key = local_key(scopes=["runs:read"])
    ui = {"Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}  # Temporal's UI
    preflight = httpx.options(
        f"{jupyter}/api/v1/codec/{key}/decode",
        headers={**ui, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    decoded = httpx.post(
        f"{jupyter}/api/v1/codec/{key}/decode", json={"payloads": started}, headers=ui
    )
    assert decoded.status_code == 200, decoded.text
    assert run.run_id in base64.b64decode(decoded.json()["payloads"][0]["data"]).decode()
    anonymous = httpx.post(
        f"{jupyter}/api/v1/codec/flowat_made_up/decode", json={"payloads": started}, headers=ui
    )
    assert anonymous.status_code == 401, anonymous.text
    assert run.run_id not in anonymous.text
