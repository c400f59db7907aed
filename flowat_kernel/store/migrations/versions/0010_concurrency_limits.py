"""Concurrency limits per workflow and organization, and the runs waiting for a slot.

``concurrency_limits`` holds one row per workflow (``workflow`` is its name) or per
organization (``workflow=''``, the default for its workflows without their own):
``max_concurrent_runs`` and ``when_full`` (``queue``, ``skip``, ``cancel-oldest``).
``run_admissions`` holds one row per run waiting for a slot, in FIFO order (``seq``);
the runs holding slots are the workflow's runs with status ``running``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "concurrency_limits",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("workflow", sa.String(128), primary_key=True),
        sa.Column("max_concurrent_runs", sa.Integer(), nullable=False),
        sa.Column("when_full", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "run_admissions",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("evicts", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_run_admissions_workflow_seq", "run_admissions", ["workflow_id", "seq"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_run_admissions_workflow_seq", table_name="run_admissions")
    op.drop_table("run_admissions")
    op.drop_table("concurrency_limits")
