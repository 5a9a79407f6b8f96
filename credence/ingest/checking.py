"""Reading and validating a file, inline or in a worker process beside the writer.

The ledger has one writer, but reading, validating and sealing rows (salt,
record hash, subject hash and the leaf hash for the seq the row will most
likely get) needs no store, so for large files a worker process does it
while the writer commits the previous batch. Parquet is validated a whole
Arrow batch at a time (credence.ingest.arrowcheck); batches travel as Arrow
columns, and the writer's share per row is little more than the insert.
The worker (credence.ingest.worker) writes to a pipe, so memory stays
flat; a worker failure is raised in the writer, and a writer that stops,
fails or is killed takes the worker with it.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from credence.core.catalogue import load_catalogue
from credence.core.records import Record, Rejection, RowValidator
from credence.ingest.readers import (
    ParseError,
    ReadOptions,
    Row,
    file_format,
    read_arrow_batches,
    read_batches,
)
from credence.ledger.leaf import record_hash, salts
from credence.store.appender import Sealed
from credence.store.sealing import Subtrees, subtrees

# Starting a worker costs about a second (imports); below ~50,000 rows it does not pay.
WORKER_MIN_ROWS = 50_000
WORKER_MIN_TEXT_BYTES = 5 * 1024 * 1024  # CSV or JSONL of roughly 50,000 rows


@dataclass(frozen=True)
class CheckSpec:
    """All a worker needs to build the same validator as the writer (picklable)."""

    path: Path
    catalogue_path: str
    source: str
    allowed: frozenset[str]
    today: dt.date
    batch_size: int
    read: ReadOptions = field(default_factory=ReadOptions)
    # For sealing whole batches ahead of the writer (seal_columns): the ledger size when
    # the run started, so the worker can guess each row's seq, and the subject-hash key.
    first_seq: int = 0
    subject_key: bytes = field(default=b"", repr=False)
    # The catalogue itself, when the caller holds it: parsing its YAML again cost
    # 0.17 s a file (in the writer for small files, in each worker for large ones).
    catalogue: Any = field(default=None, repr=False, compare=False)
    # Batches already checked elsewhere (the writer checks a worker's first one itself).
    skip_batches: int = 0
    batch_limit: int | None = None  # stop after this many batches (None: the whole file)
    # Resident-ID regions the writer has already read from stdnum's table (ids.known_region_spans).
    regions: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Check and send the first batch in parts that end at these fractions of the batch
    # size (the rest is the last part): a resident worker's writer inserts the first
    # part while the next is checked, inside the batch's one transaction (worker_batches).
    first_parts: tuple[float, ...] = ()
    # A file announced ahead (worker_batches' `then`): the worker starts its seqs where its
    # previous file's sealed rows ended, instead of at first_seq.
    follows: bool = False


@dataclass
class CheckedBatch:
    """One batch after validation: sealed records and rejected rows."""

    rows: int = 0
    sealed: list[Sealed] = field(default_factory=list)
    rejected: list[tuple[int, Rejection, Row]] = field(default_factory=list)


@dataclass
class SealedColumns:
    """One batch after validation and sealing, as Arrow columns (the ingest path).

    `columns` holds the row numbers, the canonical record columns, salts,
    record hashes, subject hashes and each row's leaf hash computed for
    seq `first_seq + i`: the seqs the writer gives them if every earlier row
    of the run was new. The writer checks that guess and recomputes otherwise.
    `more`: this is a part of a batch (CheckSpec.first_parts) and further
    parts of the same batch follow; the last part has `more` false.
    `cover`: the leaves' perfect subtrees at those seqs (sealing.subtrees),
    which spare the writer hashing the tree when the guess holds.
    """

    rows: int
    columns: Any
    first_seq: int
    rejected: list[tuple[int, Rejection, Row]]
    more: bool = False
    cover: Subtrees | None = None


def joined(parts: list[SealedColumns]) -> SealedColumns:
    """One batch from its parts, in row order (the same batch a whole check gives)."""
    import pyarrow as pa

    if len(parts) == 1:
        return replace(parts[0], more=False)
    for before, after in pairwise(parts):
        assert after.first_seq == before.first_seq + before.columns.num_rows, "seqs of parts"
    return SealedColumns(
        sum(p.rows for p in parts),
        pa.concat_tables([p.columns for p in parts]),
        parts[0].first_seq,
        [reject for p in parts for reject in p.rejected],
    )


def check_batch(validator: RowValidator, batch: list[tuple[int, Row | ParseError]]) -> CheckedBatch:
    """Validate every row of `batch` and seal the good ones."""
    out = CheckedBatch(rows=len(batch))
    fresh = iter(salts(len(batch)))
    for number, row in batch:
        if isinstance(row, ParseError):
            out.rejected.append((number, Rejection("row", row.reason), row.raw))
            continue
        result = validator.validate(row)
        if isinstance(result, Rejection):
            out.rejected.append((number, result, row))
        else:
            salt = next(fresh)
            out.sealed.append((number, result, salt, record_hash(salt, result.content())))
    return out


def _large(path: Path) -> bool:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows) >= WORKER_MIN_ROWS
    return path.stat().st_size >= WORKER_MIN_TEXT_BYTES


def make_validator(spec: CheckSpec) -> RowValidator:
    """The validator for `spec`, built the same way in the writer and the worker."""
    from credence.core.ids import seed_region_spans

    seed_region_spans(spec.regions)
    catalogue = spec.catalogue or load_catalogue(Path(spec.catalogue_path))
    return RowValidator(catalogue, spec.source, set(spec.allowed), spec.today)


def checked_batches(
    spec: CheckSpec, use_worker: bool | None = None, then: CheckSpec | None = None
) -> Generator[SealedColumns, None, None]:
    """Checked, sealed batches of `spec.path` in file order; a worker is used for large files
    (for every file inside worker.resident_worker(), which then checks `then`, the file the
    caller ingests next, while this one's last batches are appended)."""
    from credence.ingest.worker import resident_worker_active, worker_batches

    if use_worker is None:  # a kept worker is ready at once, so small files use it too
        use_worker = resident_worker_active() or _large(spec.path)
    if not use_worker:
        yield from sealed_batches(spec)
        return

    yield from worker_batches(spec, then=then)


def sealed_batches(spec: CheckSpec) -> Iterator[SealedColumns]:
    """Read, validate and seal `spec.path` batch by batch (in the worker, or inline).

    Parquet is validated a whole Arrow batch at a time (ArrowValidator);
    CSV and JSONL rows one by one (their readers yield rows). Either way
    the accepted rows are sealed as columns. With `spec.first_parts` the
    first batch is checked and yielded in parts (each sealed at the seqs
    that follow the previous part's rows), so the writer can start on it
    before the whole batch is checked.
    """
    from credence.ingest.arrowcheck import ArrowValidator, records_table
    from credence.ledger.leaf import SubjectHasher

    validator = make_validator(spec)
    hasher = SubjectHasher(spec.subject_key)
    next_seq = spec.first_seq
    if file_format(spec.path) == "parquet":
        vectorised = ArrowValidator(validator)
        arrow = read_arrow_batches(spec.path, spec.batch_size)
        for index, (first, whole) in enumerate(islice(arrow, spec.skip_batches, spec.batch_limit)):
            bounds = _part_bounds(spec, whole.num_rows) if index == 0 else [0, whole.num_rows]
            for start, stop in pairwise(bounds):
                batch = whole.slice(start, stop - start)
                table, rejected = vectorised.check(batch, first + start)
                sealed = _sealed(spec.source, hasher, next_seq, batch.num_rows, table, rejected)
                sealed.more = stop < whole.num_rows
                yield sealed
                next_seq += table.num_rows
        return
    text_batches = read_batches(spec.path, spec.batch_size, spec.read)
    for index, all_rows in enumerate(islice(text_batches, spec.skip_batches, spec.batch_limit)):
        bounds = _part_bounds(spec, len(all_rows)) if index == 0 else [0, len(all_rows)]
        for start, stop in pairwise(bounds):
            rows = all_rows[start:stop]
            records, rejected = _check_rows(validator, rows)
            table = records_table(records)
            sealed = _sealed(spec.source, hasher, next_seq, len(rows), table, rejected)
            sealed.more = stop < len(all_rows)
            yield sealed
            next_seq += table.num_rows


def _part_bounds(spec: CheckSpec, rows: int) -> list[int]:
    """Offsets where the parts of a first batch of `rows` rows start, and its end."""
    cuts = [math.ceil(f * spec.batch_size) for f in spec.first_parts]
    return [0, *(c for c in cuts if 0 < c < rows), rows]


def _check_rows(
    validator: RowValidator, batch: list[tuple[int, Row | ParseError]]
) -> tuple[list[tuple[int, Record]], list[tuple[int, Rejection, Row]]]:
    records: list[tuple[int, Record]] = []
    rejected: list[tuple[int, Rejection, Row]] = []
    for number, row in batch:
        if isinstance(row, ParseError):
            rejected.append((number, Rejection("row", row.reason), row.raw))
            continue
        result = validator.validate(row)
        if isinstance(result, Rejection):
            rejected.append((number, result, row))
        else:
            records.append((number, result))
    return records, rejected


def _sealed(
    source: str,
    hasher: Any,
    first_seq: int,
    rows: int,
    table: Any,
    rejected: list[tuple[int, Rejection, Row]],
) -> SealedColumns:
    """Seal `table`; its seqs start at `first_seq`."""
    import pyarrow as pa

    from credence.ledger.leaf import leaf_hash_column, salt_column, seal_hashes
    from credence.ledger.leafhash import sealed_leaf_hashes

    table = table.append_column("salt", salt_column(table.num_rows))
    leaves = sealed_leaf_hashes(source, hasher.key, first_seq, table)
    if leaves is None:  # no extension, or text it does not escape: the Arrow path
        table = seal_hashes(source, hasher, table)
        leaves = leaf_hash_column(source, first_seq, table)
    table = table.append_column("leaf_hash", pa.array(leaves, pa.binary()))
    return SealedColumns(rows, table, first_seq, rejected, cover=subtrees(first_seq, leaves))


def seal_columns(source: str, hasher: Any, first_seq: int, table: Any) -> Any:
    """`table` with salt and leaf_hash (for seqs from `first_seq`), and record_hash and
    subject_hash where the Arrow path sealed it (`_sealed`)."""
    return _sealed(source, hasher, first_seq, 0, table, []).columns


@contextmanager
def bulk_gc() -> Iterator[None]:
    """Collect garbage less often while ingesting.

    A batch allocates hundreds of thousands of short-lived, acyclic tuples
    and strings; at the default threshold the cyclic collector runs every
    700 allocations to find nothing. Measured: about 12% more rows/s.
    """
    old = gc.get_threshold()
    gc.set_threshold(100_000, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
