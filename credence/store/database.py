"""Connecting to the store: engine set-up, schema creation, the writer's lock.

SQLite is the embedded default, PostgreSQL the production store. On either,
a write takes the store's one writer lock at the start of its transaction
(SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock),
so that two ingests never interleave sequence numbers: one writer appends at
a time, and a reader never waits.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from credence.store.schema import SCHEMA_REVISION, SCHEMA_VERSION, meta

# The PostgreSQL advisory lock every write transaction takes first ("credence" in ASCII).
# Advisory locks are per database, so stores in different databases never contend.
WRITER_LOCK_KEY = 0x63726564656E6365
# Packages that provide the drivers a CREDENCE_DB_URL may name (module -> pip name).
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
}


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


def _postgres_setup(engine: sa.Engine, lock_timeout: float) -> None:
    wait_ms = max(1, round(lock_timeout * 1000))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A transaction-scoped lock: released by COMMIT or ROLLBACK, or if the process dies.
        # lock_timeout bounds the wait, then PostgreSQL cancels with SQLSTATE 55P03.
        if conn.get_execution_options().get("credence_write", False):
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")


def _server_setup(engine: sa.Engine) -> None:
    """Turn a failed connection to a database server into one line naming where it went."""
    url = engine.url
    # No quotes: the error boundary masks anything shaped like b'...' (a bytes literal).
    port = url.port or "default port"
    where = f"database {url.database} at {url.host or 'localhost'}:{port} as user {url.username}"

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: sa.engine.ExceptionContext) -> None:
        if ctx.connection is not None or ctx.statement is not None:
            return  # a statement failed, not the connection
        text = str(ctx.original_exception).strip()
        reason = text.rsplit("failed:", 1)[-1].strip().splitlines()[0].removeprefix("FATAL:")
        raise StoreError(f"cannot connect to {where}: {reason.strip()}") from None


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
    engine = _make_engine(url)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine, lock_timeout)
    else:
        _server_setup(engine)
    if engine.dialect.name == "postgresql":
        _postgres_setup(engine, lock_timeout)
    return engine


def _make_engine(url: str) -> sa.Engine:
    """sa.create_engine, with a URL or driver problem said in one line (never the password)."""
    try:
        return sa.create_engine(url, hide_parameters=True)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        package = _DRIVER_PACKAGES.get(missing, missing)
        raise StoreError(
            f"CREDENCE_DB_URL needs the database driver {missing!r}, which is not installed: "
            f"pip install '{package}' (or use postgresql+psycopg://, which credence ships with)"
        ) from None
    except sa.exc.ArgumentError:
        raise StoreError(
            "CREDENCE_DB_URL is not a database URL credence can use: give e.g. "
            "postgresql+psycopg://user@host:5432/dbname or sqlite:///path/to/credence.db"
        ) from None


def create_schema(engine: sa.Engine) -> None:
    """Create the tables of a new store, or bring an existing one to the current revision.

    A new store gets every table at once and is stamped at the head
    revision (Alembic's recipe for a fresh database: much faster than
    replaying each revision); an existing one is upgraded by Alembic.
    """
    from credence.store import versioning  # Alembic costs 0.2 s to import: only when writing

    with write_transaction(engine) as conn:
        if sa.inspect(conn).has_table(meta.name):
            versioning.upgrade(conn, _schema_found(conn))
        else:
            versioning.create(conn)
        if _schema_found(conn) is None:
            conn.execute(sa.insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
            conn.execute(sa.insert(meta).values(key="created_at", value=utc_now()))


def _schema_found(conn: sa.Connection) -> str | None:
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).scalar()


def schema_state(conn: sa.Connection) -> tuple[str | None, str | None]:
    """(`meta.schema`, Alembic revision) of the store; (None, None) if it has no tables."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(meta.name):
        return None, None
    found = _schema_found(conn)
    if not inspector.has_table("alembic_version"):
        return found, None
    revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return found, revision


