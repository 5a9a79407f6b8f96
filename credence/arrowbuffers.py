"""An Arrow column as the buffers the optional C extensions read in place.

The extensions read Arrow arrays without a Python object per value
(credence/ledger/_leafhash.c, credence/store/_sqlitebulk.c,
credence/ingest/_attrscan.c, credence/engines/_linebuild.c); each takes a
column as its offset into the buffers and the buffers themselves. This is
the one place that unwraps a chunked column and picks those buffers, so
they all agree on what they get.
"""

from __future__ import annotations

from typing import Any


def one_array(column: Any) -> Any:
    """`column` as a single Arrow array (a chunked array's chunks joined, one chunk as it is);
    anything else unchanged."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def text_buffers(column: Any) -> tuple[int, Any, Any, Any] | None:
    """(offset, validity, offsets, data) of a string or binary column (32-bit offsets); None
    for another type (large, dictionary, ...)."""
    import pyarrow as pa

    column = one_array(column)
    if not isinstance(column, pa.Array):
        return None
    kind = column.type
    if not (pa.types.is_string(kind) or pa.types.is_binary(kind)):
        return None
    validity, offsets, data = column.buffers()
    return column.offset, validity, offsets, data


def value_buffers(column: Any, width: int) -> tuple[int, Any, Any] | None:
    """(offset, validity, values) of a fixed-width integer column of `width` bytes a value;
    None for another type."""
    import pyarrow as pa

    column = one_array(column)
    kind = column.type if isinstance(column, pa.Array) else None
    if kind is None or not pa.types.is_integer(kind) or kind.bit_width != width * 8:
        return None
    validity, values = column.buffers()
    return column.offset, validity, values


def list_buffers(column: Any) -> tuple[int, Any, Any, int, Any] | None:
    """(offset, validity, list offsets, child offset, child values) of a list<int64> column
    (32-bit offsets, children without nulls); None for another type."""
    import pyarrow as pa

    column = one_array(column)
    kind = column.type if isinstance(column, pa.Array) else None
    if kind is None or not pa.types.is_list(kind) or not pa.types.is_int64(kind.value_type):
        return None
    child = column.values
    if child.null_count:
        return None
    validity, offsets = column.buffers()[:2]
    return column.offset, validity, offsets, child.offset, child.buffers()[1]
