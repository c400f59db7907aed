"""The metadata store (SQLAlchemy 2 + Alembic) and the definition cache.

:class:`Store` is the only door to the database: every SQL statement of FlowAt lives in
this package. Workflows and versions are in ``repository``; each other family of
records is a mixin :class:`Store` inherits (``run_records``, ``dead_letter_records``,
``audit_records``, ``access_records``, ``secret_records``, ``breaker_records``,
``trigger_records``; see ``transactions``). Their methods take and return plain values
and frozen records, never sessions or rows.
"""

from flowat_kernel.store.records import RunRecord, StepRecord, VersionRecord
from flowat_kernel.store.repository import Store, utcnow

__all__ = ["RunRecord", "StepRecord", "Store", "VersionRecord", "utcnow"]
