"""The compiled SQLite bulk insert (credence.store._sqlitebulk) stores what executemany stores.

Every expected table here is written by sqlite3's own executemany from rows
written out by hand or by Python, never by the code under test; the compiled
path gets the same values as Arrow columns. Compared: every value and its
SQLite storage class (text stays TEXT, bytes BLOB, None NULL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from credence.store import sqlitebulk
from credence.store.database import create_engine, insert_columns, write_transaction
from credence.store.schema import records

needs_c = pytest.mark.skipif(sqlitebulk.compiled is None, reason="the C extension is not built")

TABLE = (
    "CREATE TABLE t (seq INTEGER PRIMARY KEY, source INTEGER NOT NULL, ref TEXT NOT NULL UNIQUE,"
    " subject TEXT, note TEXT, salt BLOB NOT NULL, label TEXT, tag BLOB, spare TEXT)"
)
INSERT = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
READ = (
    "SELECT seq, source, ref, subject, note, salt, label, tag, spare, typeof(subject),"
    " typeof(note), typeof(salt), typeof(label), typeof(tag), typeof(spare) FROM t ORDER BY seq"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(TABLE)
    return conn


def _hand_rows() -> list[tuple[Any, ...]]:
    """Values that differ in the ways a binding can get wrong: nulls, empty text and
    bytes, non-ASCII text (2-, 3- and 4-byte UTF-8), NUL inside bytes, a large seq."""
    return [
        (0, 7, "ref-0", "91350100M000100Y43", "plain", b"\x00" * 16, "label", b"\x01", None),
        (1, 7, "ref-1", None, "", b"", "label", b"", None),
        (2, 7, "参考-2", "110101199003077777", "信用记录 é", b"\xff\x00\xfe", "label", b"t", None),
        (2**62, 7, "ref-😀", "", None, bytes(range(256)), "label", None, None),
        (5, 7, "ref-5", "x" * 5000, "y\n\t\"'\\", b"\x80" * 33, "label", b"\x00\x00", None),
    ]


def _as_columns(rows: list[tuple[Any, ...]]) -> list[Any]:
    """The rows as the appender hands them over: Arrow arrays, constants for the columns whose
    value is the same in every row (source 7, label "label", spare None)."""
    seq, _source, ref, subject, note, salt, _label, tag, _spare = zip(*rows, strict=True)
    return [
        pa.array(seq, pa.int64()),
        7,
        pa.array(ref, pa.string()),
        pa.array(subject, pa.string()),
        pa.array(note, pa.string()),
        pa.array(salt, pa.binary()),
        "label",
        pa.array(tag, pa.binary()),
        None,
    ]


def _expected(tmp_path: Path, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    conn = _connect(tmp_path / "expected.db")
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    return conn.execute(READ).fetchall()


@needs_c
def test_the_compiled_insert_stores_what_executemany_stores(tmp_path: Path) -> None:
    rows = _hand_rows()
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("BEGIN IMMEDIATE")
    assert sqlitebulk.insert(conn, INSERT, _as_columns(rows), len(rows)) is True
    conn.execute("COMMIT")
    assert conn.execute(READ).fetchall() == _expected(tmp_path, rows)


@needs_c
def test_sliced_and_chunked_arrays_are_read_from_their_own_offset(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = [
        (
            i,
            7,
            f"ref-{i}",
            None if i % 5 == 0 else f"s{rng.integers(1e9)}",
            "é" * int(rng.integers(0, 4)),
            rng.bytes(16),
            "label",
            None if i % 3 == 0 else rng.bytes(int(rng.integers(0, 3))),
            None,
        )
        for i in range(3000)
    ]
    columns = _as_columns(rows)
    # Slices start mid-buffer (and mid-validity-byte); a chunked array of three chunks.
    window = [c.slice(1001, 1500) if isinstance(c, pa.Array) else c for c in columns]
    window[2] = pa.chunked_array([columns[2].slice(1001, 500), columns[2].slice(1501, 1000)])
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("BEGIN IMMEDIATE")
    assert sqlitebulk.insert(conn, INSERT, window, 1500)
    conn.execute("COMMIT")
    assert conn.execute(READ).fetchall() == _expected(tmp_path, rows[1001:2501])


@needs_c
def test_a_constraint_raises_sqlites_integrity_error_and_the_savepoint_undoes_the_rows(
    tmp_path: Path,
) -> None:
    rows = _hand_rows()
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("INSERT INTO t (seq, source, ref, salt) VALUES (99, 1, 'ref-5', x'00')")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("SAVEPOINT batch")
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: t\.ref") as raised:
        sqlitebulk.insert(conn, INSERT, _as_columns(rows), len(rows))
    assert raised.value.sqlite_errorcode == 2067  # SQLITE_CONSTRAINT_UNIQUE
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (5,)  # 4 rows before ref-5
    conn.execute("ROLLBACK TO batch")
    conn.execute("COMMIT")
    assert conn.execute("SELECT seq FROM t").fetchall() == [(99,)]


@needs_c
def test_outside_a_transaction_it_declines_and_writes_nothing(tmp_path: Path) -> None:
    rows = _hand_rows()
    conn = _connect(tmp_path / "compiled.db")
    assert sqlitebulk.insert(conn, INSERT, _as_columns(rows), len(rows)) is False
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


@needs_c
def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    offsets = pa.py_buffer(np.array([0, 1, 3], dtype=np.int32).tobytes())
    # "a", then an overlong encoding of "/" (Python's decoder refuses it)
    bad = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"a\xc0\xaf")])
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("BEGIN IMMEDIATE")
    columns = [pa.array([1, 2]), 7, bad, None, None, b"s", None, None, None]
    with pytest.raises(ValueError, match="row 1 holds text that is not UTF-8"):
        sqlitebulk.insert(conn, INSERT, columns, 2)
    conn.execute("ROLLBACK")


@needs_c
def test_bad_specs_are_errors_not_crashes(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("BEGIN IMMEDIATE")
    assert sqlitebulk.compiled is not None
    columns = _as_columns(_hand_rows())
    with pytest.raises(ValueError, match="9 parameters in the statement, 8 specs"):
        sqlitebulk.insert(conn, INSERT, columns[:8], 5)
    with pytest.raises(ValueError, match="shorter than 6 rows"):
        sqlitebulk.insert(conn, INSERT, columns, 6)
    with pytest.raises(TypeError, match="a constant of type float"):
        sqlitebulk.compiled.insert(conn, INSERT, 1, ((0, 1.5),) * 9)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        sqlitebulk.insert(conn, "INSERT INTO nowhere VALUES (?)", [1], 1)
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_columns_of_other_types_fall_back(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "compiled.db")
    conn.execute("BEGIN IMMEDIATE")
    large = pa.array(["a"], pa.large_string())
    assert sqlitebulk.insert(conn, INSERT, [pa.array([1]), 7, large, *[None] * 6], 1) is False
    assert sqlitebulk.insert(conn, INSERT, [1.5, 7, "r", *[None] * 6], 1) is False
    conn.execute("ROLLBACK")


def _records_rows(n: int) -> list[tuple[Any, ...]]:
    return [
        (i, 3, f"ref-{i}", "item.x", f"subject-{i % 7}", "2026-01-02", None, '{"a":1}', None,
         None, bytes([i % 256]) * 16, 11, bytes([i % 251]) * 32)
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["compiled", "executemany"])
def test_insert_columns_writes_the_records_table_the_same_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "compiled" and sqlitebulk.compiled is None:
        pytest.skip("the C extension is not built")
    used: list[bool] = []
    real = sqlitebulk.insert

    def spy(*args: Any) -> bool:
        used.append(real(*args))
        return used[-1]

    monkeypatch.setattr(sqlitebulk, "insert", spy)
    if path == "executemany":
        monkeypatch.setattr(sqlitebulk, "compiled", None)
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    records.metadata.create_all(engine, tables=[records])
    rows = _records_rows(300)
    kinds = [pa.int64(), None, pa.string(), None, pa.string(), pa.string(), pa.string(),
             pa.string(), None, None, pa.binary(), None, pa.binary()]  # fmt: skip
    columns = [
        pa.array([r[k] for r in rows], kind) if kind is not None else rows[0][k]
        for k, kind in enumerate(kinds)
    ]
    names = tuple(c.name for c in records.columns)
    with write_transaction(engine) as conn:
        insert_columns(conn, records, names, columns, len(rows))
    assert used == [path == "compiled"]
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {', '.join(names)} FROM records")]
    engine.dispose()
    assert sorted(stored) == rows
