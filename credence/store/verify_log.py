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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

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
from credence.ledger.merkle import (
    fold_frontier,
    frontier_blocks,
    leaf_hash,
    perfect_levels,
    range_blocks,
)
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
from credence.store.verify_chunks import (
    CHUNK_BITS,
    END,
    GAP,
    HEAD,
    ITEM,
    ChunkResult,
    ChunkTask,
    Small,
)


class Finding(Exception):
    """The first thing found wrong with the log; the walk stops there."""


class Position(NamedTuple):
    """One stored position: a record (source, item), an entry (body) or an erased record."""

    seq: int
    leaf_hash: bytes
    source: str = ""
    item: str = ""
    body: bytes | None = None
    erased_by: int | None = None
    reference: str = ""


@dataclass
class LogWalk:
    """State and results of one ordered pass over the log."""

    trusted: dict[str, bytes]  # key id -> raw public key, trusted now
    wanted_sizes: set[int] = field(default_factory=set)  # roots to remember (checkpoints)
    ranges: list[list[tuple[int, int]]] = field(default_factory=list)  # proofs' leaf ranges
    chunk_bits: int = CHUNK_BITS  # chunks of 2**chunk_bits positions (smaller in tests)
    leaves: int = 0
    heads: int = 0
    records: int = 0  # records whose leaf was recomputed and matched
    record_problem: tuple[int, str] | None = None  # the first bad record, in log order
    roots: dict[int, bytes] = field(default_factory=dict)
    proofs: list[list[bytes]] = field(default_factory=list)  # the roots of `ranges`, gathered
    source_entries: dict[str, Entry] = field(default_factory=dict)
    erasures: dict[int, Entry] = field(default_factory=dict)  # erased seq -> erasure entry
    # Due process (schema 3): every dispute and repair entry, in order, by kind and id.
    process: dict[tuple[str, int], list[Entry]] = field(default_factory=dict)
    last_head: TreeHead | None = None
    erased_rows: dict[int, Position] = field(default_factory=dict)  # erased seq -> what is kept


# Runs the chunks' tasks (in worker processes, or inline), yielding results in order.
ChunkRunner = Callable[[list[ChunkTask]], Iterable[ChunkResult]]


class _Findings:
    """Candidate findings keyed by their place in the ordered walk; the first one wins."""

    def __init__(self) -> None:
        self.first: tuple[tuple[int, int], str] | None = None

    def add(self, key: tuple[int, int], message: str) -> None:
        if self.first is None or key < self.first[0]:
            self.first = (key, message)

    def before(self, key: tuple[int, int]) -> bool:
        """True when a finding comes before `key` (the walk would have stopped there)."""
        return self.first is not None and self.first[0] < key


def walk_log(
    conn: sa.Connection,
    walk: LogWalk,
    names: dict[int, str],
    progress: Callable[[int], None] | None,
    run: ChunkRunner,
) -> None:
    """Run the ordered checks; raise Finding with the first problem.

    The small tables (entries, erased records, heads) are read here; the
    records are walked in aligned chunks by `run` (verify_chunks), and the
    chunks' subtrees give every head's root. Of all the problems found, the
    one an ordered walk would have met first is raised.
    """
    found = _Findings()
    heads = [head_of(r) for r in conn.execute(sa.select(tree_heads).order_by(tree_heads.c.size))]
    parsed, small = _small_positions(conn, names, walk, found)
    first_seq, last_seq = _seq_bounds(conn)
    if first_seq is not None and first_seq < 0:
        found.add((0, GAP), f"ledger entry #{first_seq} is stored twice")
    end = max([heads[-1].size if heads else 0, last_seq + 1 if last_seq is not None else 0])
    end = max([end, *(p.seq + 1 for p in small)])
    blocks = _blocks_wanted(walk, heads, end)
    tasks = _tasks(end, small, parsed, blocks, walk.chunk_bits)
    results = []
    for result in run(tasks):
        results.append(result)
        walk.records += result.records
        if result.record_problem is not None and (
            walk.record_problem is None or result.record_problem < walk.record_problem
        ):
            walk.record_problem = result.record_problem
        if result.finding is not None:
            found.add(*result.finding)
        if progress is not None and result.positions:
            progress(result.positions)
    size = _log_length(results, found, walk.chunk_bits)
    nodes = _subtrees(results, walk.chunk_bits)
    for kept in sorted(walk.wanted_sizes):
        root = _fold(nodes, frontier_blocks(kept)) if kept <= size else None
        if root is not None:
            walk.roots[kept] = root
    walk.proofs = [
        [(_fold(nodes, range_blocks(lo, hi)) if hi <= size else None) or b"" for lo, hi in ranges]
        for ranges in walk.ranges
    ]
    _check_heads(walk, heads, size, nodes, parsed, found)
    walk.leaves = size if found.first is None else min(size, found.first[0][0])
    if found.first is None:
        try:
            _check_end(conn, walk, size)
        except Finding as finding:
            found.add((size, END), str(finding))
    if found.first is not None:
        raise Finding(found.first[1])


