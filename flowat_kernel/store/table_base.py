"""The declarative base every table model of the metadata store derives from.

Kept apart from :mod:`flowat_kernel.store.tables` so that the modules declaring the
tables can import it without importing each other.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base"]


class Base(DeclarativeBase):
    """Declarative base of FlowAt's tables."""
