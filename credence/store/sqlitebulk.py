"""SQLite's bulk insert from Arrow columns through the optional C extension.

`credence.store._sqlitebulk` steps one prepared INSERT a row with its
parameters bound straight from the columns' Arrow buffers, on the sqlite3
connection's own handle inside its open transaction (see its source for
why and how). This module turns the appender's columns into the specs it
reads, and says when it cannot run, so that the caller falls back to
`executemany` of Python tuples, which stores the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from credence.arrowbuffers import one_array, text_buffers

compiled: ModuleType | None
try:
    from credence.store import _sqlitebulk

    compiled = _sqlitebulk
except ImportError:  # built without a C compiler: executemany does the work
    compiled = None

_CONSTANT, _INT64, _TEXT, _BLOB = 0, 1, 2, 3


def insert(driver: Any, sql: str, values: Sequence[Any], rows: int) -> bool:
    """Insert `rows` rows given as columns (Arrow arrays, or a Python constant for every row)
    through the compiled path: False when it cannot run (not built, a column of another
    Arrow type, not a sqlite3 connection it knows, or no open transaction), and nothing
    was written. Raises the sqlite3 module's errors as executemany would."""
    if compiled is None:
        return False
    specs = []
    for value in values:
        spec = _spec(value)
        if spec is None:
            return False
        specs.append(spec)
    return compiled.insert(driver, sql, rows, tuple(specs)) is not None


def _spec(value: Any) -> tuple[Any, ...] | None:
    """What the extension reads of one column: (kind, offset, buffers...) or (0, constant)."""
    if value is None or type(value) in (int, str, bytes):
        return (_CONSTANT, value)
    import pyarrow as pa

    value = one_array(value)
    if isinstance(value, pa.Array) and value.type == pa.int64():
        validity, data = value.buffers()
        return (_INT64, value.offset, validity, data)
    found = text_buffers(value)
    if found is None:
        return None
    return (_TEXT if pa.types.is_string(value.type) else _BLOB, *found)
