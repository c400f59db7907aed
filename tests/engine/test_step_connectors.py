"""Connectors registered in the worker's process reach code steps in step processes.

The template step processes are forked from starts apart from the worker, before any
registration: each step's task carries the connectors registered in the worker's
process. Registered after the template is up, replaced, removed, or impossible to send:
each case does what the user expects. Real Temporal dev server, real processes.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

import flowat_kernel as flowat
from flowat_kernel.engine.cells import executor_mode, run_code
from flowat_kernel.engine.executor import StepCodeError
from flowat_kernel.sdk import ActionContext, Connector
from flowat_kernel.spec import StepSpec
from flowat_kernel.step_context import StepScope
from flowat_kernel.testing import cells, registered


def _doubler(connector_id: str, factor: int = 2) -> Connector:
    """A connector defined inside a function (pickled by value), models included."""

    class Number(BaseModel):
        x: int

    class Result(BaseModel):
        y: int
        pid: int

    connector = Connector(id=connector_id, name="Doubler", description="Multiplies")

    @connector.action("double", input=Number, output=Result, retry_safe=True)
    def double(ctx: ActionContext, params: Number) -> Result:
        return Result(y=factor * params.x, pid=os.getpid())

    return connector


def _step(source: str, **fields: object) -> StepSpec:
    return StepSpec(name="s", kind="code", source=source, **fields)  # type: ignore[arg-type]


CALLS_IT = (
    "from flowat_kernel.sdk.registry import get_action\n"
    "action = get_action(ACTION)\n"
    "out = action.function(None, action.input(x=21))\n"
    "y, pid = out.y, out.pid"
)


@pytest.mark.timeout(120)
def test_a_connector_registered_after_the_template_started_works_in_a_code_step(
    temporal: str, workflow_name: str
) -> None:
    assert executor_mode() == "process"
    flowat.publish(workflow_name, cells=cells("%%flowat step warm\nimport os\npid = os.getpid()"))
    first = flowat.run(workflow_name)  # the template and its children exist from here on
    assert first.status == "succeeded", first.error
    assert first.outputs["warm"]["pid"] != os.getpid()
    connector_id = "late-doubler"
    with registered(_doubler(connector_id)):
        flowat.publish(
            workflow_name,
            cells=cells(
                "%%flowat step ask\nimport os\n"
                f"answer = flowat.action({connector_id + '.double'!r}, x=21)\n"
                "y, where, step_pid = answer.y, answer.pid, os.getpid()"
            ),
        )
        run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    outputs = run.outputs["ask"]
    assert outputs["y"] == 42
    # It ran in the step's own process, not in the worker's.
    assert outputs["where"] == outputs["step_pid"] != os.getpid()


def test_a_replaced_connector_is_seen_as_replaced_and_a_removed_one_is_gone() -> None:
    step = _step(CALLS_IT.replace("ACTION", repr("swap.double")), exports=("y", "pid"))
    run_code(_step("x = 1"), {}, StepScope(step="s"))  # the template is up
    with registered(_doubler("swap", factor=2)):
        assert run_code(step, {}, StepScope(step="s")).exports["y"] == 42
        with registered(_doubler("swap", factor=3)):
            result = run_code(step, {}, StepScope(step="s")).exports
            assert result["y"] == 63 and result["pid"] != os.getpid()
    with pytest.raises(StepCodeError) as gone:
        run_code(step, {}, StepScope(step="s"))
    assert gone.value.exc_type == "NotFoundError"
    assert "no connector 'swap'" in gone.value.exc_message


def test_a_connector_that_cannot_be_pickled_says_why_in_the_step() -> None:
    lock = threading.Lock()  # a lock cannot be pickled, so neither can what holds it

    class Number(BaseModel):
        x: int

    connector = Connector(id="locked", name="Locked", description="Holds a lock")

    @connector.action("double", input=Number, output=Number, retry_safe=True)
    def double(ctx: ActionContext, params: Number) -> Number:
        with lock:
            return Number(x=2 * params.x)

    step = _step(CALLS_IT.replace("ACTION", repr("locked.double")))
    with registered(connector), pytest.raises(StepCodeError) as failed:
        run_code(step, {}, StepScope(step="s"))
    assert failed.value.exc_type == "NotFoundError"
    assert "connector 'locked' was registered in the worker's process" in failed.value.logs
    assert "cannot be pickled" in failed.value.logs and "importable module" in failed.value.logs


def test_a_connector_whose_module_the_step_cannot_import_says_why(tmp_path: Path) -> None:
    module = tmp_path / "only_in_the_worker.py"
    module.write_text(
        "from pydantic import BaseModel\n"
        "from flowat_kernel.sdk import Connector\n"
        "class Number(BaseModel):\n    x: int\n"
        "connector = Connector(id='hidden', name='Hidden', description='d')\n"
        "@connector.action('double', input=Number, output=Number, retry_safe=True)\n"
        "def double(ctx, params):\n    return Number(x=2 * params.x)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        hidden = importlib.import_module("only_in_the_worker")
    finally:
        sys.path.remove(str(tmp_path))  # the step's process gets the worker's path: no way
    try:
        step = _step(CALLS_IT.replace("ACTION", repr("hidden.double")))
        with registered(hidden.connector), pytest.raises(StepCodeError) as failed:
            run_code(step, {}, StepScope(step="s"))
    finally:
        sys.modules.pop("only_in_the_worker", None)
    assert failed.value.exc_type == "NotFoundError"
    assert "connector 'hidden' was registered in the worker's process" in failed.value.logs
    assert "cannot be unpickled" in failed.value.logs
