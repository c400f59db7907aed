"""Connectors: shared circuit-breaker state and the dead-letter queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "circuit_breakers",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("openings", sa.Integer, nullable=False),
        sa.Column("open_until", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("sealed_task", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("redrive_run_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_dead_letters_owner_status", "dead_letters", ["owner", "status"])
    op.create_index("ix_dead_letters_run_id", "dead_letters", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_run_id", "dead_letters")
    op.drop_index("ix_dead_letters_owner_status", "dead_letters")
    op.drop_table("dead_letters")
    op.drop_table("circuit_breakers")
