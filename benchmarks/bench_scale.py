"""Scale benchmark: a 10-million-subject snapshot scored by DuckDB in buckets, bounded memory.

Usage: python benchmarks/bench_scale.py [--copies K] [--buckets B] [--memory-limit M]
       [--group-mib G] [--city DIR] [--workdir DIR] [--generate-only] [--drop]

Data: the snapshot is GENERATED, NOT INGESTED. Ingesting 200 million rows
through the ordinary pipeline would take hours on this machine (and drawing
them one by one with the synthesiser over two hours under load), so:

1. the records of a synthetic city are drawn by `credence.synth` (the city
   bench_score ingests: 2,200,000 subjects, 9.1 records each, seed 1, about
   20 million records of the default catalogue's items, with its
   heavy-tailed activity, attribute documents and performances after
   listings); it is reused from bench_score's work directory when there,
   synthesised otherwise;
2. its rows are written `--copies` times (default 10) straight into the
   snapshot's format (the columns `snapshot` writes, with the subjects'
   numbers and start days it derives, `records/bucket=K/` parts and the
   `subjects/bucket=K/` numbering, the same bucket hash, a manifest), copy
   c's subjects with their
   last character (a check digit) replaced by the letter c, so each copy is
   a city of different subjects with the same record mix. Rows whose
   subject, dates or attributes are malformed (the synthesiser's
   deliberately bad rows, 0.1%, which ingest would reject: a ledger never
   holds attributes that are not JSON) are left out; the few bad rows that
   look well-formed (an unknown item, a wrong check digit) stay in. The
   `salt` column (never read by scoring) is left empty, and there are no
   corrections.

About 45% of the city's subjects have records, so ten copies hold about
10 million subjects and 200 million records; the figures name the exact
counts. The snapshot is cached under `--workdir` (default
/tmp/credence-bench-scale/) and reused; `--drop` removes it after the run.

Then `BatchEngine.write_jsonl` (what `credence score --engine duckdb --out
FILE` runs) scores it, bucket group by bucket group, in a child process
whose resident memory (with its own children) is sampled every 0.1 s. The
JSON lines are counted and thrown away, so no 50 GB file is left behind.

Target (issue 12): 10 million subjects / 200 million records scored on
DuckDB under 8 GB peak.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import table
from bench_score import cpu_seconds, ensure_city, scan_floor_cpu
from measure import MemorySampler

DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "credence-bench-scale"
# The city bench_score ingests (its defaults), reused from its work directory when there.
CITY_SUBJECTS, CITY_PER_SUBJECT, CITY_SEED = 2_200_000, 9.1, 1
DEFAULT_CITY = (
    Path(tempfile.gettempdir())
    / "credence-bench-score"
    / f"registry-{CITY_SUBJECTS}x{CITY_PER_SUBJECT:g}-seed{CITY_SEED}"
    / "city"
)
PEAK_RSS_TARGET_MIB = 8 * 1024


def _say(text: str) -> None:
    print(text, flush=True)


# --- generating the snapshot ----------------------------------------------------------------


def generate(path: Path, city: Path, copies: int, buckets: int) -> int:
    """Write `copies` copies of the city's records as a snapshot at `path`; the records written.

    Copy c's subjects are the city's with the last character (a check digit)
    replaced by the letter c, so every copy holds different subjects with the
    same record mix; seqs run on from copy to copy.
    """
    import pyarrow.parquet as pq

    from credence.engines import snapshot as snap
    from credence.engines.batch import connect

    if path.exists():
        shutil.rmtree(path)
    (path / "records").mkdir(parents=True, mode=0o700)
    files = sorted(city.glob("*.parquet"))
    # A row's seq: its file's offset plus its row number in the file, so every copy numbers
    # the rows alike without a sort (rows left out leave gaps, as ledger entries do).
    offsets, total = [], 0
    for file in files:
        offsets.append(total)
        total += pq.ParquetFile(file).metadata.num_rows
    first = " ".join(f"WHEN {_quote(str(f))} THEN {o}" for f, o in zip(files, offsets, strict=True))
    con = connect("2GB")
    con.execute("SET preserve_insertion_order = false")
    t0 = time.perf_counter()
    try:
        for c in range(copies):
            subject = f"left(subject, -1) || '{chr(ord('A') + c)}'"
            rows = (
                f"SELECT CASE filename {first} END + file_row_number + {c * total} AS seq, "
                f"{subject} AS subject, item, occurred_on, decided_on, attributes, "
                "CAST(NULL AS BIGINT) AS corrects_seq, reference, "
                "regexp_extract(filename, '([^/]+)[.]parquet$', 1) AS source, "
                "CAST(NULL AS VARCHAR) AS corrects, CAST(NULL AS BLOB) AS salt "
                f"FROM read_parquet({_quote(str(city / '*.parquet'))}, filename = true, "
                "file_row_number = true) WHERE (subject LIKE 'ric:%' OR subject LIKE 'uscc:%') "
                "AND length(subject) > 6 AND try_cast(occurred_on AS DATE) IS NOT NULL "
                "AND (decided_on IS NULL OR try_cast(decided_on AS DATE) IS NOT NULL) "
                "AND (attributes IS NULL OR json_valid(attributes))"
            )
            # The columns the export derives (snapshot FORMAT 4): each subject's number from
            # its first record, the records' start days, and subjects/ numbering them.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE numbered AS SELECT subject, "
                f"{snap.subject_number_sql('subject', 'min(seq)')} AS sid FROM ({rows}) "
                "GROUP BY subject"
            )
            # Each bucket's records one file set a kind of subject (FORMAT 5), as the
            # export writes them (`snapshot.kind_copies`).
            derived = (
                f"(SELECT r.*, {snap.start_day_sql('r.decided_on', 'r.occurred_on')} "
                f"AS start_day, n.sid, {snap.bucket_sql('r.subject', buckets)} AS bucket "
                f"FROM ({rows}) r JOIN numbered n USING (subject))"
            )
            part = f"part-{c * total:012d}"
            for statement in snap.kind_copies(derived, path / "records", part, ordered=False):
                con.execute(statement)
            con.execute(
                f"COPY (SELECT subject, sid, {snap.bucket_sql('subject', buckets)} AS bucket "
                f"FROM numbered) TO {_quote(str(path / 'subjects'))} (FORMAT parquet, "
                f"PARTITION_BY (bucket), FILENAME_PATTERN 'part-{c * total:012d}-{{i}}', "
                "OVERWRITE_OR_IGNORE true)"
            )
            _say(f"  copy {c + 1}/{copies} ({time.perf_counter() - t0:.0f} s)")
        parts = _quote(str(path / "records" / "*" / "*.parquet"))
        found = con.execute(f"SELECT count(*) FROM read_parquet({parts})").fetchone()
    finally:
        con.close()
    written = int(found[0]) if found else 0
    manifest = {
        "format": snap.FORMAT,
        "size": copies * total,
        "buckets": buckets,
        "root": None,
        "hash_probe": snap.hash_probe(),
        "generated": {"city": str(city), "copies": copies},
    }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return written


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- scoring ----------------------------------------------------------------------------------


class _Counting:
    """A sink that counts the bytes and lines written, and keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, data: Any) -> int:
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.bytes += n
        return n


