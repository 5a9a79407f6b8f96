"""Ingesting one file from one source: read, validate, append, report.

Each batch is validated in full, then appended in one transaction that ends
with a signed tree head, so an interrupted run leaves whole batches and
never half a record; running the same file again adds nothing, because the
appender skips (source, reference) pairs it already holds with the same
content. Ctrl-C stops the run between or inside a batch, closes the worker
and the rejects file, and says what was kept (IngestInterrupted).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from credence.core.records import Record
from credence.ingest.checking import (
    CheckSpec,
    SealedColumns,
    bulk_gc,
    checked_batches,
    joined,
)
from credence.ingest.lock import ingest_lock
from credence.ingest.readers import FormatError, ReadOptions, check_file
from credence.ingest.rejects import RejectsWriter
from credence.store.appender import Appender, records_by_row
from credence.store.database import StoreError
from credence.store.registry import Registry, RunCounts


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest; the message says what was kept and how to resume."""

    def __init__(self, rows: int, tree_size: int) -> None:
        super().__init__(
            f"{rows} rows in whole batches were kept (ledger size {tree_size}); run the same "
            "command again to resume — rows already held are skipped"
        )
        self.rows = rows
        self.tree_size = tree_size


@dataclass(frozen=True)
class IngestReport:
    """The summary a source (and the operator) sees after a run."""

    file: str
    source: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    rejects_file: str | None
    tree_size: int
    seconds: float


def ingest_file(
    registry: Registry,
    path: Path,
    source_name: str,
    *,
    today: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
    use_worker: bool | None = None,
    encoding: str | None = None,
    waiting: Callable[[str], None] | None = None,
    then: tuple[Path, str] | None = None,
) -> IngestReport:
    """Ingest `path` as `source_name`; `progress` is called with rows done per batch.

    `use_worker` forces the validation worker on or off (default: on for
    large files). `encoding` is the file's declared text encoding (default
    UTF-8). `waiting` hears that another run of the same file holds it
    (default: a line on stderr); this run then waits its turn. `then`
    (path, source name) announces the file the caller ingests next, with
    the same options: inside worker.resident_worker() the worker checks it
    while this file's last batches are appended (nothing of it is written
    before its own ingest_file; a file not ingested next is checked again).
    """
    started = time.perf_counter()
    key = registry.subject_key()
    spec = _check_spec(registry, path, source_name, today, encoding, key)
    ahead = None
    if then is not None and then[0].is_file():
        with suppress(StoreError):  # an unknown source: its own ingest_file will say so
            ahead = _check_spec(registry, then[0], then[1], today, encoding, key)
    if not path.is_file():  # a FIFO would block the lock's open, a device never end
        raise FormatError(f"{path}: not a regular file")
    with ingest_lock(path, waiting or _to_stderr):
        return _ingest(registry, spec, started, progress, use_worker, ahead)


def _check_spec(
    registry: Registry,
    path: Path,
    source_name: str,
    today: dt.date | None,
    encoding: str | None,
    subject_key: bytes,
) -> CheckSpec:
    """What checking `path` as `source_name` needs (its first seq is set by _ingest)."""
    source = registry.source(source_name)
    limits = registry.settings
    return CheckSpec(
        path=path,
        catalogue_path=registry.catalogue.source_path,
        catalogue=registry.catalogue,
        source=source.name,
        allowed=source.items,
        today=today or dt.date.today(),
        batch_size=limits.batch_size,
        read=ReadOptions(
            encoding, limits.max_columns, limits.max_line_bytes, limits.max_cell_chars
        ),
        subject_key=subject_key,
    )


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ingest(
    registry: Registry,
    spec: CheckSpec,
    started: float,
    progress: Callable[[int], None] | None,
    use_worker: bool | None,
    then: CheckSpec | None = None,
) -> IngestReport:
    """The run itself, under the file's lock: refuse a bad file, then append batch by batch."""
    path = spec.path
    columns = check_file(path, spec.read)
    source = registry.source(spec.source)
    tally = _Tally(tree_size=registry.ledger_size())
    # Sealing ahead of the writer guesses seqs from the ledger's size now (see SealedColumns).
    spec = replace(spec, first_seq=tally.tree_size)
    batches = checked_batches(spec, use_worker, then)
    try:
        # The rejects writer refuses a planted link before the run is recorded.
        with RejectsWriter(path, columns) as rejects, bulk_gc(), closing(batches):
            appender = registry.start_run(source, str(path))
            for part in batches:
                done = tally.rows
                _append(appender, source.name, part, rejects, tally, batches)
                if progress is not None:
                    progress(tally.rows - done)
    except KeyboardInterrupt:  # worker stopped, temp file gone; batches committed are whole
        raise IngestInterrupted(tally.rows, registry.ledger_size()) from None
    registry.finish_run(appender.run_id, RunCounts(tally.accepted, tally.duplicates, rejects.count))
    return IngestReport(
        file=str(path),
        source=source.name,
        rows=tally.rows,
        accepted=tally.accepted,
        duplicates=tally.duplicates,
        rejected=rejects.count,
        rejects_file=str(rejects.path) if rejects.count else None,
        tree_size=tally.tree_size,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Tally:
    """Counts over the batches committed so far."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    tree_size: int = 0


def _append(
    appender: Appender,
    source: str,
    first: SealedColumns,
    rejects: RejectsWriter,
    tally: _Tally,
    batches: Iterator[SealedColumns],
) -> None:
    """Commit one batch (its further parts, if any, taken from `batches` as they come) and
    write its refused rows, in row order."""
    if first.more:
        parts = [first]
        outcome = appender.append_parts(source, _parts(parts, batches))
        checked = joined(parts)
    else:
        checked = first
        outcome = appender.append_columns(source, checked.columns, checked.first_seq, checked.cover)
    refused = checked.rejected
    if outcome.rejections:  # conflicts and bad corrections, found by the writer
        records = records_by_row(source, checked.columns)
        refused = sorted(
            refused + [(n, r, _as_row(records[n])) for n, r in outcome.rejections],
            key=lambda reject: reject[0],
        )
    for number, rejection, raw in refused:
        rejects.add(number, rejection.field, rejection.reason, raw)
    tally.rows += checked.rows
    tally.accepted += outcome.accepted
    tally.duplicates += outcome.duplicates
    tally.tree_size = outcome.tree_size


def _parts(held: list[SealedColumns], batches: Iterator[SealedColumns]) -> Iterator[Any]:
    """(columns, first_seq) of each part of a batch, the first in `held`, the rest read from
    `batches` up to the part with no `more` (each kept in `held` for the rejects)."""
    yield held[0].columns, held[0].first_seq, held[0].cover
    while held[-1].more:
        part = next(batches, None)
        if part is None:
            raise RuntimeError("the validation worker ended inside a batch")
        held.append(part)
        yield part.columns, part.first_seq, part.cover


def _as_row(record: Record) -> dict[str, Any]:
    """A valid record refused by the ledger stage, as a row (canonical values)."""
    row = record.to_dict()
    if "attributes" in row:
        row["attributes"] = record.attributes_json
    return row
