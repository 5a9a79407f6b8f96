"""Streaming readers for CSV, JSONL and Parquet submissions.

Every reader yields batches of (row number, row) pairs and never holds a
whole file, so memory stays flat for a file of any size. A row that cannot
even be parsed (bad JSON line, wrong number of CSV fields) is passed on as a
parse error so that it lands in the rejects file like any other bad row.
Files with columns outside the record format are refused before anything is
written: data that is not catalogued must not be collected.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credence.core.records import RECORD_FIELDS, REQUIRED_FIELDS

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParseError:
    """A row the reader could not parse; `raw` is what it read."""

    reason: str
    raw: Row


class FormatError(ValueError):
    """A file that cannot be ingested at all (unknown format, missing columns)."""


FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FormatError(f"{path}: unknown format; use .csv, .jsonl or .parquet")
    return fmt


def check_columns(path: Path, columns: list[str]) -> None:
    """Refuse files missing a required column or carrying an uncatalogued one."""
    missing = [c for c in REQUIRED_FIELDS if c not in columns]
    if missing:
        raise FormatError(f"{path}: missing column(s) {', '.join(missing)}")
    extra = [c for c in columns if c not in RECORD_FIELDS]
    if extra:
        raise FormatError(
            f"{path}: column(s) {', '.join(extra)} are not part of the record format "
            f"({', '.join(RECORD_FIELDS)}); put catalogued details in 'attributes'"
        )


def check_columns_of(path: Path, columns: list[str]) -> None:
    """Refuse a file before anything is written (JSONL is checked line by line)."""
    if file_format(path) != "jsonl":
        check_columns(path, columns)


def read_columns(path: Path) -> list[str]:
    """The file's column names, for the rejects file's header."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    return list(RECORD_FIELDS)


def read_batches(path: Path, batch_size: int) -> Iterator[list[tuple[int, Row | ParseError]]]:
    """Yield lists of (1-based data row number, row or ParseError)."""
    fmt = file_format(path)
    if fmt == "parquet":
        check_columns(path, read_columns(path))
        yield from _parquet_batches(path, batch_size)
        return
    if fmt == "csv":
        check_columns(path, read_columns(path))
    rows = _csv_rows(path) if fmt == "csv" else _jsonl_rows(path)
    batch: list[tuple[int, Row | ParseError]] = []
    for pair in rows:
        batch.append(pair)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_rows(path: Path) -> Iterator[tuple[int, Row | ParseError]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        width = len(header)
        for number, values in enumerate(reader, start=1):
            if len(values) != width:
                raw = dict(zip(header, values, strict=False))
                yield number, ParseError(f"row has {len(values)} fields, header has {width}", raw)
            else:
                yield number, dict(zip(header, values, strict=True))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Row | ParseError]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield number, ParseError(f"not valid JSON: {exc}", {})
                continue
            if not isinstance(row, dict):
                yield number, ParseError("each line must be a JSON object", {})
                continue
            extra = [k for k in row if k not in RECORD_FIELDS]
            if extra:
                yield number, ParseError(f"field(s) {', '.join(extra)} are not allowed", row)
                continue
            yield number, row


def _parquet_batches(path: Path, batch_size: int) -> Iterator[list[tuple[int, Row | ParseError]]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    number = 0
    for table in parquet.iter_batches(batch_size=batch_size):
        names = table.schema.names
        columns = [table.column(i).to_pylist() for i in range(len(names))]
        rows: list[tuple[int, Row | ParseError]] = []
        for values in zip(*columns, strict=True):
            number += 1
            rows.append((number, dict(zip(names, values, strict=True))))
        yield rows
