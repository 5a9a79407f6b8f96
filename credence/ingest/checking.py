"""Reading and validating a file, inline or in a worker process beside the writer.

The ledger has one writer, but reading, validating and sealing rows (salt
and record hash) needs no store, so for large files a worker process does
it while the writer commits the previous batch: on two cores this roughly
halves an ingest's wall time. A bounded queue keeps memory flat; a worker
failure is raised in the writer, and an interrupted writer stops the worker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credence.core.catalogue import load_catalogue
from credence.core.records import Rejection, RowValidator
from credence.ingest.readers import ParseError, Row, read_batches
from credence.ledger.leaf import salts
from credence.store.appender import Sealed

WORKER_MIN_BYTES = 8 * 1024 * 1024  # below this, starting a process costs more than it saves
_QUEUE_DEPTH = 2


@dataclass(frozen=True)
class CheckSpec:
    """All a worker needs to build the same validator as the writer (picklable)."""

    path: Path
    catalogue_path: str
    source: str
    allowed: frozenset[str]
    today: dt.date
    batch_size: int


@dataclass
class CheckedBatch:
    """One batch after validation: sealed records and rejected rows."""

    rows: int = 0
    sealed: list[Sealed] = field(default_factory=list)
    rejected: list[tuple[int, Rejection, Row]] = field(default_factory=list)


def check_batch(validator: RowValidator, batch: list[tuple[int, Row | ParseError]]) -> CheckedBatch:
    """Validate every row of `batch` and seal the good ones."""
    out = CheckedBatch(rows=len(batch))
    fresh = iter(salts(len(batch)))
    sha256 = hashlib.sha256
    for number, row in batch:
        if isinstance(row, ParseError):
            out.rejected.append((number, Rejection("row", row.reason), row.raw))
            continue
        result = validator.validate(row)
        if isinstance(result, Rejection):
            out.rejected.append((number, result, row))
        else:
            salt = next(fresh)
            rec_hash = sha256(salt + result.content()).hexdigest()  # = leaf.record_hash
            out.sealed.append((number, result, salt, rec_hash))
    return out


def _validator(spec: CheckSpec) -> RowValidator:
    catalogue = load_catalogue(Path(spec.catalogue_path))
    return RowValidator(catalogue, spec.source, set(spec.allowed), spec.today)


def checked_batches(spec: CheckSpec, use_worker: bool | None = None) -> Iterator[CheckedBatch]:
    """Checked batches of `spec.path` in file order; a worker is used for large files."""
    if use_worker is None:
        use_worker = spec.path.stat().st_size >= WORKER_MIN_BYTES
    if not use_worker:
        validator = _validator(spec)
        for batch in read_batches(spec.path, spec.batch_size):
            yield check_batch(validator, batch)
        return
    yield from _from_worker(spec)


def _worker(spec: CheckSpec, out: Any) -> None:
    try:
        validator = _validator(spec)
        for batch in read_batches(spec.path, spec.batch_size):
            out.put(("batch", check_batch(validator, batch)))
        out.put(("done", None))
    except BaseException as exc:  # report everything; the writer decides
        out.put(("error", exc))


def _from_worker(spec: CheckSpec) -> Iterator[CheckedBatch]:
    ctx = mp.get_context("spawn")  # no fork: the writer may hold threads and connections
    results = ctx.Queue(maxsize=_QUEUE_DEPTH)
    process = ctx.Process(target=_worker, args=(spec, results), daemon=True)
    process.start()
    try:
        while True:
            try:
                kind, payload = results.get(timeout=5)
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError("the validation worker died unexpectedly") from None
                continue
            if kind == "done":
                break
            if kind == "error":
                raise payload
            yield payload
    finally:
        if process.is_alive():
            process.terminate()
        process.join(timeout=10)
