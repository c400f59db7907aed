"""Retention policies and deletion: how long runs are kept, and one pass at a time.

``retention_policies`` holds one policy per (organization, workflow); ``workflow`` is
the empty string for the organization's default (so the pair stays a primary key on
every database). ``retention_leases`` holds one row per periodic job: who runs it now
(until when), and when it last finished, so that one retention pass runs at a time
across every worker and host. ``deleted_runs`` remembers each deleted run's id for a
while, so that files written for it after its deletion (a step that was still
finishing, events in another process's spool) are found and removed by a later pass.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "retention_policies",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("workflow", sa.String(128), primary_key=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("keep", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "retention_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )

    op.create_table(
        "deleted_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deleted_runs_deleted_at", "deleted_runs", ["deleted_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_deleted_runs_deleted_at", table_name="deleted_runs")
    op.drop_table("deleted_runs")
    op.drop_table("retention_leases")
    op.drop_table("retention_policies")
