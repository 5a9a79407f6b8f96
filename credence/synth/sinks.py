"""The feed files: one layout (six string columns) written as Parquet, CSV or JSON Lines.

Real authorities deliver every field as text, and credence validates text,
so every column is a string in every format. The writers stream: a city of
twenty million records is never held in memory, only one chunk per source
(and, for Parquet, one row group's worth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credence.synth.text import join

COLUMNS = ("item", "subject", "occurred_on", "reference", "decided_on", "attributes")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
FORMATS = ("parquet", "csv", "jsonl")
ROW_GROUP_ROWS = 131_072  # rows buffered per Parquet row group


def check_format(fmt: str) -> None:
    """Raise ValueError unless `fmt` is one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


class Sink(Protocol):
    """Where one source's rows go, a table at a time."""

    def write(self, table: Any) -> None: ...

    def close(self) -> None: ...


def open_sink(path: Path, fmt: str) -> Sink:
    """A writer for a feed file at `path` in format `fmt` (one of FORMATS)."""
    if fmt == "parquet":
        return ParquetSink(path)
    if fmt == "csv":
        return CsvSink(path)
    return JsonlSink(path)


class ParquetSink:
    """Parquet, buffered so small sources still get row groups of useful size."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(str(path), SCHEMA, compression="zstd")
        self._buffer: list[Any] = []
        self._rows = 0

    def write(self, table: Any) -> None:
        self._buffer.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = pa.concat_tables(self._buffer).combine_chunks()
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._buffer, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class CsvSink:
    """CSV with a header row, as pyarrow writes it."""

    def __init__(self, path: Path) -> None:
        self._writer = pacsv.CSVWriter(str(path), SCHEMA)

    def write(self, table: Any) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


class JsonlSink:
    """JSON Lines with every column a string, built column-wise like the others."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write(self, table: Any) -> None:
        if not table.num_rows:
            return
        parts: list[Any] = []
        for i, name in enumerate(COLUMNS):
            text = pc.replace_substring(table.column(name), "\\", "\\\\")
            text = pc.replace_substring(text, '"', '\\"')
            parts += [("{" if i == 0 else ",") + f'"{name}":"', text, '"']
        lines = join(*parts, "}\n")
        self._file.write("".join(lines.to_pylist()).encode("utf-8"))

    def close(self) -> None:
        self._file.close()
