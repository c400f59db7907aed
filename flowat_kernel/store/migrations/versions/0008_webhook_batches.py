"""Batching webhooks, and each batched delivery's place and outcome.

``webhooks.batch_size`` / ``batch_window_ms``; ``webhook_deliveries.batch_index`` /
``status``.

``NULL`` batch columns mean one run per delivery (as before); a delivery row of a batch
records the run that holds the event (``run_id``), its index in that run's ``events``,
and its own outcome (``queued``, ``succeeded``, ``failed``, ...).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the four columns."""
    op.add_column("webhooks", sa.Column("batch_size", sa.Integer(), nullable=True))
    op.add_column("webhooks", sa.Column("batch_window_ms", sa.Integer(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("batch_index", sa.Integer(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("status", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("webhook_deliveries") as table:
        table.drop_column("status")
        table.drop_column("batch_index")
    with op.batch_alter_table("webhooks") as table:
        table.drop_column("batch_window_ms")
        table.drop_column("batch_size")
