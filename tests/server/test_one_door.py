"""One door: a Viewer is refused ``run`` the same way through every face.

The Python API, the ``%flowat`` magic, the ``flowat`` CLI and the REST API all call the
same workspace method, so the same principal gets the same answer from each: here a
Viewer (acting through ``FLOWAT_API_KEY`` for the first three) is refused ``runs:write``
with one message, and no run is recorded. The same key's Editor succeeds, so the refusal
is the role's, not a broken set-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.access.errors import Forbidden
from flowat_kernel.runtime import get_runtime
from tests.server.helpers import Api, new_org, publish

REFUSAL = "the viewer role may not use runs:write"


@pytest.fixture
def viewer_org(flowat_home: Path, api_server: str) -> Iterator[tuple[object, str]]:
    org = new_org("door")
    publish("door_flow", owner=org.slug)
    yield org, api_server


def _runs_of(owner: str) -> int:
    return len(get_runtime().store.list_runs(owner, "door_flow", 100))


def _acting_as(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("FLOWAT_API_KEY", key)


def test_a_viewer_is_refused_run_through_the_python_api(
    viewer_org: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _ = viewer_org
    _acting_as(monkeypatch, org.keys[Role.VIEWER])
    with pytest.raises(Forbidden, match=REFUSAL):
        flowat.run("door_flow", parameters={"n": 2})
    assert _runs_of(org.slug) == 0
    # Reading is a Viewer's right: the same door lets it through.
    assert [v.number for v in flowat.versions("door_flow")] == [1]


def test_a_viewer_is_refused_run_through_the_magic(
    viewer_org: tuple, monkeypatch: pytest.MonkeyPatch, shell: object
) -> None:
    org, _ = viewer_org
    _acting_as(monkeypatch, org.keys[Role.VIEWER])
    result = shell.run_cell("%flowat run door_flow -p n=2")  # type: ignore[attr-defined]
    assert result.error_in_exec is not None
    assert REFUSAL in str(result.error_in_exec)
    assert _runs_of(org.slug) == 0


def test_a_viewer_is_refused_run_through_the_cli(viewer_org: tuple) -> None:
    org, _ = viewer_org
    env = {**os.environ, "FLOWAT_API_KEY": org.keys[Role.VIEWER]}
    done = subprocess.run(
        [sys.executable, "-m", "flowat_kernel.cli.main", "run", "door_flow", "-p", "n=2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr  # a usage error: the role, not a failure
    assert REFUSAL in done.stderr
    assert _runs_of(org.slug) == 0


def test_a_viewer_is_refused_run_through_rest(viewer_org: tuple) -> None:
    org, base = viewer_org
    response = Api(base, org.keys[Role.VIEWER]).post("/workflows/door_flow/runs", json={})
    assert response.status_code == 403
    assert REFUSAL in response.text
    assert _runs_of(org.slug) == 0


def test_an_editor_key_runs_through_the_python_api(
    viewer_org: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, _ = viewer_org
    _acting_as(monkeypatch, org.keys[Role.EDITOR])
    run = flowat.run("door_flow", parameters={"n": 21}, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.outputs["work"]["out"] == 42
    assert _runs_of(org.slug) == 1


def test_a_revoked_key_is_refused_before_anything_runs(
    viewer_org: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowat_kernel.access.errors import Unauthenticated

    _acting_as(monkeypatch, "flowat_not-a-real-key")
    with pytest.raises(Unauthenticated):
        flowat.run("door_flow", parameters={"n": 2})
