"""One aligned chunk of the log, checked in a worker process: the bulk of `verify`.

The log is cut into chunks of CHUNK positions, each starting at a multiple
of CHUNK (a power of two), so every perfect Merkle subtree smaller than a
chunk lies inside one. A worker reads its chunk's records with the database
driver in large fetches (no per-row ORM), and in one pass over the chunk's
positions in `seq` order (records, plus the entries and erased records the
parent hands it):

- checks each position is held exactly once (the first gap or duplicate);
- checks each record's item was permitted to its source at that point;
- recomputes each record's leaf from its stored content and compares it
  with the stored leaf hash (`verify_records`; a fast path builds the same
  RFC 8785 bytes directly when no field needs escaping);
- hashes the stored leaf hashes into every perfect subtree of the chunk
  and returns the ones the parent asked for (heads' and proofs' subtrees).

The parent (`verify_log`) combines chunks' subtrees into the roots of the
signed heads and of the consistency proofs, and keeps the first finding in
log order, so the messages are those of one ordered walk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, NamedTuple

import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.ledger.merkle import perfect_levels
from credence.store.database import create_engine
from credence.store.verify_records import (
    attributes_problem,
    leaf_problem,
    record_of,
    record_rows_query,
)

CHUNK_BITS = 16
CHUNK = 1 << CHUNK_BITS  # positions per chunk: a power of two, so subtrees align with chunks
FETCH = 8192

# A finding's place in the ordered walk: (position, phase). At a position the walk
# first checks it is the expected one (GAP), then the entry or record (ITEM); a head
# at size position + 1 is checked after (HEAD). The smallest key is the first finding.
GAP, ITEM, HEAD, END = 0, 1, 2, 3


class Small(NamedTuple):
    """A position that is not a live record: an entry or an erased record (parent-read)."""

    seq: int
    leaf_hash: bytes
    source: str | None = None  # a source entry: the source it (re)defines
    items: frozenset[str] = frozenset()  # ... and the items it permits


@dataclass(frozen=True)
class ChunkTask:
    lo: int
    hi: int
    small: list[Small]  # entries and erased records in [lo, hi), by seq
    permits: dict[str, tuple[int, frozenset[str]]]  # source -> (entry seq, items) before lo
    wanted: list[tuple[int, int]]  # (level, index) of subtrees to return


@dataclass
class ChunkResult:
    lo: int
    positions: int = 0  # positions seen in the chunk
    records: int = 0  # records whose leaf was recomputed and matched
    record_problem: tuple[int, str] | None = None  # the first bad record
    finding: tuple[tuple[int, int], str] | None = None  # the first walk finding
    first_seq: int | None = None  # the first position held in the chunk
    end: int = 0  # the position expected after the chunk's last one
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)


class _Row(NamedTuple):
    """A record row under the names `verify_records` reads."""

    seq: int
    leaf_hash: bytes
    source_id: int
    reference: str
    item: str
    subject: str
    occurred_on: str
    decided_on: str | None
    attributes: str | None
    corrects: str | None
    corrects_seq: int | None
    salt: bytes
    target_source_id: int | None
    target_reference: str | None


_state: dict[str, Any] = {}


def init_worker(url: str, subject_key: bytes, names: dict[int, str]) -> None:
    """Set what every chunk of this verify shares (a pool initializer, or inline)."""
    old = _state.get("engine")
    if old is not None:
        old.dispose()
    _state.clear()
    _state.update(url=url, subject_key=subject_key, names=names)


def close_worker() -> None:
    engine = _state.pop("engine", None)
    if engine is not None:
        engine.dispose()


def _engine() -> sa.Engine:
    engine = _state.get("engine")
    if engine is None:
        engine = _state["engine"] = create_engine(_state["url"])
    return engine


class _SubjectDigests:
    """subject_hash (HMAC-SHA256, hex) with the key's pads hashed once, and a bounded cache."""

    def __init__(self, key: bytes, limit: int = 250_000) -> None:
        block = 64
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._cache: dict[str, str] = {}
        self._limit = limit

    def __call__(self, subject: str) -> str:
        found = self._cache.get(subject)
        if found is None:
            inner = self._inner.copy()
            inner.update(subject.encode("utf-8"))
            outer = self._outer.copy()
            outer.update(inner.digest())
            found = outer.hexdigest()
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[subject] = found
        return found


def _plain(text: str) -> bool:
    """True when RFC 8785 writes `text` between quotes unchanged (nothing to escape)."""
    return '"' not in text and "\\" not in text and text.isprintable()


