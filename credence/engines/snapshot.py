"""A Parquet copy of the ledger's records, partitioned by subject bucket, for batch engines.

DuckDB cannot read the SQLite store without an extension downloaded at run
time, and scanning the live store would hold its readers for minutes. So the
batch engine reads a snapshot: the records up to a signed tree head, written
as Parquet under `records/bucket=K/` (K = md5 of the subject modulo the
bucket count, so each subject's records are all in one bucket and a bucket
can be scored alone) plus every correction in `corrections/` (a correction
may move a record to another subject, so it must be visible to all buckets).

The ledger only grows, so the snapshot is extended rather than rebuilt: the
manifest records the size and root it covers, and a later run exports only
the records after it. If the root at that size no longer matches (a
different registry in the same directory), the snapshot is rebuilt. Nothing
here is trusted for scoring until `snapshot_check` has recomputed every
row's leaf into the signed root.

Two columns are derived at export, so that scoring never parses a date nor
groups by a text: `start_day`, the days from 1970-01-01 to the record's
start (its decision date, else its occurrence date), and `sid`, its
subject's number: twice the seq of the subject's first record, plus 1 for a
person (so the kind is `sid & 1`). `subjects/bucket=K/` maps each number
back to its subject, written once, by the export that meets the subject
first. The batch engine groups a bucket by `sid` (a fifth of the CPU of
grouping by the subject's text) and reads the subject only for the lines;
`snapshot_check` proves both columns and the map from the rows.

Each export chunk writes a bucket's rows as two files, one a kind of
subject (`part-LO-organisation-i.parquet`, `part-LO-person-i.parquet`;
`Snapshot.kind_files`): a rulebook that scores one kind only (people are
never scored under gov-default) then reads only that kind's files for its
scores, and the other kind's for their record counts, instead of decoding
every row twice and dropping half (a fifth of the aggregate's CPU).
`snapshot_check` proves every row is in its kind's file. Within a file, rows
are sorted by `sid`, then seq (`kind_copies`).

One batch run at a time uses a snapshot directory (`snapshot_lock`): from
its export through its proof to the last row read. `credence serve`
prepares its answers from the snapshot at start-up and when the day turns;
an operator's `credence score` at that moment would otherwise extend (or
rebuild) the files the other is proving or reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from credence.core.ids import SubjectKind
from credence.lifeline import pool_initializer
from credence.store.schema import tree_heads

# 2: each row carries what its leaf hash is recomputed from (snapshot_check);
# 3: a row's bucket is DuckDB's hash() of its subject (md5_number took 60% of the export);
# 4: each row carries its subject's number (`sid`) and its start day (`start_day`), and
#    subjects/ holds each subject's number (see `_write_part`).
# 5: a bucket's records are written one file a kind of subject (`KIND_FILE`), each
#    sorted by subject number (`kind_copies`).
FORMAT = 5
# A records file's name: its export chunk, its subjects' kind, DuckDB's file number.
KIND_FILE = re.compile(r"part-(\d+)-(organisation|person)-(\d+)\.parquet")
# The kind bit of `sid` (`subject_number_sql`) of each kind's files.
KIND_BITS = {SubjectKind.ORGANISATION: 0, SubjectKind.PERSON: 1}
# DuckDB does not promise that hash() stays the same between versions, so the manifest
# records the hash of this key: a snapshot bucketed by another hash() is rebuilt.
_PROBE = "ric:110101199001011237"
CHUNK_ROWS = 2_000_000
# ADBC's SQLite reader types a column from its first rows, so a text column whose first
# rows are all NULL would be read as integers and fail later: nullable text columns are
# read with a NUL sentinel (never in valid data) and turned back into nulls in Arrow.
_NULLABLE_TEXT = ("decided_on", "attributes", "corrects")
_SENTINEL = "\x00"
_COLUMNS = (
    "r.seq, r.subject, r.item, r.occurred_on, ifnull(r.decided_on, char(0)) AS decided_on, "
    "ifnull(r.attributes, char(0)) AS attributes, r.corrects_seq, r.reference, "
    "s.name AS source, ifnull(r.corrects, char(0)) AS corrects, r.salt"
)
_PLAIN_COLUMNS = (
    "r.seq, r.subject, r.item, r.occurred_on, r.decided_on, r.attributes, r.corrects_seq, "
    "r.reference, s.name AS source, r.corrects, r.salt"
)
_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("subject", pa.string()),
        ("item", pa.string()),
        ("occurred_on", pa.string()),
        ("decided_on", pa.string()),
        ("attributes", pa.string()),
        ("corrects_seq", pa.int64()),
        ("reference", pa.string()),
        ("source", pa.string()),
        ("corrects", pa.string()),
        ("salt", pa.binary()),
    ]
)

Progress = Callable[[int, int], None]  # (records exported so far, records to export)


@dataclass(frozen=True)
class Snapshot:
    """A snapshot directory and what it covers."""

    path: Path
    size: int
    buckets: int

    def bucket_glob(self, bucket: int) -> str:
        return str(self.path / "records" / f"bucket={bucket}" / "*.parquet")

    def subjects_glob(self, bucket: int) -> str:
        """The files numbering the subjects of `bucket` (`sid` -> subject)."""
        return str(self.path / "subjects" / f"bucket={bucket}" / "*.parquet")

    def kind_files(self, bucket: int, kind: SubjectKind) -> list[Path]:
        """The records files of `bucket` holding the subjects of `kind` (and no other)."""
        folder = self.path / "records" / f"bucket={bucket}"
        return sorted(folder.glob(f"part-*-{kind.value}-*.parquet"))

    def unkinded_files(self, bucket: int) -> list[Path]:
        """Records files of `bucket` not named for a kind (none in a FORMAT 5 snapshot)."""
        folder = self.path / "records" / f"bucket={bucket}"
        return sorted(f for f in folder.glob("*.parquet") if not KIND_FILE.fullmatch(f.name))

    def has_bucket(self, bucket: int) -> bool:
        return any((self.path / "records" / f"bucket={bucket}").glob("*.parquet"))

    def bucket_bytes(self, bucket: int) -> int:
        return sum(f.stat().st_size for f in (self.path / "records" / f"bucket={bucket}").glob("*"))

    def groups(self, target_bytes: int) -> list[list[int]]:
        """Buckets gathered into groups of about `target_bytes` of Parquet each.

        Buckets bound memory; grouping small ones keeps a small registry from
        paying a query's fixed cost sixteen times over.
        """
        groups: list[list[int]] = [[]]
        size = 0
        for bucket in range(self.buckets):
            if not self.has_bucket(bucket):
                continue
            nbytes = self.bucket_bytes(bucket)
            if groups[-1] and size + nbytes > target_bytes:
                groups.append([])
                size = 0
            groups[-1].append(bucket)
            size += nbytes
        return [g for g in groups if g]

    @property
    def corrections_glob(self) -> str:
        return str(self.path / "corrections" / "*.parquet")

    @property
    def has_corrections(self) -> bool:
        return any((self.path / "corrections").glob("*.parquet"))


_held = threading.local()  # per thread: lock path -> how deep this thread holds it


@contextlib.contextmanager
def snapshot_lock(path: Path, waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the snapshot directory `path` for one batch run (export, proof and reads).

    An exclusive `flock` on `.NAME.lock` beside the directory (not inside it:
    a rebuild deletes the directory), so runs in other processes and other
    threads wait; the same thread may take it again (a run within a run).
    `waiting` hears once that another run holds it. The lock goes with its
    process, so a killed run leaves none behind.
    """
    lock_path = path.parent / f".{path.name}.lock"
    depth: dict[Path, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(lock_path):
        depth[lock_path] += 1
        try:
            yield
        finally:
            depth[lock_path] -= 1
        return
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                waiting(f"another batch run is using {path}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        depth[lock_path] = 1
        try:
            yield
        finally:
            depth[lock_path] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _signed_root(engine: sa.Engine, size: int) -> str | None:
    with engine.connect() as conn:
        root = conn.execute(sa.select(tree_heads.c.root).where(tree_heads.c.size == size)).scalar()
    return bytes(root).hex() if root is not None else None


def _latest_signed_size(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(tree_heads.c.size))).scalar() or 0)


