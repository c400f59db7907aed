"""Where runs execute and what steps showed: runs.task_queue, step_runs.display, workers.

- ``runs.task_queue``: the Temporal task queue the run was started on (a process's own
  queue, or the shared one that ``flowat worker`` processes serve).
- ``step_runs.display``: what the step showed, as notebook outputs (stream, display
  data, execute result, error), masked like every record.
- ``workers``: shared workers register and heartbeat here, so a run can tell a live
  worker from one that has gone without asking Temporal's poller list.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("runs", sa.Column("task_queue", sa.String(255), nullable=True))
    op.add_column("step_runs", sa.Column("display", sa.JSON(), nullable=True))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_index("ix_workers_queue_seen", "workers", ["task_queue", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_workers_queue_seen", "workers")
    op.drop_table("workers")
    op.drop_column("step_runs", "display")
    op.drop_column("runs", "task_queue")
