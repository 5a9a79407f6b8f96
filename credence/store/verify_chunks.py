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

A chunk is first proved in bulk, column by column (`verify_fast`); only a
chunk with something wrong or unusual in it is walked as above, so every
finding and message is the walk's.

The parent (`verify_log`) combines chunks' subtrees into the roots of the
signed heads and of the consistency proofs, and keeps the first finding in
log order, so the messages are those of one ordered walk.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.ledger.merkle import perfect_levels
from credence.lifeline import pool_initializer
from credence.store import verify_fast
from credence.store.database import create_engine
from credence.store.schema import erased, records
from credence.store.verify_records import (
    _flat_simple,
    attributes_problem,
    leaf_problem,
    record_of,
)

CHUNK_BITS = 13
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
    close_worker()
    _state.clear()
    _state.update(url=url, subject_key=subject_key, names=names)


def start_worker(parent: int, url: str, subject_key: bytes, names: dict[int, str]) -> None:
    """The pool's initializer: die with the parent, then `init_worker`.

    It lives here, not in `verify`, so a spawned worker imports only what
    walking a chunk needs. When the pool is done with it, the worker leaves
    with `os._exit` (it has only read: nothing to flush or close cleanly)
    instead of tearing its interpreter down, which took 0.1-0.2 s of CPU and
    0.2 s of verify's time per worker.
    """
    pool_initializer(parent)
    init_worker(url, subject_key, names)
    atexit.register(os._exit, 0)  # registered last, so it runs first at exit


def close_worker() -> None:
    raw = _state.pop("raw", None)
    if raw is not None:
        raw.close()
    engine = _state.pop("engine", None)
    if engine is not None:
        engine.dispose()


def _engine() -> sa.Engine:
    engine = _state.get("engine")
    if engine is None:
        engine = _state["engine"] = create_engine(_state["url"])
    return engine


def _connection() -> Any:
    """This worker's driver connection (one for all its chunks)."""
    raw = _state.get("raw")
    if raw is None:
        raw = _state["raw"] = _engine().raw_connection()
    return raw


def _compiled(query: Callable[[], sa.Select[Any]], values: dict[str, int]) -> tuple[str, Any]:
    """A query in the driver's own SQL and parameter style (compiled once per worker)."""
    compiled = _state.get(query.__name__)
    if compiled is None:
        compiled = _state[query.__name__] = query().compile(dialect=_engine().dialect)
    params = compiled.construct_params(values)
    if compiled.positional:
        return str(compiled), tuple(params[key] for key in compiled.positiontup or ())
    return str(compiled), params


def _rows_query() -> sa.Select[Any]:
    """A chunk's records in `seq` order, without their correction targets.

    The target of a correction (about 1 record in 100) is looked up only for
    the records that need it (`_target`): joining it to every row cost more
    than the lookups.
    """
    r = records.c
    return (
        sa.select(
            r.seq,
            r.leaf_hash,
            r.source_id,
            r.reference,
            r.item,
            r.subject,
            r.occurred_on,
            r.decided_on,
            r.attributes,
            r.corrects,
            r.corrects_seq,
            r.salt,
        )
        .where(r.seq >= sa.bindparam("lo"), r.seq < sa.bindparam("hi"))
        .order_by(r.seq)
    )


def _target_query() -> sa.Select[Any]:
    """The record a correction points at: (source id, reference), live or erased since,
    taken as `record_rows_query` takes them (the live row's values first)."""

    def value(column: str) -> Any:
        live = sa.select(records.c[column]).where(records.c.seq == sa.bindparam("seq"))
        gone = sa.select(erased.c[column]).where(erased.c.seq == sa.bindparam("seq"))
        return sa.func.coalesce(live.scalar_subquery(), gone.scalar_subquery())

    return sa.select(value("source_id"), value("reference"))


def _target(seq: int) -> tuple[int | None, str | None]:
    """(source id, reference) of the record at `seq`, as `record_rows_query` joins them."""
    sql, params = _compiled(_target_query, {"seq": seq})
    cursor = _connection().cursor()
    try:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    finally:
        cursor.close()
    return (None, None) if found is None else (found[0], found[1])


