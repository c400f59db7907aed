"""Connector host rate limits and approval links (reserved: no schema change yet).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No change yet."""


def downgrade() -> None:
    """No change yet."""
