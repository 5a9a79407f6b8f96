"""Scoring benchmark: batch scoring on DuckDB against a scan floor, and one subject on the store.

Usage: python benchmarks/bench_score.py [--subjects N] [--records-per-subject R]
       [--buckets B] [--store-subjects N] [--store-records-per-subject R]
       [--skip-batch] [--skip-store] [--workdir DIR] [--city DIR] [--record]

Batch: a synthetic city of `--subjects` subjects is written (once; reused
from `--workdir` on later runs, or taken from `--city`), and a Parquet
snapshot in the layout `credence.engines.snapshot` writes is built from its
files DIRECTLY with DuckDB, not exported from a ledger: ingesting 20 million
records takes over 20 minutes here, and the batch engine only reads the
snapshot. Rows a ledger would refuse in ways that matter to the engine's
types (a subject that is not `ric:`/`uscc:`, a date that does not parse, an
item not in the catalogue) are dropped; `seq` is a row's position in the
source files taken in manifest order. The same run measures the floor:
DuckDB scanning the record columns the engine reads, once. Then
`BatchEngine` scores every subject under the rulebook, and reports its SQL
(DuckDB) and Python assembly time and the peak resident memory of this
process, sampled every 0.1 s while scoring. Synthesis and the snapshot
build run in child processes, so their memory is not counted.

Store: a real registry is built (once, reused from `--workdir`) by ingesting
a synthetic city of `--store-subjects` subjects, then `StoreEngine.assess`
is timed on `--samples` random subjects: p50 and p99.

Targets (issue 3, 1M subjects / 20M records on the 2-core reference
machine): batch scoring within 3x the scan floor, peak memory under 4 GB,
one subject rescored on the store in under 5 ms at p99. `--record` appends
the result to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import MemorySampler, machine

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "credence-bench-score"
SNAPSHOT_ROW_GROUP = 262_144  # as credence.engines.snapshot writes
FLOOR_RATIO_TARGET = 3.0
PEAK_RSS_TARGET_MIB = 4 * 1024
STORE_P99_TARGET_MS = 5.0
TARGET_SUBJECTS = 1_000_000
TARGET_RECORDS_PER_SUBJECT = 20.0


# --- measuring ------------------------------------------------------------------------------


def _in_child(target: Callable[..., None], *args: Any) -> None:
    """Run `target(*args)` in a fresh process (its memory is not this process's)."""
    proc = mp.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed (exit code {proc.exitcode})")


def _say(text: str) -> None:
    print(text, flush=True)


# --- synthetic cities -----------------------------------------------------------------------


def _synthesise(city: Path, subjects: int, seed: int, per_subject: float) -> None:
    from credence.synth.city import synthesise

    synthesise(city, subjects, seed, records_per_subject=per_subject)


def ensure_city(city: Path, subjects: int, seed: int, per_subject: float) -> float:
    """Synthesise `city` unless a complete one is there; seconds spent (0 if reused)."""
    from credence.synth.city import read_manifest

    if (city / "manifest.json").exists():
        found = read_manifest(city)
        if found.subjects == subjects and found.seed == seed:
            _say(f"city: reusing {city} ({found.records:,} rows)")
            return 0.0
    if city.exists():
        shutil.rmtree(city)
    _say(f"city: synthesising {subjects:,} subjects x {per_subject:g} records into {city} ...")
    t0 = time.perf_counter()
    _in_child(_synthesise, city, subjects, seed, per_subject)
    took = time.perf_counter() - t0
    _say(f"city: {read_manifest(city).records:,} rows in {took:.1f} s")
    return took


# --- snapshot built from the synthetic files ------------------------------------------------


SNAPSHOT_INFO = "bench-snapshot.json"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _build_snapshot(city: Path, out: Path, buckets: int, memory_limit: str) -> None:
    """Write `out/records/bucket=K/*.parquet` and `out/corrections/` from the city's files."""
    import pyarrow.parquet as pq

    from credence.core.catalogue import REVOCATION, default_catalogue_path, load_catalogue
    from credence.engines.batch import connect
    from credence.synth.city import read_manifest

    manifest = read_manifest(city)
    files: list[tuple[str, int, int]] = []  # (path, file index, seq of its first row)
    offset = 0
    for index, spec in enumerate(manifest.sources):
        path = city / spec.file
        files.append((str(path), index, offset))
        offset += int(pq.ParquetFile(path).metadata.num_rows)
    items = [*sorted(load_catalogue(default_catalogue_path()).items), REVOCATION]
    con = connect(memory_limit)
    try:
        paths = "[" + ", ".join(_quote(p) for p, _, _ in files) + "]"
        values = ", ".join(f"({_quote(p)}, {i}, {o})" for p, i, o in files)
        columns = {
            str(row[0])
            for row in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({paths}, union_by_name = true)"
            ).fetchall()
        }
        corrects = "corrects" if "corrects" in columns else "CAST(NULL AS VARCHAR)"
        item_list = ", ".join(_quote(code) for code in items)
        con.execute(
            f"""CREATE TEMP VIEW src AS
            SELECT f.offs + r.file_row_number AS seq, f.idx AS file_idx, r.reference,
                   {corrects} AS corrects, r.subject, r.item, r.occurred_on,
                   NULLIF(r.decided_on, '') AS decided_on, NULLIF(r.attributes, '') AS attributes
            FROM read_parquet({paths}, filename = true, file_row_number = true,
                              union_by_name = true) r
            JOIN (VALUES {values}) f(path, idx, offs) ON r.filename = f.path
            WHERE (r.subject LIKE 'ric:%' OR r.subject LIKE 'uscc:%')
              AND TRY_CAST(r.occurred_on AS DATE) IS NOT NULL
              AND (NULLIF(r.decided_on, '') IS NULL OR TRY_CAST(r.decided_on AS DATE) IS NOT NULL)
              AND r.item IN ({item_list})"""
        )
        if corrects == "corrects":  # resolve `corrects` to the seq of that reference, same file
            con.execute(
                """CREATE TEMP TABLE fixes AS
                SELECT s.seq, t.seq AS corrects_seq FROM src s
                JOIN src t ON t.file_idx = s.file_idx AND t.reference = s.corrects
                WHERE s.corrects IS NOT NULL"""
            )
        else:
            con.execute(
                "CREATE TEMP TABLE fixes AS "
                "SELECT CAST(NULL AS BIGINT) AS seq, CAST(NULL AS BIGINT) AS corrects_seq "
                "WHERE FALSE"
            )
        if out.exists():
            shutil.rmtree(out)
        (out / "corrections").mkdir(parents=True)
        con.execute(
            f"""COPY (
                SELECT src.seq, subject, item, occurred_on, decided_on, attributes,
                       fixes.corrects_seq,
                       CAST(md5_number(subject) % {int(buckets)} AS INTEGER) AS bucket
                FROM src LEFT JOIN fixes ON fixes.seq = src.seq
            ) TO {_quote(str(out / "records"))} (FORMAT parquet, PARTITION_BY (bucket),
                FILENAME_PATTERN 'part-synthetic-{{i}}', ROW_GROUP_SIZE {SNAPSHOT_ROW_GROUP})"""
        )
        con.execute(
            "COPY (SELECT seq, corrects_seq FROM fixes) TO "
            f"{_quote(str(out / 'corrections' / 'part-synthetic.parquet'))} (FORMAT parquet)"
        )
        glob = _quote(str(out / "records" / "*" / "*.parquet"))
        kept, size = con.execute(
            f"SELECT count(*), coalesce(max(seq) + 1, 0) FROM read_parquet({glob})"
        ).fetchone() or (0, 0)
        fixes = (con.execute("SELECT count(*) FROM fixes").fetchone() or (0,))[0]
    finally:
        con.close()
    info = {
        "built_from": "synthetic city files (not a ledger export)",
        "city": str(city.resolve()),
        "city_rows": offset,
        "subjects": manifest.subjects,
        "seed": manifest.seed,
        "buckets": buckets,
        "records": int(kept),
        "size": int(size),
        "corrections": int(fixes),
    }
    (out / SNAPSHOT_INFO).write_text(json.dumps(info, indent=2) + "\n")


