"""Verify's per-record hot loop: record leaf hashes rebuilt from stored columns.

`record_leaf_hashes` takes one batch of records as columns and returns
SHA-256(0x00 || leaf) for each, the leaf rebuilt as `verify_fast` proves a
batch: content and leaf text written straight from the values (which
`verify_fast._plain_batch` has checked need no escaping), the record hash
salted, the subject digest keyed. The Python below is the reference; the
optional C extension `_leafhash` (built by setup.py when a compiler is there)
computes the same bytes about four times faster, and declines (None) any
value it does not take, for the Python to decide. `compiled` is None when the
extension is not built or finds no libcrypto; tests set it to None to run the
Python alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from credence.arrowbuffers import text_buffers
from credence.ledger.leaf import LEAF_VERSION

compiled: ModuleType | None
try:
    from credence.ledger import _leafhash

    compiled = _leafhash
except ImportError:  # no compiler at install time, or no libcrypto: the Python below
    compiled = None


class SubjectDigests(dict[str, str]):
    """subject -> HMAC-SHA256(key, subject) in hex, computed on first lookup (so the
    comprehensions look subjects up in C), with the key's pads hashed once."""

    def __init__(self, key: bytes, limit: int = 250_000) -> None:
        super().__init__()
        self.key = key
        block = 64
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self.limit = limit

    def __missing__(self, subject: str) -> str:
        inner = self.inner.copy()
        inner.update(subject.encode("utf-8"))
        outer = self.outer.copy()
        outer.update(inner.digest())
        digest = self[subject] = outer.hexdigest()
        return digest

    def trim(self) -> None:
        """Keep it bounded (between batches)."""
        if len(self) >= self.limit:
            self.clear()


Column = Sequence[Any]


def record_leaf_hashes(
    seq: Column,
    salt: Column,
    attributes: Column,
    corrects: Column,
    decided: Column,
    item: Column,
    occurred: Column,
    reference: Column,
    source: Column,
    subject: Column,
    digests: SubjectDigests,
) -> list[bytes]:
    """The leaf hash of each record (columns of equal length, `source` its names).

    Values of another kind than the driver gives (str, bytes, int, None) may
    raise TypeError, ValueError, AttributeError or KeyError; the caller takes
    that as "walk this chunk".
    """
    columns = (seq, salt, attributes, corrects, decided, item, occurred, reference, source)
    if compiled is not None:
        found: list[bytes] | None = compiled.record_leaf_hashes(
            *columns, subject, digests.key, LEAF_VERSION
        )
        if found is not None:
            return found
    return python_leaf_hashes(*columns, subject, digests)


def python_leaf_hashes(
    seq: Column,
    salt: Column,
    attributes: Column,
    corrects: Column,
    decided: Column,
    item: Column,
    occurred: Column,
    reference: Column,
    source: Column,
    subject: Column,
    digests: SubjectDigests,
) -> list[bytes]:
    """`record_leaf_hashes` in Python: the reference, and the path without the extension."""
    sha256 = hashlib.sha256
    digests.trim()
    subjects = list(map(digests.__getitem__, subject))
    attrs = ["" if a is None else f'"attributes":{a},' for a in attributes]
    if corrects.count(None) == len(corrects):
        fixes = [""] * len(corrects)
    else:
        fixes = ["" if c is None else f'"corrects":"{c}",' for c in corrects]
    dated = ["" if d is None else f'"decided_on":"{d}",' for d in decided]
    hashes = [
        sha256(
            k
            + f'{{{a}{c}{d}"item":"{i}","occurred_on":"{o}","reference":"{r}",'
            f'"source":"{s}","subject":"{u}"}}'.encode()
        ).hexdigest()
        for k, a, c, d, i, o, r, s, u in zip(
            salt, attrs, fixes, dated, item, occurred, reference, source, subject, strict=True
        )
    ]
    decisions = ["null" if d is None else f'"{d}"' for d in decided]
    return [
        sha256(
            f'\x00{{"decided_on":{d},"item":"{i}","kind":"record","occurred_on":"{o}",'
            f'"record_hash":"{h}","seq":{q},"source":"{s}","subject_hash":"{u}",'
            f'"v":{LEAF_VERSION}}}'.encode()
        ).digest()
        for d, i, o, h, q, s, u in zip(
            decisions, item, occurred, hashes, seq, source, subjects, strict=True
        )
    ]


def sealed_leaf_hashes(source: str, key: bytes, first_seq: int, table: Any) -> list[bytes] | None:
    """Ingest's leaf hashes of a checked table (canonical columns and `salt`) at the seqs
    from `first_seq`, by the compiled extension; None without it, when a reference,
    subject or correction holds '"' or '\\' (which `leaf.content_column` escapes and the
    extension writes as it is), or when a text is not UTF-8: the caller then seals with
    `leaf.seal_hashes` and `leaf.leaf_hash_column`, the reference path, which gives the
    same bytes.

    Why: in the validation worker the Arrow path's three hash passes (content, subject
    HMAC, leaf) cost 1.5-2 us a row; the extension does all three in about 0.6. It reads
    the columns' Arrow buffers in place (`arrow_leaf_hashes`): turning them into Python
    lists first (to_pylist, a str per value) and the quote checks by regex cost about
    1 us a row more on the bench city's first batches.
    """
    if compiled is None:
        return None
    from_arrow = getattr(compiled, "arrow_leaf_hashes", None)  # None: built before it
    columns = [text_buffers(table[name]) for name in _SEALED]
    if from_arrow is not None and None not in columns:
        found: list[bytes] | None = from_arrow(
            first_seq, table.num_rows, tuple(columns), source, key, LEAF_VERSION
        )
        return found
    return _listed_leaf_hashes(source, key, first_seq, table)


# The columns arrow_leaf_hashes reads, in the order record_leaf_hashes takes them.
_SEALED = (
    "salt",
    "attributes_json",
    "corrects",
    "decided_on",
    "item",
    "occurred_on",
    "reference",
    "subject",
)


def _listed_leaf_hashes(source: str, key: bytes, first_seq: int, table: Any) -> list[bytes] | None:
    """sealed_leaf_hashes through Python lists and `record_leaf_hashes`: for columns of
    other Arrow types, or an extension built before `arrow_leaf_hashes`."""
    import pyarrow.compute as pc

    assert compiled is not None
    n = table.num_rows
    for name in ("reference", "subject", "corrects"):
        column = table[name]
        if column.null_count < n and pc.any(pc.match_substring_regex(column, r'["\\]')).as_py():
            return None
    columns = [table[name].to_pylist() for name in _SEALED[:-1]]
    found: list[bytes] | None = compiled.record_leaf_hashes(
        range(first_seq, first_seq + n),
        *columns,
        [source] * n,
        table["subject"].to_pylist(),
        key,
        LEAF_VERSION,
    )
    return found
