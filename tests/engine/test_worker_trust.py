"""The worker trusts only what FlowAt signed and recorded (issue 16, item 1 and 7).

Each test attacks the worker the way the security review did, against the real
Temporal dev server: a workflow started on FlowAt's task queue by a plain Temporal
client (anyone who can reach the port), a FlowAt-encrypted start whose spec carries
other code than the published version, and a poisoned Redis cache entry. The step code
of every forged start would write a canary file; it must never appear.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter

import flowat_kernel as flowat
from flowat_kernel.engine.connection import temporal_address
from flowat_kernel.engine.launch import RunLauncher
from flowat_kernel.engine.messages import RunInput
from flowat_kernel.engine.workflow import WORKFLOW_NAME
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from flowat_kernel.workspace import Workspace
from tests.engine.forged_starts import start_with_other_code


def _canary_workflow(name: str, canary: Path) -> list:
    return cells(
        f"%%flowat step plant\nfrom pathlib import Path\nPath({str(canary)!r}).write_text('ran')\n"
        "done = 1",
        parameters="n = 1",
    )


def _published_spec(name: str, canary: Path):  # type: ignore[no-untyped-def]
    return flowat.compile_workflow(name, cells=_canary_workflow(name, canary))


def _wait_absent(canary: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not canary.exists(), "forged step code ran in the worker"
        time.sleep(0.2)


def test_a_plaintext_start_from_a_foreign_client_runs_nothing(
    temporal: str, workflow_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())  # a FlowAt worker polls the queue
    canary = tmp_path / "canary-plain"
    spec = _published_spec(workflow_name, canary)
    forged = RunInput(
        run_id=uuid.uuid4().hex,
        workflow=workflow_name,
        version=1,
        spec=spec,
        parameters={"n": 1},
        owner="someone-else",
    )

    async def attack() -> None:
        address, _ = temporal_address(runtime.settings)
        client = await Client.connect(
            address,
            namespace=runtime.settings.temporal_namespace,
            data_converter=pydantic_data_converter,  # no FlowAt codec: plaintext payloads
        )
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            forged,
            id=f"forged-{uuid.uuid4().hex}",
            task_queue=temporal,
            execution_timeout=timedelta(seconds=20),
        )
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=40)

    with caplog.at_level(logging.WARNING):
        asyncio.run(attack())
    _wait_absent(canary, 1.0)
    assert not canary.exists()
    assert "did not encrypt" in caplog.text  # the worker log says why


def test_an_encrypted_start_with_other_code_than_published_is_refused(
    temporal: str, workflow_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Even a start that passes the codec (FlowAt's own key) runs only the published
    # code of a recorded run: here the run is recorded for version 1 (harmless code),
    # and the start carries a spec whose step writes the canary.
    harmless = cells("%%flowat step plant\ndone = 1", parameters="n = 1")
    published = flowat.publish(workflow_name, cells=harmless)
    canary = tmp_path / "canary-swapped"
    evil = _published_spec(workflow_name, canary)
    with caplog.at_level(logging.ERROR):
        run_id = start_with_other_code(
            temporal, published.version, {"n": 1}, evil, owner="another-org"
        )
    assert not canary.exists(), "code that was never published ran in the worker"
    run = flowat.wait(run_id, timeout=60)
    assert run.status == "failed"
    assert run.error is not None and "ForgedTask" in str(run.error)
    assert "not the step published" in caplog.text


def test_a_start_carries_references_and_the_worker_checks_them(
    temporal: str, workflow_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # FlowAt's own start names the run, workflow, version and spec hash: no code and no
    # organization. A start naming another spec's hash, or another version, than the
    # run's record is refused before any step, and says why in the worker log.
    harmless = cells("%%flowat step plant\ndone = 1", parameters="n = 1")
    published = flowat.publish(workflow_name, cells=harmless)
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())
    canary = tmp_path / "canary-reference"
    evil = _published_spec(workflow_name, canary)
    launcher = RunLauncher(runtime)
    version = published.version

    async def start(change: dict[str, object]) -> tuple[str, BaseException | None]:
        prepared, workflow_id, _ = await launcher.queue(
            version, {"n": 1}, trigger="test", actor="attacker"
        )
        assert prepared.spec is None and prepared.owner is None
        assert prepared.spec_hash == version.spec_hash
        client = await runtime.client()
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            prepared.model_copy(update=change),
            id=workflow_id,
            task_queue=temporal,
        )
        try:
            await handle.result()
        except WorkflowFailureError as exc:
            return prepared.run_id, exc
        return prepared.run_id, None

    # The honest start runs the published code.
    run_id, failure = runtime.call(start({}), timeout=120)
    assert failure is None and flowat.wait(run_id, timeout=60).status == "succeeded"

    with caplog.at_level(logging.ERROR):
        _, failure = runtime.call(start({"spec_hash": evil.content_hash()}), timeout=120)
        assert failure is not None and "ForgedTask" in str(failure.__cause__ or failure)
        assert "names spec" in caplog.text
        _, failure = runtime.call(start({"version": version.number + 1}), timeout=120)
        assert failure is not None
        assert "names version" in caplog.text
    assert not canary.exists()


def test_a_forged_run_id_is_refused(temporal: str, workflow_name: str, tmp_path: Path) -> None:
    # A FlowAt-encrypted start for a run that no one recorded (a replayed or crafted
    # payload) fails at its first bookkeeping step, before any step code.
    runtime = get_runtime()
    runtime.call(runtime.ensure_worker())
    canary = tmp_path / "canary-unrecorded"
    spec = _published_spec(workflow_name, canary)
    forged = RunInput(
        run_id=uuid.uuid4().hex, workflow=workflow_name, version=1, spec=spec, parameters={"n": 1}
    )

    async def attack() -> BaseException:
        client = await runtime.client()
        handle = await client.start_workflow(
            WORKFLOW_NAME, forged, id=f"forged-{uuid.uuid4().hex}", task_queue=temporal
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        return failure.value

    failure = runtime.call(attack(), timeout=120)
    assert "no such run is recorded" in str(failure.__cause__ or failure)
    assert not canary.exists()


@pytest.mark.redis
def test_a_poisoned_redis_entry_is_never_used(
    redis_url: str, workflow_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    from flowat_kernel.store import Store

    store = Store(f"sqlite:///{tmp_path / 'store.db'}", redis_url)
    try:
        version, _ = store.publish(
            flowat.compile_workflow(workflow_name, cells=cells("%%flowat step a\nx = 1")),
            owner="acme",
            created_by="test",
        )
        canary = tmp_path / "canary-redis"
        poisoned = _published_spec(workflow_name, canary).canonical_json()
        redis.Redis.from_url(redis_url).set(f"flowat:spec:{version.spec_hash}", poisoned)
        fresh = Store(f"sqlite:///{tmp_path / 'store.db'}", redis_url)  # empty local tier
        try:
            with caplog.at_level(logging.WARNING):
                loaded = fresh.get_version("acme", workflow_name, version.number)
        finally:
            fresh.close()
        assert loaded.spec == version.spec
        assert "does not hash to its key" in caplog.text
    finally:
        store.close()


@pytest.fixture
def editor_workspace(temporal: str) -> Workspace:
    from flowat_kernel.access import Role
    from flowat_kernel.api import workspace_for
    from tests.server.helpers import new_org

    org = new_org("trust")
    return workspace_for(org.principal(Role.EDITOR))


def test_code_an_editor_publishes_runs_untrusted(
    editor_workspace: Workspace, workflow_name: str
) -> None:
    published = editor_workspace.publish(
        workflow_name,
        cells=cells(
            "%%flowat step code\ntotal = n * 2",
            "%%flowat step q --action duckdb.query\nsql = 'SELECT ' + str(total) + ' AS v'",
            parameters="n = 1",
        ),
    )
    assert all(step.untrusted for step in published.version.spec.steps)
    run = editor_workspace.run(workflow_name, parameters={"n": 21}, timeout=120)
    assert run.status == "succeeded", run.error
    assert run.outputs["code"]["total"] == 42  # ran, in the sandbox
    assert run.outputs["q"]["q"]["rows"] == [{"v": 42}]  # the body ran as expressions


def test_an_untrusted_action_body_is_never_python(
    editor_workspace, workflow_name: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    canary = tmp_path / "canary-action-body"
    editor_workspace.publish(
        workflow_name,
        cells=cells(
            "%%flowat step q --action duckdb.query\n"
            f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\nsql = 'SELECT 1'",
        ),
    )
    run = editor_workspace.run(workflow_name, timeout=120)
    assert run.status == "failed"
    assert "ExpressionError" in str(run.error) and "not as Python" in str(run.error)
    assert not canary.exists()