def ensure_snapshot_from_city(
    city: Path, out: Path, buckets: int, memory_limit: str
) -> tuple[dict[str, Any], bool]:
    """The snapshot's description (with `build_s`), and whether it was built by this run."""
    from credence.synth.city import read_manifest

    manifest = read_manifest(city)
    try:
        info = json.loads((out / SNAPSHOT_INFO).read_text())
        if (
            info.get("city") == str(city.resolve())
            and info.get("city_rows") == manifest.records
            and info.get("seed") == manifest.seed
            and info.get("buckets") == buckets
        ):
            _say(f"snapshot: reusing {out} ({info['records']:,} records)")
            return info, False
    except (OSError, ValueError):
        pass
    _say(f"snapshot: building {out} from the synthetic files with DuckDB ({buckets} buckets) ...")
    t0 = time.perf_counter()
    _in_child(_build_snapshot, city, out, buckets, memory_limit)
    took = time.perf_counter() - t0
    info = json.loads((out / SNAPSHOT_INFO).read_text())
    info["build_s"] = round(took, 1)
    (out / SNAPSHOT_INFO).write_text(json.dumps(info, indent=2) + "\n")
    dropped = info["city_rows"] - info["records"]
    _say(
        f"snapshot: {info['records']:,} records ({dropped:,} malformed rows dropped) "
        f"in {took:.1f} s"
    )
    return info, True


