"""Ingest benchmark: records/s from Parquet, validation, hashing and durable commit included.

Usage: python benchmarks/bench_ingest.py [--subjects N] [--records-per-subject R] [--record]

It synthesises a city in a separate process (not timed; `--city DIR` reuses
one), ingests every source file into a fresh registry exactly as `credence
ingest` does, verifies the ledger, and reports throughput and peak memory:
the largest sum of resident memory of this process and its workers, sampled
every 0.2 s while ingesting. In the same run it measures the floor: SQLite
alone inserting the same number of rows of the same shape, so the distance
to what the store can take is visible. `--record` appends the result to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from measure import MemorySampler, machine

from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.verify import verify_registry
from credence.synth.city import read_manifest, synthesise

RESULTS = Path(__file__).with_name("RESULTS.md")


def sqlite_floor(db: Path, n: int) -> float:
    """Rows/s for SQLite alone: the records table's shape, indexes and durability."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, source_id INT, reference TEXT, "
        "item TEXT, subject TEXT, occurred_on TEXT, decided_on TEXT, attributes TEXT, "
        "corrects TEXT, corrects_seq INT, salt BLOB, run_id INT, leaf_hash BLOB)"
    )
    conn.execute("CREATE UNIQUE INDEX u ON records (source_id, reference)")
    conn.execute("CREATE INDEX s ON records (subject)")
    salt, leaf = os.urandom(16), os.urandom(32)
    batch = 50_000
    started = time.perf_counter()
    for start in range(0, n, batch):
        rows = [
            (
                i,
                1 + i % 13,
                f"SRC-{i:09d}",
                "judicial.defaulter-listed",
                f"ric:{(i * 7919) % 10**17:017d}X",
                "2024-03-01",
                "2024-03-05",
                f'{{"case_number":"(2024)京0105执{i}号"}}',
                None,
                None,
                salt,
                1,
                leaf,
            )
            for i in range(start, min(n, start + batch))
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO records VALUES ({','.join('?' * 13)})", rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=50_000)
    parser.add_argument("--records-per-subject", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--city", type=Path, default=None, help="reuse a synthesised city")
    parser.add_argument("--no-floor", action="store_true", help="skip the SQLite floor")
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="credence-bench-"))
    try:
        run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _synthesise(city: Path, subjects: int, seed: int, per_subject: float) -> None:
    synthesise(city, subjects, seed, records_per_subject=per_subject)


def run(args: argparse.Namespace, work: Path) -> None:
    city = args.city or work / "city"
    t0 = time.perf_counter()
    if args.city is None:  # in its own process, so its memory is not counted below
        proc = mp.get_context("spawn").Process(
            target=_synthesise, args=(city, args.subjects, args.seed, args.records_per_subject)
        )
        proc.start()
        proc.join()
    manifest = read_manifest(city)
    synth_s = time.perf_counter() - t0
    print(f"city: {manifest.records:,} rows ({synth_s:.1f} s)")
    settings = Settings(data_dir=work / "data")
    registry, _ = Registry.init(settings)
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
    rows = accepted = 0
    sampler = MemorySampler()
    sampler.start()
    started = time.perf_counter()
    for spec in manifest.sources:
        report = ingest_file(registry, city / spec.file, spec.name)
        rows += report.rows
        accepted += report.accepted
        print(f"  {spec.name:<20} {report.rows:>11,} rows {report.rows / report.seconds:>9,.0f}/s")
    ingest_s = time.perf_counter() - started
    rate = rows / ingest_s
    peak_mib = sampler.stop()
    t0 = time.perf_counter()
    verified = verify_registry(registry)
    verify_s = time.perf_counter() - t0
    registry.close()
    db_mib = (settings.data_dir / "credence.db").stat().st_size / 2**20
    floor = None if args.no_floor else sqlite_floor(work / "floor.db", rows)
    lines = [
        f"### Ingest, {rows:,} rows from Parquet ({dt.date.today().isoformat()})",
        "",
        f"- machine: {machine()}",
        f"- city: {manifest.subjects:,} subjects, seed {manifest.seed}, "
        f"{manifest.records:,} rows in {len(manifest.sources)} source files",
        f"- ingest: {ingest_s:.1f} s, **{rate:,.0f} rows/s** ({accepted:,} accepted), "
        "validation, hashing, Merkle append, signed head and durable commit per 50,000 rows",
        "- SQLite floor, same run: "
        + (f"{floor:,.0f} rows/s (rows of the same shape, nothing else)" if floor else "skipped"),
        f"- peak memory while ingesting (writer + validation worker, RSS): {peak_mib:,.0f} MiB",
        f"- verify: {verify_s:.1f} s ({'ok' if verified.ok else 'FAILED'}); "
        f"database {db_mib:,.0f} MiB",
        "",
    ]
    print("\n".join(lines))
    if args.record:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
