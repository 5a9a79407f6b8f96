"""Schema revisions: Alembic, run from code on the connection of a write transaction.

The revisions live in `credence/store/migrations/versions/` (shipped with
the package); nobody needs an `alembic.ini`. Every step runs inside the
caller's write transaction, so it holds the writer's lock, and on
PostgreSQL (transactional DDL) a failed upgrade leaves nothing behind.

Stores made before Alembic have no `alembic_version` table; their
`meta.schema` says where they are, and they are stamped at the matching
revision before upgrading. Schema 1 needs `credence migrate` (it re-signs
heads with the key file) before it reaches revision 1.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from credence.store.database import StoreError
from credence.store.schema import SCHEMA_VERSION, metadata

MIGRATIONS = Path(__file__).parent / "migrations"
# The revision a store made before Alembic is at, by its `meta.schema`.
REVISION_OF_SCHEMA = {"2": "0001_schema_2", "3": "0002_schema_3"}


def config(conn: sa.Connection) -> Config:
    """Alembic's configuration in code, handing `env.py` the caller's connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revisions, read once per process (a registry is created per test)."""
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    found = script_directory().get_current_head()
    assert found is not None
    return found


def current(conn: sa.Connection) -> str | None:
    """The store's Alembic revision, None if it was never stamped."""
    return MigrationContext.configure(conn).get_current_revision()


def create(conn: sa.Connection) -> None:
    """A new store: every table from the metadata, stamped at the head revision."""
    metadata.create_all(conn)
    MigrationContext.configure(conn).stamp(script_directory(), "head")


def stamp(conn: sa.Connection, revision: str) -> None:
    MigrationContext.configure(conn).stamp(script_directory(), revision)


def upgrade(conn: sa.Connection, schema: str | None) -> bool:
    """Bring an existing store (at `meta.schema` = `schema`) to the head; True if it moved."""
    revision = current(conn)
    if revision is None:
        if schema not in REVISION_OF_SCHEMA:
            raise StoreError(
                f"registry schema is version {schema}, this credence needs {SCHEMA_VERSION}: "
                "run `credence migrate`"
            )
        revision = REVISION_OF_SCHEMA[schema]
        stamp(conn, revision)
    if revision == head():
        return False
    command.upgrade(config(conn), "head")
    return True
