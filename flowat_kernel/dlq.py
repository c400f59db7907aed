"""The dead-letter functions of the Python API, under their former import path.

They live in :mod:`flowat_kernel.api` (acting through the default workspace); the
queue itself is :mod:`flowat_kernel.engine.dead_letters`.
"""

from __future__ import annotations

from flowat_kernel.api import dlq_discard, dlq_list, dlq_retry, dlq_show

__all__ = ["dlq_discard", "dlq_list", "dlq_retry", "dlq_show"]
