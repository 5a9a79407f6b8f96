"""Appending a batch of validated records to the store and the ledger, atomically.

This is the single writer. Within one transaction it sorts each record into
new, duplicate (same source and reference, same content: skipped, so
retries never duplicate) or rejected (a conflict, or a correction of a
record that does not exist or was already corrected), gives new records the
next sequence numbers, appends their leaves to the Merkle frontier and signs
the new tree head. Either all of that commits or none of it does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.core.catalogue import REVOCATION
from credence.core.records import Record, Rejection
from credence.ledger.leaf import (
    SubjectHasher,
    content_column,
    leaf_hash_column,
    record_hashes,
    record_leaf,
    seal_hashes,
)
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import TreeHead
from credence.store.database import insert_columns, insert_rows, write_transaction
from credence.store.schema import erased, records
from credence.store.sealing import Subtrees, extended, grafted, load_frontier, seal

# (row number, record, salt, record hash): a validated record sealed for the ledger.
Sealed = tuple[int, Record, bytes, str]
# (columns, first seq guessed, subtrees or None): one part of a batch (append_parts).
Part = tuple[Any, int, "Subtrees | None"]
_LOOKUP_CHUNK = 5_000
ERASED = "~erased"  # item of a looked-up reference whose record was erased (never a code)
RECORD_COLUMNS = (
    "seq",
    "source_id",
    "reference",
    "item",
    "subject",
    "occurred_on",
    "decided_on",
    "attributes",
    "corrects",
    "corrects_seq",
    "salt",
    "run_id",
    "leaf_hash",
)


@dataclass
class BatchOutcome:
    """What one batch did: counts, and the rejections with their row numbers."""

    accepted: int = 0
    duplicates: int = 0
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    tree_size: int = 0
    # For receipts (the API): (row number, seq, leaf hash) of each record written, the
    # earlier record each duplicate repeats as (row number, seq), the frontier before
    # the batch and the head that sealed it.
    placed: list[tuple[int, int, bytes]] = field(default_factory=list)
    repeats: list[tuple[int, int]] = field(default_factory=list)
    before: CompactRange | None = None
    head: TreeHead | None = None


class BatchRefused(Exception):
    """A strict batch (the API's) had a record the ledger refused: nothing was written."""

    def __init__(self, outcome: BatchOutcome) -> None:
        super().__init__(f"{len(outcome.rejections)} record(s) refused")
        self.outcome = outcome


@dataclass(slots=True)
class _Known:
    """What the batch needs to know of an earlier record with a given reference."""

    seq: int
    content: tuple[Any, ...]  # (item, subject, occurred_on, decided_on, attributes, corrects)
    superseded: bool

    @property
    def item(self) -> str:
        return str(self.content[0])

    @property
    def subject(self) -> str:
        return str(self.content[1])


def _content(rec: Record) -> tuple[Any, ...]:
    """The stored fields that must match for a resubmission to be a duplicate."""
    return (
        rec.item,
        rec.subject,
        rec.occurred_on,
        rec.decided_on,
        rec.attributes_json,
        rec.corrects,
    )


@dataclass
class Appender:
    """Writes batches for one source; holds the secrets and caches across batches."""

    engine: sa.Engine
    source_id: int
    run_id: int
    signing_key: Ed25519PrivateKey
    subject_key: bytes
    _subject_hash: SubjectHasher = field(init=False)

    def __post_init__(self) -> None:
        self._subject_hash = SubjectHasher(self.subject_key)

    def append(self, batch: Sequence[Sealed], strict: bool = False) -> BatchOutcome:
        """Write `batch` in one transaction, ending with a signed tree head.

        `strict`: all or nothing; any record the ledger refuses raises
        BatchRefused and rolls the whole batch back (the API's contract).
        """
        with write_transaction(self.engine) as conn:
            frontier = load_frontier(conn)
            known = self._lookup(conn, batch)
            outcome, rows = _classify(batch, known, frontier.size)
            if strict and outcome.rejections:
                raise BatchRefused(outcome)
            outcome.before = CompactRange(frontier.size, frontier.hashes)
            if rows:
                outcome.head = self._write(conn, rows, frontier, outcome.placed)
            outcome.tree_size = frontier.size
        return outcome

    def append_columns(
        self, source: str, batch: Any, first_seq: int, cover: Subtrees | None = None
    ) -> BatchOutcome:
        """Write a sealed batch of Arrow columns (credence.ingest.checking.seal_columns).

        The bulk path: when no row of the batch repeats a reference (the
        store's or another row's) or corrects one (a fresh file), every row
        is new and takes the next seq in row order; the leaf hashes the
        worker computed for `first_seq` are used as they are if the ledger
        is at that size (else recomputed as array operations), the frontier
        grows by the worker's `cover` of them (sealing.subtrees) or else a
        tree level at a time, and the rows go to the store in one
        bulk insert: no per-row Python beyond building the insert's tuples.
        Anything else takes the per-row path of append(), with the same
        rules. `placed` and `repeats` are not filled here (the API's
        receipts use append()).
        """
        with write_transaction(self.engine) as conn:
            frontier = load_frontier(conn)
            return self._append_columns(conn, source, batch, first_seq, frontier, cover)

    def append_parts(self, source: str, parts: Iterator[Part]) -> BatchOutcome:
        """Write one sealed batch that arrives in parts ((columns, first_seq, cover)), in one
        transaction: the same batch, head and seqs as append_columns of the parts joined.

        A file's first batch comes so from a warm worker: each part is
        inserted as it arrives while the worker checks the next, so the
        writer waits for the first part only. Rows that are all new (the
        bulk path of append_columns) are inserted part by part inside one
        savepoint; a part that repeats a reference (the store's, or an
        earlier part's: the unique constraint answers) or corrects one rolls
        the savepoint back, and the whole batch, joined, is then sorted by
        append_columns' rules in the same transaction. Nothing is committed
        before the last part, so a failure anywhere (the worker's too)
        leaves no trace of the batch.
        """
        held: list[Part] = []
        with write_transaction(self.engine) as conn:
            frontier = load_frontier(conn)
            if not self._any_erased(conn):
                head = self._insert_parts_if_new(conn, source, parts, held, frontier)
                if head is not False:
                    grown = head.size if head is not None else frontier.size
                    return _bulk_outcome(frontier, grown - frontier.size, head)
            held.extend(parts)  # the rest of the batch, to sort it whole
            import pyarrow as pa

            batch = pa.concat_tables([part[0] for part in held])
            return self._append_columns(conn, source, batch, held[0][1], frontier, None)

    def _insert_parts_if_new(
        self,
        conn: sa.Connection,
        source: str,
        parts: Iterator[Part],
        held: list[Part],
        frontier: CompactRange,
    ) -> TreeHead | Literal[False] | None:
        """Insert parts of all-new rows in one savepoint and seal them: the head (None if no
        row was accepted), or False (rolled back) when the batch needs sorting."""
        refused: tuple[type[Exception], ...] = (*_integrity_errors(conn), _NeedsSorting)
        try:
            with conn.begin_nested():
                grown = frontier
                for columns, first_seq, cover in parts:
                    held.append((columns, first_seq, cover))
                    if not _all_new(columns):
                        raise _NeedsSorting
                    if columns.num_rows:
                        grown = self._insert_columns(conn, source, columns, grown, first_seq, cover)
                if grown.size == frontier.size:
                    return None
                return seal(conn, grown, self.signing_key)
        except refused:
            return False

    def _append_columns(
        self,
        conn: sa.Connection,
        source: str,
        batch: Any,
        first_seq: int,
        frontier: CompactRange,
        cover: Subtrees | None,
    ) -> BatchOutcome:
        """append_columns inside its transaction, the frontier loaded."""
        references = batch["reference"].to_pylist()
        corrects = batch["corrects"]
        wanted = set(references)
        repeated = len(wanted) < len(references)  # a reference twice in the batch
        fresh = not repeated and corrects.null_count == len(corrects)
        if fresh and batch.num_rows and not self._any_erased(conn):
            head = self._insert_if_new(conn, source, batch, frontier, first_seq, cover)
            if head is not None:
                return _bulk_outcome(frontier, batch.num_rows, head)
        if corrects.null_count < len(corrects):
            wanted.update(c for c in corrects.to_pylist() if c is not None)
        known = self._lookup_refs(conn, wanted)
        if known or repeated or corrects.null_count < len(corrects):
            outcome, rows = _classify(_as_sealed(source, batch), known, frontier.size)
            outcome.before = CompactRange(frontier.size, frontier.hashes)
            if rows:
                outcome.head = self._write(conn, rows, frontier, outcome.placed)
            outcome.tree_size = frontier.size
            return outcome
        head = None
        if batch.num_rows:
            head = self._write_columns(conn, source, batch, frontier, first_seq, cover)
        return _bulk_outcome(frontier, batch.num_rows, head)

    def _any_erased(self, conn: sa.Connection) -> bool:
        """Whether this source has an erased record (whose reference is no longer in records)."""
        query = sa.select(erased.c.seq).where(erased.c.source_id == self.source_id).limit(1)
        return conn.execute(query).first() is not None

    def _insert_if_new(
        self,
        conn: sa.Connection,
        source: str,
        batch: Any,
        frontier: CompactRange,
        first_seq: int,
        cover: Subtrees | None,
    ) -> TreeHead | None:
        """Write a batch of references new to the batch, hoping they are new to the store too.

        The store's unique (source, reference) constraint answers the lookup:
        if any reference is already held, the insert fails inside a savepoint,
        which is rolled back (None), and the caller looks the references up
        and sorts the rows as before. Looking 50,000 references up first cost
        more than a tenth of the writer's time on PostgreSQL.
        """
        try:
            with conn.begin_nested():
                return self._write_columns(conn, source, batch, frontier, first_seq, cover)
        except _integrity_errors(conn):
            return None

    def _write_columns(
        self,
        conn: sa.Connection,
        source: str,
        batch: Any,
        frontier: CompactRange,
        first_seq: int,
        cover: Subtrees | None,
    ) -> TreeHead:
        grown = self._insert_columns(conn, source, batch, frontier, first_seq, cover)
        return seal(conn, grown, self.signing_key)

    def _insert_columns(
        self,
        conn: sa.Connection,
        source: str,
        batch: Any,
        frontier: CompactRange,
        first_seq: int,
        cover: Subtrees | None,
    ) -> CompactRange:
        """Insert all-new rows at the seqs after `frontier`: the frontier grown by them."""
        start = frontier.size
        if start == first_seq:
            leaf_column = batch["leaf_hash"]
        else:  # another write came first: the same leaves at their real seqs
            import pyarrow as pa

            batch = seal_hashes(source, self._subject_hash, batch)
            leaf_column = pa.array(leaf_hash_column(source, start, batch), pa.binary())
            cover = None
        values = self._bulk_values(batch, start, leaf_column)
        insert_columns(conn, records, RECORD_COLUMNS, values, batch.num_rows)
        if cover is not None:
            return grafted(frontier, cover)
        return extended(frontier, leaf_column.to_pylist())

    def _bulk_values(self, batch: Any, start: int, leaves: Any) -> list[Any]:
        """RECORD_COLUMNS' values of an all-new batch at seqs from `start`, as columns (Arrow
        arrays, constants for the source, run and the unresolved corrects_seq)."""
        import numpy as np
        import pyarrow as pa

        seqs = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
        columns = [batch[name] for name in _BULK_COLUMNS]
        return [seqs, self.source_id, *columns[:7], None, columns[7], self.run_id, leaves]

    def _lookup(self, conn: sa.Connection, batch: Sequence[Sealed]) -> dict[str, _Known]:
        refs = {entry[1].reference for entry in batch}
        refs.update(e[1].corrects for e in batch if e[1].corrects is not None)
        return self._lookup_refs(conn, refs)

    def _lookup_refs(self, conn: sa.Connection, refs: set[str]) -> dict[str, _Known]:
        known: dict[str, _Known] = {}
        ordered = sorted(refs)
        for start in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[start : start + _LOOKUP_CHUNK]
            for ref, seq, *content, superseded in _lookup_rows(conn, self.source_id, chunk):
                known[ref] = _Known(seq, tuple(content), bool(superseded))
        return known

    def _write(
        self,
        conn: sa.Connection,
        rows: list[tuple[int, Sealed, int | None]],
        frontier: CompactRange,
        placed: list[tuple[int, int, bytes]],
    ) -> TreeHead:
        sha256 = hashlib.sha256
        out: list[tuple[Any, ...]] = []
        for seq, (row_number, rec, salt, rec_hash), target_seq in rows:
            leaf = record_leaf(seq, rec, rec_hash, self._subject_hash(rec.subject))
            leaf_hash = sha256(b"\x00" + leaf).digest()
            frontier.append(leaf_hash)
            placed.append((row_number, seq, leaf_hash))
            out.append(
                (
                    seq,
                    self.source_id,
                    rec.reference,
                    rec.item,
                    rec.subject,
                    rec.occurred_on,
                    rec.decided_on,
                    rec.attributes_json,
                    rec.corrects,
                    target_seq,
                    salt,
                    self.run_id,
                    leaf_hash,
                )
            )
        insert_rows(conn, records, RECORD_COLUMNS, out)
        return seal(conn, frontier, self.signing_key)


# Columns of a sealed batch in RECORD_COLUMNS order (between the constants).
_BULK_COLUMNS = (
    "reference",
    "item",
    "subject",
    "occurred_on",
    "decided_on",
    "attributes_json",
    "corrects",
    "salt",
)


class _NeedsSorting(Exception):
    """A part of a batch is not all new references: sort the batch whole."""


def _bulk_outcome(frontier: CompactRange, accepted: int, head: TreeHead | None) -> BatchOutcome:
    """What a batch of all-new rows did: `accepted` rows appended after `frontier`."""
    outcome = BatchOutcome(accepted=accepted, head=head)
    outcome.before = CompactRange(frontier.size, frontier.hashes)
    outcome.tree_size = frontier.size + accepted
    return outcome


def _integrity_errors(conn: sa.Connection) -> tuple[type[Exception], ...]:
    """A unique constraint's failure, as the driver and as SQLAlchemy raise it."""
    dbapi = getattr(conn.dialect.dbapi, "IntegrityError", sa.exc.IntegrityError)
    return (dbapi, sa.exc.IntegrityError)


def _all_new(columns: Any) -> bool:
    """No reference twice in the part and no correction (append_columns' bulk path)."""
    references = columns["reference"]
    corrects = columns["corrects"]
    if corrects.null_count < len(corrects):
        return False
    import pyarrow.compute as pc

    return bool(pc.count_distinct(references).as_py() == len(references))


def _as_sealed(source: str, batch: Any) -> list[Sealed]:
    """A sealed batch of columns as (row number, Record, salt, record hash) entries.

    The record hashes are computed here when the worker's fast sealing left them out
    (`credence.ledger.leafhash.sealed_leaf_hashes`).
    """
    if "record_hash" in batch.column_names:
        hashes = batch["record_hash"].to_pylist()
    else:
        hashes = record_hashes(batch["salt"].to_pylist(), content_column(source, batch))
    names = ("row", *_BULK_COLUMNS[:7], "salt")
    cols = [batch[name].to_pylist() for name in names]
    return [
        (row, Record(source, *fields), salt, rec_hash)
        for row, *fields, salt, rec_hash in zip(*cols, hashes, strict=True)
    ]


def records_by_row(source: str, batch: Any) -> dict[int, Record]:
    """The Records of a sealed batch of columns by row number (for rejects)."""
    cols = [batch[name].to_pylist() for name in ("row", *_BULK_COLUMNS[:7])]
    return {row: Record(source, *fields) for row, *fields in zip(*cols, strict=True)}


def _classify(
    batch: Sequence[Sealed], known: dict[str, _Known], size: int
) -> tuple[BatchOutcome, list[tuple[int, Sealed, int | None]]]:
    """Sort a batch into new rows (with their seq), duplicates and rejections."""
    outcome = BatchOutcome()
    rows: list[tuple[int, Sealed, int | None]] = []
    for entry in batch:
        row_number, rec = entry[0], entry[1]
        content = _content(rec)
        prior = known.get(rec.reference)
        if prior is not None:
            if prior.item == ERASED:
                outcome.rejections.append((row_number, _erased(rec.reference, prior.seq)))
            elif prior.content == content:
                outcome.duplicates += 1
                outcome.repeats.append((row_number, prior.seq))
            else:
                outcome.rejections.append((row_number, _conflict(rec.reference, prior.seq)))
            continue
        target_seq: int | None = None
        if rec.corrects is not None:
            target = _check_target(rec, known.get(rec.corrects))
            if isinstance(target, Rejection):
                outcome.rejections.append((row_number, target))
                continue
            target.superseded = True
            target_seq = target.seq
        seq = size + len(rows)
        known[rec.reference] = _Known(seq, content, False)
        rows.append((seq, entry, target_seq))
    outcome.accepted = len(rows)
    return outcome, rows


def _lookup_rows(conn: sa.Connection, source_id: int, refs: list[str]) -> Iterator[Any]:
    """Run the lookup; on PostgreSQL the references go as one parameter.

    psycopg rewrites every %s placeholder in Python, which for thousands of
    them costs more than the query; `= ANY(...)` has a single one.
    """
    if conn.dialect.name == "postgresql":
        joined = "\n".join(refs)
        if joined.count("\n") == len(refs) - 1:  # validated references hold no newline
            # One text parameter the server splits: a text[] is quoted element by
            # element in Python by the driver, which cost more than the query.
            split = "= ANY(string_to_array(%s, E'\\n'))"
            sql = _lookup_sql(conn, 1).replace("IN (%s)", split)
            return iter(conn.exec_driver_sql(sql, (source_id, joined, source_id, joined)))
        sql = _lookup_sql(conn, 1).replace("IN (%s)", "= ANY(%s)")
        return iter(conn.exec_driver_sql(sql, (source_id, refs, source_id, refs)))
    return iter(
        conn.exec_driver_sql(_lookup_sql(conn, len(refs)), (source_id, *refs, source_id, *refs))
    )


def _lookup_sql(conn: sa.Connection, n: int) -> str:
    """Earlier records of one source by reference, and whether each was superseded.

    Plain SQL with driver placeholders: building this as an expression with
    thousands of bound values costs more than running it.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * n)
    return (
        "SELECT r.reference, r.seq, r.item, r.subject, r.occurred_on, r.decided_on, "
        "r.attributes, r.corrects, "
        "EXISTS (SELECT 1 FROM records later WHERE later.corrects_seq = r.seq) "
        f"FROM records r WHERE r.source_id = {mark} AND r.reference IN ({marks}) "
        f"UNION ALL SELECT e.reference, e.seq, '{ERASED}', NULL, NULL, NULL, NULL, NULL, TRUE "
        f"FROM erased e WHERE e.source_id = {mark} AND e.reference IN ({marks})"
    )


def _erased(reference: str, seq: int) -> Rejection:
    return Rejection("reference", f"{reference!r} named a record that was erased (ledger #{seq})")


def _conflict(reference: str, seq: int) -> Rejection:
    return Rejection(
        "reference",
        f"{reference!r} already holds a different record (ledger #{seq}); "
        "send a correction (corrects) instead of reusing a reference",
    )


def _check_target(rec: Record, target: _Known | None) -> _Known | Rejection:
    if target is None:
        return Rejection("corrects", f"no earlier record with reference {rec.corrects!r}")
    if target.item == ERASED:
        return Rejection("corrects", f"record {rec.corrects!r} was erased")
    if target.superseded:
        return Rejection("corrects", f"record {rec.corrects!r} was already corrected or revoked")
    if target.item == REVOCATION:
        return Rejection("corrects", f"{rec.corrects!r} is a revocation and cannot be corrected")
    if rec.is_revocation and rec.subject != target.subject:
        return Rejection("subject", f"does not match the subject of record {rec.corrects!r}")
    return target
