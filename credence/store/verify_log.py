"""Walking the whole log in order: positions, entries, governance, keys, heads and roots.

This is the half of `verify` that needs the log in sequence: every position
0..n-1 must be held exactly once (a live record, an erased record, or a
governance or erasure entry); the tree rebuilt from the leaf hashes must
give each signed head's root; each head must be signed by a key the
verifier trusts (the pinned key, or one that a trusted head's key entry
issued) and chained to the head before it; no entry may sit after the last
head; the `sources` table must say what the ledger's latest source entries
say; and an erased record is accepted only where an erasure entry names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ledger.entries import (
    DISPUTE,
    ERASURE,
    KEY,
    REPAIR,
    SOURCE,
    Entry,
    EntryError,
    key_bytes,
    parse_entry,
    reference_hash,
)
from credence.ledger.merkle import CompactRange, RangeRoots, leaf_hash
from credence.ledger.treehead import TreeHead, key_id, public_key_from_raw, verify_tree_head
from credence.store.schema import (
    disputes,
    entries,
    erased,
    ledger_state,
    records,
    repairs,
    sources,
    suppressions,
    tree_heads,
)
from credence.store.sealing import head_of

CHUNK = 50_000


class Finding(Exception):
    """The first thing found wrong with the log; the walk stops there."""


@dataclass
class LogWalk:
    """State and results of one ordered pass over the log."""

    trusted: dict[str, bytes]  # key id -> raw public key, trusted now
    wanted_sizes: set[int] = field(default_factory=set)  # roots to remember (checkpoints)
    ranges: list[RangeRoots] = field(default_factory=list)  # proofs to gather
    leaves: int = 0
    heads: int = 0
    roots: dict[int, bytes] = field(default_factory=dict)
    source_entries: dict[str, Entry] = field(default_factory=dict)
    erasures: dict[int, Entry] = field(default_factory=dict)  # erased seq -> erasure entry
    # Due process (schema 3): every dispute and repair entry, in order, by kind and id.
    process: dict[tuple[str, int], list[Entry]] = field(default_factory=dict)
    last_head: TreeHead | None = None


def walk_log(
    conn: sa.Connection,
    walk: LogWalk,
    names: dict[int, str],
    progress: Callable[[int], None] | None,
) -> None:
    """Run the ordered checks; raise Finding with the first problem."""
    heads = [head_of(r) for r in conn.execute(sa.select(tree_heads).order_by(tree_heads.c.size))]
    pending = iter(heads)
    head = next(pending, None)
    pending_keys: list[Entry] = []
    frontier = CompactRange()
    erased_rows: dict[int, Position] = {}
    for pos in _positions(conn, names):
        seq, stored = pos.seq, pos.leaf_hash
        if seq != frontier.size:
            raise Finding(_gap(frontier.size, seq))
        if pos.body is not None:
            _apply_entry(walk, _entry(seq, pos.body, stored), pending_keys)
        elif pos.erased_by is not None:
            erased_rows[seq] = pos
        else:
            _check_permission(walk, seq, pos.source, pos.item)
        frontier.append(stored)
        for gather in walk.ranges:
            gather.add(seq, stored)
        walk.leaves += 1
        while head is not None and head.size == frontier.size:
            _check_head(walk, head, frontier, pending_keys)
            head = next(pending, None)
        if frontier.size in walk.wanted_sizes:
            walk.roots[frontier.size] = frontier.root()
        if progress is not None and walk.leaves % CHUNK == 0:
            progress(CHUNK)
    if head is not None:
        raise Finding(
            f"tree head at size {head.size} is beyond the log's {frontier.size} entries: "
            "entries were removed"
        )
    _check_end(conn, walk, frontier, erased_rows)


class Position(NamedTuple):
    """One stored position: a record (source, item), an entry (body) or an erased record."""

    seq: int
    leaf_hash: bytes
    source: str = ""
    item: str = ""
    body: bytes | None = None
    erased_by: int | None = None
    reference: str = ""


def _positions(conn: sa.Connection, names: dict[int, str]) -> Iterator[Position]:
    """Every stored position in seq order: records streamed, the small tables merged in."""
    small = [
        Position(int(s), bytes(h), body=bytes(b))
        for s, h, b in conn.execute(sa.select(entries.c.seq, entries.c.leaf_hash, entries.c.body))
    ]
    gone = sa.select(
        erased.c.seq,
        erased.c.leaf_hash,
        erased.c.erased_by,
        erased.c.source_id,
        erased.c.item,
        erased.c.reference,
    )
    small += [
        Position(int(s), bytes(h), names.get(src, "?"), item, None, int(by), ref)
        for s, h, by, src, item, ref in conn.execute(gone)
    ]
    small.sort(key=lambda p: p.seq)
    i = 0
    query = sa.select(records.c.seq, records.c.leaf_hash, records.c.source_id, records.c.item)
    rows = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
        query.order_by(records.c.seq)
    )
    for seq, stored, source_id, item in rows:
        while i < len(small) and small[i].seq <= seq:
            yield small[i]
            i += 1
        yield Position(int(seq), bytes(stored), names.get(source_id, "?"), item)
    yield from small[i:]


def _gap(expected: int, found: int) -> str:
    if found < expected:
        return f"ledger entry #{found} is stored twice"
    return f"ledger entry #{expected} is missing (next is #{found})"


def _entry(seq: int, body: bytes, stored: bytes) -> Entry:
    if leaf_hash(body) != stored:
        raise Finding(f"ledger entry #{seq}: the stored entry does not match its leaf hash")
    try:
        return parse_entry(seq, body)
    except EntryError as exc:
        raise Finding(f"ledger entry #{seq}: {exc}") from None


def _apply_entry(walk: LogWalk, entry: Entry, pending_keys: list[Entry]) -> None:
    if entry.kind == SOURCE:
        walk.source_entries[str(entry.body["name"])] = entry
    elif entry.kind == KEY:
        pending_keys.append(entry)  # takes effect once a trusted head covers it
    elif entry.kind in (DISPUTE, REPAIR):
        key = "dispute" if entry.kind == DISPUTE else "repair"
        walk.process.setdefault((key, int(entry.body[key])), []).append(entry)
    elif entry.kind == ERASURE:
        erases = int(entry.body["erases"])
        if erases >= entry.seq:
            raise Finding(f"ledger entry #{entry.seq}: erases #{erases}, which is not before it")
        walk.erasures[erases] = entry


def _check_permission(walk: LogWalk, seq: int, source: str, item: str) -> None:
    """A record's item must be one its source was permitted when it was appended.

    Records older than the source's first entry come from registries made
    before governance entries existed (`credence migrate`) and are not judged.
    """
    entry = walk.source_entries.get(source)
    if entry is None or item == REVOCATION:
        return
    if item not in entry.body["items"]:
        raise Finding(
            f"ledger entry #{seq}: source {source} was not permitted item {item} "
            f"(its permissions are ledger entry #{entry.seq})"
        )


def _check_head(
    walk: LogWalk, head: TreeHead, frontier: CompactRange, pending_keys: list[Entry]
) -> None:
    prev = walk.last_head.size if walk.last_head else 0
    raw = walk.trusted.get(head.key_id)
    if raw is None:
        raise Finding(
            f"tree head at size {head.size} is signed by key {head.key_id[:16]}…, "
            "which is not the pinned key nor one the ledger issued under it"
        )
    if not verify_tree_head(public_key_from_raw(raw), head):
        raise Finding(f"tree head at size {head.size}: signature does not verify")
    if head.prev_size != prev:
        raise Finding(
            f"tree head at size {head.size} follows the head at size {head.prev_size}, "
            f"which is missing (the previous stored head is at size {prev})"
        )
    if frontier.root() != head.root:
        raise Finding(
            f"tree head at size {head.size} does not match the log: an entry between "
            f"#{prev} and #{head.size - 1} was altered along with its leaf hash"
        )
    for entry in pending_keys:  # key entries covered by this trusted head now count
        key = key_bytes(entry)
        kid = key_id(public_key_from_raw(key))
        if entry.body["action"] == "issue":
            walk.trusted[kid] = key
        else:
            walk.trusted.pop(kid, None)
    pending_keys.clear()
    walk.last_head = head
    walk.heads += 1


def _check_end(
    conn: sa.Connection, walk: LogWalk, frontier: CompactRange, erased_rows: dict[int, Position]
) -> None:
    last = walk.last_head.size if walk.last_head else 0
    if frontier.size > last:
        raise Finding(
            f"ledger entries #{last} to #{frontier.size - 1} are not covered by a signed "
            "tree head (added behind the system's back, or their head was deleted)"
        )
    state = conn.execute(sa.select(ledger_state.c.size)).scalar()
    if int(state or 0) != frontier.size:
        raise Finding(f"the ledger state says {state} entries, the log holds {frontier.size}")
    for seq, pos in erased_rows.items():
        entry = walk.erasures.get(seq)
        if entry is None or entry.seq != pos.erased_by:
            raise Finding(f"ledger entry #{seq} is erased, but no erasure entry names it")
        body = entry.body
        if (pos.source, pos.item) != (body["source"], body["item"]) or reference_hash(
            pos.source, pos.reference
        ) != body["reference_hash"]:
            raise Finding(
                f"ledger entry #{seq} is erased, but its kept source, item or reference differ "
                f"from erasure entry #{entry.seq}"
            )
    live = set(walk.erasures) - set(erased_rows)
    if live:
        raise Finding(f"ledger entry #{min(live)} is named by an erasure entry but still stored")
    _check_sources(conn, walk)
    check_due_process(conn, walk)


_OPEN = {"dispute": "open", "repair": "pending"}
_SUPPRESSING = {("dispute", "lapsed"), ("repair", "rectified")}


def check_due_process(conn: sa.Connection, walk: LogWalk) -> None:
    """Disputes, repairs and suppressions in the store must be what the ledger recorded.

    Each changes answers: a dispute's status turns `deny` into `review`, and a
    suppression makes a record stop counting. So a row the ledger does not
    account for (or a ledger step with no row) is tampering, as for records.
    """
    tables = {"dispute": disputes, "repair": repairs}
    for kind, table in tables.items():
        seen: set[int] = set()
        for row in conn.execute(sa.select(table)):
            m = row._mapping
            steps = walk.process.get((kind, int(m["id"])), [])
            seen.add(int(m["id"]))
            if (
                not steps
                or steps[0].seq != m["filed_entry"]
                or any(e.body["record"] != m["record_seq"] for e in steps)
            ):
                raise Finding(f"{kind} {m['id']} in the store is not the one the ledger records")
            last = steps[-1]
            status = _OPEN[kind] if len(steps) == 1 else last.body["action"]
            outcome = None if len(steps) == 1 else last.seq
            if m["status"] != status or m["outcome_entry"] != outcome:
                raise Finding(
                    f"{kind} {m['id']} is {m['status']} in the store, but ledger entry "
                    f"#{last.seq} says {status} (changed behind the system's back)"
                )
        missing = {i for k, i in walk.process if k == kind} - seen
        if missing:
            raise Finding(f"{kind} {min(missing)} is in the ledger but not in the store")
    granted = {
        e.seq: e
        for steps in walk.process.values()
        for e in steps
        if (("dispute" if e.kind == DISPUTE else "repair"), e.body["action"]) in _SUPPRESSING
    }
    rows = {
        int(s): int(r)
        for s, r in conn.execute(sa.select(suppressions.c.seq, suppressions.c.record_seq))
    }
    for seq, record in rows.items():
        entry = granted.get(seq)
        if entry is None or entry.body["record"] != record:
            raise Finding(
                f"record #{record} is suppressed, but no lapsed dispute or granted repair in "
                "the ledger says so"
            )
    replaced = {
        int(r): int(s)
        for s, r in conn.execute(
            sa.select(records.c.seq, records.c.corrects_seq).where(
                records.c.corrects_seq.isnot(None)
            )
        )
    }
    done: set[int] = set()
    for seq in sorted(granted):
        record = int(granted[seq].body["record"])
        if seq in rows:
            done.add(record)
        elif record not in done and not (record in replaced and replaced[record] < seq):
            raise Finding(
                f"ledger entry #{seq} suppresses record #{record}, but the store counts it "
                "(its suppression was removed)"
            )


def _check_sources(conn: sa.Connection, walk: LogWalk) -> None:
    """The permissions the store enforces must be the ones the ledger last recorded."""
    for name, patterns in conn.execute(sa.select(sources.c.name, sources.c.patterns)):
        entry = walk.source_entries.get(name)
        if entry is None:
            raise Finding(f"source {name} is registered in the store but not in the ledger")
        if sorted(json.loads(patterns)) != entry.body["patterns"]:
            raise Finding(
                f"source {name}'s permitted items in the store differ from ledger entry "
                f"#{entry.seq} (changed behind the system's back)"
            )
