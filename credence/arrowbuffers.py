"""An Arrow column as the buffers the optional C extensions read in place.

Three extensions read Arrow arrays without a Python object per value
(credence/ledger/_leafhash.c, credence/store/_sqlitebulk.c,
credence/ingest/_attrscan.c); each takes a column as its offset into the
buffers and the buffers themselves. This is the one place that unwraps a
chunked column and picks those buffers, so the three agree on what they get.
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