def bucket_sql(column: str, buckets: int) -> str:
    """The bucket of a subject, in DuckDB: all of a subject's records share one."""
    return f"CAST(hash({column}) % {int(buckets)} AS INTEGER)"


def hash_probe() -> int:
    """hash() of a fixed key under this DuckDB (see `_PROBE`)."""
    con = duckdb.connect()
    try:
        found = con.execute("SELECT hash(?)", [_PROBE]).fetchone()
    finally:
        con.close()
    assert found is not None
    return int(found[0])


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _fetch(engine: sa.Engine, lo: int, hi: int) -> pa.Table:
    """Records with lo <= seq < hi as Arrow; straight from SQLite in C when the store is SQLite."""
    sql = (
        f"SELECT {_COLUMNS} FROM records r JOIN sources s ON s.id = r.source_id "
        f"WHERE r.seq >= {int(lo)} AND r.seq < {int(hi)} ORDER BY r.seq"
    )
    if engine.dialect.name == "sqlite" and engine.url.database:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        with adbc_sqlite.connect(engine.url.database) as adbc, adbc.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        if table.num_rows == 0:  # no rows, no types to infer: the range holds only entries
            return _SCHEMA.empty_table()
        return _restore_nulls(table).cast(_SCHEMA)
    # A server database returns NULLs as such (and PostgreSQL text cannot hold NUL at all).
    plain = sql.replace(_COLUMNS, _PLAIN_COLUMNS)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(plain).all()
    columns: list[tuple[Any, ...]] = (
        list(zip(*rows, strict=True)) if rows else [() for _ in _SCHEMA]
    )
    table = pa.table(
        [pa.array(col, type=f.type) for col, f in zip(columns, _SCHEMA, strict=True)],
        schema=_SCHEMA,
    )
    return table


