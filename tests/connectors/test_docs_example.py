"""The worked example of docs/connectors.md, executed as written, against a real server."""

from __future__ import annotations

import re
import sys
import types
import uuid
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.sdk import ActionError
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply, call, registered

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"


def _example() -> types.ModuleType:
    text = DOC.read_text()
    section = text[text.index("## Writing a connector") :]
    source = re.search(r"```python\n(.*?)```", section, re.S)
    assert source is not None, "docs/connectors.md lost its worked example"
    module = types.ModuleType("status_example")
    sys.modules[module.__name__] = module  # as an import would; pydantic resolves names there
    exec(compile(source.group(1), str(DOC), "exec"), module.__dict__)
    return module


def _status(request: Recorded) -> Reply:
    if request.headers.get("Authorization") != "Bearer tok-status-123":
        return Reply(401, {"error": "bad token"})
    name = request.path.rsplit("/", 1)[-1]
    if name == "broken":
        return Reply(503, "down")
    if name == "unknown":
        return Reply(404, {"error": "no such service"})
    return Reply(200, {"up": name != "db", "latency_ms": 12.5})


@pytest.fixture
def token(temporal: str) -> flowat.SecretHandle:
    name = f"status_{uuid.uuid4().hex[:6]}"
    flowat.set_secret(name, "tok-status-123")
    return flowat.secret(name)


def test_the_documented_connector_works_as_written(token: flowat.SecretHandle) -> None:
    example = _example()
    connector = example.connector
    assert connector.describe()["actions"][0]["name"] == "status.check"
    with LoopbackHTTPServer(_status) as server:
        out = call(connector, "check", base_url=server.url, service="api", token=token)
        assert out.model_dump() == {"service": "api", "up": True, "latency_ms": 12.5}
        with pytest.raises(ActionError) as retryable:
            call(connector, "check", base_url=server.url, service="broken", token=token)
        assert retryable.value.retryable
        with pytest.raises(ActionError) as final:
            call(connector, "check", base_url=server.url, service="unknown", token=token)
        assert not final.value.retryable
        assert "tok-status-123" not in str(final.value)
    assert server.requests[0].path == "/status/api"
    assert server.requests[0].headers["Authorization"] == "Bearer tok-status-123"


def test_the_documented_connector_as_an_action_step(
    token: flowat.SecretHandle, workflow_name: str
) -> None:
    connector = _example().connector
    with registered(connector), LoopbackHTTPServer(_status) as server:
        flowat.publish(
            workflow_name,
            cells=[
                Cell("base = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step check --action status.check\n"
                    f"base_url = base\nservice = 'db'\ntoken = flowat.secret({token.name!r})",
                    2,
                ),
                Cell("%%flowat step verdict\nverdict = 'up' if check['up'] else 'down'", 3),
            ],
        )
        run = flowat.run(workflow_name, parameters={"base": server.url})
    assert run.status == "succeeded", run.error
    assert run.outputs["check"]["check"] == {"service": "db", "up": False, "latency_ms": 12.5}
    assert run.outputs["verdict"]["verdict"] == "down"
