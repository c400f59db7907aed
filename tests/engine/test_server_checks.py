"""On connect to a cluster FlowAt checks the server's version and the namespace, and says
what is missing. The "cluster" is the session's real Temporal dev server, reached through
FLOWAT_TEMPORAL_ADDRESS as a deployment would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flowat_kernel.config import settings
from flowat_kernel.engine import devserver
from flowat_kernel.engine.connection import connect
from flowat_kernel.engine.server_checks import MINIMUM_SERVER, check_server, parse_version
from flowat_kernel.errors import ConfigError


@pytest.fixture
def cluster(flowat_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    server, _ = devserver.ensure_running(flowat_home / "temporal")
    monkeypatch.setenv("FLOWAT_TEMPORAL_ADDRESS", server.address)
    return server.address


def test_a_good_cluster_passes_and_reports_its_version(cluster: str) -> None:
    async def check() -> tuple[str, float | None]:
        client = await connect(settings())
        info = await check_server(client, cluster)
        return info.version, info.retention_days

    version, retention = asyncio.run(check())
    parsed = parse_version(version)
    assert parsed is not None and parsed >= MINIMUM_SERVER
    assert retention is not None and retention > 0


def test_a_missing_namespace_says_which_and_how_to_create_it(
    cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = f"nope-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FLOWAT_TEMPORAL_NAMESPACE", missing)
    with pytest.raises(ConfigError) as refused:
        asyncio.run(connect(settings()))
    message = str(refused.value)
    assert f"namespace {missing!r} does not exist on {cluster}" in message
    assert f"temporal operator namespace create --namespace {missing}" in message

    # the CLI says the same, as a usage error (exit 2), before doing anything
    result = subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", "queues"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert f"namespace {missing!r} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_older_server_than_flowat_needs_is_refused_with_the_minimum(cluster: str) -> None:
    async def check() -> None:
        client = await connect(settings())
        await check_server(client, cluster, minimum=(99, 0, 0))

    with pytest.raises(ConfigError, match=r"FlowAt needs 99\.0\.0 or later"):
        asyncio.run(check())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.32.0", (1, 32, 0)), ("v1.25.2-rc1", (1, 25, 2)), ("unknown", None), ("", None)],
)
def test_versions_parse(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == expected
