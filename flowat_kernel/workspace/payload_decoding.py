"""Temporal payloads decoded for a person: Temporal's codec-server protocol, role checked.

Temporal keeps only ciphertext of FlowAt's payloads, so its Web UI shows nothing a person
can read. Pointed at FlowAt's codec endpoint (``/api/v1/codec/KEY/decode``; see
docs/jupyterlab.md), the UI sends the payloads it shows and gets them back decoded for
the key's member:

- a payload naming a run (a run's or a step's input: ``run_id``) is decoded only when the
  run belongs to the member's organization and workflows (:meth:`Workspace.record`);
- a payload naming no run (a step's result, an error) is decoded only on an installation
  with one organization: FlowAt cannot tell whose it is otherwise;
- anything else comes back as a short JSON note saying why it was not decoded, so the
  UI shows the note instead of ciphertext;
- the values of the organization's secrets are masked in what is decoded.

Payloads FlowAt did not encrypt (the server's own) come back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from flowat_kernel.errors import FlowAtError, NotFoundError

if TYPE_CHECKING:
    from flowat_kernel.workspace import Workspace

__all__ = ["MAX_PAYLOADS", "decode_for"]

#: The most payloads one request may ask to decode.
MAX_PAYLOADS = 1000

_JSON = b"json/plain"


def _note(reason: str) -> dict[str, Any]:
    data = json.dumps({"flowat": f"not decoded: {reason}"}).encode()
    return {
        "metadata": {"encoding": base64.b64encode(_JSON).decode()},
        "data": base64.b64encode(data).decode(),
    }


def _payload(item: Any) -> Any:
    from temporalio.api.common.v1 import Payload

    if not isinstance(item, dict) or not isinstance(item.get("metadata", {}), dict):
        raise FlowAtError("each payload is an object with metadata and data (base64)")
    try:
        metadata = {
            str(k): base64.b64decode(v, validate=True) for k, v in item.get("metadata", {}).items()
        }
        data = base64.b64decode(item.get("data", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise FlowAtError("a payload's metadata values and data must be base64") from None
    return Payload(metadata=metadata, data=data)


def _as_json(payload: Any) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def _run_ids(value: Any) -> set[str]:
    """The run ids a decoded value names (a run's or a step's input names its run)."""
    found: set[str] = set()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("run_id"), str):
            found.add(item["run_id"])
    return found


def decode_for(workspace: Workspace, payloads: list[Any]) -> list[dict[str, Any]]:
    """Decode ``payloads`` (Temporal's codec JSON form) for ``workspace``'s member.

    Raises:
        Forbidden: the member may not read runs.
        FlowAtError: not a list of payloads, too many, or one that is not base64.

    """
    from flowat_kernel.vault.codec import ENCODING, VaultPayloadCodec
    from flowat_kernel.vault.redaction import redact_data, register

    workspace.principal.require("runs:read")
    if not isinstance(payloads, list):
        raise FlowAtError('send {"payloads": [...]}, a list of payloads')
    if len(payloads) > MAX_PAYLOADS:
        raise FlowAtError(f"at most {MAX_PAYLOADS} payloads per request, not {len(payloads)}")
    parsed = [_payload(item) for item in payloads]
    services = workspace.services
    codec = VaultPayloadCodec(services.vault.payload_keys)
    alone = len(services.store.organizations()) <= 1
    vault = services.vault
    for info in vault.list_secrets(workspace.owner):
        register(info.name, vault.reveal_value(info.name, workspace.owner))
    visible: dict[str, bool] = {}

    def may_see(run_id: str) -> bool:
        if run_id not in visible:
            try:
                workspace.record(run_id)
                visible[run_id] = True
            except NotFoundError:
                visible[run_id] = False
        return visible[run_id]

    decoded: list[dict[str, Any]] = []
    for payload in parsed:
        if payload.metadata.get("encoding") != ENCODING:
            decoded.append(_as_json(payload))  # not FlowAt's: plain already
            continue
        try:
            [plain] = codec.decode_sync([payload])
        except FlowAtError:
            decoded.append(_note("it fails authentication or names a key this vault lacks"))
            continue
        value: Any = None
        if plain.metadata.get("encoding") == _JSON:
            try:
                value = json.loads(plain.data)
            except ValueError:
                value = None
        if plain.metadata.get("encoding") == b"binary/null":
            decoded.append(_as_json(plain))  # "no value" says nothing
            continue
        runs = _run_ids(value)
        if runs and not all(may_see(run) for run in runs):
            decoded.append(_note("it belongs to a run you may not see"))
        elif not runs and not alone:
            decoded.append(
                _note("it names no run, and this installation has several organizations")
            )
        elif value is not None:
            masked = json.dumps(redact_data(value)).encode()
            decoded.append(_as_json(type(plain)(metadata=dict(plain.metadata), data=masked)))
        else:
            decoded.append(_as_json(plain))
    return decoded