def _restore_nulls(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    for name in _NULLABLE_TEXT:
        index = table.schema.get_field_index(name)
        column = table.column(index).cast(pa.string())
        nulled = pc.if_else(pc.equal(column, _SENTINEL), pa.scalar(None, pa.string()), column)
        table = table.set_column(index, name, nulled)
    return table


def subject_number_sql(subject: str, seq: str) -> str:
    """A subject's number from its first record's seq: 2*seq, +1 for a person (`FORMAT` 4)."""
    return f"2 * ({seq}) + CAST({subject} LIKE 'ric:%' AS BIGINT)"


def start_day_sql(decided_on: str, occurred_on: str) -> str:
    """A record's start as days since 1970-01-01 (the dates are ISO, checked at ingest)."""
    return (
        f"CAST(date_diff('day', DATE '1970-01-01', CAST(COALESCE({decided_on}, {occurred_on}) "
        "AS DATE)) AS INTEGER)"
    )


def _numbered_before(path: Path, lo: int) -> list[Path]:
    """The subjects/ files written for chunks before `lo` (a rerun of `lo` ignores its own)."""
    found = []
    for f in sorted((path / "subjects").glob("bucket=*/part-*.parquet")):
        written = re.match(r"part-(\d+)-", f.name)
        if written and int(written.group(1)) < lo:
            found.append(f)
    return found


def kind_copies(rows: str, records: Path, part: str, ordered: bool = True) -> list[str]:
    """The COPY statements writing `rows` (a relation with `sid` and `bucket`) under
    `records`, partitioned by bucket, one file set a kind (`KIND_FILE`), if `ordered`
    sorted by subject number and then seq: a subject's records side by side, so
    grouping them per subject touches one entry of DuckDB's hash table at a time
    rather than one at random a row (a quarter of the aggregate's CPU)."""
    order = " ORDER BY sid, seq" if ordered else ""
    return [
        f"COPY (SELECT * FROM {rows} WHERE (sid & 1) = {bit}{order}) "
        f"TO '{records}' (FORMAT parquet, PARTITION_BY (bucket), "
        f"FILENAME_PATTERN '{part}-{kind.value}-{{i}}', OVERWRITE_OR_IGNORE true, "
        "ROW_GROUP_SIZE 262144)"
        for kind, bit in KIND_BITS.items()
    ]


def _write_part(
    con: duckdb.DuckDBPyConnection, path: Path, table: pa.Table, lo: int, buckets: int
) -> None:
    con.register("chunk", table)
    try:
        part = f"part-{lo:012d}"
        known = _numbered_before(path, lo)
        known_sql = (
            "SELECT subject, sid FROM read_parquet([" + ", ".join(f"'{f}'" for f in known) + "])"
            if known
            else "SELECT CAST(NULL AS VARCHAR) AS subject, CAST(NULL AS BIGINT) AS sid WHERE false"
        )
        # The subjects this chunk meets first get their number here; the others keep theirs.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE numbered AS "
            f"SELECT subject, {subject_number_sql('subject', 'min(seq)')} AS sid, false AS known "
            f"FROM chunk c WHERE NOT EXISTS (SELECT 1 FROM ({known_sql}) k "
            "WHERE k.subject = c.subject) GROUP BY subject "
            f"UNION ALL SELECT k.subject, k.sid, true FROM ({known_sql}) k "
            "SEMI JOIN chunk c ON c.subject = k.subject"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE rows AS SELECT c.*, "
            f"{start_day_sql('c.decided_on', 'c.occurred_on')} AS start_day, "
            f"n.sid, {bucket_sql('c.subject', buckets)} AS bucket "
            "FROM chunk c JOIN numbered n USING (subject)"
        )
        for statement in kind_copies("rows", path / "records", part):
            con.execute(statement)
        con.execute("DROP TABLE rows")
        con.execute(
            f"COPY (SELECT subject, sid, {bucket_sql('subject', buckets)} AS bucket "
            "FROM numbered WHERE NOT known ORDER BY sid) "
            f"TO '{path / 'subjects'}' (FORMAT parquet, PARTITION_BY (bucket), "
            f"FILENAME_PATTERN '{part}-{{i}}', OVERWRITE_OR_IGNORE true)"
        )
        corrections = path / "corrections"
        corrections.mkdir(parents=True, exist_ok=True)
        con.execute(
            "COPY (SELECT seq, corrects_seq FROM chunk WHERE corrects_seq IS NOT NULL) "
            f"TO '{corrections / (part + '.parquet')}' (FORMAT parquet)"
        )
    finally:
        con.unregister("chunk")


