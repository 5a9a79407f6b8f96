"""Proving a snapshot is exactly the ledger up to a signed head, before it is scored.

The batch engine scores Parquet files that sit in the data directory, where
anyone who can write can also remove a row. So before scoring, every row's
leaf is recomputed from the row itself (vectorised in DuckDB: the record's
RFC 8785 content, its salted hash, the leaf bytes and their hash; the keyed
subject hash is computed once per subject in Python), the leaves of the
positions that are not records (governance entries, erased records) are
taken from the store, and the tree built from all of them in order must give
the root of the signed head the snapshot claims, under the pinned key. Rows
in the wrong bucket, and correction links that do not match the hashed
`corrects` reference, are refused too: both change results without
changing a leaf.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credence.engines.errors import SnapshotError
from credence.engines.snapshot import Snapshot
from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.ledger.merkle import root_from_hashes
from credence.ledger.treehead import TreeHead, verify_tree_head
from credence.store.schema import entries, erased, tree_heads
from credence.store.sealing import head_of


def _js(column: str) -> str:
    """A JSON string literal of a column: injective, and RFC 8785 for printable ASCII."""
    return f"""'"' || replace(replace({column}, '\\', '\\\\'), '"', '\\"') || '"'"""


_CONTENT = (
    "'{' || coalesce('\"attributes\":' || attributes || ',', '') "
    "|| coalesce('\"corrects\":' || " + _js("corrects") + " || ',', '') "
    "|| coalesce('\"decided_on\":' || " + _js("decided_on") + " || ',', '') "
    "|| '\"item\":' || "
    + _js("item")
    + " || ',\"occurred_on\":' || "
    + _js("occurred_on")
    + " || ',\"reference\":' || "
    + _js("reference")
    + " || ',\"source\":' || "
    + _js("source")
    + " || ',\"subject\":' || "
    + _js("subject")
    + " || '}'"
)
_LEAF = (
    "'{\"decided_on\":' || coalesce(" + _js("decided_on") + ", 'null') "
    "|| ',\"item\":' || "
    + _js("item")
    + ' || \',"kind":"record","occurred_on":\' || '
    + _js("occurred_on")
    + ' || \',"record_hash":"\' || sha256(salt || encode('
    + _CONTENT
    + ')) || \'","seq":\' || seq || \',"source":\' || '
    + _js("source")
    + ' || \',"subject_hash":"\' || subject_hash || \'","v":'
    + str(LEAF_VERSION)
    + "}'"
)


def check_snapshot(
    snapshot: Snapshot, engine: sa.Engine, subject_key: bytes, public_key: Ed25519PublicKey
) -> None:
    """Raise SnapshotError unless the snapshot's rows are the ledger's records at its head."""
    head = _head(engine, snapshot.size, public_key)
    leaves: list[tuple[int, bytes]] = []
    if any((snapshot.path / "records").glob("*/*.parquet")):
        leaves = _row_leaves(snapshot, subject_key)
    hashes = _merge(leaves, _other_leaves(engine, snapshot.size), snapshot.size)
    if root_from_hashes(hashes) != head.root:
        raise SnapshotError(
            f"the snapshot's rows do not give the root of the signed head at size "
            f"{snapshot.size}: a row was changed, added or removed"
        )


def _row_leaves(snapshot: Snapshot, subject_key: bytes) -> list[tuple[int, bytes]]:
    """(seq, leaf hash) recomputed from every snapshot row, after the row-level checks."""
    con = duckdb.connect()
    try:
        files = f"read_parquet('{snapshot.path / 'records'}/*/*.parquet', hive_partitioning=true)"
        con.execute(f"CREATE TEMP VIEW rows AS SELECT * FROM {files}")
        _check_rows(con, snapshot)
        hasher = SubjectHasher(subject_key)
        subjects = [s for (s,) in con.execute("SELECT DISTINCT subject FROM rows").fetchall()]
        keyed = pa.table({"subject": subjects, "subject_hash": [hasher(s) for s in subjects]})
        con.register("keyed", keyed)
        return con.execute(
            "SELECT seq, unhex(sha256('\\x00'::BLOB || encode(" + _LEAF + "))) AS leaf "
            "FROM rows JOIN keyed USING (subject)"
        ).fetchall()
    except duckdb.Error as exc:
        raise SnapshotError(f"the snapshot cannot be read as the ledger's records: {exc}") from None
    finally:
        con.close()


def _head(engine: sa.Engine, size: int, public_key: Ed25519PublicKey) -> TreeHead:
    with engine.connect() as conn:
        row = conn.execute(sa.select(tree_heads).where(tree_heads.c.size == size)).first()
    if row is None:
        raise SnapshotError(f"no signed tree head at the snapshot's size {size}")
    head = head_of(row)
    if not verify_tree_head(public_key, head):
        raise SnapshotError(f"the tree head at size {size} does not verify under the key")
    return head


def _check_rows(con: duckdb.DuckDBPyConnection, snapshot: Snapshot) -> None:
    misplaced = con.execute(
        f"SELECT min(seq) FROM rows WHERE bucket <> md5_number(subject) % {snapshot.buckets}"
    ).fetchone()
    if misplaced and misplaced[0] is not None:
        raise SnapshotError(f"snapshot row #{misplaced[0]} is in the wrong bucket")
    bad_json = con.execute(
        "SELECT min(seq) FROM rows WHERE attributes IS NOT NULL AND "
        "(NOT json_valid(attributes) OR json_type(attributes) <> 'OBJECT')"
    ).fetchone()
    if bad_json and bad_json[0] is not None:
        raise SnapshotError(f"snapshot row #{bad_json[0]}: attributes are not a JSON object")
    unlinked = con.execute(
        "SELECT min(r.seq) FROM rows r LEFT JOIN rows t ON t.seq = r.corrects_seq "
        "WHERE (r.corrects IS NULL) <> (r.corrects_seq IS NULL) OR (t.seq IS NOT NULL AND "
        "(t.source <> r.source OR t.reference <> r.corrects))"
    ).fetchone()
    if unlinked and unlinked[0] is not None:
        raise SnapshotError(f"snapshot row #{unlinked[0]}: its correction link was changed")
    if snapshot.has_corrections:
        linked = "SELECT seq, corrects_seq FROM rows WHERE corrects_seq IS NOT NULL"
        listed = f"SELECT seq, corrects_seq FROM read_parquet('{snapshot.corrections_glob}')"
        differs = con.execute(
            f"SELECT count(*) FROM ((({linked}) EXCEPT ({listed})) "
            f"UNION ALL (({listed}) EXCEPT ({linked})))"
        ).fetchone()
        if differs and differs[0]:
            raise SnapshotError("the snapshot's corrections differ from its records")


def _other_leaves(engine: sa.Engine, size: int) -> list[tuple[int, bytes]]:
    """Leaf hashes of the positions that are not live records, from the store."""
    parts = [sa.select(t.c.seq, t.c.leaf_hash).where(t.c.seq < size) for t in (entries, erased)]
    with engine.connect() as conn:
        return [(int(s), bytes(h)) for s, h in conn.execute(sa.union_all(*parts))]


def _merge(
    rows: list[tuple[int, bytes]], others: list[tuple[int, bytes]], size: int
) -> list[bytes]:
    merged = sorted([*rows, *others], key=lambda pair: pair[0])
    for expected, (seq, _) in enumerate(merged):
        if seq != expected:
            problem = "twice" if seq < expected else "missing"
            raise SnapshotError(f"ledger entry #{min(seq, expected)} is {problem} in the snapshot")
    if len(merged) != size:
        raise SnapshotError(f"the snapshot holds {len(merged)} entries, its head {size}")
    return [bytes(h) for _, h in merged]
