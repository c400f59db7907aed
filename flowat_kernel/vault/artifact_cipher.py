"""Sealed artifact files: AES-256-GCM, bound to the artifact's reference.

Every artifact file is encrypted and authenticated under a key derived (HKDF-SHA256,
with a fresh random salt per file) from one of the vault's payload keys, which the
master key wraps in the metadata store. The associated data is the artifact's
reference (its path ``runs/RUN/STEP/NAME.EXT`` and format) plus the file's header, so
a file copied or moved onto another reference, altered by one byte, planted, or
written under a key this vault does not hold fails to open with
:class:`~flowat_kernel.errors.VaultAuthenticationError`, and none of its content is
handed back.

File layout::

    MAGIC (16) | key-id length (1) | key id | salt (16) | nonce (12) | ciphertext | tag (16)

Encryption and decryption stream in 1 MiB chunks (no size limit, one plaintext copy
in memory); the plaintext is returned only after the tag verified.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flowat_kernel.errors import VaultAuthenticationError
from flowat_kernel.vault.crypto import KEY_BYTES, NONCE_BYTES, TAG_BYTES, associated_data

__all__ = ["MAGIC", "ArtifactCipher", "KeySource", "refused"]

#: The first bytes of every sealed artifact file.
MAGIC = b"FLOWAT-ARTIFACT\x01"
_SALT_BYTES = 16
_CHUNK = 1 << 20
_BLOCK = 16

#: Returns the vault's payload keys: (active key id, keys by id).
KeySource = Callable[[], tuple[str, dict[str, bytes]]]


class _SealingWriter(io.RawIOBase):
    """Encrypts what is written, 1 MiB at a time, onto the output (the tag comes after)."""

    def __init__(self, out: IO[bytes], encryptor: Any) -> None:
        self._out = out
        self._encryptor = encryptor
        self._buffer = bytearray(_CHUNK + _BLOCK - 1)
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _CHUNK):
            count = self._encryptor.update_into(view[start : start + _CHUNK], self._buffer)
            self._out.write(memoryview(self._buffer)[:count])
        self._written += len(view)
        return len(view)

    def tell(self) -> int:
        return self._written


def refused(reference: str) -> VaultAuthenticationError:
    """The one error every tampered, swapped, planted or forged artifact raises."""
    return VaultAuthenticationError(
        f"artifact {reference!r} failed authentication: it was altered, copied from another "
        "reference, planted, or written with a key this vault does not hold (or before "
        "artifacts were sealed), so it was not loaded. Re-run the step that produces it."
    )


def _derive(key: bytes, salt: bytes, kid: str) -> bytes:
    info = associated_data("flowat artifact file key v1", kid)
    return HKDF(hashes.SHA256(), KEY_BYTES, salt, info).derive(key)


def _aad(reference: str, fmt: str, header: bytes) -> bytes:
    return associated_data("flowat artifact v1", reference, fmt) + header


class ArtifactCipher:
    """Seals and opens artifact files with keys from the vault (loaded on first use).

    Args:
        keys: the vault's payload keys (``Vault.payload_keys``); called again once
            when a file names a key id not seen yet (another process added one).

    """

    def __init__(self, keys: KeySource) -> None:
        self._source = keys
        self._keys: tuple[str, dict[str, bytes]] | None = None
        self._lock = threading.Lock()

    def _load(self, refresh: bool = False) -> tuple[str, dict[str, bytes]]:
        with self._lock:
            if self._keys is None or refresh:
                self._keys = self._source()
            return self._keys

    def _key(self, kid: str) -> bytes | None:
        keys = self._load()[1]
        if kid not in keys:
            keys = self._load(refresh=True)[1]
        return keys.get(kid)

    @contextlib.contextmanager
    def sealing(self, out: IO[bytes], reference: str, fmt: str) -> Iterator[IO[bytes]]:
        """A writable stream whose bytes reach ``out`` sealed, 1 MiB at a time.

        What is written inside the ``with`` block is encrypted as it arrives (a Parquet
        writer, say, streams straight through); leaving the block writes the tag. If
        the block raises, the output is incomplete and must be discarded (backends do).

        Args:
            out: where the sealed bytes go (a file, a chunk or multipart writer).
            reference: the artifact's path in the store (associated data).
            fmt: the artifact's format (associated data).

        """
        kid, keys = self._load()
        raw_kid = kid.encode()
        salt = os.urandom(_SALT_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        header = MAGIC + bytes([len(raw_kid)]) + raw_kid + salt + nonce
        encryptor = Cipher(
            algorithms.AES(_derive(keys[kid], salt, kid)), modes.GCM(nonce)
        ).encryptor()
        encryptor.authenticate_additional_data(_aad(reference, fmt, header))
        out.write(header)
        yield _SealingWriter(out, encryptor)  # type: ignore[misc]
        out.write(encryptor.finalize())
        out.write(encryptor.tag)

    def seal(
        self,
        out: IO[bytes],
        plaintext: bytes | bytearray | memoryview | Sequence[bytes | bytearray | memoryview],
        reference: str,
        fmt: str,
    ) -> None:
        """Write ``plaintext`` (one buffer, or several in order) to ``out``, sealed.

        Args:
            out: the file being written.
            plaintext: the content; several buffers are sealed as their concatenation.
            reference: the artifact's path in the store (associated data).
            fmt: the artifact's format (associated data).

        """
        parts = [plaintext] if isinstance(plaintext, bytes | bytearray | memoryview) else plaintext
        with self.sealing(out, reference, fmt) as sealed:
            for part in parts:
                sealed.write(part)

    def open(
        self, handle: io.RawIOBase | io.BufferedIOBase, size: int, reference: str, fmt: str
    ) -> bytearray:
        """Read a sealed file of ``size`` bytes; its plaintext once the tag verified.

        Raises:
            VaultAuthenticationError: the file is not a sealed artifact of this
                reference and format under one of this vault's keys.

        """
        prefix = handle.read(len(MAGIC) + 1)
        if len(prefix) != len(MAGIC) + 1 or prefix[: len(MAGIC)] != MAGIC:
            raise refused(reference)
        raw_kid = handle.read(prefix[-1])
        salt_nonce = handle.read(_SALT_BYTES + NONCE_BYTES)
        header = prefix + raw_kid + salt_nonce
        body = size - len(header) - TAG_BYTES
        if len(raw_kid) != prefix[-1] or len(salt_nonce) != _SALT_BYTES + NONCE_BYTES or body < 0:
            raise refused(reference)
        try:
            kid = raw_kid.decode("ascii")
        except UnicodeDecodeError:
            raise refused(reference) from None
        key = self._key(kid)
        if key is None:
            raise refused(reference)
        salt, nonce = salt_nonce[:_SALT_BYTES], salt_nonce[_SALT_BYTES:]
        plaintext = bytearray(body + _BLOCK)
        view = memoryview(plaintext)
        chunk = bytearray(_CHUNK)
        decryptor = Cipher(algorithms.AES(_derive(key, salt, kid)), modes.GCM(nonce)).decryptor()
        decryptor.authenticate_additional_data(_aad(reference, fmt, header))
        position, left = 0, body
        while left > 0:
            count = handle.readinto(memoryview(chunk)[: min(_CHUNK, left)])
            if not count:
                raise refused(reference)
            position += decryptor.update_into(
                memoryview(chunk)[:count], view[position : position + count + _BLOCK - 1]
            )
            left -= count
        tag = handle.read(TAG_BYTES)
        if len(tag) != TAG_BYTES:
            raise refused(reference)
        try:
            decryptor.finalize_with_tag(tag)
        except InvalidTag:
            raise refused(reference) from None
        del view
        del plaintext[position:]
        return plaintext
