"""Credential vault: secrets, their history and usage, vault-managed data keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("tag", sa.LargeBinary, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("rotated_at", TS, nullable=True),
        sa.Column("rotated_by", sa.String(128), nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.UniqueConstraint("owner", "name", name="uq_secrets_owner_name"),
    )
    op.create_index("ix_secrets_key_id", "secrets", ["key_id"])
    op.create_table(
        "secret_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("ix_secret_events_owner_name", "secret_events", ["owner", "name"])
    op.create_table(
        "secret_usage",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("workflow", sa.String(128), primary_key=True),
        sa.Column("last_used_at", TS, nullable=False),
    )
    op.create_table(
        "vault_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_vault_keys_key_id", "vault_keys", ["key_id"])


def downgrade() -> None:
    op.drop_table("vault_keys")
    op.drop_table("secret_usage")
    op.drop_index("ix_secret_events_owner_name", "secret_events")
    op.drop_table("secret_events")
    op.drop_index("ix_secrets_key_id", "secrets")
    op.drop_table("secrets")