# --- batch ----------------------------------------------------------------------------------


FLOOR_COLUMNS = (
    "count(*), sum(length(subject)), sum(length(item)), max(occurred_on), max(decided_on), "
    "sum(length(attributes)), max(seq), max(corrects_seq)"
)


def scan_floor(snapshot_dir: Path, memory_limit: str, repeats: int = 2) -> float:
    """Seconds for DuckDB to scan the record columns the engine reads, once (best of `repeats`)."""
    from credence.engines.batch import connect

    glob = _quote(str(snapshot_dir / "records" / "*" / "*.parquet"))
    best = float("inf")
    con = connect(memory_limit)
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            con.execute(f"SELECT {FLOOR_COLUMNS} FROM read_parquet({glob})").fetchall()
            best = min(best, time.perf_counter() - t0)
    finally:
        con.close()
    return best


@dataclass
class BatchResult:
    city_subjects: int
    seed: int
    city_rows: int
    records: int
    buckets: int
    snapshot_s: float
    snapshot_built: bool
    floor_s: float
    total_s: float
    sql_s: float
    assemble_s: float
    subjects: int
    peak_mib: float
    slowest_group_s: float
    outcomes: Counter[str] = field(default_factory=Counter)


def run_batch(args: argparse.Namespace, rulebook: Any) -> BatchResult:
    from credence.engines.batch import BatchEngine
    from credence.engines.snapshot import Snapshot
    from credence.synth.city import read_manifest

    work: Path = args.workdir
    if args.city is not None:
        city = args.city
        if not (city / "manifest.json").exists():
            raise SystemExit(f"--city {city}: no manifest.json (not a synthetic city)")
    else:
        city = work / f"city-{args.subjects}x{args.records_per_subject:g}-seed{args.seed}"
        ensure_city(city, args.subjects, args.seed, args.records_per_subject)
    manifest = read_manifest(city)
    out = work / f"snapshot-{city.name}-b{args.buckets}"
    info, snapshot_built = ensure_snapshot_from_city(city, out, args.buckets, args.memory_limit)
    snapshot = Snapshot(out, int(info["size"]), args.buckets)

    _say("floor: scanning the record columns with DuckDB (best of 2) ...")
    floor_s = scan_floor(out, args.memory_limit)
    _say(f"floor: {floor_s:.2f} s")

    engine = BatchEngine(snapshot, rulebook, manifest.as_of, memory_limit=args.memory_limit)
    outcomes: Counter[str] = Counter()
    subjects = 0

    tty = sys.stdout.isatty()

    def tick(done: int, total: int) -> None:
        sql = engine.timings.sql
        if tty:
            print(f"\rscore: bucket {done}/{total}, SQL {sql:.1f} s", end="", flush=True)
        else:
            _say(f"score: bucket {done}/{total}, SQL {sql:.1f} s so far")

    _say(f"score: {rulebook.name} {rulebook.version}, as of {manifest.as_of} ...")
    sampler = MemorySampler()
    sampler.start()
    t0 = time.perf_counter()
    for assessment in engine.run(progress=tick):
        subjects += 1
        outcomes[f"grade {assessment.grade}" if assessment.grade else "not graded"] += 1
    total_s = time.perf_counter() - t0
    peak_mib = sampler.stop()
    if tty:
        print()
    timings = engine.timings
    _say(
        f"score: {subjects:,} subjects in {total_s:.2f} s "
        f"(SQL {timings.sql:.2f} s, assembly {timings.assemble:.2f} s)"
    )
    return BatchResult(
        city_subjects=manifest.subjects,
        seed=manifest.seed,
        city_rows=int(info["city_rows"]),
        records=int(info["records"]),
        buckets=args.buckets,
        snapshot_s=float(info.get("build_s", 0.0)),
        snapshot_built=snapshot_built,
        floor_s=floor_s,
        total_s=total_s,
        sql_s=timings.sql,
        assemble_s=timings.assemble,
        subjects=subjects,
        peak_mib=peak_mib,
        slowest_group_s=max(timings.per_group, default=0.0),
        outcomes=outcomes,
    )


