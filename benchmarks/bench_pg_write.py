"""The store's write path alone: records/s appended to PostgreSQL (and SQLite, for scale).

Usage: python benchmarks/bench_pg_write.py --url postgresql+psycopg://postgres@127.0.0.1/DB
       [--subjects 10000] [--executemany]

Rows are read, validated and sealed first (not timed), so the number is
what the single writer sustains: lookups, the frontier, the bulk insert
(binary COPY on PostgreSQL, or executemany with --executemany, as before
COPY) and a signed tree head per batch of 10,000 records, each batch one
transaction. (bench_ingest.py measures whole ingests beside each store's floor.)
The service's batch submission needs 20,000 records/s here. The database
named in --url is emptied first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from credence.ingest.checking import CheckSpec, sealed_batches
from credence.settings import Settings
from credence.store import database
from credence.store.registry import Registry
from credence.synth.city import read_manifest, synthesise


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def run(url: str, city: Path, batch_size: int) -> tuple[int, float]:
    """(records appended, seconds spent appending) for every source file of `city`."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", db_url=url, batch_size=batch_size)
        registry, _ = Registry.init(settings)
        manifest = read_manifest(city)
        appended, spent = 0, 0.0
        for spec in manifest.sources:
            source, _ = registry.add_source(spec.name, list(spec.patterns))
            check = CheckSpec(
                path=city / spec.file,
                catalogue_path=registry.catalogue.source_path,
                source=spec.name,
                allowed=source.items,
                today=dt.date.today(),
                batch_size=batch_size,
            )
            check = replace(
                check, first_seq=registry.ledger_size(), subject_key=registry.subject_key()
            )
            batches = list(sealed_batches(check))  # validated and sealed, as ingest's worker does
            appender = registry.start_run(source, str(check.path))
            started = time.perf_counter()
            for sealed in batches:
                outcome = appender.append_columns(spec.name, sealed.columns, sealed.first_seq)
                appended += outcome.accepted
            spent += time.perf_counter() - started
        registry.close()
    return appended, spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--executemany", action="store_true", help="INSERT instead of COPY")
    args = parser.parse_args()
    if args.executemany:
        database._copy_rows = database._executemany_rows  # the path before COPY
    with tempfile.TemporaryDirectory() as tmp:
        city = Path(tmp) / "city"
        synthesise(city, subjects=args.subjects, seed=1)
        if args.url.startswith("postgresql"):
            _empty(args.url)
        n, seconds = run(args.url, city, args.batch_size)
    how = "executemany" if args.executemany else "COPY" if "postgresql" in args.url else "SQLite"
    print(f"{n:,} records appended in {seconds:.1f} s: {n / seconds:,.0f} records/s ({how})")


if __name__ == "__main__":
    main()
