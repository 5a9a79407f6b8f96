"""Benchmark of `credence verify` at 1M and 20M leaves, beside the SHA-256 floor.

For each size it builds (or reuses) a ledger, then in the same run:

- times `verify_registry` end to end (every record's leaf recomputed from its
  stored content, every position, permission, entry, head signature and
  root, and one checkpoint's consistency proof), with the peak memory and
  the CPU time of this process and its workers (on a shared machine the CPU
  time per leaf says more than the wall time);
- measures the floor: SHA-256 of the same stored leaves' bytes, one core,
  hashlib in a tight loop (the leaf bytes are rebuilt from the stored
  records first, outside the timing).

The ledger is written by a fast generator, not by ingest (20M rows through
ingest would take hours here): records drawn at random (catalogue items of
two sources, 10 records per subject, 60% with attributes, half decided,
1% corrections of an earlier record), their leaves made by the real
functions (`credence.ledger.leaf`), stored with the store's own bulk insert
and sealed every 50,000 records by `credence.store.sealing.seal`, as ingest
does. Built ledgers are kept under --dir and reused.

Usage: python benchmarks/bench_verify.py [--leaves 1000000 20000000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import random
import resource
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from measure import MemorySampler, open_cached
from table import Figure, add

from credence.core.records import Record
from credence.ledger.leaf import record_hash, record_leaf, salts, subject_hash
from credence.settings import Settings
from credence.store import proofs
from credence.store.appender import RECORD_COLUMNS
from credence.store.database import insert_rows
from credence.store.registry import Registry
from credence.store.schema import ingest_runs, records, tree_heads
from credence.store.sealing import load_frontier, seal
from credence.store.verify import CheckpointClaim, verify_registry
from credence.store.verify_records import expected_leaf, record_of, record_rows

BATCH = 50_000  # records per signed head, as ingest's default batch
SOURCES = {
    "court": [
        "judicial.defaulter-listed",
        "judicial.fraud-conviction",
        "judicial.false-litigation",
    ],
    "market": [
        "administrative.food-safety-penalty",
        "administrative.tax-penalty",
        "administrative.price-violation-penalty",
    ],
}
PATTERNS = {"court": ["judicial.*"], "market": ["administrative.*"]}


def _records(seed: int, first: int, count: int, subjects: int) -> list[tuple[str, Record]]:
    """`count` records from position `first` on, the same for the same arguments."""
    rng = random.Random(seed * 1_000_003 + first)
    out: list[tuple[str, Record]] = []
    names = list(SOURCES)
    for n in range(first, first + count):
        source = names[n % 2]
        item = rng.choice(SOURCES[source])
        year = rng.randrange(2015, 2026)
        occurred = f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        decided = f"{year + 1}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        attributes = None
        if rng.random() < 0.6:
            doc = {"amount": rng.randrange(100, 10**7), "case": f"({year}) No. {n:09d}"}
            attributes = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()
        corrects = None
        if n > 10_000 and rng.random() < 0.01:
            corrects = f"R{(n - 2 * rng.randrange(1, 4000)):010d}"  # same source, earlier
        out.append(
            (
                source,
                Record(
                    source=source,
                    reference=f"R{n:010d}",
                    item=item,
                    subject=f"S{rng.randrange(subjects):012d}",
                    occurred_on=occurred,
                    decided_on=decided if rng.random() < 0.5 else None,
                    attributes_json=attributes,
                    corrects=corrects,
                ),
            )
        )
    return out


def _leaf_rows(job: tuple[int, int, int, int, bytes, dict[str, int], int]) -> list[tuple[Any, ...]]:
    """Rows for `records`, their leaves made by the real leaf functions (runs in workers)."""
    seed, first, count, subjects, key, source_ids, base = job
    out: list[tuple[Any, ...]] = []
    batch = _records(seed, first, count, subjects)
    for (source, rec), salt, offset in zip(batch, salts(len(batch)), range(count), strict=True):
        seq = base + offset
        rec_hash = record_hash(salt, rec.content())
        leaf = record_leaf(seq, rec, rec_hash, subject_hash(key, rec.subject))
        target = None
        if rec.corrects is not None:
            target = base - first + int(rec.corrects[1:])  # seq of the record it names
        out.append(
            (
                seq,
                source_ids[source],
                rec.reference,
                rec.item,
                rec.subject,
                rec.occurred_on,
                rec.decided_on,
                rec.attributes_json,
                rec.corrects,
                target,
                salt,
                1,
                hashlib.sha256(b"\x00" + leaf).digest(),
            )
        )
    return out


def build(data: Path, leaves: int) -> Registry:
    """A ledger of about `leaves` leaves (reused if a finished one is there)."""
    settings = Settings(data_dir=data)
    done = data / "built"
    if done.exists():
        return open_cached(settings)
    if data.exists():
        for f in data.glob("credence.db*"):
            f.unlink()
    registry, _ = Registry.init(settings)
    ids = {name: registry.add_source(name, PATTERNS[name])[0].id for name in SOURCES}
    with registry.engine.begin() as conn:
        conn.execute(
            sa.insert(ingest_runs).values(
                id=1, source_id=ids["court"], file="bench", started_at="2026-01-01T00:00:00Z"
            )
        )
        base = load_frontier(conn).size
    count = leaves - base
    subjects = max(1, count // 10)
    key = registry.subject_key()
    jobs = [
        (7, first, min(BATCH, count - first), subjects, key, ids, base + first)
        for first in range(0, count, BATCH)
    ]
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as pool:
        pending: deque[Any] = deque()
        for done_batches in range(1, len(jobs) + 1):
            while len(pending) < 4 and done_batches - 1 + len(pending) < len(jobs):
                pending.append(
                    pool.apply_async(_leaf_rows, (jobs[done_batches - 1 + len(pending)],))
                )
            rows = pending.popleft().get()
            with registry.engine.begin() as conn:
                frontier = load_frontier(conn)
                assert frontier.size == rows[0][0]
                frontier.extend(r[-1] for r in rows)
                insert_rows(conn, records, RECORD_COLUMNS, rows)
                seal(conn, frontier, registry.signing_key())
            if done_batches % 40 == 0:
                rate = done_batches * BATCH / (time.perf_counter() - started)
                print(f"  built {done_batches * BATCH:,} records ({rate:,.0f}/s)", flush=True)
    done.write_text("ok\n")
    return registry


def _leaf_bytes(registry: Registry) -> Iterator[list[bytes]]:
    """The stored records' leaf bytes, rebuilt from their content, in batches."""
    from credence.ledger.leaf import SubjectHasher

    hasher = SubjectHasher(registry.subject_key())
    with registry.engine.connect() as conn:
        names = dict(conn.execute(sa.text("SELECT id, name FROM sources")).all())
        batch: list[bytes] = []
        for row in record_rows(conn, 0, 2**62):
            rec, salt = record_of(row, names)
            batch.append(expected_leaf(row.seq, rec, salt, hasher))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def hash_floor(registry: Registry, limit: int) -> tuple[float, int]:
    """SHA-256 (with the leaf prefix) of up to `limit` stored leaves' bytes, one core: leaves/s."""
    total = 0.0
    count = 0
    sha256 = hashlib.sha256
    for batch in _leaf_bytes(registry):
        started = time.perf_counter()
        for leaf in batch:
            sha256(b"\x00" + leaf).digest()
        total += time.perf_counter() - started
        count += len(batch)
        if count >= limit:
            break
    return count / total, count


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (verify's workers, once its pool
    has shut down): less sensitive than wall time to what else runs on the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(data: Path, leaves: int) -> None:
    registry = build(data, leaves)
    with registry.engine.connect() as conn:
        size = int(conn.execute(sa.select(sa.func.max(tree_heads.c.size))).scalar() or 0)
        half = int(
            conn.execute(
                sa.select(sa.func.max(tree_heads.c.size)).where(tree_heads.c.size <= size // 2)
            ).scalar()
            or 1
        )
    head = proofs.signed_head(registry.engine, half)
    claim = CheckpointClaim("bench", head.size, head.root)
    load_before = os.getloadavg()[0]
    sampler = MemorySampler()
    sampler.start()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    report = verify_registry(registry, checkpoints=(claim,))
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak = sampler.stop()
    assert report.ok, report.problems
    assert report.leaves == size, (report.leaves, size)
    rate = size / seconds
    print(
        f"verify {size:,} leaves: {seconds:.1f} s = {rate:,.0f} leaves/s, peak {peak:,.0f} MiB, "
        f"CPU {cpu:.1f} s ({cpu / size * 1e6:.2f} us a leaf)"
    )
    floor, hashed = hash_floor(registry, min(size, 2_000_000))
    print(f"floor: SHA-256 of {hashed:,} stored leaves' bytes: {floor:,.0f} leaves/s")
    load_after = os.getloadavg()[0]
    registry.close()
    note = (
        f"{size:,} leaves ({report.records:,} records, {report.heads:,} signed heads, one "
        f"checkpoint proved) in {seconds:.1f} s, 2 worker processes; peak memory {peak:,.0f} MiB "
        f"(RSS, this process and its workers); CPU {cpu:.1f} s in all ({cpu / size * 1e6:.2f} us "
        f"a leaf, this process and its workers); load average {load_before:.2f} before, "
        f"{load_after:.2f} after. Ledger written by the benchmark's generator with the real "
        "leaf, insert and sealing functions (not by ingest), a head per 50,000 records; the "
        f"floor hashed {hashed:,} of the stored leaves' bytes"
    )
    add(
        Figure(
            name=f"verify {size:,} leaves",
            value=rate,
            unit="leaves/s",
            floor=floor,
            floor_name="SHA-256 of the same leaf bytes, one core",
            at_least=300_000,
            note=note,
        ),
        Figure(
            name=f"verify {size:,} leaves, peak memory",
            value=peak,
            unit="MiB",
            note="resident memory of verify's process and its workers, sampled every 0.1 s "
            "(no target: reported to show it stays bounded as the log grows)",
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "credence-bench-verify"
    )
    args = parser.parse_args()
    for leaves in args.leaves:
        run(args.dir / f"{leaves}", leaves)


if __name__ == "__main__":
    main()