def _plain(text: str) -> bool:
    """True when RFC 8785 writes `text` between quotes unchanged (nothing to escape)."""
    return text.__class__ is str and '"' not in text and "\\" not in text and text.isprintable()


class _Any:
    """Every item passes: the source has no source entry yet, so it is not judged."""


_ANY = _Any()
_JUDGED: frozenset[str] = frozenset()  # an id with no name: `_position_finding` judges it
_PLAIN_LIMIT = 100_000


def _plain_text() -> set[str]:
    """This worker's set of values known to need no escaping (items and dates recur)."""
    known: set[str] = _state.setdefault("plain", set())
    return known


def _learn_plain(known: set[str], text: str) -> bool:
    """`_plain(text)`, remembered when true (the set is bounded)."""
    if not _plain(text):
        return False
    if len(known) >= _PLAIN_LIMIT:
        known.clear()
    known.add(text)
    return True


def _digests(key: bytes) -> verify_fast.SubjectDigests:
    """This worker's subject digests, kept across its chunks (a subject recurs)."""
    digests = _state.get("digests")
    if digests is None or digests.key != key:  # inline, one process may verify two registries
        digests = _state["digests"] = verify_fast.SubjectDigests(key)
    return digests


_SORTED = orjson.OPT_SORT_KEYS


def _canonical_attributes(text: str) -> bool:
    """True when `text` is a canonical non-empty JSON object (`attributes_problem` would
    say None); False means "ask attributes_problem" (for its message), not "wrong".

    The same test as `attributes_problem`, less the calls: a flat value's RFC
    8785 form is orjson's sorted output (`verify_records._flat_simple`).
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return (
        value.__class__ is dict
        and bool(value)
        and _flat_simple(value)
        and orjson.dumps(value, option=_SORTED) == text.encode()
    )


def check_chunk(task: ChunkTask) -> ChunkResult:
    """Check one chunk (runs in a worker process, or inline for small logs): proved in
    bulk when nothing is wrong with it or unusual in it (`verify_fast`), else walked."""
    collecting = gc.isenabled()
    gc.disable()  # the batches make many tuples and no cycles: collecting them costs ~10%
    try:
        return _proved_chunk(task) or _walk_chunk(task)
    finally:
        if collecting:
            gc.enable()


def _proved_chunk(task: ChunkTask) -> ChunkResult | None:
    """The chunk's result from `verify_fast.ChunkProof`, or None to walk it."""
    names: dict[int, str] = _state["names"]
    by_name = dict(task.permits)
    segments = [(task.lo, *_permissions(names, by_name))]
    for position in task.small:
        if position.source is not None:
            by_name[position.source] = (position.seq, position.items)
            segments.append((position.seq + 1, *_permissions(names, by_name)))

    def judge(permits: Permits, unknown: tuple[int, frozenset[str]] | None) -> Any:
        return lambda sid, item: _permission_finding(0, sid, item, names, permits, unknown) is None

    digests = _digests(_state["subject_key"])
    shapes = _state.get("shapes")
    if shapes is None:
        shapes = _state["shapes"] = verify_fast.AttributeShapes(_canonical_attributes)
    proof = verify_fast.ChunkProof(
        task.lo,
        {i: n for i, n in names.items() if _plain(n)},
        [(start, passes, judge(permits, unknown)) for start, permits, unknown, passes in segments],
        _ANY,
        digests,
        shapes,
        _targets,
    )
    sql, params = _compiled(_rows_query, {"lo": task.lo, "hi": task.hi})
    cursor = _connection().cursor()
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH):
            if not proof.add(batch):
                return None
    finally:
        cursor.close()
    leaves = proof.leaves([(p.seq, p.leaf_hash) for p in task.small])
    if leaves is None:
        return None
    out = ChunkResult(task.lo)
    _add_nodes(out, leaves, task.wanted)
    out.records = len(proof.seqs)
    out.first_seq = task.lo if leaves else None
    out.end = task.lo + len(leaves)
    return out


