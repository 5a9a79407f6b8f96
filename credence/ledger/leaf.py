"""Ledger leaf bytes: a canonical commitment to a record, never the record itself.

A leaf must live as long as the log, but a record may have to be erased
(publicity over, or a court orders it). So the leaf holds only what may be
kept forever: its sequence number, the source, the item, the dates, a salted
hash of the full record and a keyed hash of the subject's ID. Delete the
record's content and salt and the salted hash reveals nothing, yet the tree
still verifies from the stored leaf hash. The byte layout (RFC 8785 JSON) is
documented in docs/ledger.md for auditors.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: merkle imports this module (via leafhash), lightly
    from credence.core.records import Record

LEAF_VERSION = 1
SALT_BYTES = 16


def record_hash(salt: bytes, content: bytes) -> str:
    """Hex SHA-256(salt || content): hides the record once the salt is deleted."""
    return hashlib.sha256(salt + content).hexdigest()


def salts(n: int) -> list[bytes]:
    """`n` fresh random salts, drawn from the OS in one call."""
    pool = os.urandom(SALT_BYTES * n)
    return [pool[i : i + SALT_BYTES] for i in range(0, len(pool), SALT_BYTES)]


def salt_column(n: int) -> Any:
    """`n` fresh salts as an Arrow binary array over one draw from the OS: its offsets
    step by SALT_BYTES, so no bytes object is made per salt (salts() and pa.array cost
    the worker ~0.15 us a row)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.arange(0, SALT_BYTES * (n + 1), SALT_BYTES, dtype=np.int32)
    pool = os.urandom(SALT_BYTES * n)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(pool)])


def subject_hash(key: bytes, subject: str) -> str:
    """Hex HMAC-SHA256 of the canonical subject key under the registry's secret.

    Keyed, so that no one without the registry's key can test a guessed ID
    against the public leaves (resident IDs are guessable).
    """
    return hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()


class SubjectHasher:
    """subject_hash with a bounded cache: a log mentions the same subjects many times."""

    def __init__(self, key: bytes, limit: int = 1_000_000) -> None:
        self.key = key
        self.limit = limit
        self._cache: dict[str, str] = {}

    def __call__(self, subject: str) -> str:
        found = self._cache.get(subject)
        if found is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            found = self._cache[subject] = subject_hash(self.key, subject)
        return found


def record_leaf(seq: int, record: Record, rec_hash: str, subject_digest: str) -> bytes:
    """The leaf bytes for `record` at ledger position `seq` (RFC 8785 JSON).

    `rec_hash` is `record_hash(salt, record.content())`, passed in because the
    writer already holds the content bytes.

    Keys in sorted order; every value is ASCII and needs no escaping (codes,
    ISO dates, hex), so the f-string below is the canonical form; the tests
    compare it with the `rfc8785` package.
    """
    decided = f'"{record.decided_on}"' if record.decided_on is not None else "null"
    return (
        f'{{"decided_on":{decided},"item":"{record.item}","kind":"record",'
        f'"occurred_on":"{record.occurred_on}",'
        f'"record_hash":"{rec_hash}","seq":{seq},'
        f'"source":"{record.source}","subject_hash":"{subject_digest}","v":{LEAF_VERSION}}}'
    ).encode("ascii")


# Vectorised forms of the above, over Arrow columns: the same bytes, built as array
# operations (pyarrow.compute), so the bulk path pays one SHA-256 per row and no
# Python string building. Tests compare them with record_leaf and Record.content().
# pyarrow is imported inside them: it costs 0.15 s that the CLI's other commands skip.


@cache
def text(value: str) -> Any:
    """`value` as a typed Arrow string scalar, for compute functions' literal arguments.

    A bare Python literal makes pyarrow infer its type, and each inference
    tries to import dateutil (for its relativedelta); where dateutil is not
    installed that failed import costs 30-70 µs every time, about 200 times
    a batch: 15-25 ms a checked batch, whatever its size.
    """
    import pyarrow as pa

    return pa.scalar(value, pa.string())