def _score(path: str, buckets: int, memory_limit: str, group_mib: int, out: str) -> None:
    """Score the snapshot at `path` (in a child process); write timings to `out`."""
    import datetime as dt

    from credence.core.catalogue import default_catalogue_path, load_catalogue
    from credence.core.rulebook import load_rulebook, resolve_rulebook_path
    from credence.engines.batch import BatchEngine
    from credence.engines.snapshot import Snapshot
    from credence.synth.city import DEFAULT_AS_OF

    manifest = json.loads((Path(path) / "manifest.json").read_text())
    snapshot = Snapshot(Path(path), int(manifest["size"]), buckets)
    rulebook = load_rulebook(
        resolve_rulebook_path("gov-default"), load_catalogue(default_catalogue_path())
    )
    as_of: dt.date = DEFAULT_AS_OF
    engine = BatchEngine(
        snapshot,
        rulebook,
        as_of,
        memory_limit=memory_limit,
        group_bytes=group_mib * 2**20,
    )
    sink = _Counting()
    t0, c0 = time.perf_counter(), cpu_seconds()
    groups = len(snapshot.groups(engine.group_bytes))

    def tick(done: int, total: int) -> None:
        _say(f"  group {done}/{total} ({time.perf_counter() - t0:.0f} s)")

    run = engine.write_jsonl(sink_any(sink), tick)
    took = time.perf_counter() - t0
    result = {
        "cpu": cpu_seconds() - c0,
        "assessed": run.assessed,
        "held": engine.subjects_held,
        "records": snapshot.size,
        "seconds": took,
        "sql": engine.timings.sql,
        "assemble": engine.timings.assemble,
        "slowest_group": max(engine.timings.per_group, default=0.0),
        "groups": groups,
        "out_bytes": sink.bytes,
        "rulebook": f"{rulebook.name} {rulebook.version}",
        "as_of": as_of.isoformat(),
    }
    Path(out).write_text(json.dumps(result))


