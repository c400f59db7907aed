"""Artifacts stored in PostgreSQL (reserved: no schema change yet).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No change yet."""


def downgrade() -> None:
    """No change yet."""
