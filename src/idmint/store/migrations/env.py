"""Alembic environment: idmint runs migrations in-process on the store's own connection."""

from __future__ import annotations

from alembic import context

from idmint.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - idmint always passes its connection
    raise RuntimeError("Run migrations through idmint.store.Store.migrate().")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