def sink_any(sink: _Counting) -> BinaryIO:
    return sink  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the city's records")
    parser.add_argument("--buckets", type=int, default=128)
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit")
    parser.add_argument("--group-mib", type=int, default=256, help="Parquet MiB per bucket group")
    parser.add_argument("--city", type=Path, default=DEFAULT_CITY, help="a synthetic city's feeds")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--drop", action="store_true", help="remove the snapshot afterwards")
    args = parser.parse_args()
    if args.copies < 1 or args.copies > 26 or args.buckets < 1:
        parser.error("--copies must be 1 to 26 and --buckets at least 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not (args.city / "manifest.json").exists():
        ensure_city(args.city, CITY_SUBJECTS, CITY_SEED, CITY_PER_SUBJECT)
    path = args.workdir / f"snapshot-{args.city.parent.name}-x{args.copies}-b{args.buckets}"
    done = path / "manifest.json"
    if done.exists():
        _say(f"snapshot: reusing {path}")
    else:
        _say(f"snapshot: writing {args.copies} copies of {args.city} into {path} ...")
        t0 = time.perf_counter()
        generate(path, args.city, args.copies, args.buckets)
        _say(f"snapshot: generated in {time.perf_counter() - t0:.0f} s")
    manifest = json.loads(done.read_text())
    parquet = sum(f.stat().st_size for f in path.rglob("*.parquet"))
    _say(f"snapshot: {manifest['size']:,} records, {parquet / 2**30:.1f} GiB of Parquet")
    if args.generate_only:
        return
    _say("floor: scanning the snapshot columns with DuckDB (best of 2) ...")
    floor_s, floor_cpu_s = scan_floor_cpu(path, args.memory_limit)
    _say(f"floor: {floor_s:.1f} s ({floor_cpu_s:.1f} s CPU)")
    out = args.workdir / "score-result.json"
    _say(f"score: gov-default, {args.buckets} buckets, DuckDB memory limit {args.memory_limit}")
    sampler = MemorySampler()
    sampler.start()
    proc = mp.get_context("spawn").Process(
        target=_score,
        args=(str(path), args.buckets, args.memory_limit, args.group_mib, str(out)),
    )
    proc.start()
    proc.join()
    peak_mib = sampler.stop()
    if proc.exitcode != 0:
        raise SystemExit(f"scoring failed (exit code {proc.exitcode})")
    r = json.loads(out.read_text())
    _say(
        f"score: {r['assessed']:,} subjects / {r['records']:,} records in {r['seconds']:.0f} s "
        f"({r['cpu']:.0f} s CPU), "
        f"peak {peak_mib:,.0f} MiB"
    )
    load = f"load average {os.getloadavg()[0]:.2f}"
    figures = [
        table.Figure(
            name=f"batch scoring at scale, {r['assessed']:,} subjects / {r['records']:,} "
            "records, DuckDB, peak memory",
            value=round(peak_mib),
            unit="MiB",
            at_most=PEAK_RSS_TARGET_MIB,
            note=(
                f"snapshot generated, not ingested ({args.copies} copies of the records of "
                f"{args.city}, {parquet / 2**30:.1f} GiB Parquet); resident memory "
                "of the scoring process and its children, sampled every 0.1 s; "
                f"{args.buckets} buckets in {r['groups']} groups of ~{args.group_mib} MiB; "
                f"DuckDB memory limit {args.memory_limit}; {r['rulebook']}; {load}"
            ),
        ),
        table.Figure(
            name=f"batch scoring at scale, {r['assessed']:,} subjects / {r['records']:,} "
            "records, DuckDB, time",
            value=round(r["seconds"], 1),
            unit="s",
            floor=round(floor_s, 1),
            floor_name="DuckDB scan of the same snapshot columns",
            note=(
                f"CPU time {r['cpu']:.0f} s against the scan's {floor_cpu_s:.0f} s; "
                f"`BatchEngine.write_jsonl` of every subject's JSON line "
                f"({r['out_bytes'] / 2**30:.1f} GiB, counted, not kept); SQL {r['sql']:.0f} s, "
                f"writing lines {r['assemble']:.0f} s, slowest group {r['slowest_group']:.0f} s; "
                f"{load}"
            ),
        ),
    ]
    table.add(*figures)
    table.print_table(figures)
    if args.drop:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
