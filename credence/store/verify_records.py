"""Recomputing record leaves from stored records: what `verify`'s workers check per record.

Each record is rebuilt from its stored fields *as parsed values* and
serialised again per RFC 8785, never pasted together from stored text: a
stored attributes text that is not exactly the canonical JSON of an object
is itself a finding, so no edit can move a field into the attributes text
and keep the hash. The correction link is checked both ways: the stored
`corrects` reference and the resolved `corrects_seq` must name the same
record (live or erased).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa

from credence.core.canonical import canonical_json
from credence.core.records import Record
from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.store.schema import erased, records

CHUNK = 50_000


def expected_leaf(seq: int, rec: Record, salt: bytes, hasher: SubjectHasher) -> bytes:
    """The leaf bytes the record must have, built from parsed values (docs/ledger.md)."""
    document = rec.to_dict()
    content = _canonical(document)
    leaf = {
        "decided_on": rec.decided_on,
        "item": rec.item,
        "kind": "record",
        "occurred_on": rec.occurred_on,
        "record_hash": hashlib.sha256(salt + content).hexdigest(),
        "seq": seq,
        "source": rec.source,
        "subject_hash": hasher(rec.subject),
        "v": LEAF_VERSION,
    }
    return _canonical(leaf)


def _flat_simple(value: dict[str, Any]) -> bool:
    """True when orjson's sorted output is already RFC 8785: flat str/int/bool/None values."""
    for key, v in value.items():
        if not key.isascii():
            return False
        kind = v.__class__
        if kind is dict:
            if not _flat_simple(v):
                return False
        elif kind is int:
            if not -(2**53) < v < 2**53:
                return False
        elif kind is not str and kind is not bool and v is not None:
            return False
    return True


def _canonical(value: dict[str, Any]) -> bytes:
    """RFC 8785 bytes: orjson for the common flat case, the reference otherwise."""
    if _flat_simple(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return canonical_json(value)


def leaf_problem(row: Any, rec: Record, salt: bytes, hasher: SubjectHasher) -> str | None:
    """Why the stored record does not match its leaf hash, or None."""
    linked = (row.target_source_id, row.target_reference) if row.corrects_seq is not None else None
    expected = (row.source_id, row.corrects) if row.corrects is not None else None
    if linked != expected:
        return "its corrects link does not point at the record it names"
    if rec.attributes_json is not None:
        problem = attributes_problem(rec.attributes_json)
        if problem:
            return problem
    if len(salt) != 16:
        return "its salt is not 16 bytes"
    leaf = expected_leaf(row.seq, rec, salt, hasher)
    if hashlib.sha256(b"\x00" + leaf).digest() != bytes(row.leaf_hash):
        return "the stored record does not match its ledger leaf"
    return None


def attributes_problem(text: str) -> str | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "its attributes are not JSON"
    if not isinstance(value, dict) or not value:
        return "its attributes are not a non-empty JSON object"
    try:
        canonical = _canonical(value).decode("utf-8")
    except ValueError:  # e.g. an integer beyond 2^53, which RFC 8785 cannot write exactly
        return "its attributes have no canonical form (RFC 8785)"
    if canonical != text:
        return "its attributes are not in canonical form"
    return None


def record_rows(conn: sa.Connection, lo: int, hi: int) -> Iterator[Any]:
    """Records lo <= seq < hi in `seq` order, with their correction target, streamed."""
    query = record_rows_query()
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
        query, {"lo": lo, "hi": hi}
    )
    yield from result


def record_rows_query() -> sa.Select[Any]:
    """The query of `record_rows`, bound to `lo` and `hi` (verify's workers run it through
    the driver itself).

    A correction may point at a record that was erased since: the target's
    source and reference are then read from `erased`.
    """
    target = records.alias("target")
    gone = erased.alias("gone")
    query = (
        sa.select(
            records.c.seq,
            records.c.leaf_hash,
            records.c.source_id,
            records.c.reference,
            records.c.item,
            records.c.subject,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.attributes,
            records.c.corrects,
            records.c.corrects_seq,
            records.c.salt,
            sa.func.coalesce(target.c.source_id, gone.c.source_id).label("target_source_id"),
            sa.func.coalesce(target.c.reference, gone.c.reference).label("target_reference"),
        )
        .select_from(
            records.outerjoin(target, target.c.seq == records.c.corrects_seq).outerjoin(
                gone, gone.c.seq == records.c.corrects_seq
            )
        )
        .where(records.c.seq >= sa.bindparam("lo"), records.c.seq < sa.bindparam("hi"))
        .order_by(records.c.seq)
    )
    return query


def record_of(row: Any, names: dict[int, str]) -> tuple[Record, bytes]:
    """The Record and salt exactly as stored."""
    rec = Record(
        source=names.get(row.source_id, f"<unknown source {row.source_id}>"),
        reference=row.reference,
        item=row.item,
        subject=row.subject,
        occurred_on=row.occurred_on,
        decided_on=row.decided_on,
        attributes_json=row.attributes,
        corrects=row.corrects,
    )
    return rec, bytes(row.salt)
