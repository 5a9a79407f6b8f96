"""Streaming readers for CSV, JSONL and Parquet submissions.

Every reader yields batches of (row number, row) pairs and never holds a
whole file, so memory stays flat for a file of any size. A row that cannot
even be parsed (bad JSON line, wrong number of CSV fields) is passed on as a
parse error so that it lands in the rejects file like any other bad row.
Files with columns outside the record format are refused before anything is
written: data that is not catalogued must not be collected.

Limits (columns, line bytes, CSV cell characters; ReadOptions, from
settings) keep a hostile file's cost and its error messages small: a
message names counts and at most a few names, never a whole header.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from credence.core.jsontext import has_duplicate_keys
from credence.core.records import RECORD_FIELDS, REQUIRED_FIELDS
from credence.ingest.textfile import FormatError, ReadOptions, open_text, scan_text

__all__ = ["FormatError", "ParseError", "ReadOptions", "Row", "read_batches", "read_columns"]

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ParseError:
    """A row the reader could not parse; `raw` is what it read."""

    reason: str
    raw: Row


FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_DATE_COLUMNS = ("occurred_on", "decided_on")


def file_format(path: Path) -> str:
    """csv, jsonl or parquet, from the name (a `.gz` ending is looked through)."""
    name = path.name.lower()
    zipped = name.endswith(".gz")
    fmt = FORMATS.get(Path(name.removesuffix(".gz")).suffix)
    if fmt is None:
        raise FormatError(f"{path}: unknown format; use .csv, .jsonl or .parquet (or .csv.gz ...)")
    if zipped and fmt == "parquet":
        raise FormatError(f"{path}: Parquet compresses its own columns; give the .parquet file")
    return fmt


def _names(names: list[str]) -> str:
    """At most five names, each cut to 40 characters: messages stay short."""
    shown = [n if len(n) <= 40 else n[:37] + "..." for n in names[:5]]
    more = f" and {len(names) - 5:,} more" if len(names) > 5 else ""
    return ", ".join(shown) + more


def check_file(path: Path, options: ReadOptions) -> list[str]:
    """Refuse a file before anything is written; return its columns (for the rejects file)."""
    if not path.is_file():  # a FIFO or device would block or never end
        raise FormatError(f"{path}: not a regular file")
    fmt = file_format(path)
    if fmt != "parquet":
        with reader_errors(path):
            scan_text(path, options)
    columns = read_columns(path, options)
    if len(columns) > options.max_columns:
        raise FormatError(
            f"{path}: {len(columns):,} columns; at most {options.max_columns} "
            "are allowed (CREDENCE_MAX_COLUMNS)"
        )
    check_columns_of(path, columns)
    return columns


def check_columns(path: Path, columns: list[str]) -> None:
    """Refuse files missing a required column, naming one twice, or carrying an uncatalogued one."""
    twice = (
        sorted({c for c in columns if columns.count(c) > 1})
        if len(set(columns)) < len(columns)
        else []
    )
    if twice:
        raise FormatError(f"{path}: column(s) {_names(twice)} appear more than once")
    missing = [c for c in REQUIRED_FIELDS if c not in columns]
    if missing:
        raise FormatError(f"{path}: missing column(s) {', '.join(missing)}")
    extra = [c for c in columns if c not in RECORD_FIELDS]
    if extra:
        raise FormatError(
            f"{path}: column(s) {_names(extra)} are not part of the record format "
            f"({', '.join(RECORD_FIELDS)}); put catalogued details in 'attributes'"
        )


def check_columns_of(path: Path, columns: list[str]) -> None:
    """Refuse a file before anything is written (JSONL is checked line by line)."""
    if file_format(path) != "jsonl":
        check_columns(path, columns)


def read_columns(path: Path, options: ReadOptions | None = None) -> list[str]:
    """The file's column names, for the rejects file's header."""
    with reader_errors(path):
        return _read_columns(path, options or ReadOptions())


def _read_columns(path: Path, options: ReadOptions) -> list[str]:
    fmt = file_format(path)
    if fmt == "parquet":
        return _parquet_columns(path)
    if fmt == "csv":
        csv.field_size_limit(options.max_cell_chars)  # process-wide; only ingest reads CSV
        with open_text(path, options, newline="") as fh:
            try:
                return next(csv.reader(fh), [])
            except csv.Error as exc:
                raise FormatError(f"{path}: header: {exc} (CREDENCE_MAX_CELL_CHARS)") from None
    return list(RECORD_FIELDS)


def read_batches(
    path: Path, batch_size: int, options: ReadOptions | None = None
) -> Iterator[list[tuple[int, Row | ParseError]]]:
    """Yield lists of (1-based data row number, row or ParseError).

    The pipeline checks a file whole before reading it (`check_file`); this
    is the second line: whatever a reader library raises on a hostile file
    becomes a FormatError naming the file, never a traceback.
    """
    with reader_errors(path):
        yield from _read_batches(path, batch_size, options or ReadOptions())


@contextmanager
def reader_errors(path: Path) -> Iterator[None]:
    """Turn what a reader library raises on a hostile file into a one-line FormatError."""
    try:
        yield
    except FormatError:
        raise
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise FormatError(f"{path}: nested too deeply") from None
    except (EOFError, zlib.error):
        raise FormatError(f"{path}: the compressed file is cut short or corrupt") from None
    except Exception as exc:
        import pyarrow as pa

        if isinstance(exc, (csv.Error, ValueError, OSError, pa.ArrowException)):
            raise FormatError(f"{path}: cannot be read ({type(exc).__name__})") from None
        raise


def _read_batches(
    path: Path, batch_size: int, options: ReadOptions
) -> Iterator[list[tuple[int, Row | ParseError]]]:
    fmt = file_format(path)
    if fmt == "parquet":
        check_columns(path, read_columns(path))
        yield from _parquet_batches(path, batch_size)
        return
    if fmt == "csv":
        check_columns(path, read_columns(path, options))
    rows = _csv_rows(path, options) if fmt == "csv" else _jsonl_rows(path, options)
    batch: list[tuple[int, Row | ParseError]] = []
    for pair in rows:
        batch.append(pair)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_rows(path: Path, options: ReadOptions) -> Iterator[tuple[int, Row | ParseError]]:
    too_long = f"a field is longer than {options.max_cell_chars:,} characters"
    csv.field_size_limit(options.max_cell_chars)
    with open_text(path, options, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        width = len(header)
        number = 0
        while True:
            number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error:  # the reader resumes at the next record
                yield number, ParseError(f"{too_long} (CREDENCE_MAX_CELL_CHARS)", {})
                continue
            if len(values) != width:
                raw = dict(zip(header, values, strict=False))
                yield number, ParseError(f"row has {len(values)} fields, header has {width}", raw)
            else:
                yield number, dict(zip(header, values, strict=True))


def _jsonl_rows(path: Path, options: ReadOptions) -> Iterator[tuple[int, Row | ParseError]]:
    with open_text(path, options) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:  # orjson, not json: it stops at depth 1024 where json recurses and crashes
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, ParseError(f"not valid JSON: {exc}", {})
                continue
            if not isinstance(row, dict):
                yield number, ParseError("each line must be a JSON object", {})
                continue
            if has_duplicate_keys(line, row):
                yield number, ParseError("a key appears twice in the object", {})
                continue
            extra = [k for k in row if k not in RECORD_FIELDS]
            if extra:
                yield number, ParseError(f"field(s) {_names(extra)} are not allowed", row)
                continue
            yield number, row


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        why = " ".join(str(exc).split())[:200]
        raise FormatError(f"{path}: not a readable Parquet file ({why})") from None


def _parquet_columns(path: Path) -> list[str]:
    """Column names, once every column is known to hold text (or dates, for the date fields).

    Decimals, numbers and nested types are refused by name: converted to
    text they would be stored as something the source did not write ("nan").
    """
    import pyarrow as pa

    schema = _parquet_file(path).schema_arrow
    for field in schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
        date = field.name in _DATE_COLUMNS and (
            pa.types.is_date(kind) or pa.types.is_timestamp(kind)
        )
        if not (text or date):
            raise FormatError(
                f"{path}: column {field.name[:40]!r} has type {str(field.type)[:60]}; "
                "columns must be strings (occurred_on and decided_on may be dates)"
            )
    return list(schema.names)


def _parquet_batches(path: Path, batch_size: int) -> Iterator[list[tuple[int, Row | ParseError]]]:
    for first, table in _parquet_record_batches(path, batch_size):
        names = table.schema.names
        columns = [table.column(i).to_pylist() for i in range(len(names))]
        rows: list[tuple[int, Row | ParseError]] = []
        for number, values in enumerate(zip(*columns, strict=True), start=first):
            rows.append((number, dict(zip(names, values, strict=True))))
        yield rows


def read_arrow_batches(path: Path, batch_size: int) -> Iterator[tuple[int, Any]]:
    """Parquet as (row number of the first row, Arrow RecordBatch), for vectorised checks.

    The same file checks and errors as read_batches; each batch's rows, as
    dicts, are exactly the rows read_batches yields.
    """
    with reader_errors(path):
        check_columns(path, read_columns(path))
        yield from _parquet_record_batches(path, batch_size)


def _parquet_record_batches(path: Path, batch_size: int) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa

    number = 0
    batches = _parquet_file(path).iter_batches(batch_size=batch_size)
    while True:
        try:
            table = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(
                f"{path}: unreadable Parquet data after row {number:,} ({str(exc)[:200]})"
            ) from None
        yield number + 1, table
        number += table.num_rows
