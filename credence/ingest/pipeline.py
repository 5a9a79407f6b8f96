"""Ingesting one file from one source: read, validate, append, report.

Each batch is validated in full, then appended in one transaction that ends
with a signed tree head, so an interrupted run leaves whole batches and
never half a record; running the same file again adds nothing, because the
appender skips (source, reference) pairs it already holds with the same
content.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credence.core.records import Record
from credence.ingest.checking import CheckSpec, bulk_gc, checked_batches
from credence.ingest.lock import ingest_lock
from credence.ingest.readers import ReadOptions, check_file
from credence.ingest.rejects import RejectsWriter
from credence.store.registry import Registry, RunCounts


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
) -> IngestReport:
    """Ingest `path` as `source_name`; `progress` is called with rows done per batch.

    `use_worker` forces the validation worker on or off (default: on for
    large files). `encoding` is the file's declared text encoding (default
    UTF-8). `waiting` hears that another run of the same file holds it
    (default: a line on stderr); this run then waits its turn.
    """
    started = time.perf_counter()
    source = registry.source(source_name)
    limits = registry.settings
    spec = CheckSpec(
        path=path,
        catalogue_path=registry.catalogue.source_path,
        source=source.name,
        allowed=source.items,
        today=today or dt.date.today(),
        batch_size=limits.batch_size,
        read=ReadOptions(
            encoding, limits.max_columns, limits.max_line_bytes, limits.max_cell_chars
        ),
    )
    with ingest_lock(path, waiting or _to_stderr):
        return _ingest(registry, spec, started, progress, use_worker)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ingest(
    registry: Registry,
    spec: CheckSpec,
    started: float,
    progress: Callable[[int], None] | None,
    use_worker: bool | None,
) -> IngestReport:
    """The run itself, under the file's lock: refuse a bad file, then append batch by batch."""
    path = spec.path
    columns = check_file(path, spec.read)
    source = registry.source(spec.source)
    rows = accepted = duplicates = 0
    with RejectsWriter(path, columns) as rejects, bulk_gc():  # refuses a planted link first
        appender = registry.start_run(source, str(path))
        tree_size = registry.ledger_size()
        for checked in checked_batches(spec, use_worker):
            outcome = appender.append(checked.sealed)
            refused = checked.rejected
            if outcome.rejections:  # conflicts and bad corrections, found by the writer
                records = {entry[0]: entry[1] for entry in checked.sealed}
                refused = sorted(
                    refused + [(n, r, _as_row(records[n])) for n, r in outcome.rejections],
                    key=lambda reject: reject[0],
                )
            for number, rejection, raw in refused:
                rejects.add(number, rejection.field, rejection.reason, raw)
            rows += checked.rows
            accepted += outcome.accepted
            duplicates += outcome.duplicates
            tree_size = outcome.tree_size
            if progress is not None:
                progress(checked.rows)
        rejected = rejects.count
    registry.finish_run(appender.run_id, RunCounts(accepted, duplicates, rejected))
    return IngestReport(
        file=str(path),
        source=source.name,
        rows=rows,
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
        rejects_file=str(rejects.path) if rejected else None,
        tree_size=tree_size,
        seconds=time.perf_counter() - started,
    )


def _as_row(record: Record) -> dict[str, Any]:
    """A valid record refused by the ledger stage, as a row (canonical values)."""
    row = record.to_dict()
    if "attributes" in row:
        row["attributes"] = record.attributes_json
    return row
