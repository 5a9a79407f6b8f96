"""Spark benchmark: the same snapshot scored by DuckDB and by Spark local, in one run.

Usage: python benchmarks/bench_spark.py [--subjects N] [--records-per-subject R]
       [--buckets B] [--master local[*]] [--workdir DIR]

Data: the synthetic city of `bench_score.py` (same cache under `--workdir`),
ingested once into a SQLite registry and exported once to a Parquet snapshot.
Then, timed separately, in this order:
1. DuckDB: `BatchEngine.write_jsonl` into a file (`credence score --engine
   duckdb`), using every core;
2. Spark start-up: `spark_session(master)` (the JVM and the session) and a
   first one-row job;
3. Spark: `SparkEngine.write` of the same snapshot into a JSON lines file
   (`credence score --engine spark`), twice: the first run also pays
   Spark's code generation and first-use costs, the second is warm.

Both write the same lines (compared here byte for byte, besides the tests).
Records/s per core = ledger records in the snapshot / wall-clock seconds /
cores used (os.cpu_count() for DuckDB's threads and for local[*]).
Figures go to benchmarks/table.py; no target: the issue asks for them to be
recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import table
from bench_score import DEFAULT_RECORDS_PER_SUBJECT, _say, ensure_registry
from measure import open_cached

DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "credence-bench-spark"


def _snapshot(args: argparse.Namespace, data: Path) -> Any:
    from credence.engines.snapshot import ensure_snapshot
    from credence.settings import Settings

    registry = open_cached(Settings(data_dir=data))
    try:
        return ensure_snapshot(registry.engine, args.workdir / "snapshot-spark", args.buckets)
    finally:
        registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subjects", type=int, default=500_000)
    parser.add_argument("--records-per-subject", type=float, default=DEFAULT_RECORDS_PER_SUBJECT)
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rulebook", default="gov-default")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--spark-memory", default="4g", help="Spark driver memory (local mode)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from credence.core.catalogue import default_catalogue_path, load_catalogue
    from credence.core.rulebook import load_rulebook, resolve_rulebook_path
    from credence.engines.batch import BatchEngine
    from credence.engines.spark import SparkEngine
    from credence.engines.spark_session import spark_session
    from credence.engines.spark_snapshot import SparkInput

    rulebook = load_rulebook(
        resolve_rulebook_path(args.rulebook), load_catalogue(default_catalogue_path())
    )
    data, info = ensure_registry(args)
    snapshot = _snapshot(args, data)
    as_of = dt.date.fromisoformat(info["as_of"])
    cores = os.cpu_count() or 1

    duck_out = args.workdir / "duckdb.jsonl"
    _say(f"duckdb: scoring {snapshot.size:,} records ...")
    t0 = time.perf_counter()
    with duck_out.open("wb") as sink:
        duck = BatchEngine(snapshot, rulebook, as_of).write_jsonl(sink)
    duck_s = time.perf_counter() - t0
    _say(f"duckdb: {duck.assessed:,} subjects in {duck_s:.2f} s")

    _say(f"spark: starting {args.master} ...")
    t0 = time.perf_counter()
    spark = spark_session(args.master, memory=args.spark_memory, shuffle_partitions=args.buckets)
    spark.range(1).count()
    start_s = time.perf_counter() - t0
    _say(f"spark: started in {start_s:.2f} s")
    source = SparkInput(snapshot.path, snapshot.buckets, None)
    spark_s: list[float] = []
    spark_out = args.workdir / "spark.jsonl"
    for attempt in ("cold", "warm"):
        t0 = time.perf_counter()
        run = SparkEngine(spark, source, rulebook, as_of).write(spark_out)
        spark_s.append(time.perf_counter() - t0)
        _say(f"spark ({attempt}): {run.assessed:,} subjects in {spark_s[-1]:.2f} s")
    same = sorted(duck_out.read_bytes().splitlines()) == sorted(spark_out.read_bytes().splitlines())
    _say(f"same lines on both engines: {same}")
    if not same:
        raise SystemExit("the engines wrote different lines: see tests/engines/test_spark.py")

    records = snapshot.size
    load = f"load average {os.getloadavg()[0]:.2f}"
    what = (
        f"{rulebook.name} {rulebook.version} as of {as_of}; {duck.assessed:,} JSON lines, "
        f"byte-identical on both engines; synthetic city of {info['city_subjects']:,} subjects "
        f"(seed {args.seed}), {records:,} ledger records in a {args.buckets}-bucket snapshot; "
        f"{cores} cores; {load}"
    )
    duck_rate = records / duck_s / cores
    found = [
        table.Figure(
            name=f"DuckDB batch scoring, {records:,} records, records/s per core",
            value=round(duck_rate),
            unit="records/s/core",
            note=f"`BatchEngine.write_jsonl` in {duck_s:.2f} s; {what}",
        ),
        table.Figure(
            name=f"Spark local scoring (warm), {records:,} records, records/s per core",
            value=round(records / spark_s[1] / cores),
            unit="records/s/core",
            floor=round(duck_rate),
            floor_name="DuckDB on the same snapshot, same run",
            note=(
                f"`SparkEngine.write` ({args.master}, driver memory {args.spark_memory}) in "
                f"{spark_s[1]:.2f} s; the first run in the session took {spark_s[0]:.2f} s "
                f"({records / spark_s[0] / cores:,.0f} records/s/core); {what}"
            ),
        ),
        table.Figure(
            name="Spark local start-up (JVM, session, first one-row job)",
            value=round(start_s, 2),
            unit="s",
            note=f"`spark_session({args.master!r})` then `spark.range(1).count()`; {load}",
        ),
    ]
    table.add(*found)
    table.print_table(found)


if __name__ == "__main__":
    main()
