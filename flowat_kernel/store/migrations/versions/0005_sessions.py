"""Sessions: every issued session token, bound to the API key (and session) it came from,
so that revoking the key, the session or the membership ends it at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("parent", sa.String(32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_sessions_owner", "sessions", ["owner"])
    op.create_index("ix_sessions_key_id", "sessions", ["key_id"])
    op.create_index("ix_sessions_parent", "sessions", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_sessions_parent", "sessions")
    op.drop_index("ix_sessions_key_id", "sessions")
    op.drop_index("ix_sessions_owner", "sessions")
    op.drop_table("sessions")
