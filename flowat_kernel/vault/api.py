"""The vault's part of the Python API, kept for its import path.

The functions live in :mod:`flowat_kernel.api`, where they act through the default
workspace (its principal's organization and role); ``flowat secrets`` and
``%flowat secret`` call them there.
"""

from __future__ import annotations

from flowat_kernel.lazy import lazy_getattr

__all__ = [
    "delete_secret",
    "list_secrets",
    "retire_master_key",
    "rotate_master_key",
    "secret_history",
    "set_secret",
    "too_short_to_mask",
]

__getattr__ = lazy_getattr(__name__, dict.fromkeys(__all__, "flowat_kernel.api"), globals())
