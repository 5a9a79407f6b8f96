"""Inclusion and consistency proofs from the stored log, in one streaming pass.

A proof's nodes are the roots of disjoint leaf ranges (`merkle.*_ranges`),
so the log's leaf hashes are read once in order and folded into those roots
(`RangeRoots`), whatever the log's size. Only signed sizes are proved: a
proof to a size no head was signed at would prove nothing anyone can check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from credence.ledger.merkle import RangeRoots, consistency_ranges, inclusion_ranges
from credence.ledger.treehead import TreeHead
from credence.store.database import StoreError
from credence.store.schema import entries, erased, records, sources, tree_heads
from credence.store.sealing import head_of

if TYPE_CHECKING:
    from credence.store.registry import Registry

CHUNK = 50_000


def leaf_hashes(engine: sa.Engine, size: int) -> Iterator[tuple[int, bytes]]:
    """(seq, leaf hash) of positions below `size`, in order, from all three tables."""
    parts = [
        sa.select(t.c.seq, t.c.leaf_hash).where(t.c.seq < size) for t in (records, entries, erased)
    ]
    query = sa.union_all(*parts).order_by("seq")
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
        for seq, stored in rows:
            yield int(seq), bytes(stored)


def signed_head(engine: sa.Engine, size: int | None = None) -> TreeHead:
    """The signed head at `size` (default: the latest); StoreError if there is none."""
    query = sa.select(tree_heads)
    query = (
        query.where(tree_heads.c.size == size)
        if size is not None
        else query.order_by(tree_heads.c.size.desc()).limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        what = f"at size {size}" if size is not None else "yet"
        raise StoreError(f"the ledger has no signed tree head {what}")
    return head_of(row)


def _gather(engine: sa.Engine, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
    gather = RangeRoots(ranges)
    for expected, (seq, stored) in enumerate(leaf_hashes(engine, size)):
        if seq != expected:
            raise StoreError(f"ledger entry #{expected} is missing: run `credence verify`")
        gather.add(seq, stored)
    return gather.roots()


def inclusion(engine: sa.Engine, seq: int, size: int) -> list[bytes]:
    """PATH(seq, D[size]) from the stored leaf hashes."""
    if not 0 <= seq < size:
        raise StoreError(f"entry #{seq} is not in the tree of size {size}")
    return _gather(engine, inclusion_ranges(seq, size), size)


def consistency(engine: sa.Engine, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from the stored leaf hashes."""
    if not 0 <= old_size <= new_size:
        raise StoreError(f"no consistency proof from size {old_size} to the smaller {new_size}")
    return _gather(engine, consistency_ranges(old_size, new_size), new_size)


def record_document(registry: Registry, seq: int) -> dict[str, Any]:
    """A record as disclosed to its subject or an auditor, to check with the proof.

    Holds the record's content (personal data: give it only to whom may
    see it), its salt and its keyed subject hash, which is what an outside
    script needs to recompute the leaf (docs/ledger.md, examples/audit_ledger.py).
    """
    from credence.ledger.leaf import subject_hash
    from credence.store.verify_records import record_of, record_rows

    with registry.engine.connect() as conn:
        names = dict(conn.execute(sa.select(sources.c.id, sources.c.name)).all())
        row = next(iter(record_rows(conn, seq, seq + 1)), None)
    if row is None:
        raise StoreError(f"ledger entry #{seq} is not a stored record (erased, or an entry)")
    rec, salt = record_of(row, names)
    return {
        "content": rec.to_dict(),
        "salt": salt.hex(),
        "seq": seq,
        "subject_hash": subject_hash(registry.subject_key(), rec.subject),
    }
