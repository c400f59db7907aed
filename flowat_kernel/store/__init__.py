"""The metadata store (SQLAlchemy 2 + Alembic) and the definition cache."""

from flowat_kernel.store.records import RunRecord, StepRecord, VersionRecord
from flowat_kernel.store.repository import Store, utcnow

__all__ = ["RunRecord", "StepRecord", "Store", "VersionRecord", "utcnow"]
