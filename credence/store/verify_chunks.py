"""One aligned chunk of the log, checked in a worker process: the bulk of `verify`.

The log is cut into chunks of CHUNK positions, each starting at a multiple
of CHUNK (a power of two), so every perfect Merkle subtree smaller than a
chunk lies inside one. A worker reads its chunk's records with the database
driver in large fetches (no per-row ORM) and proves them in bulk, column by
column (`verify_fast`): every position held exactly once, every record's
item permitted to its source there, every record's leaf recomputed from its
stored content and equal to the stored leaf hash. It then hashes the leaf
hashes into every perfect subtree of the chunk and returns the ones the
parent asked for (heads' and proofs' subtrees).

Only a chunk with something wrong or unusual in it is walked instead,
position by position (`verify_walk`), so every finding and message is the
walk's. This module holds what both share: the worker's connection and
queries, the tasks and results, the permission rules and their messages.

The parent (`verify_log`) combines chunks' subtrees into the roots of the
signed heads and of the consistency proofs, and keeps the first finding in
log order, so the messages are those of one ordered walk.
"""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from credence.core.catalogue import REVOCATION
from credence.ledger.leafhash import SubjectDigests
from credence.ledger.merkle import perfect_levels
from credence.lifeline import pool_initializer
from credence.store import verify_fast
from credence.store.database import create_engine
from credence.store.schema import erased, records
from credence.store.verify_records import _flat_simple

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


def _digests(key: bytes) -> SubjectDigests:
    """This worker's subject digests, kept across its chunks (a subject recurs)."""
    digests = _state.get("digests")
    if digests is None or digests.key != key:  # inline, one process may verify two registries
        digests = _state["digests"] = SubjectDigests(key)
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


def _walk_chunk(task: ChunkTask) -> ChunkResult:
    """The chunk walked position by position (`verify_walk`, which imports this module:
    imported here, when a chunk needs it)."""
    from credence.store.verify_walk import walk_chunk

    return walk_chunk(task)


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
