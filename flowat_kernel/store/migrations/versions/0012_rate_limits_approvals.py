"""Connector host rate limits, and approval links.

``rate_limits`` holds one limit per (organization, connector, host); ``connector`` is
``*`` for every connector reaching that host. ``rate_limit_leases`` holds one row per
admitted call: counted as in flight until ``finished_at`` (or ``expires_at``, for a
worker that died mid-call), and against the per-second limit until one second after it
finished. ``approval_links`` holds one row per approve/reject link of a ``--wait-for``
step: what it is bound to (run, step, signal, signing key), until when it works, and
(single use) when and how it was used, by whom.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the rate-limit and approval-link tables."""
    op.create_table(
        "rate_limits",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("per_second", sa.Integer(), nullable=True),
        sa.Column("concurrent", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "rate_limit_leases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rate_limit_leases_key", "rate_limit_leases", ["owner", "connector", "host"])
    op.create_table(
        "approval_links",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(255), nullable=False),
        sa.Column("signal", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(32), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_approval_links_run", "approval_links", ["run_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_approval_links_run", table_name="approval_links")
    op.drop_table("approval_links")
    op.drop_index("ix_rate_limit_leases_key", table_name="rate_limit_leases")
    op.drop_table("rate_limit_leases")
    op.drop_table("rate_limits")
