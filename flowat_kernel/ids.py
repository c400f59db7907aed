"""Identifiers: what a workflow or step name may be, and fresh run ids."""

from __future__ import annotations

import re
import uuid

__all__ = ["new_run_id", "valid_name"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


def valid_name(name: str) -> bool:
    """Return whether ``name`` is usable as a workflow or step name.

    Names start with a letter or underscore and continue with letters, digits, ``_``,
    ``-`` or ``.``; at most 128 characters.
    """
    return bool(_NAME.match(name))


def new_run_id() -> str:
    """Return a fresh, unguessable run id (32 hexadecimal digits)."""
    return uuid.uuid4().hex
