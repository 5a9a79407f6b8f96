"""Alembic's environment for the store: always run on a connection credence hands over.

credence runs Alembic from code (`credence.store.versioning`), never from an
`alembic.ini`: the connection, inside the writer's transaction, arrives in
`config.attributes["connection"]`, so a migration holds the same lock as
any other write and commits or rolls back with it.
"""

from __future__ import annotations

from alembic import context

from credence.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("credence migrations run through credence.store.versioning, not the CLI")
# SQLite cannot ALTER most things in place: batch mode copies the table instead.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():  # joins the caller's transaction
    context.run_migrations()
