"""A Temporal payload codec that encrypts everything FlowAt hands to Temporal.

Workflow inputs and results, step inputs and exports, and (with the encoded-attributes
failure converter) error messages and stack traces are sealed with AES-256-GCM under a
vault-managed payload key before they leave the process, so Temporal's history and
database only ever hold ciphertext. Each encrypted payload names its key id, so keys
can be added without breaking old histories.

Decoding fails closed: a payload FlowAt did not encrypt is refused, so a workflow
started on FlowAt's task queue by anything but a FlowAt client (any local process that
can reach the Temporal port) never gets its input decoded, and nothing of it runs.
Only reading a history for display (:func:`~flowat_kernel.engine.history.decoded_history`)
lets the server's own plain payloads (search attributes, markers) through.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from flowat_kernel.errors import MasterKeyError, VaultAuthenticationError
from flowat_kernel.vault.crypto import NONCE_BYTES, associated_data

__all__ = ["ENCODING", "KEY_ID_METADATA", "VaultPayloadCodec"]

ENCODING = b"binary/flowat-encrypted"
KEY_ID_METADATA = "flowat-key-id"

KeyLoader = Callable[[], tuple[str, dict[str, bytes]]]


def _aad(kid: str) -> bytes:
    return associated_data("flowat payload v1", kid)


class VaultPayloadCodec(PayloadCodec):
    """Encrypts payloads with the active payload key; decrypts with any known key.

    Args:
        loader: returns (active key id, keys by id); called on :meth:`load` and again
            when a payload names a key this process has not seen.

    """

    def __init__(self, loader: KeyLoader) -> None:
        self._loader = loader
        self._active: str | None = None
        self._keys: dict[str, AESGCM] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        """(Re)load the payload keys (blocking; call from a thread in async code)."""
        active, keys = self._loader()
        with self._lock:
            self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
            self._active = active

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt payloads (the codec's work, without the event loop)."""
        if self._active is None:
            self.load()
        kid = self._active
        assert kid is not None
        cipher = self._keys[kid]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), _aad(kid))
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: kid.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    def _decrypt(self, payload: Payload) -> Payload:
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        if not kid:
            raise VaultAuthenticationError(
                "a Temporal payload failed authentication: it names no payload key"
            )
        cipher = self._keys.get(kid)
        if cipher is None:
            self.load()
            cipher = self._keys.get(kid)
        if cipher is None:
            raise MasterKeyError(
                f"a Temporal payload is encrypted with payload key {kid}, which this vault "
                "does not hold: this process uses a different FlowAt metadata store or "
                "master key than the one that wrote the run"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _aad(kid))
        except (InvalidTag, ValueError):  # ValueError: data too short to hold a nonce
            raise VaultAuthenticationError(
                "a Temporal payload failed authentication: it was altered or belongs to another key"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    def decode_sync(
        self, payloads: Sequence[Payload], *, allow_plain: bool = False
    ) -> list[Payload]:
        """Decrypt payloads FlowAt encrypted.

        Args:
            payloads: what Temporal handed over.
            allow_plain: pass payloads FlowAt did not encrypt through unchanged (only to
                show a history); by default they are refused.

        Raises:
            VaultAuthenticationError: a payload is not FlowAt-encrypted (and
                ``allow_plain`` is off), or it fails authentication.

        """
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                out.append(self._decrypt(payload))
            elif allow_plain:
                out.append(payload)
            else:
                encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
                raise VaultAuthenticationError(
                    "refused a Temporal payload that FlowAt did not encrypt (encoding "
                    f"{encoding or 'none'!r}): only FlowAt clients may start or signal "
                    "workflows on FlowAt's task queues"
                )
        return out

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt payloads before they go to Temporal."""
        if self._active is None:
            await asyncio.to_thread(self.load)
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads coming from Temporal."""
        return self.decode_sync(payloads)
