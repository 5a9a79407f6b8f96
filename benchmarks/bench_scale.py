"""Scale benchmark: a 10-million-subject snapshot scored by DuckDB in buckets, bounded memory.

Usage: python benchmarks/bench_scale.py [--subjects N] [--records-per-subject R]
       [--buckets B] [--memory-limit M] [--group-mib G] [--workdir DIR] [--keep]

Data: the snapshot is GENERATED, NOT INGESTED. Ingesting 200 million rows
through the ordinary pipeline would take hours on this machine, so the
records are drawn with the synthetic city's own generator
(`credence.synth`: its population, heavy-tailed activity, item mix from the
default catalogue, attribute documents, performances after listings) and
written straight into the snapshot's format (`snapshot._write_part`: the
same columns, the same `records/bucket=K/part-*.parquet` layout, the same
bucket hash, a manifest). Bad rows are not drawn (ingest would reject them)
and there are no corrections. The city has `--subjects` subjects, of whom
under half get records (activity is skewed), so the default city of
22,000,000 at 9.1 records each gives about 10 million subjects with about 20
records each: 200 million records. The figures name the exact counts.

The snapshot is cached under `--workdir` (default
/tmp/credence-bench-scale/snapshot-<subjects>x<per>-b<buckets>) and reused;
`--drop` removes it after the run. Then `BatchEngine.write_jsonl` (what
`credence score --engine duckdb --out FILE` runs) scores it in a child
process whose resident memory (with its own children) is sampled every
0.1 s; the JSON lines go to /dev/null-like counting sink, so the disk is
not the bottleneck and no 40 GB file is left behind.

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
from measure import MemorySampler

DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "credence-bench-scale"
DEFAULT_SUBJECTS = 22_000_000  # under half get records: ~10M subjects assessed
DEFAULT_RECORDS_PER_SUBJECT = 9.1  # of the city: ~200M records, ~20 per subject with any
PEAK_RSS_TARGET_MIB = 8 * 1024
WRITE_ROWS = 4_000_000  # records gathered before one Parquet part is written


def _say(text: str) -> None:
    print(text, flush=True)


# --- generating the snapshot ----------------------------------------------------------------


def generate(path: Path, subjects: int, per_subject: float, buckets: int, seed: int) -> int:
    """Write a snapshot of a synthetic city's records at `path`; the records written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from credence.core.catalogue import default_catalogue_path, load_catalogue
    from credence.engines import snapshot as snap
    from credence.engines.batch import connect
    from credence.synth.arrays import epoch_day
    from credence.synth.attributes import attributes_column
    from credence.synth.city import CHUNK_RECORDS, DEFAULT_AS_OF
    from credence.synth.items import item_table, source_specs
    from credence.synth.population import population, streams
    from credence.synth.records import activity, draw_chunk
    from credence.synth.text import iso_dates, join, padded

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    items = item_table(load_catalogue(default_catalogue_path()), source_specs("parquet"))
    pop = population(subjects, seed, DEFAULT_AS_OF)
    _pop_rng, rng, _bad_rng = streams(seed)
    cum = activity(pop, rng)
    today = epoch_day(DEFAULT_AS_OF)
    codes = pa.array(items.codes, pa.string())
    sources = pa.array([s.name for s in items.sources], pa.string())
    salts = np.random.default_rng(seed + 1)
    con = connect("2GB")
    target = round(subjects * per_subject)
    drawn = written = 0
    pending: list[pa.Table] = []
    t0 = time.perf_counter()

    def flush() -> None:
        nonlocal written
        if not pending:
            return
        chunk = pa.concat_tables(pending)
        pending.clear()
        snap._write_part(con, path, chunk, written, buckets)
        written += chunk.num_rows
        rate = written / (time.perf_counter() - t0)
        _say(f"  generated {written:,} records ({rate:,.0f}/s)")

    try:
        while drawn < target:
            rows = draw_chunk(min(CHUNK_RECORDS, target - drawn), pop, cum, items, today, rng)
            drawn += rows.item.size
            n = rows.item.size
            lo = written + sum(t.num_rows for t in pending)
            seq = np.arange(lo, lo + n, dtype=np.int64)
            salt = salts.bytes(16 * n)
            pending.append(
                pa.table(
                    {
                        "seq": pa.array(seq),
                        "subject": pc.take(pop.keys, pa.array(rows.subject)),
                        "item": pc.take(codes, pa.array(rows.item)),
                        "occurred_on": iso_dates(rows.occurred),
                        "decided_on": iso_dates(rows.decided),
                        "attributes": attributes_column(rows, items, pop, rng),
                        "corrects_seq": pa.nulls(n, pa.int64()),
                        "reference": join("G-", padded(seq, 10)),
                        "source": pc.take(sources, pa.array(items.source_of[rows.item])),
                        "corrects": pa.nulls(n, pa.string()),
                        "salt": pa.FixedSizeBinaryArray.from_buffers(
                            pa.binary(16), n, [None, pa.py_buffer(salt)]
                        ).cast(pa.binary()),
                    },
                    schema=snap._SCHEMA,
                )
            )
            if sum(t.num_rows for t in pending) >= WRITE_ROWS:
                flush()
        flush()
    finally:
        con.close()
    manifest = {
        "format": snap.FORMAT,
        "size": written,
        "buckets": buckets,
        "root": None,
        "hash_probe": snap.hash_probe(),
        "generated": {"subjects": subjects, "records_per_subject": per_subject, "seed": seed},
    }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return written


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
    t0 = time.perf_counter()
    groups = len(snapshot.groups(engine.group_bytes))

    def tick(done: int, total: int) -> None:
        _say(f"  group {done}/{total} ({time.perf_counter() - t0:.0f} s)")

    run = engine.write_jsonl(sink_any(sink), tick)
    took = time.perf_counter() - t0
    result = {
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
    parser.add_argument("--subjects", type=int, default=DEFAULT_SUBJECTS)
    parser.add_argument("--records-per-subject", type=float, default=DEFAULT_RECORDS_PER_SUBJECT)
    parser.add_argument("--buckets", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit")
    parser.add_argument("--group-mib", type=int, default=256, help="Parquet MiB per bucket group")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--drop", action="store_true", help="remove the snapshot afterwards")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    name = f"snapshot-{args.subjects}x{args.records_per_subject:g}-b{args.buckets}-s{args.seed}"
    path = args.workdir / name
    done = path / "manifest.json"
    generate_s = 0.0
    if done.exists():
        _say(f"snapshot: reusing {path}")
    else:
        _say(f"snapshot: generating {args.subjects:,} subjects into {path} ...")
        t0 = time.perf_counter()
        generate(path, args.subjects, args.records_per_subject, args.buckets, args.seed)
        generate_s = time.perf_counter() - t0
        _say(f"snapshot: generated in {generate_s:.0f} s")
    manifest = json.loads(done.read_text())
    parquet = sum(f.stat().st_size for f in path.rglob("*.parquet"))
    _say(f"snapshot: {manifest['size']:,} records, {parquet / 2**30:.1f} GiB of Parquet")
    if args.generate_only:
        return

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
        f"score: {r['assessed']:,} subjects / {r['records']:,} records in {r['seconds']:.0f} s, "
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
                f"snapshot generated, not ingested (synthetic city of {args.subjects:,} "
                f"subjects, seed {args.seed}, {parquet / 2**30:.1f} GiB Parquet); resident memory "
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
            note=(
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