# --- store ----------------------------------------------------------------------------------


@dataclass
class StoreResult:
    population: int
    subjects: int
    records: int
    build_s: float
    samples: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


STORE_DONE = "bench-store.json"


def ensure_store(args: argparse.Namespace) -> tuple[Path, float]:
    """A registry holding an ingested synthetic city (built once); its data dir, ingest seconds."""
    from credence.ingest.pipeline import ingest_file
    from credence.settings import Settings
    from credence.store.registry import Registry
    from credence.synth.city import read_manifest

    per = args.store_records_per_subject
    base = args.workdir / f"store-{args.store_subjects}x{per:g}-seed{args.seed}"
    data = base / "data"
    try:
        done = json.loads((base / STORE_DONE).read_text())
        _say(f"store: reusing {data} ({done['records']:,} records)")
        return data, float(done["ingest_s"])
    except (OSError, ValueError, KeyError):
        pass
    if data.exists():  # an interrupted build: start again
        shutil.rmtree(data)
    city = base / "city"
    ensure_city(city, args.store_subjects, args.seed, per)
    manifest = read_manifest(city)
    _say(f"store: ingesting {manifest.records:,} rows into a fresh registry at {data} ...")
    t0 = time.perf_counter()
    registry, _ = Registry.init(Settings(data_dir=data))
    try:
        for spec in manifest.sources:
            registry.add_source(spec.name, list(spec.patterns))
        for spec in manifest.sources:
            report = ingest_file(registry, city / spec.file, spec.name, today=manifest.as_of)
            _say(f"  {spec.name:<20} {report.rows:>11,} rows, {report.accepted:>11,} accepted")
        records = registry.ledger_size()
    finally:
        registry.close()
    took = time.perf_counter() - t0
    info = {"subjects": manifest.subjects, "records": records, "ingest_s": round(took, 1)}
    (base / STORE_DONE).write_text(json.dumps(info, indent=2) + "\n")
    _say(f"store: {records:,} records ingested in {took:.1f} s")
    return data, took


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_store(args: argparse.Namespace, rulebook: Any) -> StoreResult:
    import sqlalchemy as sa

    from credence.engines.store import StoreEngine
    from credence.settings import Settings
    from credence.store.registry import Registry
    from credence.synth.city import read_manifest

    data, build_s = ensure_store(args)
    city = read_manifest(data.parent / "city")
    as_of, population = city.as_of, city.subjects
    registry = Registry.open(Settings(data_dir=data))
    try:
        with registry.engine.connect() as conn:
            subjects = [
                str(s)
                for s in conn.execute(sa.text("SELECT DISTINCT subject FROM records")).scalars()
            ]
            records = int(conn.execute(sa.text("SELECT count(*) FROM records")).scalar() or 0)
        picked = random.Random(args.seed).sample(subjects, min(args.samples, len(subjects)))
        warmup = picked[: min(20, len(picked))]
        times_ms: list[float] = []
        _say(f"store: assessing {len(picked):,} random subjects one at a time ...")
        with StoreEngine(registry.engine, rulebook, as_of) as engine:
            for subject in warmup:  # first calls compile and prepare the statements
                engine.assess(subject)
            for subject in picked:
                t0 = time.perf_counter_ns()
                engine.assess(subject)
                times_ms.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        registry.close()
    times_ms.sort()
    result = StoreResult(
        population=population,
        subjects=len(subjects),
        records=records,
        build_s=build_s,
        samples=len(times_ms),
        p50_ms=_percentile(times_ms, 50),
        p90_ms=_percentile(times_ms, 90),
        p99_ms=_percentile(times_ms, 99),
        max_ms=times_ms[-1],
        mean_ms=statistics.fmean(times_ms),
    )
    _say(f"store: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms")
    return result