def check_chunk(task: ChunkTask) -> ChunkResult:
    """Walk one chunk (runs in a worker process, or inline for small logs)."""
    names: dict[int, str] = _state["names"]
    key: bytes = _state["subject_key"]
    out = ChunkResult(task.lo)
    permits = dict(task.permits)
    small = task.small
    n_small = len(small)
    si = 0
    expected = task.lo
    leaves: list[bytes] = []
    append = leaves.append
    leaf_names = {i: n for i, n in names.items()}
    plain_sources = {i for i, n in names.items() if _plain(n)}
    digests = _SubjectDigests(key)
    sha256 = hashlib.sha256
    hasher: SubjectHasher | None = None
    finding: tuple[tuple[int, int], str] | None = None
    problem: tuple[int, str] | None = None
    checked = 0

    def take_small(position: Small) -> None:
        nonlocal expected, finding
        if finding is None and position.seq != expected:
            finding = ((expected, GAP), _gap(expected, position.seq))
        if position.source is not None:
            permits[position.source] = (position.seq, position.items)
        expected = max(expected, position.seq + 1)
        append(position.leaf_hash)

    query = str(
        record_rows_query(task.lo, task.hi).compile(
            dialect=_engine().dialect, compile_kwargs={"literal_binds": True}
        )
    )
    raw = _engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(query)
        while True:
            batch = cursor.fetchmany(FETCH)
            if not batch:
                break
            if out.first_seq is None:
                first = int(batch[0][0])
                out.first_seq = min(first, small[0].seq) if n_small else first
            for row in batch:
                (seq, stored, source_id, reference, item, subject, occurred, decided) = row[:8]
                (attributes, corrects, corrects_seq, salt, target_source, target_ref) = row[8:]
                while si < n_small and small[si].seq <= seq:
                    take_small(small[si])
                    si += 1
                if finding is None:
                    if seq != expected:
                        finding = ((expected, GAP), _gap(expected, seq))
                    else:
                        allowed = permits.get(names.get(source_id, "?"))
                        if allowed is not None and item != REVOCATION and item not in allowed[1]:
                            why_not = _not_permitted(
                                seq, names.get(source_id, "?"), item, allowed[0]
                            )
                            finding = ((seq, ITEM), why_not)
                expected = max(expected, seq + 1)
                stored = bytes(stored)
                append(stored)
                if problem is not None:
                    continue
                # The record's leaf, rebuilt from its parsed values (verify_records).
                salt = bytes(salt)
                fast = (
                    corrects is None
                    and corrects_seq is None
                    and len(salt) == 16
                    and source_id in plain_sources
                    and _plain(item + occurred + (decided or ""))
                    and seq < 2**53
                )
                why: str | None = None
                if fast and attributes is not None:
                    why = attributes_problem(attributes)
                if fast and why is None:
                    parts = []
                    if attributes is not None:
                        parts.append(f'"attributes":{attributes}')
                    if decided is not None:
                        parts.append(f'"decided_on":"{decided}"')
                    source = leaf_names[source_id]
                    parts.append(
                        f'"item":"{item}","occurred_on":"{occurred}",'
                        f'"reference":{encode_basestring(reference)},"source":"{source}",'
                        f'"subject":{encode_basestring(subject)}'
                    )
                    content = ("{" + ",".join(parts) + "}").encode("utf-8")
                    dec = f'"{decided}"' if decided is not None else "null"
                    leaf = (
                        f'{{"decided_on":{dec},"item":"{item}","kind":"record",'
                        f'"occurred_on":"{occurred}",'
                        f'"record_hash":"{sha256(salt + content).hexdigest()}","seq":{seq},'
                        f'"source":"{source}","subject_hash":"{digests(subject)}",'
                        f'"v":{LEAF_VERSION}}}'
                    ).encode()
                    if sha256(b"\x00" + leaf).digest() != stored:
                        why = "the stored record does not match its ledger leaf"
                elif why is None:
                    full = _Row(
                        seq,
                        stored,
                        source_id,
                        reference,
                        item,
                        subject,
                        occurred,
                        decided,
                        attributes,
                        corrects,
                        corrects_seq,
                        salt,
                        target_source,
                        target_ref,
                    )
                    rec, _ = record_of(full, names)
                    if hasher is None:
                        hasher = SubjectHasher(key)
                    why = leaf_problem(full, rec, salt, hasher)
                if why is not None:
                    name = names.get(source_id, f"<unknown source {source_id}>")
                    where = f"ledger entry #{seq} (source {name}, reference {reference})"
                    problem = (int(seq), f"{where}: {why}")
                else:
                    checked += 1
    finally:
        raw.close()
    while si < n_small:
        if out.first_seq is None:
            out.first_seq = small[si].seq
        take_small(small[si])
        si += 1
    levels = perfect_levels(leaves) if leaves else []
    for level, index in task.wanted:
        if level < len(levels) and index < len(levels[level]):
            out.nodes[(level, index)] = levels[level][index]
    out.positions = len(leaves)
    out.records = checked
    out.record_problem = problem
    out.finding = finding
    out.end = expected
    return out


def _gap(expected: int, found: int) -> str:
    if found < expected:
        return f"ledger entry #{found} is stored twice"
    return f"ledger entry #{expected} is missing (next is #{found})"


def _not_permitted(seq: int, source: str, item: str, entry_seq: int) -> str:
    return (
        f"ledger entry #{seq}: source {source} was not permitted item {item} "
        f"(its permissions are ledger entry #{entry_seq})"
    )
