"""Ingesting one file from one source: read, validate, append, report.

Each batch is validated in full, then appended in one transaction that ends
with a signed tree head, so an interrupted run leaves whole batches and
never half a record; running the same file again adds nothing, because the
appender skips (source, reference) pairs it already holds with the same
content.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from credence.core.records import Record, Rejection, RowValidator
from credence.ingest.readers import ParseError, read_batches, read_columns
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
) -> IngestReport:
    """Ingest `path` as `source_name`; `progress` is called with rows done per batch."""
    started = time.perf_counter()
    source = registry.source(source_name)
    validator = RowValidator(
        registry.catalogue, source.name, set(source.items), today or dt.date.today()
    )
    columns = read_columns(path)
    batches = read_batches(path, registry.settings.batch_size)
    appender = registry.start_run(source, str(path))
    rows = accepted = duplicates = tree_size = 0
    with RejectsWriter(path, columns) as rejects:
        for batch in batches:
            good: list[tuple[int, Record]] = []
            raw_by_row = {}
            for number, row in batch:
                result = _validate(validator, row)
                if isinstance(result, Rejection):
                    raw = row.raw if isinstance(row, ParseError) else row
                    rejects.add(number, result.field, result.reason, raw)
                else:
                    good.append((number, result))
                    raw_by_row[number] = row
            outcome = appender.append(good)
            for number, rejection in outcome.rejections:
                raw = raw_by_row[number]
                rejects.add(number, rejection.field, rejection.reason, raw)  # type: ignore[arg-type]
            rows += len(batch)
            accepted += outcome.accepted
            duplicates += outcome.duplicates
            tree_size = outcome.tree_size or tree_size
            if progress is not None:
                progress(len(batch))
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


def _validate(validator: RowValidator, row: dict[str, object] | ParseError) -> Record | Rejection:
    if isinstance(row, ParseError):
        return Rejection("row", row.reason)
    return validator.validate(row)
