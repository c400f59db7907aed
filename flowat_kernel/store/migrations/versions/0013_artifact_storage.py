"""Artifacts stored in PostgreSQL: one row per artifact, its sealed bytes in chunk rows.

``artifacts`` holds each artifact's reference and size; ``artifact_chunks`` its sealed
bytes in order (4 MiB rows). Used when ``FLOWAT_ARTIFACTS_URL=database``; on
PostgreSQL the chunks' column is stored uncompressed (sealed bytes do not compress).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "artifacts",
        sa.Column("reference", sa.String(1024), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "artifact_chunks",
        sa.Column(
            "reference",
            sa.String(1024),
            sa.ForeignKey("artifacts.reference", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    """Drop them."""
    op.drop_table("artifact_chunks")
    op.drop_table("artifacts")
