"""The ordered walk of one chunk, position by position: every finding and its message.

A chunk is first proved in bulk (`verify_chunks._proved_chunk`, column by
column); only a chunk with something wrong or unusual in it comes here, so
this is written for its messages, not its speed. In one pass over the
chunk's positions in `seq` order (records, plus the entries and erased
records the parent hands it) it:

- checks each position is held exactly once (the first gap or duplicate);
- checks each record's item was permitted to its source at that point;
- recomputes each record's leaf from its stored content and compares it
  with the stored leaf hash (`verify_records`; a direct path builds the same
  RFC 8785 bytes when no field needs escaping);
- keeps the stored leaf hashes, whose subtrees `verify_chunks._add_nodes`
  hashes, and the first finding and the first bad record of the chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.store.verify_chunks import (
    _ANY,
    _JUDGED,
    FETCH,
    GAP,
    ChunkResult,
    ChunkTask,
    _add_nodes,
    _canonical_attributes,
    _compiled,
    _connection,
    _digests,
    _gap,
    _permission_finding,
    _permissions,
    _plain,
    _rows_query,
    _state,
    _target,
)
from credence.store.verify_records import attributes_problem, leaf_problem, record_of


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


def walk_chunk(task: ChunkTask) -> ChunkResult:
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
