"""Untrusted steps in real runs on the Temporal dev server, through the in-process worker."""

from __future__ import annotations

import os
import uuid

import pytest

import flowat_kernel as flowat
from flowat_kernel.sandbox import detect_isolation
from flowat_kernel.testing import cells

pytestmark = pytest.mark.skipif(
    not detect_isolation().namespaces, reason=f"no namespaces ({detect_isolation().reason})"
)


def test_untrusted_step_takes_and_gives_values_and_frames(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step load\nimport pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})",
            "%%flowat step work --untrusted\n"
            "import os\n"
            "doubled = frame.assign(b=frame.a * factor)\n"
            "total = int(doubled.b.sum())\n"
            "uid = os.getuid()\n"
            "print('total', total)",
            "%%flowat step after\ncheck = total + len(doubled) + int(doubled.b.max())",
            parameters="factor = 2",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["work"]["total"] == 12
    assert run.outputs["work"]["uid"] == 65534
    assert run.outputs["after"]["check"] == 12 + 3 + 6
    steps = {s.name: s for s in run.record.steps}
    logs = steps["work"].logs or ""
    assert logs.startswith("[sandbox] isolation: pid+net+mount namespaces (unshare), uid 65534")
    assert logs.endswith("total 12\n")
    assert not (steps["load"].logs or "").startswith("[sandbox]")


def test_attack_fails_with_sandbox_error_and_the_worker_carries_on(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step evil --untrusted --retries 3\nblob = bytearray(10 * 1024**3)",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "failed"
    (step,) = run.record.steps
    assert step.status == "failed" and step.attempts == 1  # a limit is never retried
    assert run.error is not None and run.error["type"] == "SandboxError"
    assert "memory limit of 1GiB exceeded" in run.error["message"]
    assert (step.logs or "").startswith("[sandbox] isolation:")
    other = f"{workflow_name}_next"
    flowat.publish(other, cells=cells("%%flowat step fine --untrusted\nfine = 'still here'"))
    again = flowat.run(other)
    assert again.status == "succeeded", again.error
    assert again.outputs["fine"]["fine"] == "still here"


def test_named_secret_is_usable_inside_and_masked_in_records(
    temporal: str, workflow_name: str
) -> None:
    name = f"sbx_{uuid.uuid4().hex[:8]}"
    value = f"value-{os.urandom(8).hex()}"
    flowat.set_secret(name, value)
    flowat.publish(
        workflow_name,
        cells=cells(
            f"%%flowat step use --untrusted --secret {name}\n"
            f"token = flowat.secret({name!r}).reveal()\n"
            "print('token is', token)\n"
            "length = len(token)\n"
            "echo = token",
        ),
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["use"]["length"] == len(value)
    (step,) = run.record.steps
    assert step.logs is not None and f"token is [secret:{name}]" in step.logs
    assert value not in step.logs
    assert value not in repr(step.outputs)


def test_policy_all_sandboxes_every_code_step(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_UNTRUSTED_CODE", "all")
    flowat.publish(workflow_name, cells=cells("%%flowat step plain\nimport os\nuid = os.getuid()"))
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["plain"]["uid"] == 65534
    (step,) = run.record.steps
    assert (step.logs or "").startswith("[sandbox] isolation:")
