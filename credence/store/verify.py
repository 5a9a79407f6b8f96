"""`credence verify`: prove the stored registry is what the signed tree heads say.

It trusts nothing stored except the public keys: it recomputes every
record's leaf from the record's content, checks it against the ledger's
leaf hash, rebuilds the tree from the leaves and compares the root at every
stored tree head whose signature it checks. Because every head's root is
recomputed from the same leaf sequence, every head is consistent with every
later one. An edit made behind the system's back is named: the first record
whose content no longer matches its leaf, or, if the leaf hashes were edited
too, the range of entries between the last good head and the first bad one.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from credence.core.records import Record
from credence.ledger.leaf import SubjectHasher, record_hash, record_leaf
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import TreeHead, load_public_key, verify_tree_head
from credence.store.database import create_engine
from credence.store.registry import Registry
from credence.store.schema import records, signing_keys, sources, tree_heads

_CHUNK = 50_000
_PARALLEL_MIN = 100_000  # below this, starting worker processes costs more than it saves


@dataclass
class VerifyReport:
    """What was checked and the first problem found, if any."""

    leaves: int = 0
    records: int = 0
    heads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_registry(
    registry: Registry,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Check every head signature, every leaf and every root.

    Records are recomputed in `workers` processes over ranges of the log
    while this process rebuilds the tree from the stored leaf hashes; on two
    cores that halves the time. Small logs are checked inline.
    """
    report = VerifyReport()
    with registry.engine.connect() as conn:
        heads = _check_signatures(conn, report)
        names: dict[int, str] = dict(conn.execute(sa.select(sources.c.id, sources.c.name)).all())
        last = conn.execute(sa.select(sa.func.max(records.c.seq))).scalar()
    size = 0 if last is None else int(last) + 1
    if workers is None:
        workers = 2 if size >= _PARALLEL_MIN and (os.cpu_count() or 1) > 1 else 0
    job = (registry.settings.database_url, registry.subject_key(), names)
    ranges = _ranges(size, max(workers, 1))
    if workers == 0:
        found = [_check_records(*job, lo, hi) for lo, hi in ranges]
        tree = _check_tree(registry, heads, report, progress)
    else:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_check_records, *job, lo, hi) for lo, hi in ranges]
            tree = _check_tree(registry, heads, report, progress)
            found = [f.result() for f in futures]
    report.records = sum(n for n, _ in found)
    bad = [problem for _, problem in found if problem is not None]
    if bad:
        report.problems.append(min(bad)[1])  # the first bad leaf in log order
    if tree is not None:
        report.problems.append(tree)
    return report


def _check_signatures(conn: sa.Connection, report: VerifyReport) -> list[TreeHead]:
    keys = {
        kid: load_public_key(pem)
        for kid, pem in conn.execute(
            sa.select(signing_keys.c.key_id, signing_keys.c.public_key_pem)
        )
    }
    heads = [
        TreeHead(r.size, bytes(r.root), r.timestamp_ms, r.key_id, bytes(r.signature))
        for r in conn.execute(sa.select(tree_heads).order_by(tree_heads.c.size))
    ]
    for head in heads:
        key = keys.get(head.key_id)
        if key is None or not verify_tree_head(key, head):
            report.problems.append(f"tree head at size {head.size}: signature does not verify")
    report.heads = len(heads)
    return heads


def _ranges(size: int, parts: int) -> list[tuple[int, int]]:
    step = -(-size // parts) or 1
    return [(lo, min(size, lo + step)) for lo in range(0, max(size, 1), step)]


def _check_tree(
    registry: Registry,
    heads: list[TreeHead],
    report: VerifyReport,
    progress: Callable[[int], None] | None,
) -> str | None:
    """Rebuild the tree from stored leaf hashes; compare the root at every head."""
    frontier = CompactRange()
    pending = iter(heads)
    head = next(pending, None)
    last_good = 0
    query = sa.select(records.c.seq, records.c.leaf_hash).order_by(records.c.seq)
    with registry.engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
        for seq, stored in rows:
            if seq != frontier.size:
                return f"ledger entry #{frontier.size} is missing (next is #{seq})"
            frontier.append(bytes(stored))
            report.leaves += 1
            while head is not None and head.size == frontier.size:
                if frontier.root() != head.root:
                    return (
                        f"tree head at size {head.size} does not match the log: an entry "
                        f"between #{last_good} and #{head.size - 1} was altered along with "
                        "its leaf hash"
                    )
                last_good = head.size
                head = next(pending, None)
            if progress is not None and report.leaves % _CHUNK == 0:
                progress(_CHUNK)
    if head is not None:
        return (
            f"tree head at size {head.size} is beyond the log's {frontier.size} entries: "
            "entries were removed"
        )
    return None


def _check_records(
    url: str, subject_key: bytes, names: dict[int, str], lo: int, hi: int
) -> tuple[int, tuple[int, str] | None]:
    """Recompute the leaves of records lo <= seq < hi (runs in a worker process).

    Returns how many were checked and the first mismatch as (seq, message).
    """
    engine = create_engine(url)
    hasher = SubjectHasher(subject_key)
    checked = 0
    try:
        with engine.connect() as conn:
            for row in _record_rows(conn, lo, hi):
                seq, stored = row.seq, bytes(row.leaf_hash)
                rec, salt = _record_of(row, names)
                problem = _leaf_problem(seq, rec, salt, row, hasher(rec.subject), stored)
                if problem:
                    where = f"ledger entry #{seq} (source {rec.source}, reference {rec.reference})"
                    return checked, (seq, f"{where}: {problem}")
                checked += 1
    finally:
        engine.dispose()
    return checked, None


def _leaf_problem(
    seq: int, rec: Record, salt: bytes, row: sa.Row[Any], subject_digest: str, stored: bytes
) -> str | None:
    linked = (row.target_source_id, row.target_reference) if row.corrects_seq is not None else None
    expected = (row.source_id, row.corrects) if row.corrects is not None else None
    if linked != expected:
        return "its corrects link does not point at the record it names"
    rec_hash = record_hash(salt, rec.content())
    leaf = record_leaf(seq, rec, rec_hash, subject_digest)
    if hashlib.sha256(b"\x00" + leaf).digest() != stored:
        return "the stored record does not match its ledger leaf"
    return None


def _record_rows(conn: sa.Connection, lo: int, hi: int) -> Iterator[Any]:
    """Records lo <= seq < hi in `seq` order, with their correction target, streamed."""
    target = records.alias("target")
    query = (
        sa.select(
            records.c.seq,
            records.c.leaf_hash,
            records.c.source_id,
            records.c.reference,
            records.c.item,
            records.c.subject,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.attributes,
            records.c.corrects,
            records.c.corrects_seq,
            records.c.salt,
            target.c.source_id.label("target_source_id"),
            target.c.reference.label("target_reference"),
        )
        .select_from(records.outerjoin(target, target.c.seq == records.c.corrects_seq))
        .where(records.c.seq >= lo, records.c.seq < hi)
        .order_by(records.c.seq)
    )
    result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
    yield from result


def _record_of(row: sa.Row[Any], names: dict[int, str]) -> tuple[Record, bytes]:
    """The Record and salt exactly as stored."""
    rec = Record(
        source=names.get(row.source_id, f"<unknown source {row.source_id}>"),
        reference=row.reference,
        item=row.item,
        subject=row.subject,
        occurred_on=row.occurred_on,
        decided_on=row.decided_on,
        attributes_json=row.attributes,
        corrects=row.corrects,
    )
    return rec, bytes(row.salt)
