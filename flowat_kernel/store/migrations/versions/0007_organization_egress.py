"""An organization's egress policy: ``organizations.egress``.

``NULL`` means the organization follows the installation's ``FLOWAT_EGRESS``; otherwise
``auto``, ``open`` or ``public`` (see :mod:`flowat_kernel.sdk.egress`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organizations", sa.Column("egress", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("organizations", "egress")
