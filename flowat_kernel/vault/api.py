"""The vault's part of the Python API: what ``flowat secrets`` and ``%flowat secret`` call."""

from __future__ import annotations

from collections.abc import Callable

from flowat_kernel.runtime import get_runtime
from flowat_kernel.vault.redaction import MIN_MASKED_LENGTH
from flowat_kernel.vault.rotation import RotationReport
from flowat_kernel.vault.vault import SecretInfo

__all__ = [
    "delete_secret",
    "list_secrets",
    "retire_master_key",
    "rotate_master_key",
    "secret_history",
    "set_secret",
    "too_short_to_mask",
]


def set_secret(name: str, value: str) -> SecretInfo:
    """Store (or rotate) the secret ``name``; returns its metadata, never the value.

    A value shorter than four characters cannot be masked reliably in output; it is
    stored, and :attr:`SecretInfo` callers should warn (the CLI and magics do).
    """
    return get_runtime().vault.set(name, value)


def too_short_to_mask(value: str) -> bool:
    """Whether ``value`` is too short to be masked in output without garbling text."""
    return len(value) < MIN_MASKED_LENGTH


def list_secrets() -> list[SecretInfo]:
    """Metadata of every secret of the current owner: name, dates, last use, workflows."""
    return get_runtime().vault.list_secrets()


def delete_secret(name: str) -> None:
    """Delete the secret ``name`` (its history metadata stays)."""
    get_runtime().vault.delete(name)


def secret_history(name: str) -> list[dict[str, object]]:
    """When the secret ``name`` was set, rotated and deleted, and by whom."""
    return get_runtime().vault.history(name)


def rotate_master_key(
    on_batch: Callable[[int, int], None] | None = None, batch_size: int = 500
) -> RotationReport:
    """Bring in a new master key (or finish an interrupted rotation) and re-wrap every row."""
    return get_runtime().vault.rotate_master_key(batch_size=batch_size, on_batch=on_batch)


def retire_master_key(key_id: str) -> None:
    """Retire a master key that no row needs any more."""
    get_runtime().vault.retire_key(key_id)
