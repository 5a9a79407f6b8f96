"""Checks of a store's schema shared by the SQLite and PostgreSQL tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from credence.store import versioning
from credence.store.database import write_transaction
from credence.store.schema import metadata


def differences(engine: sa.Engine) -> list[Any]:
    """What Alembic's autogenerate finds between `schema.metadata` and the database."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def replay(engine: sa.Engine, revision: str = "head") -> None:
    """Build an empty database by running the revisions one by one (not create_all)."""
    with write_transaction(engine) as conn:
        command.upgrade(versioning.config(conn), revision)


def make_pre_alembic_schema_2(engine: sa.Engine) -> None:
    """A store as credence made it at schema 2, before Alembic: no alembic_version."""
    replay(engine, "0001_schema_2")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
        conn.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('schema', '2')")
