"""Connecting to the store: engine set-up, schema creation, the writer's lock.

SQLite is the embedded default. Writes take SQLite's write lock at the start
of the transaction (BEGIN IMMEDIATE), so that two ingests never interleave
sequence numbers: one writer appends at a time, and a reader never waits.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from credence.store.schema import SCHEMA_VERSION, meta, metadata


class StoreError(RuntimeError):
    """The store is missing, of the wrong version, or refused an operation."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _sqlite_setup(engine: sa.Engine, lock_timeout: float) -> None:
    busy_ms = max(1, round(lock_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a committed batch survives power loss
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")  # then "database is locked"
        cur.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front; readers never block anyone (WAL).
        writing = conn.get_execution_options().get("credence_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _private_file(path: Path) -> None:
    """Make sure a SQLite file exists readable by its owner only (its WAL files follow it).

    Never open an existing file here: closing any descriptor of a database
    file drops every POSIX lock this process holds on it, which corrupts
    SQLite's locking.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


def create_engine(url: str, lock_timeout: float = 30.0) -> sa.Engine:
    """An engine for `url`; SQLite files get their directory, WAL and the write lock.

    A write waits up to `lock_timeout` seconds for another writer's lock.
    `hide_parameters` keeps bound values (resident IDs, attributes, salts)
    out of every SQLAlchemy error message and traceback.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        _private_file(Path(url.removeprefix("sqlite:///")))
    engine = sa.create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine, lock_timeout)
    return engine


def create_schema(engine: sa.Engine) -> None:
    """Create every table (idempotent) and record the schema version."""
    metadata.create_all(engine)
    with write_transaction(engine) as conn:
        found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()
        if found is None:
            conn.execute(sa.insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
            conn.execute(sa.insert(meta).values(key="created_at", value=utc_now()))


def check_schema(engine: sa.Engine) -> None:
    """Raise StoreError unless the store exists at the expected schema version."""
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()
    except sa.exc.OperationalError:
        found = None
    except sa.exc.ProgrammingError:
        found = None
    if found is None:
        raise StoreError("no registry here: run `credence init` first")
    if found != str(SCHEMA_VERSION):
        raise StoreError(
            f"registry schema is version {found}, this credence needs {SCHEMA_VERSION}"
        )


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One atomic write holding the writer's lock: all of it commits or none of it."""
    with engine.connect() as conn:
        conn.execution_options(credence_write=True)
        with conn.begin():
            yield conn


_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert positional rows straight through the driver's executemany.

    The hot path of ingestion: SQLAlchemy's per-row parameter processing
    costs more than SQLite's insert itself, and these values are already
    plain str/int/bytes/None, so they need no processing.
    """
    if not rows:
        return
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with named parameters: let SQLAlchemy bind them
        conn.execute(sa.insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {prep.format_table(table)} ({names}) VALUES ({marks})", rows)