_TARGETS = 64  # correction targets looked up per query


def _seq_in(table: sa.Table) -> sa.Select[Any]:
    """(seq, source id, reference) of `table`'s rows at the _TARGETS seqs s0, s1, ..."""
    seqs: list[sa.BindParameter[Any]] = [sa.bindparam(f"s{k}") for k in range(_TARGETS)]
    return sa.select(table.c.seq, table.c.source_id, table.c.reference).where(table.c.seq.in_(seqs))


def _live_targets() -> sa.Select[Any]:
    return _seq_in(records)


def _erased_targets() -> sa.Select[Any]:
    return _seq_in(erased)


def _targets(seqs: list[int]) -> dict[int, tuple[Any, Any]]:
    """(source id, reference) of the records at `seqs`, live or erased, as `_target` gives
    each: the live row's value, else the erased row's. _TARGETS seqs a query (one query
    per correction, about 1 record in 100, cost 0.15 us a leaf)."""
    found: dict[Callable[[], sa.Select[Any]], dict[Any, tuple[Any, Any]]] = {}
    wanted = list(dict.fromkeys(seqs))
    for query in (_live_targets, _erased_targets):
        rows = found[query] = {}
        for i in range(0, len(wanted), _TARGETS):
            part = wanted[i : i + _TARGETS]
            values = {f"s{k}": part[k % len(part)] for k in range(_TARGETS)}
            sql, params = _compiled(query, values)
            cursor = _connection().cursor()
            try:
                cursor.execute(sql, params)
                rows.update((seq, (source_id, ref)) for seq, source_id, ref in cursor.fetchall())
            finally:
                cursor.close()
    none = (None, None)
    live, gone = found[_live_targets], found[_erased_targets]
    return {
        seq: (
            a[0] if a[0] is not None else b[0],
            a[1] if a[1] is not None else b[1],
        )
        for seq in seqs
        for a, b in [(live.get(seq, none), gone.get(seq, none))]
    }


def _add_nodes(out: ChunkResult, leaves: list[bytes], wanted: list[tuple[int, int]]) -> None:
    """The subtrees the parent asked for, from the chunk's leaf hashes in order."""
    levels = perfect_levels(leaves) if leaves else []
    for level, index in wanted:
        if level < len(levels) and index < len(levels[level]):
            out.nodes[(level, index)] = levels[level][index]
    out.positions = len(leaves)


def _walk_chunk(task: ChunkTask) -> ChunkResult:
    """Walk one chunk position by position (any store; the messages of every finding)."""
    out = ChunkResult(task.lo)
    walk = _ChunkWalk(task, _state["names"], _state["subject_key"])
    sql, params = _compiled(_rows_query, {"lo": task.lo, "hi": task.hi})
    cursor = _connection().cursor()
    try:
        cursor.execute(sql, params)
        while True:
            batch = cursor.fetchmany(FETCH)
            if not batch:
                break
            if out.first_seq is None:
                out.first_seq = int(batch[0][0])
            walk.rows(batch)
    finally:
        cursor.close()
    walk.take_small(2**63)  # the small positions after the last record
    if task.small:
        first = task.small[0].seq
        out.first_seq = first if out.first_seq is None else min(out.first_seq, first)
    _add_nodes(out, walk.leaves, task.wanted)
    out.records = walk.checked
    out.record_problem = walk.problem
    out.finding = walk.finding
    out.end = walk.expected
    return out