def _seq_bounds(conn: sa.Connection) -> tuple[int | None, int | None]:
    """The least and greatest seq held in any table of positions."""
    lows: list[int] = []
    highs: list[int] = []
    for table in (records, entries, erased):
        # Apart, each is one step down the primary key; SQLite scans the table for both at once.
        low = conn.execute(sa.select(sa.func.min(table.c.seq))).scalar()
        high = conn.execute(sa.select(sa.func.max(table.c.seq))).scalar()
        if low is not None and high is not None:
            lows.append(int(low))
            highs.append(int(high))
    return (min(lows), max(highs)) if lows else (None, None)


def _small_positions(
    conn: sa.Connection, names: dict[int, str], walk: LogWalk, found: _Findings
) -> tuple[list[Entry], list[Small]]:
    """Entries (checked against their leaf hash and parsed) and erased records, by seq."""
    parsed: list[Entry] = []
    small: list[Small] = []
    query = sa.select(entries.c.seq, entries.c.leaf_hash, entries.c.body).order_by(entries.c.seq)
    for seq, stored, body in conn.execute(query):
        seq, stored = int(seq), bytes(stored)
        try:
            entry = _entry(seq, bytes(body), stored)
        except Finding as finding:
            found.add((seq, ITEM), str(finding))
            small.append(Small(seq, stored))
            continue
        parsed.append(entry)
        if entry.kind == SOURCE:
            items = frozenset(str(i) for i in entry.body["items"])
            small.append(Small(seq, stored, str(entry.body["name"]), items))
        else:
            small.append(Small(seq, stored))
        try:
            _apply_entry(walk, entry)
        except Finding as finding:
            found.add((seq, ITEM), str(finding))
    gone = sa.select(
        erased.c.seq,
        erased.c.leaf_hash,
        erased.c.erased_by,
        erased.c.source_id,
        erased.c.item,
        erased.c.reference,
    )
    walk_erased: dict[int, Position] = {}
    for s, h, by, src, item, ref in conn.execute(gone):
        pos = Position(int(s), bytes(h), names.get(src, "?"), item, None, int(by), ref)
        walk_erased[pos.seq] = pos
        small.append(Small(pos.seq, pos.leaf_hash))
    walk.erased_rows = walk_erased
    small.sort(key=lambda p: p.seq)
    return parsed, small


def _blocks_wanted(walk: LogWalk, heads: list[TreeHead], end: int) -> set[tuple[int, int]]:
    """Every perfect subtree the heads, kept checkpoints and proofs need."""
    wanted: set[tuple[int, int]] = set()
    for head in heads:
        if head.size <= end:
            wanted.update(frontier_blocks(head.size))
    for kept in walk.wanted_sizes:
        if kept <= end:
            wanted.update(frontier_blocks(kept))
    for ranges in walk.ranges:
        for lo, hi in ranges:
            if hi <= end:
                wanted.update(range_blocks(lo, hi))
    return wanted


