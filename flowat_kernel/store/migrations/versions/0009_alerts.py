"""Alerts: what to do when a run fails, succeeds or times out, and each delivery.

``alerts`` holds one action per row (a workflow's own, or the organization's default
when ``workflow`` is ``NULL``); ``alert_deliveries`` holds one row per (alert, run,
event), unique, with its status, attempts and last (masked) error.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("workflow", sa.String(128), nullable=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_alerts_owner_workflow", "alerts", ["owner", "workflow"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("handler_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("alert_id", "run_id", "event", name="uq_alert_deliveries_once"),
    )
    op.create_index("ix_alert_deliveries_run", "alert_deliveries", ["run_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_alert_deliveries_run", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_owner_workflow", table_name="alerts")
    op.drop_table("alerts")
