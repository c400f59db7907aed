"""Temporal's codec-server protocol: Temporal's Web UI reads FlowAt payloads, for members only.

Payloads are taken from a real run's Temporal history (so they are what the UI would
send), decoded through the real API server on loopback: for the run's organization
(secret values masked), refused or left undecoded for anyone else, never decoded for a
caller without a key. The browser calls across origins: the preflight is answered.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import flowat_kernel as flowat
from flowat_kernel.access import Role
from flowat_kernel.runtime import get_runtime
from flowat_kernel.server.http import safe_path
from flowat_kernel.testing import cells
from tests.server.helpers import Api, local_key, new_org

CANARY = "canary-codec-9f2e51"


def _history_payloads(workflow_id: str) -> dict[str, list[dict[str, Any]]]:
    """The started input, the first step's input and its result, as the UI sends them."""
    runtime = get_runtime()

    async def fetch() -> Any:
        client = await runtime.client()
        return await client.get_workflow_handle(workflow_id).fetch_history()

    history = runtime.call(fetch())
    found: dict[str, list[dict[str, Any]]] = {}
    for event in history.events:
        for kind, attributes, field in (
            ("started", "workflow_execution_started_event_attributes", "input"),
            ("scheduled", "activity_task_scheduled_event_attributes", "input"),
            ("completed", "activity_task_completed_event_attributes", "result"),
        ):
            if event.HasField(attributes) and kind not in found:
                payloads = getattr(getattr(event, attributes), field).payloads
                if payloads:
                    found[kind] = [
                        {
                            "metadata": {
                                k: base64.b64encode(v).decode() for k, v in p.metadata.items()
                            },
                            "data": base64.b64encode(p.data).decode(),
                        }
                        for p in payloads
                    ]
    return found


def _values(reply: Any) -> list[Any]:
    return [json.loads(base64.b64decode(p["data"])) for p in reply.json()["payloads"]]


def test_members_read_their_runs_payloads_and_nobody_else(
    api: Api, temporal: str, workflow_name: str
) -> None:
    flowat.set_secret("codec_canary", CANARY)
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step one\nout = note.upper()", parameters="note = ''"),
    )
    run = flowat.run(workflow_name, parameters={"note": CANARY}, worker="always")
    assert run.status == "succeeded", run.error
    payloads = _history_payloads(run.record.temporal_workflow_id)
    started, scheduled = payloads["started"], payloads["scheduled"]
    assert CANARY not in json.dumps(started)  # Temporal holds ciphertext only

    key = local_key(scopes=["runs:read"])
    reply = api.as_(None).post(f"/codec/{key}/decode", json={"payloads": started})
    assert reply.status_code == 200, reply.text
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    [run_input] = _values(reply)
    assert run_input["run_id"] == run.run_id and run_input["workflow"] == workflow_name
    shown = json.dumps(run_input)
    assert CANARY not in shown and "[secret:codec_canary]" in shown, shown  # masked
    step_input = _values(api.as_(key).post("/codec/decode", json={"payloads": scheduled}))
    assert step_input[0]["run_id"] == run.run_id

    # a result names no run: with several organizations, whose it is cannot be told
    other = new_org("codec")
    completed = api.as_(key).post("/codec/decode", json={"payloads": payloads["completed"]})
    [note] = _values(completed)
    assert note["flowat"].startswith("not decoded: it names no run")

    # another organization's member gets a note, not the run's input
    foreign = api.as_(None).post(
        f"/codec/{other.keys[Role.OWNER]}/decode", json={"payloads": started}
    )
    assert foreign.status_code == 200, foreign.text
    assert _values(foreign) == [{"flowat": "not decoded: it belongs to a run you may not see"}]
    assert workflow_name not in json.dumps(_values(foreign))

    # no key, a made-up key, a key that may not read runs: nothing decoded
    assert api.as_(None).post("/codec/decode", json={"payloads": started}).status_code == 401
    made_up = api.as_(None).post("/codec/flowat_nope_nope/decode", json={"payloads": started})
    assert made_up.status_code == 401 and workflow_name not in made_up.text
    narrow = local_key(scopes=["workflows:read"])
    assert (
        api.as_(None).post(f"/codec/{narrow}/decode", json={"payloads": started}).status_code == 403
    )

    # bad input says what to send
    bad = api.as_(key).post("/codec/decode", json={"payloads": [{"data": "%%%"}]})
    assert bad.status_code == 422 and "base64" in bad.text
    assert api.as_(key).post("/codec/decode", json={"nothing": 1}).status_code == 400

    # the browser's preflight, and the key never reaches a log line
    preflight = api.as_(None).request("OPTIONS", f"/codec/{key}/decode")
    assert preflight.status_code == 204
    assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
    assert key not in safe_path(f"/api/v1/codec/{key}/decode")
    assert safe_path("/api/v1/codec/decode") == "/api/v1/codec/decode"