def _export(
    engine: sa.Engine, path: Path, start: int, size: int, buckets: int, progress: Progress | None
) -> None:
    """Write records start..size-1 as Parquet parts, chunk by chunk.

    A SQLite store is read with ADBC in a child process: two SQLite
    libraries in one process do not see each other's locks, and an ADBC
    connection opened beside the registry's own reads stale pages (it missed
    a batch committed to the WAL moments before) and, on closing, drops the
    other connections' locks.
    """
    url = engine.url.render_as_string(hide_password=False)
    separate = engine.dialect.name == "sqlite" and bool(engine.url.database)
    if separate:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=1, mp_context=ctx, initializer=pool_initializer, initargs=(os.getpid(),)
        ) as pool:
            for lo in range(start, size, CHUNK_ROWS):
                hi = min(lo + CHUNK_ROWS, size)
                pool.submit(export_chunk, url, path, lo, hi, buckets).result()
                if progress:
                    progress(hi - start, size - start)
        return
    for lo in range(start, size, CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, size)
        export_chunk(url, path, lo, hi, buckets, engine)
        if progress:
            progress(hi - start, size - start)


def export_chunk(
    url: str, path: Path, lo: int, hi: int, buckets: int, engine: sa.Engine | None = None
) -> None:
    """Fetch records lo <= seq < hi and write them as one Parquet part (runs in a child)."""
    own = engine is None
    engine = engine or sa.create_engine(url, hide_parameters=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # the caller reports progress by chunk
    try:
        _write_part(con, path, _fetch(engine, lo, hi), lo, buckets)
    finally:
        con.close()
        if own:
            engine.dispose()


def ensure_snapshot(
    engine: sa.Engine, path: Path, buckets: int, progress: Progress | None = None
) -> Snapshot:
    """Bring the snapshot at `path` up to the latest signed tree head; return it."""
    size = _latest_signed_size(engine)
    manifest = _read_manifest(path)
    probe = hash_probe()
    start = 0
    if (
        manifest is not None
        and manifest.get("buckets") == buckets
        and manifest.get("hash_probe") == probe
    ):
        covered = int(manifest["size"])
        if covered <= size and manifest.get("root") == _signed_root(engine, covered):
            start = covered
    if start == 0 and path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if start < size:
        _export(engine, path, start, size, buckets, progress)
    elif progress:
        progress(0, 0)  # nothing new to export: the stage is done
    if start < size or start == 0:  # extended, or (re)built from nothing
        root = _signed_root(engine, size) if size else None
        data = {
            "format": FORMAT,
            "size": size,
            "buckets": buckets,
            "root": root,
            "hash_probe": probe,
        }
        tmp = path / "manifest.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path / "manifest.json")
        _make_private(path)
    return Snapshot(path, size, buckets)


def _make_private(path: Path) -> None:
    """The snapshot holds resident IDs: owner-only, whatever the process umask was."""
    for item in [path, *path.rglob("*")]:
        os.chmod(item, 0o700 if item.is_dir() else 0o600)
