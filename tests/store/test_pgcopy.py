"""PostgreSQL binary COPY built from Arrow columns (credence.store.pgcopy).

The expected stream is psycopg's own: its BinaryFormatter formats the same
rows one at a time (the writer's former path), offline; and on the real
server, the rows COPY stores read back as they were sent.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from credence.store.pgcopy import copy_payload

TYPES = ["int8", "int4", "text", "text", "bytea", "int8", "int4"]
ARROW = [pa.int64(), pa.int32(), pa.string(), pa.string(), pa.binary(), pa.int64(), pa.int32()]


def psycopg_stream(types: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    """The stream psycopg's Copy.write_row sends for `rows` (header, tuples, trailer)."""
    from psycopg import postgres
    from psycopg._copy_base import BinaryFormatter
    from psycopg.adapt import Transformer
    from psycopg.pq import Format

    transformer = Transformer()
    transformer.set_dumper_types([postgres.types[t].oid for t in types], Format.BINARY)
    formatter = BinaryFormatter(transformer)
    out = bytearray()
    for row in rows:
        out += formatter.write_row(row)
    out += formatter.end()
    return bytes(out)


def stream(types: list[str], values: list[Any], rows: int, chunk_rows: int = 8192) -> bytes:
    return b"".join(bytes(block) for block in copy_payload(types, values, rows, chunk_rows))


def random_rows(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    texts = ["", "a", "信用", "Zhāng Wěi", "x" * 300, "tab\tand\nnewline", '"quoted" \\ back']

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.2 else value

    return [
        (
            rng.randrange(-(2**63), 2**63),
            rng.randrange(-(2**31), 2**31),
            rng.choice(texts) + str(rng.randrange(10**6)),
            maybe(rng.choice(texts)),
            maybe(rng.randbytes(rng.randrange(0, 40))),
            maybe(rng.randrange(2**40)),
            maybe(rng.randrange(-5, 5)),
        )
        for _ in range(n)
    ]


def as_columns(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [pa.array([r[i] for r in rows], kind) for i, kind in enumerate(ARROW)]


@pytest.mark.parametrize("n", [0, 1, 2, 6, 7, 8, 9, 100])
def test_stream_is_the_one_psycopg_writes_row_by_row(n: int) -> None:
    rows = random_rows(random.Random(n), n)
    assert stream(TYPES, as_columns(rows), n, chunk_rows=7) == psycopg_stream(TYPES, rows)


def test_constant_columns_are_repeated_in_every_row() -> None:
    rows = random_rows(random.Random(1), 20)
    columns: list[Any] = as_columns(rows)
    columns[1], columns[3], columns[5] = 42, "same", None
    expected = [(r[0], 42, r[2], "same", r[4], None, r[6]) for r in rows]
    assert stream(TYPES, columns, 20, chunk_rows=6) == psycopg_stream(TYPES, expected)


def test_every_column_constant_and_chunked_arrays() -> None:
    assert stream(["int4", "text"], [5, "k"], 3) == psycopg_stream(["int4", "text"], [(5, "k")] * 3)
    chunked = pa.chunked_array([pa.array(["a", "b"]), pa.array([None, "d"])])
    assert stream(["text"], [chunked], 4, chunk_rows=3) == psycopg_stream(
        ["text"], [("a",), ("b",), (None,), ("d",)]
    )


def test_a_column_of_the_wrong_length_or_type_is_refused() -> None:
    with pytest.raises(ValueError, match="3 values in a batch of 2"):
        stream(["text"], [pa.array(["a", "b", "c"])], 2)
    with pytest.raises(ValueError, match="2 types for 1 columns"):
        stream(["text", "int4"], [pa.array(["a"])], 1)
    with pytest.raises(ValueError, match="'numeric'"):
        stream(["numeric"], [pa.array([1])], 1)


@pytest.mark.postgres
def test_copy_columns_stores_the_rows_on_the_server(pg_url: str) -> None:
    from credence.store.database import copy_columns

    metadata = sa.MetaData()
    table = sa.Table(
        "t",
        metadata,
        sa.Column("a", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("b", sa.Integer),
        sa.Column("c", sa.Text, nullable=False),
        sa.Column("d", sa.Text),
        sa.Column("e", sa.LargeBinary),
        sa.Column("f", sa.BigInteger),
        sa.Column("g", sa.Integer),
    )
    engine = sa.create_engine(pg_url)
    metadata.create_all(engine)
    rows = random_rows(random.Random(7), 20_000)
    rows = [(i, *r[1:]) for i, r in enumerate(rows)]  # a unique key
    with engine.begin() as conn:
        copy_columns(conn, table, tuple(table.c.keys()), as_columns(rows), len(rows))
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.a))]
    engine.dispose()
    assert stored == rows
