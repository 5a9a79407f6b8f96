"""The tamper drill (issue 7, item 11): random direct edits of a registry, every one caught.

One registry is built per module: three sources, a few thousand records in
batches of 300 with corrections, revocations and erasures, a checkpoint of
its latest head, copies of its database at earlier states, and a Parquet
snapshot. Each edit is made on a fresh copy of its data directory, the way
someone with write access to the files (but not the signing key) would
make it, and `verify --checkpoint` (or, for the snapshot, the snapshot
check) must report it, naming the entry, head, source or checkpoint at
fault. Untouched copies must verify clean. The default run makes a few
edits of each kind; `-m drill` makes over a thousand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credence.core.canonical import canonical_json
from credence.core.catalogue import REVOCATION, Catalogue
from credence.core.ids import make_ric, make_uscc
from credence.engines.snapshot import Snapshot, ensure_snapshot
from credence.engines.snapshot_check import SnapshotError, check_snapshot
from credence.ingest.pipeline import ingest_file
from credence.ledger.entries import key_entry, source_entry
from credence.ledger.leaf import SubjectHasher
from credence.ledger.merkle import CompactRange, leaf_hash
from credence.ledger.treehead import raw_public_key, sign_tree_head
from credence.settings import Settings
from credence.store.database import check_schema, create_engine
from credence.store.registry import Registry
from credence.store.sealing import head_row
from credence.store.verify import CheckpointClaim, verify_registry
from credence.store.verify_records import expected_leaf, record_of, record_rows
from tests.conftest import write_csv

BUCKETS = 4
TODAY = dt.date(2026, 1, 1)
SEED = int(os.environ.get("CREDENCE_DRILL_SEED", "20260101"))
DEFAULT_PER_KIND, DEFAULT_UNTOUCHED = 3, 6
FULL_PER_KIND, FULL_UNTOUCHED = 90, 25  # 12 kinds x 90 = 1,080 edits

PEOPLE = [
    "ric:" + make_ric(f"1101051980{1 + i % 12:02d}{1 + i % 28:02d}{i:03d}") for i in range(40)
]
ORGS = ["uscc:" + make_uscc(f"911100006000{i:05d}") for i in range(20)]
SUBJECTS = PEOPLE + ORGS

KINDS = (
    "field",
    "hash byte",
    "deleted row",
    "swapped rows",
    "moved into attributes",
    "head deleted",
    "forged record appended",
    "rogue key, heads re-signed",
    "newest entries and heads deleted",
    "database replaced by older copy",
    "snapshot row changed",
    "source permissions widened",
)


# --- the base registry -----------------------------------------------------------


@dataclass
class Base:
    """The registry every edit starts from, and what the edits need to know about it."""

    data_dir: Path
    older: list[Path]  # its database at earlier states
    claim: CheckpointClaim  # a checkpoint of its latest head, kept outside
    public_key: Ed25519PublicKey  # the pinned key
    snapshot_size: int
    names: dict[int, str]  # source id -> name
    items: dict[str, list[str]]  # source name -> items it may submit now
    all_items: list[str]
    heads: list[int]  # signed sizes, ascending
    size: int
    records: list[int]
    corrected: list[int]  # records that correct or revoke another
    with_attributes: list[int]
    with_decided: list[int]
    entries: list[int]
    erased: list[tuple[int, int]]  # (seq, erased_by)
    catalogue: Catalogue  # parsed once: the catalogue file is not what is attacked


def _date(rng: random.Random, start: int = 2020) -> dt.date:
    return dt.date(start, 1, 1) + dt.timedelta(days=rng.randrange(5 * 365))


def _court_rows(rng: random.Random, lo: int, hi: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(lo, hi):
        occurred = _date(rng)
        item = rng.choice(["judicial.defaulter-listed", "judicial.defaulter-performed"])
        attributes: dict[str, Any] = {"case_number": f"(2024)京0105执{i}号"}
        if item == "judicial.defaulter-listed":
            attributes["amount"] = rng.randrange(1000, 100_000)
        rows.append(
            {
                "item": item,
                "subject": rng.choice(SUBJECTS),
                "occurred_on": occurred.isoformat(),
                "reference": f"C-{i}",
                # some records have no decision date
                "decided_on": (occurred + dt.timedelta(days=rng.randrange(30))).isoformat()
                if i % 5
                else "",
                "attributes": attributes,
            }
        )
    return rows


def _penalty_rows(
    rng: random.Random, prefix: str, items: list[str], subjects: list[str], lo: int, hi: int
) -> list[dict[str, Any]]:
    rows = []
    for i in range(lo, hi):
        occurred = _date(rng)
        rows.append(
            {
                "item": rng.choice(items),
                "subject": rng.choice(subjects),
                "occurred_on": occurred.isoformat(),
                "reference": f"{prefix}-{i}",
                "decided_on": (occurred + dt.timedelta(days=rng.randrange(10))).isoformat(),
                "attributes": {"decision_number": f"{prefix}D-{i}", "fine": 50 * (i % 40 + 1)},
            }
        )
    return rows


def _fixes(
    by_ref: dict[str, dict[str, Any]], prefix: str, targets: list[str], revoke: bool
) -> list[dict[str, Any]]:
    """Corrections (a changed date) or revocations of earlier rows."""
    out = []
    for n, ref in enumerate(targets):
        target = by_ref[ref]
        if revoke:
            out.append(
                {
                    "item": REVOCATION,
                    "subject": target["subject"],
                    "occurred_on": target["occurred_on"],
                    "reference": f"{prefix}-rev-{n}",
                    "corrects": ref,
                }
            )
        else:
            fixed = {**target, "reference": f"{prefix}-fix-{n}", "corrects": ref}
            fixed["occurred_on"] = (
                dt.date.fromisoformat(target["occurred_on"]) - dt.timedelta(days=1)
            ).isoformat()
            fixed["decided_on"] = target["occurred_on"]
            out.append(fixed)
    return out


def _ingest(registry: Registry, path: Path, rows: list[dict[str, Any]], source: str) -> None:
    report = ingest_file(registry, write_csv(path, rows), source, today=TODAY)
    assert report.accepted == len(rows), report


def _seq_of(db: Path, reference: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        (seq,) = conn.execute(
            "SELECT seq FROM records WHERE reference = ?", (reference,)
        ).fetchone()
    return int(seq)


def _backup(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database with the backup API."""
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def build_base(root: Path) -> Base:
    rng = random.Random(SEED)
    settings = Settings(data_dir=root / "base", batch_size=300)
    registry, _ = Registry.init(settings)
    db = settings.data_dir / "credence.db"
    older: list[Path] = []
    try:
        registry.add_source("court", ["judicial.*"])
        registry.add_source("police", ["administrative.drunk-driving", "administrative.traffic-*"])
        court = _court_rows(rng, 0, 900)
        by_ref = {r["reference"]: r for r in court}
        # A correction among the first rows (the snapshot's first Arrow batch needs one).
        court[20:20] = _fixes(by_ref, "C0", ["C-3"], revoke=False)
        _ingest(registry, root / "court-1.csv", court, "court")
        traffic = ["administrative.traffic-minor", "administrative.traffic-red-light"]
        police = _penalty_rows(rng, "P", [*traffic, "administrative.drunk-driving"], PEOPLE, 0, 600)
        _ingest(registry, root / "police-1.csv", police, "police")
        fixes = _fixes(by_ref, "C", [f"C-{10 * k + 1}" for k in range(20)], revoke=False)
        fixes += _fixes(by_ref, "C", [f"C-{10 * k + 2}" for k in range(10)], revoke=True)
        more = _court_rows(rng, 900, 1200)
        _ingest(registry, root / "court-2.csv", fixes + more, "court")
        registry.erase(_seq_of(db, "C-11"), "dispute upheld: the court withdrew the listing")
        registry.erase(_seq_of(db, "C-5"), "dispute upheld: wrong subject")
        older.append(root / "older-1.db")
        _backup(db, older[-1])
        registry.add_source("tax", ["administrative.tax-*"])
        registry.add_source(
            "police",
            [
                "administrative.drunk-driving",
                "administrative.fare-evasion",
                "administrative.traffic-*",
            ],
        )
        tax_items = ["administrative.tax-penalty-minor", "administrative.tax-penalty"]
        _ingest(
            registry,
            root / "tax-1.csv",
            _penalty_rows(rng, "T", tax_items, SUBJECTS, 0, 600),
            "tax",
        )
        older.append(root / "older-2.db")
        _backup(db, older[-1])
        police_by_ref = {r["reference"]: r for r in police}
        police2 = _penalty_rows(rng, "P", traffic, PEOPLE, 600, 1000)
        police2 += _fixes(police_by_ref, "P", [f"P-{7 * k}" for k in range(15)], revoke=False)
        _ingest(registry, root / "police-2.csv", police2, "police")
        registry.erase(_seq_of(db, "P-3"), "record withdrawn by the traffic police")
        older.append(root / "older-3.db")
        _backup(db, older[-1])
        court3 = _court_rows(rng, 1200, 1500)
        court3 += _fixes({r["reference"]: r for r in fixes}, "C2", ["C-fix-4"], revoke=False)
        _ingest(registry, root / "court-3.csv", court3, "court")

        head = registry.latest_tree_head()
        assert head is not None
        claim = CheckpointClaim("kept.note", head.size, head.root)
        public_key = registry.signing_key().public_key()
        report = verify_registry(registry, public_key, checkpoints=(claim,))
        assert report.ok, report.problems
        snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, BUCKETS)
        check_snapshot(snapshot, registry.engine, registry.subject_key(), public_key)
        items = {s.name: sorted(s.items) for s in registry.sources()}
        all_items = list(registry.catalogue.items)
        catalogue = registry.catalogue
    finally:
        registry.close()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def seqs(sql: str) -> list[int]:
            return [int(s) for (s,) in conn.execute(sql)]

        base = Base(
            data_dir=settings.data_dir,
            older=older,
            claim=claim,
            public_key=public_key,
            snapshot_size=snapshot.size,
            names={int(i): str(n) for i, n in conn.execute("SELECT id, name FROM sources")},
            items=items,
            all_items=all_items,
            heads=seqs("SELECT size FROM tree_heads ORDER BY size"),
            size=head.size,
            records=seqs("SELECT seq FROM records ORDER BY seq"),
            corrected=seqs("SELECT seq FROM records WHERE corrects IS NOT NULL ORDER BY seq"),
            with_attributes=seqs(
                "SELECT seq FROM records WHERE attributes IS NOT NULL AND decided_on IS NOT NULL"
            ),
            with_decided=seqs("SELECT seq FROM records WHERE decided_on IS NOT NULL"),
            entries=seqs("SELECT seq FROM entries ORDER BY seq"),
            erased=[(int(s), int(b)) for s, b in conn.execute("SELECT seq, erased_by FROM erased")],
            catalogue=catalogue,
        )
    return base


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return build_base(tmp_path_factory.mktemp("tamper"))


