"""Every run id FlowAt prints, short (its first 12 characters) or full, finds the run.

Through the Python API, the CLI, the magics' monitor and REST, within the caller's
organization only; an ambiguous or too short prefix is refused with what to do.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.cli.main import main
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from flowat_kernel.widgets.monitor import RunMonitor
from tests.server.helpers import Api, new_org, publish


def test_a_short_id_finds_the_run_everywhere(
    api: Api,
    temporal: str,
    workflow_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flowat.publish(workflow_name, cells=cells("%%flowat step one --local\nx = 41 + 1"))
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    short = run.run_id[:12]

    assert flowat.get_run(short).run_id == run.run_id
    assert flowat.get_run(short.upper()).run_id == run.run_id
    assert flowat.wait(short, timeout=5).run_id == run.run_id
    reply = api.get(f"/runs/{short}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["run_id"] == run.run_id
    assert main(["report", short, "-o", str(tmp_path / "r.ipynb")]) == 0
    assert (tmp_path / "r.ipynb").exists()
    capsys.readouterr()
    monitor = RunMonitor(short, follow=False)
    assert monitor.record.run_id == run.run_id


def test_prefixes_that_cannot_name_one_run_are_refused(flowat_home: Path, api: Api) -> None:
    store = get_runtime().store
    name = f"wf_{uuid.uuid4().hex[:8]}"
    publish(name)
    version = store.get_version(flowat.api.default_workspace().owner, name, 1)
    shared = uuid.uuid4().hex[:10]
    first, second = shared + "0" * 22, shared + "1" * 22
    for run_id in (first, second):
        store.create_run(run_id, version, {"n": 1}, "test", f"flowat-{name}-{run_id}")

    assert flowat.get_run(first[:12]).run_id == first  # unique at 12 characters
    with pytest.raises(flowat.FlowAtError, match=r"ambiguous.*give more of its characters"):
        flowat.get_run(shared)
    with pytest.raises(flowat.NotFoundError):  # shorter than 8 characters: not a prefix
        flowat.get_run(first[:7])
    with pytest.raises(flowat.NotFoundError):  # not hexadecimal: never a LIKE pattern
        flowat.get_run(shared[:6] + "%_")
    assert api.get(f"/runs/{shared}").status_code in (400, 409, 422)

    # Another organization's member does not find them by any prefix.
    other = new_org("short")
    stranger = api.as_(other.keys[Role.OWNER])
    assert stranger.get(f"/runs/{first[:12]}").status_code == 404
    assert stranger.get(f"/runs/{first}").status_code == 404