def _tasks(
    end: int, small: list[Small], parsed: list[Entry], blocks: set[tuple[int, int]], bits: int
) -> list[ChunkTask]:
    chunk = 1 << bits
    by_chunk: dict[int, list[tuple[int, int]]] = {}
    for start, width in blocks:
        if width < chunk:
            level = width.bit_length() - 1
            by_chunk.setdefault(start // chunk, []).append((level, (start % chunk) >> level))
    sources_in_order = [e for e in parsed if e.kind == SOURCE]
    tasks: list[ChunkTask] = []
    s_i = 0
    e_i = 0
    permits: dict[str, tuple[int, frozenset[str]]] = {}
    for lo in range(0, end, chunk):
        hi = min(end, lo + chunk)
        while e_i < len(sources_in_order) and sources_in_order[e_i].seq < lo:
            entry = sources_in_order[e_i]
            items = frozenset(str(i) for i in entry.body["items"])
            permits[str(entry.body["name"])] = (entry.seq, items)
            e_i += 1
        first = s_i
        while s_i < len(small) and small[s_i].seq < hi:
            s_i += 1
        wanted = [(bits, 0), *by_chunk.get(lo // chunk, [])]
        tasks.append(ChunkTask(lo, hi, small[first:s_i], dict(permits), wanted))
    return tasks


def _log_length(results: list[ChunkResult], found: _Findings, bits: int) -> int:
    """How many positions from #0 on are held without a gap; a gap between chunks is found."""
    gaps = [r.finding[0][0] for r in results if r.finding is not None and r.finding[0][1] == GAP]
    held = _held(results, found, bits)
    return min([held, *gaps])


def _held(results: list[ChunkResult], found: _Findings, bits: int) -> int:
    for i, result in enumerate(results):
        if result.end < result.lo + (1 << bits):
            later = next((r.first_seq for r in results[i + 1 :] if r.first_seq is not None), None)
            if later is not None:
                found.add(
                    (result.end, GAP), f"ledger entry #{result.end} is missing (next is #{later})"
                )
            return result.end
    return results[-1].end if results else 0


def _subtrees(results: list[ChunkResult], bits: int) -> dict[tuple[int, int], bytes]:
    """Perfect subtrees by (start, width): those inside chunks, and those made of whole chunks."""
    nodes: dict[tuple[int, int], bytes] = {}
    chunk_roots: list[bytes] = []
    for result in results:
        for (level, index), h in result.nodes.items():
            nodes[(result.lo + (index << level), 1 << level)] = h
        root = result.nodes.get((bits, 0))
        if root is not None and len(chunk_roots) == result.lo >> bits:
            chunk_roots.append(root)
    for level, hashes in enumerate(perfect_levels(chunk_roots) if chunk_roots else []):
        width = 1 << (bits + level)
        for index, h in enumerate(hashes):
            nodes[(index * width, width)] = h
    return nodes


def _fold(nodes: dict[tuple[int, int], bytes], blocks: list[tuple[int, int]]) -> bytes | None:
    """The root over perfect subtrees, or None when one is missing (a gap: found already)."""
    hashes = [nodes.get(b) for b in blocks]
    if any(h is None for h in hashes):
        return None
    return fold_frontier([h for h in hashes if h is not None])


def _check_heads(
    walk: LogWalk,
    heads: list[TreeHead],
    size: int,
    nodes: dict[tuple[int, int], bytes],
    parsed: list[Entry],
    found: _Findings,
) -> None:
    """Each head in order: signed by a trusted key, chained, and the root of the log there."""
    keys = [e for e in parsed if e.kind == KEY]
    k_i = 0
    pending: list[Entry] = []
    for head in heads:
        key = (head.size - 1, HEAD)
        if head.size > size or found.before(key):
            if head.size > size:
                found.add(
                    (size, END),
                    f"tree head at size {head.size} is beyond the log's {size} entries: "
                    "entries were removed",
                )
            return
        while k_i < len(keys) and keys[k_i].seq < head.size:
            pending.append(keys[k_i])
            k_i += 1
        root = _fold(nodes, frontier_blocks(head.size))
        try:
            _check_head(walk, head, root, pending)
        except Finding as finding:
            found.add(key, str(finding))
            return


def _entry(seq: int, body: bytes, stored: bytes) -> Entry:
    if leaf_hash(body) != stored:
        raise Finding(f"ledger entry #{seq}: the stored entry does not match its leaf hash")
    try:
        return parse_entry(seq, body)
    except EntryError as exc:
        raise Finding(f"ledger entry #{seq}: {exc}") from None


def _apply_entry(walk: LogWalk, entry: Entry) -> None:
    """Record what an entry says (key entries take effect in `_check_heads`)."""
    if entry.kind == SOURCE:
        walk.source_entries[str(entry.body["name"])] = entry
    elif entry.kind in (DISPUTE, REPAIR):
        key = "dispute" if entry.kind == DISPUTE else "repair"
        walk.process.setdefault((key, int(entry.body[key])), []).append(entry)
    elif entry.kind == ERASURE:
        erases = int(entry.body["erases"])
        if erases >= entry.seq:
            raise Finding(f"ledger entry #{entry.seq}: erases #{erases}, which is not before it")
        walk.erasures[erases] = entry


def _check_head(
    walk: LogWalk, head: TreeHead, root: bytes | None, pending_keys: list[Entry]
) -> None:
    """One head: a trusted key, both signatures, the chain, and the log's root at its size.

    Key entries the head covers become trusted (or revoked) once it verifies.
    """
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
    if root != head.root:
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


def _check_end(conn: sa.Connection, walk: LogWalk, size: int) -> None:
    """After the last position: every entry under a head, the state, erasures, tables."""
    last = walk.last_head.size if walk.last_head else 0
    if size > last:
        raise Finding(
            f"ledger entries #{last} to #{size - 1} are not covered by a signed "
            "tree head (added behind the system's back, or their head was deleted)"
        )
    state = conn.execute(sa.select(ledger_state.c.size)).scalar()
    if int(state or 0) != size:
        raise Finding(f"the ledger state says {state} entries, the log holds {size}")
    erased_rows = walk.erased_rows
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
