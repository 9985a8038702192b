"""Alembic environment: runs on the connection :func:`bakery.registry.db.migrate` passes in."""

from __future__ import annotations

from alembic import context

from bakery.registry.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bakery.registry.db.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
