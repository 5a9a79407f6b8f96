"""Proving a snapshot is exactly the ledger up to a signed head, before it is scored.

The batch engine scores Parquet files that sit in the data directory, where
anyone who can write can also remove a row. So before scoring, every row's
leaf is recomputed from the row itself (vectorised in DuckDB: the record's
RFC 8785 content, its salted hash, the leaf bytes and their hash; the keyed
subject hash is computed once per subject in Python), the leaves of the
positions that are not records (governance entries, erased records) are
taken from the store, and the tree built from all of them in order must give
the root of the signed head the snapshot claims, under the pinned key. Rows
in the wrong bucket, correction links that do not match the hashed
`corrects` reference, and derived columns (`start_day`, `sid` and the
subjects' numbering in subjects/) that do not follow from the rows, and
rows in a file of the other kind of subject, are refused too: each changes
results without changing a leaf.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credence.core.ids import SubjectKind
from credence.engines.errors import SnapshotError
from credence.engines.snapshot import (
    KIND_BITS,
    KIND_FILE,
    Snapshot,
    bucket_sql,
    start_day_sql,
    subject_number_sql,
)
from credence.engines.snapshot_state import ProvedState, load_state, save_state
from credence.ledger.leaf import LEAF_VERSION, SubjectHasher
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import TreeHead, verify_tree_head
from credence.store.schema import entries, erased, sources, tree_heads
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
    snapshot: Snapshot,
    engine: sa.Engine,
    subject_key: bytes,
    public_key: Ed25519PublicKey,
    mac_key: bytes | None = None,
) -> None:
    """Raise SnapshotError unless the snapshot's rows are the ledger's records at its head.

    With `mac_key` (derived from the signing key, so whoever can only write
    the data directory cannot forge it) the proof is incremental: files
    proved before must be byte for byte what they were (their digests and
    the Merkle frontier are kept under a MAC in `verified.json`), and only
    new files are recomputed. Without it, every row is recomputed.
    """
    head = _head(engine, snapshot.size, public_key)
    digests = _digests(snapshot)
    state = load_state(snapshot, mac_key) if mac_key else None
    start, frontier, new = 0, CompactRange(), sorted(digests)
    if state is not None and state.size <= snapshot.size:
        for rel, digest in state.files.items():
            if digests.get(rel) != digest:
                raise SnapshotError(f"snapshot file {rel} changed since it was proved")
        start, frontier = state.size, CompactRange(state.size, state.frontier)
        new = [rel for rel in sorted(digests) if rel not in state.files]
    record_files = [snapshot.path / rel for rel in new if rel.startswith("records/")]
    numbering_files = [snapshot.path / rel for rel in new if rel.startswith("subjects/")]
    correction_files = [
        snapshot.path / rel for rel in new if not rel.startswith(("records/", "subjects/"))
    ]
    if record_files or numbering_files:
        _check_numbering(snapshot)
    leaves: list[tuple[int, bytes]] = []
    if record_files:
        leaves = _row_leaves(snapshot, engine, subject_key, record_files, correction_files)
    elif any(pq.ParquetFile(f).metadata.num_rows for f in correction_files):
        raise SnapshotError("the snapshot has corrections that no records account for")
    frontier.extend(
        _merge(leaves, _other_leaves(engine, start, snapshot.size), start, snapshot.size)
    )
    if frontier.root() != head.root:
        raise SnapshotError(
            f"the snapshot's rows do not give the root of the signed head at size "
            f"{snapshot.size}: a row was changed, added or removed"
        )
    if mac_key:
        save_state(snapshot, mac_key, ProvedState(snapshot.size, frontier.hashes, digests))


def _digests(snapshot: Snapshot) -> dict[str, str]:
    """SHA-256 of every Parquet file of the snapshot, by path relative to it."""
    found: dict[str, str] = {}
    for path in sorted(snapshot.path.glob("*/**/*.parquet")):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        found[path.relative_to(snapshot.path).as_posix()] = digest.hexdigest()
    return found


def _row_leaves(
    snapshot: Snapshot,
    engine: sa.Engine,
    subject_key: bytes,
    files: list[Path],
    corrections: list[Path],
) -> list[tuple[int, bytes]]:
    """(seq, leaf hash) recomputed from every row of `files`, after the row-level checks."""
    con = duckdb.connect()
    try:
        listed = ", ".join(f"'{f}'" for f in files)
        con.execute(
            f"CREATE TEMP VIEW rows AS SELECT * FROM read_parquet([{listed}], "
            "hive_partitioning=true)"
        )
        every = f"'{snapshot.path / 'records'}/*/*.parquet'"
        con.execute(
            f"CREATE TEMP VIEW everyrow AS SELECT seq, source, reference FROM read_parquet({every})"
        )
        con.register("gone", _erased(engine))
        con.execute(f"CREATE TEMP VIEW numbering AS {_numbering_sql(snapshot)}")
        _check_rows(con, snapshot, corrections)
        _check_derived(con)
        _check_kinds(con, files)
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


def _numbering_sql(snapshot: Snapshot) -> str:
    """Every subject's number (subjects/), with the bucket its file is in."""
    files = sorted(snapshot.path.glob("subjects/bucket=*/*.parquet"))
    if not files:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS subject, CAST(NULL AS BIGINT) AS sid, "
            "CAST(NULL AS INTEGER) AS bucket WHERE false"
        )
    listed = ", ".join(f"'{f}'" for f in files)
    return f"SELECT subject, sid, bucket FROM read_parquet([{listed}], hive_partitioning=true)"