# --- one copy, one edit ------------------------------------------------------------


@dataclass
class Copy:
    """A fresh copy of the base data directory, opened."""

    base: Base
    data_dir: Path
    registry: Registry
    rng: random.Random

    @property
    def db(self) -> Path:
        return self.data_dir / "credence.db"

    def sql(self, statement: str, *params: object) -> None:
        with closing(sqlite3.connect(self.db)) as conn, conn:
            conn.execute(statement, params)

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db)) as conn:
            return list(conn.execute(query, params))

    def record(self, seq: int) -> dict[str, Any]:
        with closing(sqlite3.connect(self.db)) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM records WHERE seq = ?", (seq,)).fetchone()
        return dict(row)

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(self.data_dir / "snapshot", self.base.snapshot_size, BUCKETS)


@dataclass
class Edit:
    """What was done, and the patterns of which at least one a problem must match."""

    what: str
    names: list[str]
    snapshot: bool = False
    internally_consistent: bool = False  # only the checkpoint can tell


def open_copy(base: Base, dest: Path, rng: random.Random, snapshot: bool) -> Copy:
    dest.mkdir(mode=0o700, parents=True)
    for item in base.data_dir.iterdir():
        if item.name.startswith("credence.db"):
            continue
        if item.is_dir():
            if snapshot:
                shutil.copytree(item, dest / item.name)
        else:
            shutil.copy2(item, dest / item.name)
    _backup(base.data_dir / "credence.db", dest / "credence.db")
    settings = Settings(data_dir=dest)
    engine = create_engine(settings.database_url)
    check_schema(engine)  # what Registry.open does, less re-reading the catalogue file
    return Copy(base, dest, Registry(settings, engine, base.catalogue), rng)


