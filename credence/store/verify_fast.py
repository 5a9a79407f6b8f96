"""A chunk of the log proved column by column, or handed back to the ordered walk.

`verify_chunks._ChunkWalk` checks a chunk position by position, one record
at a time through a long loop: right for every case and every message, but
most of its time goes to the interpreter stepping through that loop. Here
a batch of rows is turned into columns, and each check runs once over a
whole column, in C where Python allows it (set and list comparisons, one
regular-expression scan of a column's joined text, `map`); what is left per
record is building its content and leaf text and hashing them, in list
comprehensions.

It is an all-or-nothing proof: `prove_chunk` returns the chunk's leaves only
when every position from `lo` on is held exactly once, every record's item
was permitted to its source there, every record's leaf is the one rebuilt
from its values, and all of those values are of the plain kind whose bytes
the ordered walk's direct path writes the same way (`_plain_batch`). On
anything else (a gap, a mismatch, a value that needs escaping, an unknown
source, a row of the wrong type) it returns None, and the walk checks the
chunk as before, so every finding and message is the walk's own.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from credence.ledger.leafhash import SubjectDigests, record_leaf_hashes

_SEQ_LIMIT = 2**53  # beyond this RFC 8785 writes `seq` otherwise (verify_records._flat_simple)

# source id -> the items that pass as they are (`any_item`: every item)
Passes = dict[int, Any]
# (source id, item) -> True when the walk finds nothing wrong with the pair (its own rule)
Judge = Callable[[int, str], bool]
# seqs of corrections -> the (source id, reference) of the record each one points at
Targets = Callable[[list[int]], dict[int, tuple[Any, Any]]]

# A JSON value written as orjson writes it back: a string with nothing to escape (orjson
# escapes '"', '\\' and U+0000..U+001F; surrogates are not UTF-8), an integer below
# 10^15 < 2^53 ("-0" is written "0"), true, false or null.
_VALUE = r'(?:"[^"\\\x00-\x1f\ud800-\udfff]*+"|-?[1-9][0-9]{0,14}+|0|true|false|null)'
_LITERAL_KEY = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but '"' and '\\': a key as written


def _plain_text(text: str) -> bool:
    """True when RFC 8785 writes every character of `text` as it is (it escapes '"', '\\'
    and U+0000..U+001F; `isprintable` refuses those, and more: those go to the walk)."""
    return text.isprintable() and '"' not in text and "\\" not in text


class AttributeShapes:
    """Proves a batch of attribute texts canonical with one regular-expression match.

    Checking each text (`exact`, verify_chunks._canonical_attributes: parse,
    inspect, write back, compare) took 0.6 us a text. Most texts of a ledger
    share a few key sets, so the key sets of texts `exact` found canonical are
    learned, and a batch is then matched at once, joined by newlines, against
    objects of those keys in that (sorted) order whose values are written as
    orjson writes them (`_VALUE`): such a text is canonical, so `exact` would
    say True. A batch that does not match is checked text by text as before
    (and teaches its key sets), so the verdict is always `exact`'s.
    """

    def __init__(self, exact: Callable[[str], bool], limit: int = 32, tries: int = 8) -> None:
        self.exact = exact
        self.shapes: list[tuple[str, ...]] = []  # key sets learned, each sorted
        self.limit = limit  # at most this many key sets in the pattern
        self.tries = tries  # learning passes left that may find nothing new
        self.batch: re.Pattern[str] | None = None  # newline-joined objects of those keys
        self.one: re.Pattern[str] | None = None  # one such object

    def __call__(self, texts: list[Any]) -> bool:
        """True when every text is a canonical attributes text (as `exact` says)."""
        if not texts:
            return True
        if self.batch is not None:
            try:
                joined = "\n".join(texts)
            except TypeError:  # a value that is not text: `exact` says what it says
                joined = ""
            if joined.count("\n") == len(texts) - 1 and self.batch.fullmatch(joined):
                return True
        if not all(map(self.exact, texts)):
            return False
        if self.tries > 0 and len(self.shapes) < self.limit:
            self._learn(texts)
        return True

    def _learn(self, texts: list[str]) -> None:
        """Add the key sets of (canonical) texts the pattern does not match yet."""
        one = self.one
        found = False
        for text in texts:
            if one is not None and one.fullmatch(text):
                continue
            keys = tuple(orjson.loads(text))  # canonical: its keys, sorted, once each
            if keys not in self.shapes and all(map(_LITERAL_KEY.fullmatch, keys)):
                self.shapes.append(keys)
                found = True
                objects = "|".join(
                    "\\{" + ",".join(re.escape(f'"{k}":') + _VALUE for k in shape) + "\\}"
                    for shape in self.shapes
                )
                one = self.one = re.compile(f"(?:{objects})")
                self.batch = re.compile(f"(?:{objects})(?:\n(?:{objects}))*+")
                if len(self.shapes) >= self.limit:
                    break
        if not found:
            self.tries -= 1


class ChunkProof:
    """Proves the record rows of one chunk batch by batch (`add`), then the positions
    (`leaves`). Any method returning False or None means: walk the chunk instead."""

    def __init__(
        self,
        lo: int,
        sources: dict[int, str],
        passes: list[tuple[int, Passes, Judge]],
        any_item: object,
        digests: SubjectDigests,
        canonical: Callable[[list[Any]], bool],
        targets: Targets,
    ) -> None:
        self.lo = lo
        self.sources = sources  # source id -> name, for names written as they are
        self.passes = passes  # (first seq, passes, judge) in seq order
        self.any_item = any_item
        self.digests = digests
        self.canonical = canonical  # True: canonical attributes texts (AttributeShapes)
        self.targets = targets
        self.seqs: list[int] = []
        self.stored: list[Any] = []

    def add(self, batch: Sequence[Sequence[Any]]) -> bool:
        """Check a batch of record rows (the walk's 12 columns, in seq order)."""
        if not batch:
            return True
        try:
            columns = tuple(zip(*batch, strict=True))
            if len(columns) != 12 or not self._plain_batch(columns):
                return False
            if not self._permitted(columns[0], columns[2], columns[4]):
                return False
            if not self._leaves_match(columns):
                return False
        except (TypeError, ValueError, AttributeError, KeyError):
            return False  # a value of the wrong type: the walk says what is wrong
        self.seqs.extend(columns[0])
        self.stored.extend(columns[1])
        return True

    def _plain_batch(self, columns: tuple[tuple[Any, ...], ...]) -> bool:
        """Every value of the kind whose leaf the comprehensions write as the reference does:
        known sources with plain names, text with nothing to escape, 16-byte salts,
        canonical attributes, corrections pointing at the record they name."""
        seq, _, source_id, reference, item, subject, occurred, decided, attributes = columns[:9]
        corrects, corrects_seq, salt = columns[9:]
        if not set(source_id) <= self.sources.keys() or seq[-1] >= _SEQ_LIMIT:
            return False
        if set(map(len, salt)) != {16}:  # a salt of another type fails to hash below
            return False
        texts = [reference, item, subject, occurred, [d for d in decided if d is not None]]
        texts.append([c for c in corrects if c is not None])
        if not all(map(_plain_text, map("".join, texts))):
            return False
        if not self.canonical([a for a in attributes if a is not None]):
            return False
        return self._links(seq, source_id, corrects, corrects_seq)

    def _links(
        self,
        seq: tuple[int, ...],
        source_id: tuple[int, ...],
        corrects: tuple[str | None, ...],
        corrects_seq: tuple[int | None, ...],
    ) -> bool:
        """A correction names (by reference) the record it points at (by seq), as
        `verify_records.leaf_problem` checks; a record with either half alone is wrong."""
        n = len(seq)
        if corrects.count(None) == n and corrects_seq.count(None) == n:
            return True
        links: list[tuple[int, str, int]] = []
        for i, c, t in zip(source_id, corrects, corrects_seq, strict=True):
            if c is None and t is None:
                continue
            if c is None or t is None:
                return False
            links.append((i, c, t))
        found = self.targets([t for _, _, t in links])
        return all(found.get(t) == (i, c) for i, c, t in links)

    def _permitted(
        self, seq: tuple[int, ...], source_id: tuple[int, ...], item: tuple[str, ...]
    ) -> bool:
        """Each (source, item) pair passes under the source entries in force at its seq."""
        any_item = self.any_item
        for k, (start, passes, judge) in enumerate(self.passes):
            end = self.passes[k + 1][0] if k + 1 < len(self.passes) else None
            lo = 0 if start <= seq[0] else bisect_left(seq, start)
            hi = len(seq) if end is None or end > seq[-1] else bisect_left(seq, end)
            for sid, it in set(zip(source_id[lo:hi], item[lo:hi], strict=True)):
                allowed = passes.get(sid)
                if allowed is any_item or (allowed is not None and it in allowed):
                    continue
                if not judge(sid, it):
                    return False
        return True

    def _leaves_match(self, columns: tuple[tuple[Any, ...], ...]) -> bool:
        """Each record's leaf hash, rebuilt (verify_records.expected_leaf for plain values),
        is the stored one."""
        seq, stored, source_id, reference, item, subject, occurred, decided, attributes = columns[
            :9
        ]
        corrects, salt = columns[9], columns[11]
        names = list(map(self.sources.__getitem__, source_id))
        leaves = record_leaf_hashes(
            seq,
            salt,
            attributes,
            corrects,
            decided,
            item,
            occurred,
            reference,
            names,
            subject,
            self.digests,
        )
        return leaves == list(stored)

    def leaves(self, small: Sequence[tuple[int, bytes]]) -> list[Any] | None:
        """The chunk's leaf hashes in position order, when its positions run from `lo`
        without a gap or a repeat (records and the `small` ones, each (seq, leaf hash))."""
        seqs, lo = self.seqs, self.lo
        leaves = list(self.stored)
        if small:
            if seqs != sorted(seqs):  # (they are read in seq order) records placed as read
                return None
            every = sorted([*seqs, *(s for s, _ in small)])
            if every != list(range(lo, lo + len(every))):
                return None
            for at, leaf in small:
                leaves.insert(at - lo, leaf)
        elif seqs != list(range(lo, lo + len(seqs))):
            return None
        return leaves