def _check_numbering(snapshot: Snapshot) -> None:
    """The subjects' numbers the engine groups by: one a subject, a subject a number, the
    kind bit right, each in its subject's bucket (or a subject would be merged with
    another, scored as the wrong kind, or lose its line)."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TEMP VIEW numbering AS {_numbering_sql(snapshot)}")
        twice = _first(
            con,
            "SELECT min(subject) FROM (SELECT subject FROM numbering GROUP BY subject "
            "HAVING count(*) > 1)",
        )
        if twice is not None:
            raise SnapshotError(f"subjects/: subject {twice} is numbered twice")
        shared = _first(
            con, "SELECT min(sid) FROM (SELECT sid FROM numbering GROUP BY sid HAVING count(*) > 1)"
        )
        if shared is not None:
            raise SnapshotError(f"subjects/: number {shared} is given to two subjects")
        wrong = _first(
            con,
            "SELECT min(subject) FROM numbering WHERE "
            f"sid IS DISTINCT FROM {subject_number_sql('subject', 'sid // 2')} OR "
            f"bucket IS DISTINCT FROM {bucket_sql('subject', snapshot.buckets)}",
        )
        if wrong is not None:
            raise SnapshotError(f"subjects/: subject {wrong} has the wrong kind or bucket")
    except duckdb.Error as exc:
        raise SnapshotError(f"the snapshot's subjects/ cannot be read: {exc}") from None
    finally:
        con.close()


def _check_derived(con: duckdb.DuckDBPyConnection) -> None:
    """The columns the export derives (`snapshot` FORMAT 4), which no leaf covers: each
    row's start day from its dates, and its subject's number as subjects/ gives it."""
    start = start_day_sql("TRY_CAST(decided_on AS DATE)", "TRY_CAST(occurred_on AS DATE)")
    bad_day = _first(con, f"SELECT min(seq) FROM rows WHERE start_day IS DISTINCT FROM {start}")
    if bad_day is not None:
        raise SnapshotError(f"snapshot row #{bad_day}: its start day is not its dates'")
    bad_number = _first(
        con,
        "SELECT min(r.seq) FROM rows r LEFT JOIN numbering n ON n.subject = r.subject "
        "WHERE n.sid IS DISTINCT FROM r.sid",
    )
    if bad_number is not None:
        raise SnapshotError(f"snapshot row #{bad_number}: its subject's number is not subjects/'")


def _check_kinds(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Each records file named for a kind of subject (`snapshot` FORMAT 5) holds only that
    kind's rows: the engine reads a kind's files alone for that kind, so a row in the
    other kind's file would be scored as the wrong kind or left out."""
    by_kind: dict[int, list[Path]] = {}
    for f in files:
        named = KIND_FILE.fullmatch(f.name)
        if named is None:
            raise SnapshotError(f"snapshot file {f.name} is not named for a kind of subject")
        by_kind.setdefault(KIND_BITS[SubjectKind(named.group(2))], []).append(f)
    for bit, found in sorted(by_kind.items()):
        listed = ", ".join(f"'{f}'" for f in found)
        wrong = _first(
            con,
            f"SELECT min(seq) FROM read_parquet([{listed}]) WHERE (sid & 1) IS DISTINCT FROM {bit}",
        )
        if wrong is not None:
            raise SnapshotError(f"snapshot row #{wrong} is in a file of the other kind of subject")


