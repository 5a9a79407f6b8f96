"""Benchmark of the checks an outsider relies on: verify, checkpoints, proofs, snapshot proof.

Builds (or reuses) a synthetic city's registry and times, each on the whole
registry:

- `credence verify` with a checkpoint (every record recomputed, every entry,
  head and root, one consistency proof), in its two worker processes;
- the cheap integrity checks `score` and `explain` run first;
- an inclusion proof and a consistency proof (one streaming pass each);
- the batch snapshot's proof: in full (every row's leaf recomputed in
  DuckDB into the signed root), then incrementally after one more batch
  (only the new part recomputed, older files checked by digest under a MAC).

Usage: python benchmarks/bench_trust.py [--subjects N] [--dir DIR] [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from measure import MemorySampler, machine, open_cached

from credence.engines.snapshot import ensure_snapshot
from credence.engines.snapshot_check import check_snapshot
from credence.engines.snapshot_state import STATE_FILE, mac_key
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store import proofs
from credence.store.integrity import quick_check
from credence.store.registry import Registry
from credence.store.verify import CheckpointClaim, verify_registry
from credence.synth.city import synthesise

RESULTS = Path(__file__).with_name("RESULTS.md")


def build(data: Path, subjects: int) -> Registry:
    """A registry of a `subjects`-strong city at 10 records per subject (reused if present)."""
    settings = Settings(data_dir=data)
    if (data / "credence.db").exists():
        return open_cached(settings)
    registry, _ = Registry.init(settings)
    city = data / "city"
    manifest = synthesise(city, subjects, 2026, records_per_subject=10.0)
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
    for spec in manifest.sources:
        ingest_file(registry, city / spec.file, spec.name, today=manifest.as_of)
    return registry


def _head_near(registry: Registry, size: int) -> int:
    """The largest signed size at or below `size`: a checkpoint someone kept earlier."""
    import sqlalchemy as sa

    from credence.store.schema import tree_heads

    query = sa.select(sa.func.max(tree_heads.c.size)).where(tree_heads.c.size <= size)
    with registry.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 1)


def timed(label: str, results: dict[str, float], fn: object) -> object:
    started = time.perf_counter()
    out = fn()  # type: ignore[operator]
    results[label] = time.perf_counter() - started
    print(f"{label}: {results[label]:.2f} s")
    return out


def run(data: Path, subjects: int) -> tuple[dict[str, float], int, float]:
    registry = build(data, subjects)
    key = registry.signing_key()
    head = registry.latest_tree_head()
    assert head is not None
    half = proofs.signed_head(registry.engine, _head_near(registry, head.size // 2))
    claim = CheckpointClaim("bench", half.size, half.root)
    results: dict[str, float] = {}
    sampler = MemorySampler()
    sampler.start()
    report = timed("verify", results, lambda: verify_registry(registry, checkpoints=(claim,)))
    assert report.ok, report.problems  # type: ignore[attr-defined]
    timed("integrity checks", results, lambda: quick_check(registry, key.public_key()))
    timed("inclusion proof", results, lambda: proofs.inclusion(registry.engine, 7, head.size))
    timed("consistency proof", results, lambda: proofs.consistency(registry.engine, 7, head.size))
    settings = registry.settings
    snap = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    (snap.path / STATE_FILE).unlink(missing_ok=True)
    args = (registry.engine, registry.subject_key(), key.public_key(), mac_key(key))
    timed("snapshot proof, full", results, lambda: check_snapshot(snap, *args))
    timed("snapshot proof, nothing new", results, lambda: check_snapshot(snap, *args))
    registry.add_source("bench-extra", ["judicial.*"])  # one more signed entry
    grown = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    label = "snapshot proof, incremental (one new entry, no new rows)"
    timed(label, results, lambda: check_snapshot(grown, *args))
    peak = sampler.stop()
    registry.close()
    return results, head.size, peak


def record(results: dict[str, float], size: int, peak: float, subjects: int) -> None:
    lines = [
        f"\n### Trust checks, {size:,} ledger entries ({dt.date.today()})\n",
        f"- machine: {machine()}",
        f"- registry: synthetic city of {subjects:,} subjects, 10 records per subject "
        "(`benchmarks/bench_trust.py`)",
    ]
    lines += [f"- {label}: {seconds:.2f} s" for label, seconds in results.items()]
    lines.append(f"- peak memory (this process and its workers, RSS): {peak:,.0f} MiB\n")
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print(f"recorded in {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("bench-data/trust"))
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    results, size, peak = run(args.dir, args.subjects)
    if args.record:
        record(results, size, peak, args.subjects)


if __name__ == "__main__":
    main()