class _ChunkWalk:
    """The ordered pass over one chunk's positions (see the module's docstring)."""

    def __init__(self, task: ChunkTask, names: dict[int, str], key: bytes) -> None:
        self.small = task.small
        self.si = 0  # the next small position to take
        self.expected = task.lo
        self.leaves: list[bytes] = []
        self.names = names
        self.key = key
        self.plain_sources = {i: n for i, n in names.items() if _plain(n)}
        # source id -> the items its latest source entry permits (absent: not judged)
        self.by_name = dict(task.permits)
        self.permits: dict[int, tuple[int, frozenset[str]]] = {}
        self.permits_unknown: tuple[int, frozenset[str]] | None = None
        # source id -> the items that pass the permission check as they are (_ANY: all
        # items, the source is not judged); ids not there go to `_position_finding`
        self.passes: dict[int, Any] = {}
        self._refresh_permits()
        self.digests = _digests(key)
        self.plain_text = _plain_text()
        self.hasher: SubjectHasher | None = None
        self.finding: tuple[tuple[int, int], str] | None = None
        self.problem: tuple[int, str] | None = None
        self.checked = 0

    def _refresh_permits(self) -> None:
        """Per source id, what its latest source entry permits (ids with no name: "?")."""
        self.permits, self.permits_unknown, self.passes = _permissions(self.names, self.by_name)

    def take_small(self, upto_seq: int) -> None:
        """Take the small positions before `upto_seq` (all of them: pass their count)."""
        small = self.small
        changed = False
        while self.si < len(small) and small[self.si].seq <= upto_seq:
            position = small[self.si]
            self.si += 1
            if self.finding is None and position.seq != self.expected:
                self.finding = ((self.expected, GAP), _gap(self.expected, position.seq))
            if position.source is not None:
                self.by_name[position.source] = (position.seq, position.items)
                changed = True
            if position.seq >= self.expected:
                self.expected = position.seq + 1
            self.leaves.append(position.leaf_hash)
        if changed:
            self._refresh_permits()

    def rows(self, batch: Sequence[Any]) -> None:
        """Walk a batch of record rows: each one's place in the log, then its leaf.

        Only chunks the bulk proof (`verify_fast`) declines come here: something
        is wrong or unusual in them. So the walk is written for its messages,
        not its speed (when it proved every chunk, its loop was inlined into
        one long function for 0.5 us a leaf).
        """
        self.digests.trim()
        for row in batch:
            seq, stored, source_id, reference, item = row[:5]
            self._place(seq, source_id, item)
            self.leaves.append(stored)
            if self.problem is not None:
                continue
            why = self._record_problem(row)
            if why is None:
                self.checked += 1
                continue
            name = self.names.get(source_id, f"<unknown source {source_id}>")
            where = f"ledger entry #{seq} (source {name}, reference {reference})"
            self.problem = (int(seq), f"{where}: {why}")

    def _place(self, seq: int, source_id: int, item: str) -> None:
        """Take the small positions before `seq`, then judge the record's position."""
        if self.si < len(self.small) and self.small[self.si].seq <= seq:
            self.take_small(seq)
        if self.finding is None and (
            seq != self.expected
            or (
                (allowed := self.passes.get(source_id, _JUDGED)) is not _ANY and item not in allowed
            )
        ):
            self.finding = self._position_finding(seq, self.expected, source_id, item, self.permits)
        if seq >= self.expected:
            self.expected = seq + 1

    def _record_problem(self, row: Any) -> str | None:
        """Why the stored record does not give its leaf hash, or None.

        A record whose values need no escaping and that corrects nothing has
        its leaf written here directly (the same bytes as
        `verify_records.expected_leaf`); any other goes to `_slow`. Either
        gives the same verdict and message.
        """
        seq, stored, source_id, _, item, subject, occurred, decided, attributes = row[:9]
        corrects, corrects_seq, salt = row[9:12]
        source = self.plain_sources.get(source_id)
        plain = self.plain_text
        direct = (
            corrects is None
            and corrects_seq is None
            and subject.__class__ is str
            and salt.__class__ is bytes
            and (attributes is None or attributes.__class__ is str)
            and len(salt) == 16
            and seq < 2**53
            and item is not None
            and occurred is not None
            and all(
                text is None or text in plain or _learn_plain(plain, text)
                for text in (item, occurred, decided)
            )
        )
        if source is None or not direct:
            return self._slow(row)
        matched = hashlib.sha256(self._leaf(row, source)).digest() == stored
        if matched and (attributes is None or _canonical_attributes(attributes)):
            return None
        # The message the reference path gives: its attributes' problem first.
        why = None if attributes is None else attributes_problem(attributes)
        if why is None and not matched:
            why = "the stored record does not match its ledger leaf"
        return why

    def _leaf(self, row: Any, source: str) -> bytes:
        """The leaf bytes (with RFC 9162's 0x00 prefix) of a record needing no escaping."""
        seq, _, _, reference, item, subject, occurred, decided, attributes, _, _, salt = row
        if decided is None:
            dec, dated = "null", ""
        else:
            dec = f'"{decided}"'
            dated = f'"decided_on":{dec},'
        attrs = f'"attributes":{attributes},' if attributes is not None else ""
        content = (
            f'{{{attrs}{dated}"item":"{item}","occurred_on":"{occurred}",'
            f'"reference":{encode_basestring(reference)},"source":"{source}",'
            f'"subject":{encode_basestring(subject)}}}'
        ).encode()
        return (
            f'\x00{{"decided_on":{dec},"item":"{item}","kind":"record",'
            f'"occurred_on":"{occurred}",'
            f'"record_hash":"{hashlib.sha256(salt + content).hexdigest()}","seq":{seq},'
            f'"source":"{source}","subject_hash":"{self.digests[subject]}",'
            f'"v":{LEAF_VERSION}}}'
        ).encode()

    def _position_finding(
        self, seq: int, expected: int, source_id: int, item: str, permits: dict[int, Any]
    ) -> Any:
        """The first problem with where a record stands: a gap before it, or an item its
        source was not permitted at that point of the log (None: neither)."""
        if seq != expected:
            return ((expected, GAP), _gap(expected, seq))
        return _permission_finding(seq, source_id, item, self.names, permits, self.permits_unknown)

    def _slow(self, row: Any) -> str | None:
        """The general case (corrections, names or values that need escaping): verify_records."""
        target = _target(row[10]) if row[10] is not None else (None, None)
        full = _Row._make((*row, *target))
        if self.hasher is None:
            self.hasher = SubjectHasher(self.key)
        try:
            rec, salt = record_of(full, self.names)
            return leaf_problem(full, rec, salt, self.hasher)
        except (TypeError, ValueError, AttributeError, UnicodeError) as exc:
            # SQLite keeps whatever type it is given: a BLOB subject, a text salt, a
            # number for an item. A value the ledger's writer never stores is a finding.
            return f"its stored values are not of their types ({type(exc).__name__})"


