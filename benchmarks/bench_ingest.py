"""Ingest benchmark: rows/s from Parquet on SQLite and PostgreSQL, each beside its floor.

Usage: python benchmarks/bench_ingest.py [--subjects N] [--records-per-subject R]
       [--city DIR] [--stores sqlite,postgresql] [--pg HOST:PORT] [--verify]

A synthetic city (`credence.synth.city.synthesise`, 50,000 subjects x 20
records, about 1M rows, by default) is made in a separate process, not
timed; `--city DIR` keeps it in DIR and reuses it on the next run. Every
source file is then ingested into a fresh registry exactly as `credence
ingest` does (validation, sealing, Merkle append, a signed head and a
durable commit per 50,000 rows), once on SQLite and once on PostgreSQL
(a fresh database on the server, user postgres, dropped afterwards).

Each store's floor is measured in the same run on the same data: the very
rows the ingest stored, read back and prepared as tuples beforehand, are
inserted into a fresh table of the records table's shape and indexes
(made from the same schema), with the same durability and batches and
nothing else: SQLite executemany, WAL and synchronous=FULL, 50,000 rows per
transaction; PostgreSQL binary COPY, 50,000 rows per transaction.

Figures go to benchmarks/table.py (one table for `make bench`): each store's
ingest against 0.8x its floor, and the faster store against 100,000 rows/s;
peak memory (this process and its workers, RSS) is printed with each.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import table
from measure import MemorySampler, machine

from credence.ingest.pipeline import ingest_file
from credence.ingest.worker import resident_worker
from credence.settings import Settings
from credence.store.appender import RECORD_COLUMNS
from credence.store.registry import Registry
from credence.store.schema import records
from credence.synth.city import CityManifest, read_manifest, synthesise

BATCH = 50_000
STORE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=50_000)
    parser.add_argument("--records-per-subject", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", type=Path, default=None, help="keep/reuse the city here")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--pg", default="127.0.0.1:5432", help="PostgreSQL server host:port")
    parser.add_argument("--verify", action="store_true", help="also verify each ledger (slow)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="credence-bench-"))
    try:
        run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _synthesise(city: Path, subjects: int, seed: int, per_subject: float) -> None:
    synthesise(city, subjects, seed, records_per_subject=per_subject)


def city_for(args: argparse.Namespace, work: Path) -> tuple[Path, CityManifest]:
    """The city to ingest: reused from --city if it is there, else made (untimed)."""
    city = args.city or work / "city"
    if not (city / "manifest.json").exists():
        started = time.perf_counter()
        # In its own process, so its memory is not counted in the ingest's peak.
        proc = mp.get_context("spawn").Process(
            target=_synthesise, args=(city, args.subjects, args.seed, args.records_per_subject)
        )
        proc.start()
        proc.join()
        print(f"city synthesised in {time.perf_counter() - started:.1f} s")
    return city, read_manifest(city)


def run(args: argparse.Namespace, work: Path) -> None:
    city, manifest = city_for(args, work)
    print(f"city: {manifest.records:,} rows in {len(manifest.sources)} files; {machine()}")
    measured: list[tuple[str, float]] = []
    for store in args.stores.split(","):
        if store == "postgresql" and not _reachable(args.pg):
            print(f"  PostgreSQL at {args.pg} unreachable: skipped")
            continue
        with _store_url(store, work, args.pg) as (url, floor_url):
            rate, rows = ingest_city(store, url, work / store, city, manifest, args.verify)
            stored = stored_rows(url)
            floor = FLOORS[store](floor_url, stored)
            same_path = same_path_floor(store, work, args.pg, stored)
            del stored  # else the next store's ingest counts these rows in its peak memory
        load = os.getloadavg()[0]
        name = f"ingest {rows:,} rows from Parquet, {STORE_NAMES[store]}"
        print(
            f"  {name}: {rate:,.0f} rows/s; floor {floor:,.0f} rows/s ({rate / floor:.2f}x); "
            f"ingest's own insert alone {same_path:,.0f} rows/s ({rate / same_path:.2f}x); "
            f"load {load:.2f}"
        )
        note = f"{manifest.subjects:,} subjects; load average {load:.2f}"
        table.add(
            table.Figure(
                name=name,
                value=rate,
                unit="rows/s",
                floor=floor,
                floor_name=FLOOR_NAMES[store],
                ratio_at_least=0.8,
                note=note,
            )
        )
        table.add(
            table.Figure(
                name=f"{name}, against ingest's own insert path alone",
                value=rate,
                unit="rows/s",
                floor=same_path,
                floor_name=SAME_PATH_FLOOR,
                ratio_at_least=0.8,
                note=note,
            )
        )
        measured.append((name, rate))
    if measured:
        name, rate = max(measured, key=lambda m: m[1])
        table.add(table.Figure(name=f"{name} (faster store)", value=rate, unit="rows/s",
                               at_least=100_000))  # fmt: skip


def ingest_city(
    store: str, url: str, data: Path, city: Path, manifest: CityManifest, verify: bool
) -> tuple[float, int]:
    """Ingest every file of the city into a fresh registry at `url`: (rows/s, rows)."""
    settings = Settings(data_dir=data, db_url=url if store != "sqlite" else "")
    registry, _ = Registry.init(settings)
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
    rows = 0
    sampler = MemorySampler()
    sampler.start()
    started = time.perf_counter()
    files = [(city / spec.file, spec.name) for spec in manifest.sources]
    with resident_worker():  # one validation worker for all the files, as `credence demo`
        for (path, source), then in zip(files, [*files[1:], None], strict=True):
            report = ingest_file(registry, path, source, then=then)
            rows += report.rows
    seconds = time.perf_counter() - started
    peak_mib = sampler.stop()
    print(f"  {store}: {rows:,} rows in {seconds:.1f} s; peak memory {peak_mib:,.0f} MiB")
    if verify:
        from credence.store.verify import verify_registry

        t0 = time.perf_counter()
        ok = verify_registry(registry).ok
        print(f"  verify: {'ok' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    registry.close()
    return rows / seconds, rows


def stored_rows(url: str) -> list[tuple[Any, ...]]:
    """The records the ingest stored, in seq order, as insert-ready tuples (not timed)."""
    engine = sa.create_engine(url)
    columns = ", ".join(RECORD_COLUMNS)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT {columns} FROM records ORDER BY seq")
        rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in result]
    engine.dispose()
    return rows


def _records_table(url: str) -> None:
    """A fresh records table with the store's own shape and indexes (nothing else)."""
    metadata = sa.MetaData()
    records.to_metadata(metadata)
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def sqlite_floor(url: str, rows: list[tuple[Any, ...]]) -> float:
    """SQLite alone: executemany of the prepared rows, WAL, synchronous=FULL, per 50,000."""
    _records_table(url)
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-262144")  # as the store's connections
    sql = f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({','.join('?' * 13)})"
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[start : start + BATCH])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


