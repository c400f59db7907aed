"""Temporal's Web UI names every FlowAt activity ``flowat.run_step``; each one's summary
says which step it runs (kind and name), sealed like every payload. Real dev server."""

from __future__ import annotations

import json
from typing import Any

import flowat_kernel as flowat
from flowat_kernel.engine.step_runner import step_summary
from flowat_kernel.runtime import get_runtime
from flowat_kernel.spec import StepSpec
from flowat_kernel.testing import cells
from flowat_kernel.vault.codec import VaultPayloadCodec


def test_each_step_activity_is_summarised_by_its_kind_and_name(
    temporal: str, workflow_name: str
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells(
            "%%flowat step load\nrows = n * 2",
            "%%flowat step total --local\nresult = rows + 1",
            parameters="n = 1",
        ),
    )
    run = flowat.run(workflow_name, parameters={"n": 3}, worker="always")
    assert run.status == "succeeded", run.error
    runtime = get_runtime()

    async def history() -> Any:
        client = await runtime.client()
        return await client.get_workflow_handle(run.record.temporal_workflow_id).fetch_history()

    codec = VaultPayloadCodec(runtime.vault.payload_keys)
    summaries = []
    for event in runtime.call(history()).events:
        metadata = event.user_metadata
        if metadata.HasField("summary"):  # scheduled activities, local activities' markers
            assert b"code step" not in metadata.summary.data  # sealed in Temporal
            [plain] = codec.decode_sync([metadata.summary])
            summaries.append(json.loads(plain.data))
    assert "code step load" in summaries
    assert "code step total" in summaries  # a --local step's marker too


def test_an_action_step_names_its_action() -> None:
    step = StepSpec(name="notify", kind="action", action="email.send", source="to = 'a@b'")
    assert step_summary(step) == "action step (email.send) notify"
