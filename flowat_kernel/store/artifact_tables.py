"""Artifacts kept in the database (``FLOWAT_ARTIFACTS_URL=database``), in chunks.

They share :class:`~flowat_kernel.store.table_base.Base` with every other table;
:mod:`flowat_kernel.store.tables` imports them all, so the mapper sees every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from flowat_kernel.store.table_base import Base

__all__ = ["ArtifactChunkRow", "ArtifactRow"]


class ArtifactRow(Base):
    """An artifact kept in the database (``FLOWAT_ARTIFACTS_URL=database``): its size."""

    __tablename__ = "artifacts"

    #: The artifact's reference, e.g. ``runs/RUN/STEP/NAME.parquet``.
    reference: Mapped[str] = mapped_column(String(1024), primary_key=True)
    #: The sealed bytes stored, over all chunks.
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ArtifactChunkRow(Base):
    """One chunk (4 MiB, the last shorter) of a sealed artifact's bytes, in order."""

    __tablename__ = "artifact_chunks"

    reference: Mapped[str] = mapped_column(
        String(1024), ForeignKey("artifacts.reference", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