# --- report ---------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def figures(
    batch: BatchResult | None, store: StoreResult | None
) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met) rows."""
    rows: list[tuple[str, str, str, str]] = []
    if batch is not None:
        b = batch
        rows += [
            ("DuckDB scan of the record columns (floor)", f"{b.floor_s:.2f} s", "", ""),
            (
                "batch scoring, total",
                f"{b.total_s:.2f} s = {b.total_s / b.floor_s:.2f}x floor "
                f"({b.subjects / b.total_s:,.0f} subjects/s)",
                f"<= {FLOOR_RATIO_TARGET:g}x floor",
                _met(b.total_s <= FLOOR_RATIO_TARGET * b.floor_s),
            ),
            (
                "  of which SQL (DuckDB)",
                f"{b.sql_s:.2f} s = {b.sql_s / b.floor_s:.2f}x floor",
                "",
                "",
            ),
            ("  of which Python assembly", f"{b.assemble_s:.2f} s", "", ""),
            (
                "peak RSS while scoring",
                f"{b.peak_mib:,.0f} MiB",
                f"< {PEAK_RSS_TARGET_MIB:,} MiB",
                _met(b.peak_mib < PEAK_RSS_TARGET_MIB),
            ),
        ]
    if store is not None:
        s = store
        rows += [
            ("one subject on the store, p50", f"{s.p50_ms:.2f} ms", "", ""),
            (
                "one subject on the store, p99",
                f"{s.p99_ms:.2f} ms (p90 {s.p90_ms:.2f}, max {s.max_ms:.2f})",
                f"< {STORE_P99_TARGET_MS:g} ms",
                _met(s.p99_ms < STORE_P99_TARGET_MS),
            ),
        ]
    return rows


def describe(
    args: argparse.Namespace,
    rulebook: Any,
    batch: BatchResult | None,
    store: StoreResult | None,
) -> list[str]:
    """Bullet lines saying what was measured on what."""
    import duckdb

    lines = [f"- machine: {machine(f'DuckDB {duckdb.__version__}')}"]
    lines.append(
        f"- rulebook: {rulebook.name} {rulebook.version} ({rulebook.content_hash[:19]}...)"
    )
    if batch is not None:
        b = batch
        lines.append(
            f"- batch data: synthetic city of {b.city_subjects:,} subjects, seed {b.seed}, "
            f"{b.city_rows:,} rows; snapshot of {b.records:,} records "
            f"({b.city_rows - b.records:,} malformed rows dropped) in {b.buckets} buckets, "
            "**built directly from the synthetic Parquet files with DuckDB, not exported "
            "from a ledger**"
            + (
                f" in {b.snapshot_s:.1f} s"
                if b.snapshot_built
                else f" (reused; built in {b.snapshot_s:.1f} s by an earlier run)"
            )
        )
        lines.append(
            f"- batch engine: DuckDB memory limit {args.memory_limit}; {b.subjects:,} subjects "
            f"assessed (those with records); slowest group of buckets "
            f"{b.slowest_group_s:.2f} s of SQL; "
            f"floor = `SELECT {FLOOR_COLUMNS}` over the snapshot, best of 2"
        )
    if store is not None:
        s = store
        lines.append(
            f"- store: SQLite registry of {s.records:,} ingested records on {s.subjects:,} "
            f"subjects (synthetic city of {s.population:,} subjects, "
            f"{args.store_records_per_subject:g} records per subject on average, the others "
            f"have none; ingested in {s.build_s:.0f} s); "
            f"`StoreEngine.assess` on {s.samples:,} random subjects after 20 warm-up calls, "
            f"mean {s.mean_ms:.2f} ms"
        )
    target_rows = TARGET_SUBJECTS * TARGET_RECORDS_PER_SUBJECT * 0.99
    small = (
        batch is not None
        and (batch.city_subjects < TARGET_SUBJECTS or batch.city_rows < target_rows)
    ) or (store is not None and store.population < TARGET_SUBJECTS)
    if small:
        lines.append(
            "- note: smaller than the target size (1M subjects / 20M records; 1M subjects on "
            "the store), so the pass/fail column is indicative only"
        )
    return lines


def print_summary(
    args: argparse.Namespace, rulebook: Any, batch: BatchResult | None, store: StoreResult | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    table = Table(
        "figure",
        "measured",
        "target",
        "met",
        title="Scoring benchmark (issue 3)",
        title_justify="left",
    )
    for row in figures(batch, store):
        table.add_row(*(cell.replace("**", "") for cell in row))
    console.print(table)
    for line in describe(args, rulebook, batch, store):
        console.print(line.replace("**", ""), highlight=False, markup=False)
    if batch is not None:
        grades = ", ".join(f"{k}: {v:,}" for k, v in sorted(batch.outcomes.items()))
        console.print(f"outcomes: {grades}", highlight=False, markup=False)


def record(
    args: argparse.Namespace, rulebook: Any, batch: BatchResult | None, store: StoreResult | None
) -> None:
    lines = [f"## Scoring (issue 3) — {dt.date.today().isoformat()}", ""]
    lines += describe(args, rulebook, batch, store)
    lines += ["", "| figure | measured | target | met |", "|---|---|---|---|"]
    for name, measured, target, met in figures(batch, store):
        lines.append(f"| {name.strip()} | {measured} | {target or '-'} | {met or '-'} |")
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(sep + "\n".join(lines) + "\n")
    print(f"recorded in {RESULTS}")


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subjects", type=int, default=TARGET_SUBJECTS)
    parser.add_argument("--records-per-subject", type=float, default=TARGET_RECORDS_PER_SUBJECT)
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rulebook", default="gov-default", help="preset name or YAML file")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit")
    parser.add_argument("--city", type=Path, default=None, help="reuse a synthesised city")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"cities, snapshot and store live here, reused by later runs ({DEFAULT_WORKDIR})",
    )
    parser.add_argument("--store-subjects", type=int, default=TARGET_SUBJECTS)
    parser.add_argument("--store-records-per-subject", type=float, default=2.0)
    parser.add_argument("--samples", type=int, default=2_000, help="subjects timed on the store")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.skip_batch and args.skip_store:
        parser.error("nothing to do: both --skip-batch and --skip-store")
    if args.buckets < 1 or args.samples < 1:
        parser.error("--buckets and --samples must be at least 1")
    args.workdir.mkdir(parents=True, exist_ok=True)

    from credence.core.catalogue import default_catalogue_path, load_catalogue
    from credence.core.rulebook import load_rulebook, resolve_rulebook_path

    rulebook = load_rulebook(
        resolve_rulebook_path(args.rulebook), load_catalogue(default_catalogue_path())
    )
    batch = None if args.skip_batch else run_batch(args, rulebook)
    store = None if args.skip_store else run_store(args, rulebook)
    print_summary(args, rulebook, batch, store)
    if args.record:
        record(args, rulebook, batch, store)


if __name__ == "__main__":
    main()