def check_schema(engine: sa.Engine) -> None:
    """Raise StoreError unless the store exists at the current schema revision.

    Only reads (no Alembic import): every command but `init` and `migrate`
    passes here. A schema-3 store made before Alembic has no revision yet
    and is the same schema, so it is accepted.
    """
    try:
        with engine.connect() as conn:
            found, revision = schema_state(conn)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        found, revision = None, None
    if found is None:
        raise StoreError("no registry here: run `credence init` first")
    if revision == SCHEMA_REVISION or (revision is None and found == str(SCHEMA_VERSION)):
        return
    raise StoreError(
        f"registry schema is version {found} (revision {revision or 'none'}), this credence "
        f"needs {SCHEMA_VERSION} ({SCHEMA_REVISION}): run `credence migrate`"
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
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, columns, rows)
    else:
        _executemany_rows(conn, table, columns, rows)


def insert_columns(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], values: Sequence[Any], rows: int
) -> None:
    """Bulk insert `rows` rows given as columns (Arrow arrays, or a Python constant for
    every row) on the transaction's connection: the bulk path of ingestion.

    PostgreSQL: binary COPY built from the columns (copy_columns). SQLite: one
    prepared INSERT stepped a row with values bound from the Arrow buffers, in C
    (credence.store.sqlitebulk), else executemany of the same values as tuples.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        copy_columns(conn, table, columns, values, rows)
        return
    if conn.dialect.name == "sqlite":
        from credence.store import sqlitebulk

        sql = _insert_sql(conn, table, columns, "?")
        if sqlitebulk.insert(conn.connection.driver_connection, sql, values, rows):
            return
    _executemany_rows(conn, table, columns, _column_rows(values, rows))


def _column_rows(values: Sequence[Any], rows: int) -> list[tuple[Any, ...]]:
    """Columns (Arrow arrays, or a constant for every row) as `rows` tuples of plain values."""
    import pyarrow as pa

    lists = [
        v.to_pylist() if isinstance(v, pa.Array | pa.ChunkedArray) else repeat(v, rows)
        for v in values
    ]
    return list(zip(*lists, strict=True))


def _insert_sql(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], mark: str) -> str:
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {prep.format_table(table)} ({names}) VALUES ({marks})"


def _executemany_rows(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with named parameters: let SQLAlchemy bind them
        conn.execute(sa.insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    sql = _insert_sql(conn, table, columns, mark)
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite" and driver is not None:
        # The transaction's own sqlite3 connection: one prepared statement for all rows,
        # without SQLAlchemy's per-row parameter handling (this is the floor's path).
        driver.executemany(sql, rows)
        return
    conn.exec_driver_sql(sql, rows)


def _copy_rows(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL: stream the rows with binary COPY FROM STDIN on the transaction's connection.

    executemany sends one INSERT per row (about 3,000 records/s measured);
    COPY streams them in one statement, an order of magnitude faster, and
    the binary format spares the server parsing text. The driver connection
    is the one SQLAlchemy's transaction runs on, so the rows commit or roll
    back with the rest of the batch and its tree head.
    """
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    types = [_copy_type(table.c[name].type) for name in columns]
    binary = None not in types
    options = " (FORMAT BINARY)" if binary else ""
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {prep.format_table(table)} ({names}) FROM STDIN{options}") as copy,
    ):
        if binary:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_columns(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], values: Sequence[Any], rows: int
) -> None:
    """PostgreSQL: binary COPY of `rows` rows given as columns (Arrow arrays, or a Python
    constant for every row), built as array operations (credence.store.pgcopy).

    The bulk path of ingestion: the same COPY as _copy_rows on the same
    connection (so the rows commit or roll back with their batch), without
    building and formatting a Python tuple a row.
    """
    from credence.store.pgcopy import copy_payload

    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    types = [_copy_type(table.c[name].type) for name in columns]
    if None in types:
        raise ValueError(f"{table.name}: a column binary COPY cannot send")
    sql = f"COPY {prep.format_table(table)} ({names}) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy_payload([t for t in types if t is not None], values, rows):
            copy.write(block)


def _copy_type(kind: sa.types.TypeEngine[Any]) -> str | None:
    """The PostgreSQL type name binary COPY sends a column's values as (None: use text COPY)."""
    if isinstance(kind, sa.SmallInteger):
        return None
    if isinstance(kind, sa.BigInteger):
        return "int8"
    if isinstance(kind, sa.Integer):
        return "int4"
    if isinstance(kind, sa.LargeBinary):
        return "bytea"
    if isinstance(kind, sa.String):
        return "text"
    return None