def _erased(engine: sa.Engine) -> pa.Table:
    """Erased records' (seq, source, reference): a correction may point at one."""
    query = sa.select(erased.c.seq, sources.c.name, erased.c.reference).join(
        sources, sources.c.id == erased.c.source_id
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pa.table(
        {
            "seq": pa.array([int(r[0]) for r in rows], pa.int64()),
            "source": pa.array([r[1] for r in rows], pa.string()),
            "reference": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def _head(engine: sa.Engine, size: int, public_key: Ed25519PublicKey) -> TreeHead:
    with engine.connect() as conn:
        row = conn.execute(sa.select(tree_heads).where(tree_heads.c.size == size)).first()
    if row is None:
        raise SnapshotError(f"no signed tree head at the snapshot's size {size}")
    head = head_of(row)
    if not verify_tree_head(public_key, head):
        raise SnapshotError(f"the tree head at size {size} does not verify under the key")
    return head


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    found = con.execute(sql).fetchone()
    return None if found is None else found[0]


def _check_rows(
    con: duckdb.DuckDBPyConnection, snapshot: Snapshot, corrections: list[Path]
) -> None:
    """What changes results without changing a leaf: bucket, JSON shape, correction links."""
    misplaced = _first(
        con, f"SELECT min(seq) FROM rows WHERE bucket <> {bucket_sql('subject', snapshot.buckets)}"
    )
    if misplaced is not None:
        raise SnapshotError(f"snapshot row #{misplaced} is in the wrong bucket")
    bad_json = _first(
        con,
        "SELECT min(seq) FROM rows WHERE attributes IS NOT NULL AND "
        "(NOT json_valid(attributes) OR json_type(attributes) <> 'OBJECT')",
    )
    if bad_json is not None:
        raise SnapshotError(f"snapshot row #{bad_json}: attributes are not a JSON object")
    unlinked = con.execute(
        "SELECT r.seq, r.corrects_seq, t.seq IS NULL AND g.seq IS NULL FROM (SELECT * FROM rows "
        "WHERE corrects IS NOT NULL OR corrects_seq IS NOT NULL) r LEFT JOIN everyrow t ON "
        "t.seq = r.corrects_seq LEFT JOIN gone g ON g.seq = r.corrects_seq "
        "WHERE r.corrects IS NULL OR r.corrects_seq IS NULL OR r.corrects_seq >= r.seq OR "
        "coalesce(t.source, g.source) IS DISTINCT FROM r.source OR "
        "coalesce(t.reference, g.reference) IS DISTINCT FROM r.corrects ORDER BY r.seq LIMIT 1"
    ).fetchone()
    if unlinked is not None:
        seq, target, absent = unlinked
        if absent and target is not None and target < seq:
            raise SnapshotError(
                f"ledger entry #{target} is missing in the snapshot (snapshot row #{seq} "
                "corrects it)"
            )
        if target is not None and not absent:  # either end may be the row that was edited
            raise SnapshotError(
                f"snapshot row #{seq}: its correction link was changed, or snapshot row "
                f"#{target} it corrects was"
            )
        raise SnapshotError(f"snapshot row #{seq}: its correction link was changed")
    linked = "SELECT seq, corrects_seq FROM rows WHERE corrects_seq IS NOT NULL"
    listed = (
        "SELECT seq, corrects_seq FROM read_parquet(["
        + ", ".join(f"'{f}'" for f in corrections)
        + "])"
        if corrections
        else "SELECT 0::BIGINT AS seq, 0::BIGINT AS corrects_seq WHERE false"
    )
    differs = con.execute(
        f"SELECT d.seq, r.seq IS NOT NULL FROM ((({linked}) EXCEPT ({listed})) "
        f"UNION ALL (({listed}) EXCEPT ({linked}))) d LEFT JOIN (SELECT DISTINCT seq FROM rows) "
        "r USING (seq) ORDER BY d.seq LIMIT 1"
    ).fetchone()
    if differs is not None:
        seq, present = differs
        if not present:  # corrections/ lists a correction whose row is gone
            raise SnapshotError(
                f"ledger entry #{seq} is missing in the snapshot (corrections/ lists it)"
            )
        raise SnapshotError(
            f"snapshot row #{seq}: the snapshot's corrections differ from its records"
        )


def _other_leaves(engine: sa.Engine, start: int, size: int) -> list[tuple[int, bytes]]:
    """Leaf hashes of the positions in [start, size) that are not live records, from the store."""
    parts = [
        sa.select(t.c.seq, t.c.leaf_hash).where(t.c.seq >= start, t.c.seq < size)
        for t in (entries, erased)
    ]
    with engine.connect() as conn:
        return [(int(s), bytes(h)) for s, h in conn.execute(sa.union_all(*parts))]


def _merge(
    rows: list[tuple[int, bytes]], others: list[tuple[int, bytes]], start: int, size: int
) -> list[bytes]:
    """Leaf hashes of positions start..size-1 in order; each must be there exactly once."""
    merged = sorted([*rows, *others], key=lambda pair: pair[0])
    for expected, (seq, _) in enumerate(merged, start):
        if seq != expected:
            problem = "twice" if seq < expected else "missing"
            raise SnapshotError(f"ledger entry #{min(seq, expected)} is {problem} in the snapshot")
    if start + len(merged) != size:
        raise SnapshotError(f"the snapshot holds {start + len(merged)} entries, its head {size}")
    return [bytes(h) for _, h in merged]
