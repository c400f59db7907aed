"""Reading a run's Temporal history through the vault's codec, with secrets masked.

Temporal stores only ciphertext for FlowAt's payloads. ``flowat history RUN`` (and
:func:`decoded_history`) fetch the history through the client, decrypt every payload
with the vault's payload keys and mask the values of the secrets the run revealed, so
the history can be read without ever showing a secret.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload

from flowat_kernel.vault.codec import VaultPayloadCodec
from flowat_kernel.vault.redaction import redact_data, register

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

    from flowat_kernel.engine.services import EngineServices
    from flowat_kernel.store import RunRecord

__all__ = ["decode_payloads", "decoded_history", "run_history"]


def decode_payloads(message: Message, decode: Any) -> None:
    """Replace, in place, every ``Payload`` inside ``message`` with ``decode([p])[0]``."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        is_map = field.message_type.GetOptions().map_entry
        items = list(value.values()) if is_map else list(value) if field.is_repeated else [value]
        for item in items:
            if not isinstance(item, Message):
                continue
            if isinstance(item, Payload):
                item.CopyFrom(decode([item])[0])
            else:
                decode_payloads(item, decode)


def _readable(node: Any) -> Any:
    """Turn JSON payloads (``metadata.encoding`` = ``json/plain``) into their JSON value."""
    if isinstance(node, list):
        return [_readable(item) for item in node]
    if not isinstance(node, dict):
        return node
    metadata = node.get("metadata")
    if isinstance(metadata, dict) and "encoding" in metadata and set(node) <= {"metadata", "data"}:
        encoding = base64.b64decode(metadata["encoding"]).decode(errors="replace")
        data = base64.b64decode(node.get("data", ""))
        if encoding == "json/plain":
            return {"json": json.loads(data)}
        if encoding == "binary/null":
            return {"json": None}
        return {"encoding": encoding, "size_bytes": len(data)}
    return {key: _readable(value) for key, value in node.items()}


async def run_history(services: EngineServices, record: RunRecord, lost: str) -> WorkflowHistory:
    """The run's Temporal history (payloads still encoded).

    Args:
        services: the services it uses.
        record: the run.
        lost: what cannot be had without it, for the error (e.g. "its steps' inputs").

    Raises:
        NotFoundError: Temporal no longer has it (past the namespace's retention).

    """
    from temporalio.service import RPCError, RPCStatusCode

    from flowat_kernel.errors import NotFoundError

    client = await services.client()
    try:
        return await client.get_workflow_handle(record.temporal_workflow_id).fetch_history()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(
                f"Temporal no longer has the history of run {record.run_id} (past the "
                f"namespace's retention), so {lost} are gone"
            ) from exc
        raise


async def decoded_history(services: EngineServices, run_id: str) -> list[dict[str, Any]]:
    """The run's history events as JSON, payloads decrypted, revealed secrets masked."""
    import asyncio

    record = await asyncio.to_thread(services.store.get_run, run_id)
    client = await services.client()
    history = await client.get_workflow_handle(record.temporal_workflow_id).fetch_history()
    codec = client.data_converter.payload_codec
    decode = (
        functools.partial(codec.decode_sync, allow_plain=True)
        if isinstance(codec, VaultPayloadCodec)
        else None
    )
    names = {
        name
        for step in record.steps
        for value in (step.outputs or {}).values()
        for name in (value.get("secrets") or [])
    }
    vault = services.vault
    for name in sorted(names):
        register(name, await asyncio.to_thread(vault.reveal_value, name, record.owner))
    events = []
    for event in history.events:
        if decode is not None:
            decode_payloads(event, decode)
        events.append(redact_data(_readable(MessageToDict(event))))
    return events