def postgres_floor(url: str, rows: list[tuple[Any, ...]]) -> float:
    """PostgreSQL alone: binary COPY of the prepared rows, one transaction per 50,000."""
    import psycopg

    _records_table(url)
    types = ["int8", "int4", *["text"] * 7, "int8", "bytea", "int4", "bytea"]
    sql = f"COPY records ({', '.join(RECORD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(sql) as copy:
                copy.set_types(types)
                for row in rows[start : start + BATCH]:
                    copy.write_row(row)
        seconds = time.perf_counter() - started
    return len(rows) / seconds


def same_path_floor(store: str, work: Path, server: str, rows: list[tuple[Any, ...]]) -> float:
    """The stored rows as Arrow columns, written to a fresh store's records table in 50,000-row
    transactions by the very routine ingest's writer uses (database.insert_columns: the
    compiled prepared insert on SQLite when built, binary COPY from the columns on
    PostgreSQL), and nothing else: no checking, hashing or tree heads."""
    import pyarrow as pa

    from credence.store.database import create_engine, insert_columns, write_transaction

    kinds = [pa.int64(), pa.int64(), *[pa.string()] * 7, pa.int64(), pa.binary(), pa.int64(),
             pa.binary()]  # fmt: skip
    columns = [pa.array(list(c), k) for c, k in zip(zip(*rows, strict=True), kinds, strict=True)]
    with _store_url(store, work / "same-path", server) as (url, _):
        if store == "sqlite":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        _records_table(url)
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            part = [c.slice(start, BATCH) for c in columns]
            with write_transaction(engine) as conn:
                insert_columns(conn, records, RECORD_COLUMNS, part, len(part[0]))
        seconds = time.perf_counter() - started
        engine.dispose()
    return len(rows) / seconds


FLOORS = {"sqlite": sqlite_floor, "postgresql": postgres_floor}
SAME_PATH_FLOOR = (
    "the same stored rows as Arrow columns through ingest's own insert routine "
    "(database.insert_columns), same table and indexes and durability, 50,000 per transaction"
)
FLOOR_NAMES = {
    "sqlite": "executemany of the same stored rows, same table and indexes, WAL, "
    "synchronous=FULL, 50,000 per transaction",
    "postgresql": "binary COPY of the same stored rows, same table and indexes, "
    "50,000 per transaction",
}


def _reachable(server: str) -> bool:
    import psycopg

    host, _, port = server.partition(":")
    try:
        psycopg.connect(host=host, port=int(port or 5432), user="postgres", dbname="postgres",
                        connect_timeout=5).close()  # fmt: skip
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def _store_url(store: str, work: Path, server: str) -> Iterator[tuple[str, str]]:
    """(URL of a fresh store for the ingest, URL of a fresh store for the floor)."""
    # A kept --dir holds the last run's registry: ingesting into it again would count
    # duplicates, not an ingest, and the floor's inserts would meet its rows.
    shutil.rmtree(work / store, ignore_errors=True)
    if store == "sqlite":
        work.mkdir(parents=True, exist_ok=True)
        for name in ("floor.db", "floor.db-wal", "floor.db-shm"):
            (work / name).unlink(missing_ok=True)
        yield (
            f"sqlite:///{work / 'sqlite' / 'credence.db'}",
            f"sqlite:///{work / 'floor.db'}",
        )
        return
    import psycopg

    host, _, port = server.partition(":")
    admin = psycopg.connect(host=host, port=int(port or 5432), user="postgres",
                            dbname="postgres", autocommit=True)  # fmt: skip
    names = [f"credence_bench_{secrets.token_hex(4)}" for _ in range(2)]
    try:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        base = f"postgresql+psycopg://postgres@{host}:{port or 5432}/"
        yield base + names[0], base + names[1]
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