def _seq(seq: int) -> str:
    return rf"#{seq}\b"


def _head(size: int) -> str:
    return rf"tree head at size {size}\b"


def _flip(value: bytes, rng: random.Random) -> bytes:
    data = bytearray(value)
    data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    return bytes(data)


def _shift(date: str, rng: random.Random) -> str:
    days = rng.choice([-1, 1]) * rng.randrange(1, 400)
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


def _changed_attributes(text: str, rng: random.Random) -> str:
    value = json.loads(text)
    key = rng.choice(sorted(value))
    old = value[key]
    value[key] = (
        old + rng.randrange(1, 1000) if isinstance(old, int) else f"{old}{rng.choice('x9号')}"
    )
    return canonical_json(value).decode("utf-8")


def _covering_head(base: Base, seq: int) -> int:
    return min(size for size in base.heads if size > seq)


# --- the kinds of edit ------------------------------------------------------------------


def edit_field(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    column = rng.choice(
        [
            "subject",
            "item",
            "occurred_on",
            "decided_on",
            "attributes",
            "reference",
            "corrects",
            "salt",
            "source_id",
        ]
    )
    pool = {"attributes": base.with_attributes}.get(column, base.records)
    seq = rng.choice(pool)
    rec = c.record(seq)
    old = rec[column]
    links: dict[str, Any] = {}
    if column == "subject":
        new: Any = rng.choice([s for s in SUBJECTS if s != old])
    elif column == "item":
        new = rng.choice([i for i in base.items[base.names[rec["source_id"]]] if i != old])
    elif column == "occurred_on":
        new = _shift(old, rng)
    elif column == "decided_on":
        new = _shift(rec["occurred_on"], rng) if old is None or rng.random() < 0.3 else None
        new = new if new != old else _shift(old, rng)
    elif column == "attributes":
        new = _changed_attributes(old, rng)
    elif column == "reference":
        new = f"{old}{rng.choice(['x', '-2', '.', 'A'])}"
    elif column == "corrects":
        earlier = c.rows(
            "SELECT seq, reference FROM records WHERE source_id = ? AND seq < ? "
            "AND reference IS NOT ? ORDER BY seq",
            rec["source_id"],
            seq,
            old,
        )
        if earlier and rng.random() < 0.7:  # the link kept consistent: only the leaf can tell
            target, new = rng.choice(earlier)
            links = {"corrects_seq": target}
        else:
            new = f"{old or 'C-1'}x"
    elif column == "salt":
        new = _flip(old, rng) if rng.random() < 0.5 else rng.randbytes(16)
    else:
        new = rng.choice([i for i in base.names if i != old])
    assert new != old, (column, old)
    changes = {column: new, **links}
    sets = ", ".join(f"{k} = ?" for k in changes)
    c.sql(f"UPDATE records SET {sets} WHERE seq = ?", *changes.values(), seq)
    return Edit(f"record #{seq}: {column} {old!r} -> {new!r} {links or ''}", [_seq(seq)])


def edit_hash_byte(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    target = rng.choice(["records", "entries", "erased", "root", "signature", "chain_signature"])
    if target in ("records", "entries", "erased"):
        pool = {
            "records": base.records,
            "entries": base.entries,
            "erased": [s for s, _ in base.erased],
        }[target]
        seq = rng.choice(pool)
        ((old,),) = c.rows(f"SELECT leaf_hash FROM {target} WHERE seq = ?", seq)
        c.sql(f"UPDATE {target} SET leaf_hash = ? WHERE seq = ?", _flip(old, rng), seq)
        names = [_seq(seq)]
        if target == "erased":  # only its leaf hash is kept: the covering head names it
            names.append(_head(_covering_head(base, seq)))
        return Edit(f"{target} #{seq}: a byte of leaf_hash flipped", names)
    size = rng.choice(base.heads)
    ((old,),) = c.rows(f"SELECT {target} FROM tree_heads WHERE size = ?", size)
    c.sql(f"UPDATE tree_heads SET {target} = ? WHERE size = ?", _flip(old, rng), size)
    return Edit(f"head {size}: a byte of {target} flipped", [_head(size)])


def _delete_head(c: Copy, size: int) -> Edit:
    base = c.base
    c.sql("DELETE FROM tree_heads WHERE size = ?", size)
    if size == base.heads[-1]:
        prev = base.heads[-2]
        return Edit(f"newest head {size} deleted", [rf"#{prev} to #{size - 1}\b"])
    return Edit(f"head {size} deleted", [rf"head at size {size}\b"])


def edit_deleted_row(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    table = rng.choice(["records", "entries", "erased", "tree_heads"])
    if table == "tree_heads":
        return _delete_head(c, rng.choice(base.heads[:-1]))
    pool = {"records": base.records, "entries": base.entries}.get(
        table, [s for s, _ in base.erased]
    )
    seq = rng.choice(pool)
    c.sql(f"DELETE FROM {table} WHERE seq = ?", seq)
    return Edit(f"{table} #{seq} deleted", [_seq(seq)])


def edit_swapped_rows(c: Copy) -> Edit:
    rng = c.rng
    a = rng.choice(c.base.records)
    b = rng.choice([s for s in c.base.records if s != a and (rng.random() < 0.7 or abs(s - a) < 5)])
    ra, rb = c.record(a), c.record(b)
    columns = list(ra)
    with closing(sqlite3.connect(c.db)) as conn, conn:
        conn.execute("DELETE FROM records WHERE seq IN (?, ?)", (a, b))
        marks = ", ".join("?" * len(columns))
        for seq, content in ((a, rb), (b, ra)):
            values = {**content, "seq": seq}
            conn.execute(
                f"INSERT INTO records ({', '.join(columns)}) VALUES ({marks})",
                [values[k] for k in columns],
            )
    return Edit(f"records #{a} and #{b} swapped", [rf"#({a}|{b})\b"])


def edit_moved_into_attributes(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    moved = rng.choice(["corrects", "decided_on"])
    pool = base.corrected if moved == "corrects" else base.with_attributes
    seq = rng.choice(pool)
    rec = c.record(seq)
    text, value = rec["attributes"], rec[moved]
    if rng.random() < 0.5:  # the old byte layout's splice: text appended
        spliced = (text or "{}") + f',"{moved}":"{value}"'
        how = "appended"
    else:  # a valid, canonical object that now holds the field
        spliced = canonical_json({**json.loads(text or "{}"), moved: value}).decode("utf-8")
        how = "merged"
    clear = "corrects = NULL, corrects_seq = NULL" if moved == "corrects" else "decided_on = NULL"
    c.sql(f"UPDATE records SET attributes = ?, {clear} WHERE seq = ?", spliced, seq)
    return Edit(f"record #{seq}: {moved} {value!r} {how} into the attributes text", [_seq(seq)])


def edit_head_deleted(c: Copy) -> Edit:
    heads = c.base.heads
    size = heads[-1] if c.rng.random() < 0.5 else c.rng.choice(heads[:-1])
    return _delete_head(c, size)


def _append_to_state(c: Copy, hashes: list[bytes]) -> None:
    ((size, blob),) = c.rows("SELECT size, frontier FROM ledger_state")
    frontier = CompactRange(size, [blob[i : i + 32] for i in range(0, len(blob), 32)])
    for h in hashes:
        frontier.append(h)
    c.sql(
        "UPDATE ledger_state SET size = ?, frontier = ?", frontier.size, b"".join(frontier.hashes)
    )


def _forge_record(c: Copy, seq: int) -> bytes:
    """Insert a record at `seq` copied from a random one, with its leaf hash recomputed."""
    template = c.rng.choice(c.base.records)
    reference = f"FORGED-{c.rng.randrange(10**6)}"
    c.sql(
        "INSERT INTO records SELECT ?, source_id, ?, item, ?, occurred_on, decided_on, "
        "attributes, NULL, NULL, salt, run_id, leaf_hash FROM records WHERE seq = ?",
        seq,
        reference,
        c.rng.choice(SUBJECTS),
        template,
    )
    with c.registry.engine.connect() as conn:
        row = next(record_rows(conn, seq, seq + 1))
    rec, salt = record_of(row, c.base.names)
    value = leaf_hash(expected_leaf(seq, rec, salt, SubjectHasher(c.registry.subject_key())))
    c.sql("UPDATE records SET leaf_hash = ? WHERE seq = ?", value, seq)
    return value


def edit_forged_record(c: Copy) -> Edit:
    rng, seq = c.rng, c.base.size
    if rng.random() < 0.25:  # a governance entry instead: police may submit anything
        items = c.base.all_items
        body = source_entry(seq, "police", ["*"], items)
        value = leaf_hash(body)
        c.sql("INSERT INTO entries VALUES (?, 'source', ?, ?)", seq, body, value)
        c.sql("""UPDATE sources SET patterns = '["*"]' WHERE name = 'police'""")
        what = f"source entry #{seq} appended widening police to every item"
    else:
        value = _forge_record(c, seq)
        what = f"forged record #{seq} appended with its leaf hash"
    if rng.random() < 0.5:
        _append_to_state(c, [value])
        what += ", ledger state updated"
    return Edit(what, [_seq(seq)])


def _all_leaf_hashes(c: Copy) -> dict[int, bytes]:
    hashes = {int(s): bytes(h) for s, h in c.rows("SELECT seq, leaf_hash FROM entries")}
    hashes |= {int(s): bytes(h) for s, h in c.rows("SELECT seq, leaf_hash FROM erased")}
    hasher = SubjectHasher(c.registry.subject_key())
    with c.registry.engine.connect() as conn:
        for r in record_rows(conn, 0, 2**62):
            rec, salt = record_of(r, c.base.names)
            hashes[int(r.seq)] = leaf_hash(expected_leaf(int(r.seq), rec, salt, hasher))
    return hashes


def _insert_head(conn: sqlite3.Connection, values: dict[str, object]) -> None:
    conn.execute(
        f"INSERT INTO tree_heads ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        tuple(values.values()),
    )


def edit_rogue_key(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    rogue = Ed25519PrivateKey.generate()
    raw = raw_public_key(rogue.public_key())
    c.sql(
        "INSERT INTO signing_keys VALUES (?, ?, '2026-01-01T00:00:00Z')",
        "rogue",
        raw.hex(),
    )
    if rng.random() < 0.5:
        # Change a record, recompute every leaf, rebuild the tree and chain, re-sign every head.
        seq = rng.choice(base.records)
        c.sql("UPDATE records SET occurred_on = ? WHERE seq = ?", "2020-02-02", seq)
        hashes = _all_leaf_hashes(c)
        with closing(sqlite3.connect(c.db)) as conn, conn:
            conn.executemany(
                "UPDATE records SET leaf_hash = ? WHERE seq = ?",
                [(h, s) for s, h in hashes.items()],
            )
            conn.execute("DELETE FROM tree_heads")
            frontier, prev = CompactRange(), 0
            for s in sorted(hashes):
                frontier.append(hashes[s])
                if frontier.size in base.heads:
                    head = sign_tree_head(rogue, frontier.size, frontier.root(), 1, prev_size=prev)
                    _insert_head(conn, head_row(head))
                    prev = frontier.size
            conn.execute("UPDATE ledger_state SET frontier = ?", (b"".join(frontier.hashes),))
        return Edit(
            f"record #{seq} changed, every leaf and head rebuilt and re-signed by a rogue key",
            [rf"{_head(base.heads[0])} is signed by key"],
        )
    # Issue the rogue key in the ledger, add a record, and sign a head over both with it.
    size = base.size
    body = key_entry(size, "issue", raw)
    c.sql("INSERT INTO entries VALUES (?, 'key', ?, ?)", size, body, leaf_hash(body))
    value = _forge_record(c, size + 1)
    _append_to_state(c, [leaf_hash(body), value])
    ((blob,),) = c.rows("SELECT frontier FROM ledger_state")
    frontier = CompactRange(size + 2, [blob[i : i + 32] for i in range(0, len(blob), 32)])
    head = sign_tree_head(rogue, size + 2, frontier.root(), 2**41, prev_size=size)
    with closing(sqlite3.connect(c.db)) as conn, conn:
        _insert_head(conn, head_row(head))
    return Edit(
        f"rogue key issued at #{size}, a record at #{size + 1}, head {size + 2} signed by it",
        [rf"{_head(size + 2)} is signed by key"],
    )


def edit_truncated(c: Copy) -> Edit:
    """Cut the log back to an earlier head, and make everything in the database agree."""
    rng, base = c.rng, c.base
    cuts = [n for n in base.heads[:-1] if all(by < n for s, by in base.erased if s < n) and n > 3]
    n = rng.choice(cuts)
    hashes = [
        bytes(h)
        for (h,) in c.rows(
            "SELECT leaf_hash FROM (SELECT seq, leaf_hash FROM records UNION ALL "
            "SELECT seq, leaf_hash FROM entries UNION ALL SELECT seq, leaf_hash FROM erased) "
            "WHERE seq < ? ORDER BY seq",
            n,
        )
    ]
    frontier = CompactRange()
    for h in hashes:
        frontier.append(h)
    sources: dict[str, list[str]] = {}
    for (body,) in c.rows(
        "SELECT body FROM entries WHERE kind = 'source' AND seq < ? ORDER BY seq", n
    ):
        data = json.loads(bytes(body))
        sources[data["name"]] = data["patterns"]
    with closing(sqlite3.connect(c.db)) as conn, conn:
        for table in ("records", "entries", "erased"):
            conn.execute(f"DELETE FROM {table} WHERE seq >= ?", (n,))
        conn.execute("DELETE FROM tree_heads WHERE size > ?", (n,))
        conn.execute(
            "UPDATE ledger_state SET size = ?, frontier = ?", (n, b"".join(frontier.hashes))
        )
        for (name,) in conn.execute("SELECT name FROM sources").fetchall():
            if name in sources:
                conn.execute(
                    "UPDATE sources SET patterns = ? WHERE name = ?",
                    (json.dumps(sources[name]), name),
                )
            else:
                conn.execute("DELETE FROM sources WHERE name = ?", (name,))
    return Edit(
        f"entries #{n} to #{base.size - 1} and their heads deleted, state rewritten",
        [rf"checkpoint {base.claim.name}\b"],
        internally_consistent=True,
    )


def edit_older_copy(c: Copy) -> Edit:
    older = c.rng.choice(c.base.older)
    _backup(older, c.db)
    return Edit(
        f"database replaced by {older.name}",
        [rf"checkpoint {c.base.claim.name}\b"],
        internally_consistent=True,
    )


def _rewrite_snapshot_row(c: Copy, change: Callable[[pa.Table, int], pa.Table]) -> int:
    """Apply `change` to a random row of a random bucket file; return the row's seq."""
    files = sorted((c.data_dir / "snapshot" / "records").glob("*/*.parquet"))
    path = c.rng.choice(files)
    table = pq.read_table(path, partitioning=None)
    index = c.rng.randrange(table.num_rows)
    seq = int(table.column("seq")[index].as_py())
    pq.write_table(change(table, index), path)
    return seq


def _set_cell(table: pa.Table, column: str, index: int, value: object) -> pa.Table:
    at = table.schema.get_field_index(column)
    values = table.column(column).to_pylist()
    values[index] = value
    return table.set_column(
        at, table.schema.field(at), pa.array(values, table.schema.field(at).type)
    )


def _redirect_correction(c: Copy) -> Edit:
    """A correction's link pointed elsewhere in its row and in `corrections/` alike.

    The link is not part of any leaf, so only the row-level checks can see it;
    the new target is a position that holds no snapshot row (an erased record,
    a governance entry, or past the end), so the record it corrected counts again.
    """
    rng, base = c.rng, c.base
    snap = c.data_dir / "snapshot"
    files = sorted((snap / "records").glob("*/*.parquet"))
    rng.shuffle(files)
    target = rng.choice([*(s for s, _ in base.erased), *base.entries[1:], base.size + 7])
    for path in files:
        table = pq.read_table(path, partitioning=None)
        links = table.column("corrects_seq").to_pylist()
        linked = [i for i, x in enumerate(links) if x is not None and x != target]
        if not linked:
            continue
        index = rng.choice(linked)
        seq, old = int(table.column("seq")[index].as_py()), links[index]
        pq.write_table(_set_cell(table, "corrects_seq", index, target), path)
        for part in (snap / "corrections").glob("*.parquet"):
            kept = pq.read_table(part)
            seqs = kept.column("seq").to_pylist()
            if seq in seqs:
                pq.write_table(_set_cell(kept, "corrects_seq", seqs.index(seq), target), part)
        return Edit(
            f"snapshot row #{seq}: corrects_seq {old} -> {target}, corrections/ to match",
            [_seq(seq)],
            snapshot=True,
        )
    raise AssertionError("the snapshot holds no correction")


def edit_snapshot(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    how = rng.choice(["changed", "changed", "changed", "removed", "duplicated", "redirected"])
    if how == "redirected":
        return _redirect_correction(c)
    if how == "removed":
        seq = _rewrite_snapshot_row(
            c, lambda t, i: pa.concat_tables([t.slice(0, i), t.slice(i + 1)])
        )
        return Edit(f"snapshot row #{seq} removed", [_seq(seq)], snapshot=True)
    if how == "duplicated":
        seq = _rewrite_snapshot_row(c, lambda t, i: pa.concat_tables([t, t.slice(i, 1)]))
        return Edit(f"snapshot row #{seq} duplicated", [_seq(seq)], snapshot=True)
    column = rng.choice(
        [
            "subject",
            "item",
            "occurred_on",
            "decided_on",
            "attributes",
            "reference",
            "source",
            "corrects",
            "corrects_seq",
            "salt",
        ]
    )
    seen: dict[str, object] = {}

    def change(table: pa.Table, index: int) -> pa.Table:
        old = table.column(column)[index].as_py()
        if column == "subject":
            new: object = rng.choice([s for s in SUBJECTS if s != old])
        elif column == "item":
            new = rng.choice([i for i in base.all_items if i != old])
        elif column == "occurred_on":
            new = _shift(old, rng)
        elif column == "decided_on":
            new = None if old is not None else "2021-01-01"
        elif column == "attributes":
            new = _changed_attributes(old, rng) if old is not None else '{"amount":1}'
        elif column == "reference":
            new = f"{old}x"
        elif column == "source":
            new = rng.choice([n for n in base.names.values() if n != old])
        elif column == "corrects":
            new = None if old is not None and rng.random() < 0.3 else f"{old or 'C-1'}x"
        elif column == "corrects_seq":  # changed in the row only
            new = (
                None
                if old is not None and rng.random() < 0.3
                else (old or 0) + rng.randrange(1, 50)
            )
        else:
            new = _flip(old, rng)
        assert new != old, (column, old)
        seen.update(old=old, new=new)
        return _set_cell(table, column, index, new)

    seq = _rewrite_snapshot_row(c, change)
    return Edit(
        f"snapshot row #{seq}: {column} {seen['old']!r} -> {seen['new']!r}",
        [_seq(seq), rf"head at size {base.snapshot_size}\b"],
        snapshot=True,
    )


def edit_source_widened(c: Copy) -> Edit:
    rng, base = c.rng, c.base
    if rng.random() < 0.2:  # a source the ledger never registered
        name = f"rogue-{rng.randrange(1000)}"
        c.sql(
            "INSERT INTO sources (name, patterns, created_at) VALUES (?, ?, ?)",
            name,
            '["*"]',
            "2026-01-01T00:00:00Z",
        )
        return Edit(f"source {name} inserted with every item", [rf"source {name}\b"])
    name = rng.choice(sorted(base.items))
    ((text,),) = c.rows("SELECT patterns FROM sources WHERE name = ?", name)
    patterns = json.loads(text)
    extra = rng.choice(
        ["*", "social.*", "commercial.*", *[i for i in base.all_items if i not in base.items[name]]]
    )
    widened = sorted({*patterns, extra}) if rng.random() < 0.7 else [extra]
    if extra == "*" and rng.random() < 0.5:
        widened = ["*"]
    c.sql("UPDATE sources SET patterns = ? WHERE name = ?", json.dumps(widened), name)
    return Edit(f"source {name}: patterns {patterns} -> {widened}", [rf"source {name}\b"])


EDITS: dict[str, Callable[[Copy], Edit]] = dict(
    zip(
        KINDS,
        [
            edit_field,
            edit_hash_byte,
            edit_deleted_row,
            edit_swapped_rows,
            edit_moved_into_attributes,
            edit_head_deleted,
            edit_forged_record,
            edit_rogue_key,
            edit_truncated,
            edit_older_copy,
            edit_snapshot,
            edit_source_widened,
        ],
        strict=True,
    )
)


# --- the drill ------------------------------------------------------------------


@dataclass
class Tally:
    tried: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    detected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    named: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    missed: list[str] = field(default_factory=list)
    unnamed: list[str] = field(default_factory=list)
    untouched: int = 0
    false_alarms: list[str] = field(default_factory=list)


def _problems(c: Copy, edit: Edit) -> list[str]:
    if edit.snapshot:
        try:
            check_snapshot(
                c.snapshot, c.registry.engine, c.registry.subject_key(), c.base.public_key
            )
        except SnapshotError as exc:
            return [str(exc)]
        return []
    if edit.internally_consistent:  # the edit left nothing inside the database to disagree
        inside = verify_registry(c.registry, c.base.public_key)
        assert inside.ok, (edit.what, inside.problems)
    report = verify_registry(c.registry, c.base.public_key, checkpoints=(c.base.claim,))
    return report.problems


def _workdirs(root: Path) -> Iterator[Path]:
    n = 0
    while True:
        path = root / f"copy-{n}"
        yield path
        shutil.rmtree(path, ignore_errors=True)
        n += 1


def run_drill(base: Base, work: Path, per_kind: int, untouched: int) -> Tally:
    rng = random.Random(SEED + per_kind)
    plan = [kind for kind in KINDS for _ in range(per_kind)] + ["untouched"] * untouched
    rng.shuffle(plan)
    tally = Tally()
    dirs = _workdirs(work)
    for n, kind in enumerate(plan):
        edit_rng = random.Random(f"{SEED}/{per_kind}/{n}")
        snapshot = kind in ("snapshot row changed", "untouched")
        c = open_copy(base, next(dirs), edit_rng, snapshot)
        try:
            if kind == "untouched":
                tally.untouched += 1
                report = verify_registry(c.registry, base.public_key, checkpoints=(base.claim,))
                if not report.ok:
                    tally.false_alarms.append(f"copy {n}: {report.problems}")
                try:
                    check_snapshot(
                        c.snapshot, c.registry.engine, c.registry.subject_key(), base.public_key
                    )
                except SnapshotError as exc:
                    tally.false_alarms.append(f"copy {n} snapshot: {exc}")
                continue
            edit = EDITS[kind](c)
            found = _problems(c, edit)
            tally.tried[kind] += 1
            if not found:
                tally.missed.append(f"[{kind}] edit {n}: {edit.what}")
                continue
            tally.detected[kind] += 1
            if any(re.search(p, problem) for p in edit.names for problem in found):
                tally.named[kind] += 1
            else:
                tally.unnamed.append(f"[{kind}] edit {n}: {edit.what} -> {found}")
        finally:
            c.registry.close()
    next(dirs, None)  # remove the last copy
    return tally


def _table(tally: Tally, seconds: float) -> str:
    lines = [f"\ntamper drill (seed {SEED}): detected and named per kind of edit"]
    lines.append(f"  {'kind':36} {'tried':>6} {'detected':>9} {'named':>6}")
    for kind in KINDS:
        lines.append(
            f"  {kind:36} {tally.tried[kind]:6} {tally.detected[kind]:9} {tally.named[kind]:6}"
        )
    tried, detected = sum(tally.tried.values()), sum(tally.detected.values())
    named = sum(tally.named.values())
    lines.append(f"  {'total':36} {tried:6} {detected:9} {named:6}")
    lines.append(
        f"  untouched copies: {tally.untouched}, false alarms: {len(tally.false_alarms)}; "
        f"{seconds:.1f} s"
    )
    lines.extend(f"  MISSED {m}" for m in tally.missed)
    lines.extend(f"  UNNAMED {m}" for m in tally.unnamed)
    lines.extend(f"  FALSE ALARM {m}" for m in tally.false_alarms)
    return "\n".join(lines)


def _drill(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str], per_kind: int, untouched: int
) -> None:
    started = time.perf_counter()
    tally = run_drill(base, tmp_path, per_kind, untouched)
    with capsys.disabled():
        print(_table(tally, time.perf_counter() - started))
    assert all(tally.tried[k] == per_kind for k in KINDS)
    assert not tally.missed, tally.missed
    assert not tally.unnamed, tally.unnamed
    assert not tally.false_alarms, tally.false_alarms
    assert tally.untouched == untouched


def test_tamper_drill_small(base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A few edits of every kind: each caught and named, untouched copies clean."""
    _drill(base, tmp_path, capsys, DEFAULT_PER_KIND, DEFAULT_UNTOUCHED)


@pytest.mark.drill
def test_tamper_drill_full(base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Over a thousand random edits: every one caught and named, no false alarm."""
    _drill(base, tmp_path, capsys, FULL_PER_KIND, FULL_UNTOUCHED)
