"""Alembic environment: migrations run on the connection FlowAt hands over."""

from alembic import context

from flowat_kernel.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - FlowAt always passes one
    raise RuntimeError("run FlowAt migrations through flowat_kernel.store.database.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
