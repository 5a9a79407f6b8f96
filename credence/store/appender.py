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
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.core.records import Record, Rejection
from credence.ledger.leaf import SALT_BYTES, record_hash, record_leaf, subject_hash
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import sign_tree_head
from credence.store.database import insert_rows
from credence.store.schema import ledger, ledger_state, records, tree_heads

_LOOKUP_CHUNK = 5_000
LEDGER_COLUMNS = ("seq", "kind", "leaf_hash")
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
    "content_digest",
    "salt",
    "run_id",
)
_SUBJECT_CACHE_LIMIT = 2_000_000


@dataclass
class BatchOutcome:
    """What one batch did: counts, and the rejections with their row numbers."""

    accepted: int = 0
    duplicates: int = 0
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    tree_size: int = 0


@dataclass(slots=True)
class _Known:
    """What the batch needs to know of an earlier record with a given reference."""

    seq: int
    digest: bytes
    subject: str
    item: str
    superseded: bool


@dataclass
class Appender:
    """Writes batches for one source; holds the secrets and caches across batches."""

    engine: sa.Engine
    source_id: int
    run_id: int
    signing_key: Ed25519PrivateKey
    subject_key: bytes
    _subject_hashes: dict[str, str] = field(default_factory=dict)

    def append(self, batch: Sequence[tuple[int, Record]]) -> BatchOutcome:
        """Write `batch` ((row number, record) pairs) in one transaction."""
        with self.engine.begin() as conn:
            size, frontier = _load_state(conn)
            known = self._lookup(conn, batch)
            outcome, rows = self._classify(batch, known, size)
            if rows:
                self._write(conn, rows, frontier)
            outcome.tree_size = frontier.size
        return outcome

    def _lookup(
        self, conn: sa.Connection, batch: Sequence[tuple[int, Record]]
    ) -> dict[str, _Known]:
        refs = {rec.reference for _, rec in batch}
        refs.update(rec.corrects for _, rec in batch if rec.corrects is not None)
        known: dict[str, _Known] = {}
        ordered = sorted(refs)
        for start in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[start : start + _LOOKUP_CHUNK]
            for ref, *rest in conn.exec_driver_sql(
                _lookup_sql(conn, len(chunk)), (self.source_id, *chunk)
            ):
                known[ref] = _Known(*rest)
        return known

    def _classify(
        self, batch: Sequence[tuple[int, Record]], known: dict[str, _Known], size: int
    ) -> tuple[BatchOutcome, list[tuple[int, Record, bytes, bytes, int | None]]]:
        outcome = BatchOutcome()
        rows: list[tuple[int, Record, bytes, bytes, int | None]] = []
        for row_number, rec in batch:
            content = rec.content()
            digest = hashlib.sha256(content).digest()
            prior = known.get(rec.reference)
            if prior is not None:
                if prior.digest == digest:
                    outcome.duplicates += 1
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
            known[rec.reference] = _Known(seq, digest, rec.subject, rec.item, False)
            rows.append((seq, rec, content, digest, target_seq))
        outcome.accepted = len(rows)
        return outcome, rows

    def _subject_hash(self, subject: str) -> str:
        found = self._subject_hashes.get(subject)
        if found is None:
            if len(self._subject_hashes) >= _SUBJECT_CACHE_LIMIT:
                self._subject_hashes.clear()
            found = self._subject_hashes[subject] = subject_hash(self.subject_key, subject)
        return found

    def _write(
        self,
        conn: sa.Connection,
        rows: list[tuple[int, Record, bytes, bytes, int | None]],
        frontier: CompactRange,
    ) -> None:
        salts = os.urandom(SALT_BYTES * len(rows))
        record_rows: list[tuple[Any, ...]] = []
        leaf_rows: list[tuple[Any, ...]] = []
        sha256 = hashlib.sha256
        for i, (seq, rec, content, digest, target_seq) in enumerate(rows):
            salt = salts[i * SALT_BYTES : (i + 1) * SALT_BYTES]
            leaf = record_leaf(
                seq, rec, record_hash(salt, content), self._subject_hash(rec.subject)
            )
            leaf_digest = sha256(b"\x00" + leaf).digest()
            frontier.append(leaf_digest)
            leaf_rows.append((seq, "record", leaf_digest))
            record_rows.append(
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
                    digest,
                    salt,
                    self.run_id,
                )
            )
        insert_rows(conn, ledger, LEDGER_COLUMNS, leaf_rows)
        insert_rows(conn, records, RECORD_COLUMNS, record_rows)
        _save_state(conn, frontier)
        head = sign_tree_head(
            self.signing_key, frontier.size, frontier.root(), time.time_ns() // 1_000_000
        )
        conn.execute(
            sa.insert(tree_heads).values(
                size=head.size,
                root=head.root,
                timestamp_ms=head.timestamp_ms,
                key_id=head.key_id,
                signature=head.signature,
            )
        )


def _lookup_sql(conn: sa.Connection, n: int) -> str:
    """Earlier records of one source by reference, and whether each was superseded.

    Plain SQL with driver placeholders: building this as an expression with
    thousands of bound values costs more than running it.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        "SELECT r.reference, r.seq, r.content_digest, r.subject, r.item, "
        "EXISTS (SELECT 1 FROM records later WHERE later.corrects_seq = r.seq) "
        f"FROM records r WHERE r.source_id = {mark} AND r.reference IN ({', '.join([mark] * n)})"
    )


def _conflict(reference: str, seq: int) -> Rejection:
    return Rejection(
        "reference",
        f"{reference!r} already holds a different record (ledger #{seq}); "
        "send a correction (corrects) instead of reusing a reference",
    )


def _check_target(rec: Record, target: _Known | None) -> _Known | Rejection:
    if target is None:
        return Rejection("corrects", f"no earlier record with reference {rec.corrects!r}")
    if target.superseded:
        return Rejection("corrects", f"record {rec.corrects!r} was already corrected or revoked")
    if target.item == "revocation":
        return Rejection("corrects", f"{rec.corrects!r} is a revocation and cannot be corrected")
    if rec.is_revocation and rec.subject != target.subject:
        return Rejection("subject", f"does not match the subject of record {rec.corrects!r}")
    return target


def _load_state(conn: sa.Connection) -> tuple[int, CompactRange]:
    row = conn.execute(sa.select(ledger_state.c.size, ledger_state.c.frontier)).first()
    if row is None:
        return 0, CompactRange()
    size, blob = int(row[0]), bytes(row[1])
    hashes = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    return size, CompactRange(size, hashes)


def _save_state(conn: sa.Connection, frontier: CompactRange) -> None:
    blob = b"".join(frontier.hashes)
    updated = conn.execute(
        sa.update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(size=frontier.size, frontier=blob)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(ledger_state).values(id=1, size=frontier.size, frontier=blob))