Permits = dict[int, tuple[int, frozenset[str]]]


def _permissions(
    names: dict[int, str], by_name: dict[str, tuple[int, frozenset[str]]]
) -> tuple[Permits, tuple[int, frozenset[str]] | None, dict[int, Any]]:
    """From the latest source entry per name: what each source id is permitted (entry seq,
    items), what a source with no name is ("?"), and the items that pass as they are."""
    permits = {i: by_name[n] for i, n in names.items() if n in by_name}
    passes = {i: permits[i][1] | {REVOCATION} if i in permits else _ANY for i in names}
    return permits, by_name.get("?"), passes


def _permission_finding(
    seq: int,
    source_id: int,
    item: str,
    names: dict[int, str],
    permits: Permits,
    unknown: tuple[int, frozenset[str]] | None,
) -> tuple[tuple[int, int], str] | None:
    """The finding for a record whose item its source was not permitted there, or None."""
    allowed = permits.get(source_id)
    if allowed is None and source_id not in names:
        allowed = unknown  # judged under the name "?"
    if allowed is not None and item not in allowed[1] and item != REVOCATION:
        named = names.get(source_id, "?")
        return ((seq, ITEM), _not_permitted(seq, named, item, allowed[0]))
    return None


def _gap(expected: int, found: int) -> str:
    if found < expected:
        return f"ledger entry #{found} is stored twice"
    return f"ledger entry #{expected} is missing (next is #{found})"


def _not_permitted(seq: int, source: str, item: str, entry_seq: int) -> str:
    return (
        f"ledger entry #{seq}: source {source} was not permitted item {item} "
        f"(its permissions are ledger entry #{entry_seq})"
    )
