"""The metadata store (SQLAlchemy 2 + Alembic) and the definition cache.

:class:`Store` is the only door to the database: every SQL statement of FlowAt lives in
this package. Workflows and versions are in ``repository``; each other family of
records is a mixin :class:`Store` inherits (``run_records``, ``dead_letter_records``,
``audit_records``, ``access_records``, ``secret_records``, ``breaker_records``,
``trigger_records``; see ``transactions``). Their methods take and return plain values
and frozen records, never sessions or rows. ``run_listing`` reads runs with plain
SQL, for commands that only list them (``flowat runs``).

Names load on first use, so that importing one module of the store (``run_listing``,
``run_models``) does not import the SQLAlchemy ORM and every table model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.store.records import RunRecord, StepRecord, VersionRecord
    from flowat_kernel.store.repository import Store, utcnow

__all__ = ["RunRecord", "StepRecord", "Store", "VersionRecord", "utcnow"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "RunRecord": "flowat_kernel.store.run_models",
        "StepRecord": "flowat_kernel.store.run_models",
        "VersionRecord": "flowat_kernel.store.records",
        "Store": "flowat_kernel.store.repository",
        "utcnow": "flowat_kernel.store.repository",
    },
    globals(),
)