@cache
def integer(value: int) -> Any:
    """`value` as a typed Arrow int64 scalar (see text)."""
    import pyarrow as pa

    return pa.scalar(value, pa.int64())


def _json_text(values: Any) -> Any:
    """JSON string literals of printable-ASCII values (what json's encoder gives them).

    Only `"` and `\\` need escaping in printable ASCII; callers pass
    references and subjects that validation restricted to it.
    """
    import pyarrow.compute as pc

    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    return pc.binary_join_element_wise(text('"'), escaped, text('"'), text(""))


def _optional(prefix: str, values: Any, suffix: str) -> Any:
    """prefix + value + suffix where the value is present, else the empty string."""
    import pyarrow.compute as pc

    joined = pc.binary_join_element_wise(text(prefix), values, text(suffix), text(""))
    return pc.fill_null(joined, text(""))


def content_column(source: str, table: Any) -> Any:
    """Record.content() for every row of a table of canonical record columns."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(
        text("{"),
        _optional('"attributes":', table["attributes_json"], ","),
        _optional('"corrects":', _json_text(table["corrects"]), ","),
        _optional('"decided_on":"', table["decided_on"], '",'),
        text('"item":"'),
        table["item"],
        text('","occurred_on":"'),
        table["occurred_on"],
        text('","reference":'),
        _json_text(table["reference"]),
        text(',"source":"' + source + '","subject":'),
        _json_text(table["subject"]),
        text("}"),
        text(""),
    )


def record_hashes(salt_values: list[bytes], contents: Any) -> list[str]:
    """record_hash over columns: hex SHA-256(salt || content) per row."""
    import pyarrow as pa

    sha256 = hashlib.sha256
    return [
        sha256(salt + content).hexdigest()
        for salt, content in zip(salt_values, contents.cast(pa.binary()).to_pylist(), strict=True)
    ]


def subject_hashes(hasher: SubjectHasher, subjects: Any) -> Any:
    """subject_hash per row, computed once per distinct subject of the column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(subjects).combine_chunks()
    digests = pa.array([hasher(s) for s in encoded.dictionary.to_pylist()], pa.string())
    return digests.take(encoded.indices)


def leaf_hash_column(source: str, first_seq: int, table: Any) -> list[bytes]:
    """SHA-256(0x00 || record_leaf(...)) of each row, the rows taking seqs from `first_seq`.

    `table` holds the canonical columns plus `record_hash` and `subject_hash`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    seqs = pc.cast(pa.array(range(first_seq, first_seq + n), pa.int64()), pa.string())
    quote, empty = text('"'), text("")
    decided = pc.binary_join_element_wise(quote, table["decided_on"], quote, empty)
    leaves = pc.binary_join_element_wise(
        text('{"decided_on":'),
        pc.fill_null(decided, text("null")),
        text(',"item":"'),
        table["item"],
        text('","kind":"record","occurred_on":"'),
        table["occurred_on"],
        text('","record_hash":"'),
        table["record_hash"],
        text('","seq":'),
        seqs,
        text(',"source":"' + source + '","subject_hash":"'),
        table["subject_hash"],
        text(f'","v":{LEAF_VERSION}}}'),
        empty,
    )
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + leaf).digest() for leaf in leaves.cast(pa.binary()).to_pylist()]


def seal_hashes(source: str, hasher: SubjectHasher, table: Any) -> Any:
    """`table` (canonical columns and `salt`) with `record_hash` and `subject_hash`, the
    columns `leaf_hash_column` and the writer's record-by-record path read.

    Ingest's fast sealing (`credence.ledger.leafhash.sealed_leaf_hashes`) makes the leaf
    hashes without them, so the writer adds them only when it needs them: a batch that
    another write moved to other seqs, or one it sorts record by record.
    """
    import pyarrow as pa

    if "record_hash" in table.column_names and "subject_hash" in table.column_names:
        return table
    hashes = record_hashes(table["salt"].to_pylist(), content_column(source, table))
    table = table.append_column("record_hash", pa.array(hashes, pa.string()))
    return table.append_column("subject_hash", subject_hashes(hasher, table["subject"]))
