"""PostgreSQL's binary COPY format, built from Arrow columns as array operations.

psycopg's `Copy.write_row` formats one tuple at a time in Python: measured
on the ingest's 13-column records, that and building the tuples it takes
were over half the writer's time on PostgreSQL (about 2 µs a row). The
format is simple enough to build a batch at once (PostgreSQL's docs, "COPY",
"Binary Format"):

- a header: the 11-byte signature, a 32-bit flags field and a 32-bit
  header-extension length, both zero;
- per tuple: a 16-bit field count, then per field a 32-bit length and that
  many bytes, or the length -1 and nothing for NULL;
- a 16-bit -1 trailer.

All integers are big-endian. A `bigint` is 8 bytes, an `integer` 4, and
`text` and `bytea` values are their bytes as they are (UTF-8 for text, the
database's encoding). Everything of fixed width between two text values
(the field count, integers, constants, each text's length prefix) is laid
out as one numpy record a row; one element-wise join of those and the text
columns makes the tuples, whose data buffer is the payload, so each byte of
a value is copied once. A batch goes in chunks, so the server parses one
while the next is built. Nothing here does I/O: database.copy_columns sends it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
NULL_FIELD = struct.pack(">i", -1)
# The column types this encodes, by PostgreSQL's type name (database._copy_type).
_WIDTHS = {"int8": (">i8", 8), "int4": (">i4", 4)}
# Rows encoded and sent at a time: the server parses one chunk while the next is built,
# and no chunk nears Arrow's 2 GiB limit on a binary array's data.
CHUNK_ROWS = 8192


def copy_payload(
    types: Sequence[str], values: Sequence[Any], rows: int, chunk_rows: int = CHUNK_ROWS
) -> Iterator[Any]:
    """The binary COPY stream of one column per type, as buffers to send in order: the
    header, the tuples `chunk_rows` at a time, the trailer.

    A value is an Arrow array (or chunked array) of `rows` values, or a
    Python constant for every row: an int, str, bytes or None.
    """
    if len(types) != len(values):
        raise ValueError(f"{len(types)} types for {len(values)} columns")
    for value in values:
        if _is_array(value) and len(value) != rows:
            raise ValueError(f"a column of {len(value)} values in a batch of {rows} rows")
    arrays = [_combined(v) if _is_array(v) else v for v in values]
    yield SIGNATURE
    for start in range(0, rows, chunk_rows):
        size = min(chunk_rows, rows - start)
        chunk = [v.slice(start, size) if _is_array(v) else v for v in arrays]
        yield _tuples(types, chunk, size)
    yield TRAILER


def _tuples(types: Sequence[str], values: Sequence[Any], rows: int) -> Any:
    """`rows` tuples end to end, built by one element-wise join.

    Everything of fixed width between two variable values (the field
    count, integers, constants, and each variable value's length prefix)
    is laid out as one numpy record a row; the variable values (text,
    bytea) go into the join as they are, a null as nothing (its prefix is
    -1). So each byte of a value is copied once, into the tuples.
    """
    parts: list[Any] = []
    run = _Run(rows)
    run.constant(struct.pack(">h", len(types)))
    for kind, value in zip(types, values, strict=True):
        if not _is_array(value):
            run.constant(_field_bytes(kind, value))
        elif kind in _WIDTHS and not value.null_count:
            dtype, width = _WIDTHS[kind]
            run.constant(struct.pack(">i", width))
            run.column(dtype, value.to_numpy(zero_copy_only=False))
        elif kind in _WIDTHS:  # nullable integers: a variable-width field (-1 and nothing)
            parts += run.flushed()
            parts.append(_field_array(kind, value))
        elif kind in ("text", "bytea"):
            data = value.cast(pa.binary())  # text: its UTF-8 bytes, as they are
            lengths = pc.fill_null(pc.binary_length(data), -1).to_numpy(zero_copy_only=False)
            run.column(">i4", lengths)
            parts += run.flushed()
            parts.append(data)
        else:
            raise ValueError(f"binary COPY of type {kind!r} is not supported")
    if not parts:  # all fixed width: the records are the tuples
        return memoryview(run.records())
    parts += run.flushed()
    empty = pa.scalar(b"", pa.binary())
    return _data(pc.binary_join_element_wise(*parts, empty, null_handling="replace"))


class _Run:
    """Fixed-width pieces of each tuple between two variable values: one numpy record a row."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.fields: list[tuple[str, Any]] = []

    def constant(self, data: bytes) -> None:
        if data:
            self.fields.append((f"S{len(data)}", data))

    def column(self, dtype: str, values: Any) -> None:
        self.fields.append((dtype, values))

    def records(self) -> bytes:
        layout = np.dtype([(f"f{i}", dtype) for i, (dtype, _) in enumerate(self.fields)])
        records = np.empty(self.rows, dtype=layout)
        for i, (_, value) in enumerate(self.fields):
            records[f"f{i}"] = value
        self.fields = []
        return records.tobytes()

    def flushed(self) -> list[Any]:
        """The run so far as a binary array (none if empty), the run then empty."""
        if not self.fields:
            return []
        width = sum(np.dtype(dtype).itemsize for dtype, _ in self.fields)
        return [_fixed(self.records(), width, self.rows)]


def _combined(values: Any) -> Any:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _is_array(value: Any) -> bool:
    return isinstance(value, pa.Array | pa.ChunkedArray)


def _field_bytes(kind: str, value: Any) -> bytes:
    """One field of a constant column: its length prefix and bytes."""
    if value is None:
        return NULL_FIELD
    if kind in _WIDTHS:
        data = int(value).to_bytes(_WIDTHS[kind][1], "big", signed=True)
    elif kind == "text":
        data = str(value).encode()
    elif kind == "bytea":
        data = bytes(value)
    else:
        raise ValueError(f"binary COPY of type {kind!r} is not supported")
    return struct.pack(">i", len(data)) + data


def _field_array(kind: str, values: Any) -> Any:
    """A nullable integer field of each row as a binary array: its length and value, or -1
    and nothing for null (so not of fixed width)."""
    dtype, width = _WIDTHS[kind]
    numbers = np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False))
    record = np.empty(len(values), dtype=[("length", ">i4"), ("value", dtype)])
    record["length"] = width
    record["value"] = numbers
    fields = _fixed(record.tobytes(), 4 + width, len(values))
    return pc.if_else(pc.is_valid(values), fields, pa.scalar(NULL_FIELD, pa.binary()))


def _fixed(data: bytes, width: int, rows: int) -> Any:
    """`rows` values of `width` bytes each, laid end to end in `data`, as a binary array."""
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [None, pa.py_buffer(data)])
    return array.cast(pa.binary())


def _data(tuples: Any) -> memoryview:
    """The bytes of a binary array's values end to end (it has no nulls)."""
    if tuples.null_count:
        raise ValueError("a tuple of the COPY stream is null")
    offsets = np.frombuffer(tuples.buffers()[1], dtype=np.int32)[tuples.offset :]
    start, stop = int(offsets[0]), int(offsets[len(tuples)])
    return memoryview(tuples.buffers()[2])[start:stop]
