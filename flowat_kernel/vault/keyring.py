"""Master keys: from ``FLOWAT_MASTER_KEY`` or a key file under ``FLOWAT_HOME``.

A master key is 32 random bytes, written as URL-safe base64. Its id is derived from the
key itself, so a wrong key can never pass for the right one: rows name the key id they
need, and a key ring that lacks it says so.

``FLOWAT_MASTER_KEY`` holds one key, or several separated by commas with the active one
first (the others stay usable for reading while a rotation re-wraps rows onto the
first). Without it, the key file ``FLOWAT_HOME/vault/master-keys.json`` is created with
mode 0600 on first use and refused when anyone but its owner can read it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from flowat_kernel.errors import MasterKeyError
from flowat_kernel.fslock import locked
from flowat_kernel.vault.crypto import KEY_BYTES

__all__ = [
    "ENV_VAR",
    "KeyRing",
    "add_active_key",
    "encode_key",
    "key_file",
    "key_id",
    "load_keyring",
    "new_key",
    "retire_keys",
]

ENV_VAR = "FLOWAT_MASTER_KEY"


def key_id(key: bytes) -> str:
    """The public id of a master key (a hash of it; reveals nothing about the key)."""
    return "mk-" + hashlib.sha256(b"flowat master key id\x00" + key).hexdigest()[:16]


def new_key() -> bytes:
    """A fresh random master key."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """A key as it is written in the key file or ``FLOWAT_MASTER_KEY``."""
    return base64.urlsafe_b64encode(key).decode()


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip().encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"{where} is not a master key: expected {KEY_BYTES} bytes in URL-safe base64 "
            '(make one with: python -c "import os,base64;'
            'print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
        )
    return key


def key_file(home: Path) -> Path:
    """Where the key file lives under ``FLOWAT_HOME``."""
    return home / "vault" / "master-keys.json"


@dataclass
class KeyRing:
    """The loaded master keys: one active key that encrypts, all keys that decrypt.

    Attributes:
        active: id of the key new rows are wrapped with.
        keys: every usable key by id.
        path: the key file, or ``None`` when the keys come from ``FLOWAT_MASTER_KEY``.

    """

    active: str
    keys: dict[str, bytes]
    path: Path | None = None
    retired: list[str] = field(default_factory=list)

    def get(self, kid: str) -> bytes:
        """The key with id ``kid``.

        Raises:
            MasterKeyError: the ring lacks it (a wrong or missing key).

        """
        try:
            return self.keys[kid]
        except KeyError:
            source = f"the key file {self.path}" if self.path else ENV_VAR
            raise MasterKeyError(
                f"master key {kid} is needed but {source} does not hold it: the wrong "
                f"master key is configured, or the key was retired too early. Set "
                f"{ENV_VAR} (or restore the key file) to the key these secrets were "
                "written with."
            ) from None

    @property
    def active_key(self) -> bytes:
        """The key that wraps new data keys."""
        return self.keys[self.active]


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(
            f"refusing to use the key file {path}: its mode is {mode:04o}, so others can "
            f"read it. Run `chmod 600 {path}` (and check who may have copied it)."
        )


def _locked(folder: Path) -> contextlib.AbstractContextManager[None]:
    return locked(folder / "keys.lock", folder_mode=0o700)


def _write(path: Path, ring: KeyRing) -> None:
    document = {
        "format": 1,
        "active": ring.active,
        "keys": {kid: encode_key(key) for kid, key in ring.keys.items()},
        "retired": ring.retired,
    }
    temporary = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _read(path: Path) -> KeyRing:
    _check_private(path)
    try:
        document = json.loads(path.read_text())
        keys = {
            kid: _decode_key(text, f"key {kid} in {path}") for kid, text in document["keys"].items()
        }
        active = document["active"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MasterKeyError(
            f"the key file {path} is unreadable or damaged ({exc.__class__.__name__}); "
            "restore it from your backup"
        ) from None
    for kid, key in keys.items():
        if key_id(key) != kid:
            raise MasterKeyError(f"the key file {path} is damaged: key {kid} does not match")
    if active not in keys:
        raise MasterKeyError(f"the key file {path} is damaged: its active key is missing")
    return KeyRing(active, keys, path, list(document.get("retired", [])))


def _from_env(raw: str) -> KeyRing:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for index, text in enumerate(part for part in raw.split(",") if part.strip()):
        key = _decode_key(text, f"{ENV_VAR} (key {index + 1})")
        kid = key_id(key)
        keys[kid] = key
        order.append(kid)
    if not order:
        raise MasterKeyError(f"{ENV_VAR} is set but empty; unset it or give it a key")
    return KeyRing(order[0], keys, None)


def load_keyring(home: Path, create: bool = True) -> KeyRing:
    """Load the master keys, creating the key file on first use.

    Raises:
        MasterKeyError: no usable key, a malformed key, or a key file others can read.

    """
    raw = os.environ.get(ENV_VAR)
    if raw:
        return _from_env(raw)
    path = key_file(home)
    if path.exists():
        return _read(path)
    if not create:
        raise MasterKeyError(
            f"no master key: {ENV_VAR} is unset and {path} does not exist. Set "
            f"{ENV_VAR} or restore the key file."
        )
    with _locked(path.parent):
        if path.exists():
            return _read(path)
        key = new_key()
        ring = KeyRing(key_id(key), {key_id(key): key}, path)
        _write(path, ring)
        return ring


def add_active_key(ring: KeyRing, key: bytes | None = None) -> KeyRing:
    """Bring in a new active key, keeping the old ones for reading; saves the key file.

    Raises:
        MasterKeyError: the keys come from ``FLOWAT_MASTER_KEY`` (put the new key first
            in the variable instead).

    """
    if ring.path is None:
        raise MasterKeyError(
            f"the master keys come from {ENV_VAR}: put the new key first in it "
            "(NEW,OLD) and run `flowat secrets rotate-key` again"
        )
    key = key or new_key()
    with _locked(ring.path.parent):
        current = _read(ring.path)
        current.keys[key_id(key)] = key
        current.active = key_id(key)
        _write(ring.path, current)
    return current


def retire_keys(ring: KeyRing, kids: list[str]) -> KeyRing:
    """Remove keys (never the active one) from the key file; the caller checks no row needs them."""
    if ring.path is None or not kids:
        return ring
    with _locked(ring.path.parent):
        current = _read(ring.path)
        for kid in kids:
            if kid != current.active and current.keys.pop(kid, None) is not None:
                current.retired.append(kid)
        _write(ring.path, current)
    return current
