"""The batch-scoring floor scans exactly the columns the batch engine reads.

`benchmarks/bench_score.py` measures batch scoring against DuckDB scanning
"the same snapshot columns" (`FLOOR_READS`). A floor scanning a column the
engine no longer reads flatters the ratio (sessions 21-22 scanned the records'
`subject`, unread since snapshot format 4); one missing a column the engine
reads would flatter the engine. The engine itself is the judge here, not a
list kept beside it: on a copy of a real snapshot holding only the floor's
columns it writes the very same lines, and with any one of them removed it
cannot run.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.rulebook import Rulebook, load_rulebook, resolve_rulebook_path
from credence.engines.batch import BatchEngine
from credence.engines.snapshot import Snapshot, ensure_snapshot
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import synthesise
from tests.conftest import write_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_score

AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    """gov-default: it scores organisations only and has record-entered lists that match
    exit records by an attribute, so every part of the engine reads the snapshot."""
    return load_rulebook(
        resolve_rulebook_path("gov-default"), load_catalogue(default_catalogue_path())
    )


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    root = tmp_path_factory.mktemp("floor")
    settings = Settings(data_dir=root / "data", score_buckets=4)
    registry, _ = Registry.init(settings)
    try:
        manifest = synthesise(root / "city", 3_000, seed=11, records_per_subject=5)
        for spec in manifest.sources:
            registry.add_source(spec.name, list(spec.patterns))
            ingest_file(registry, root / "city" / spec.file, spec.name, use_worker=False)
        # A correction, so corrections/ holds a row the engine must read.
        first = pq.read_table(root / "city" / manifest.sources[0].file).slice(0, 1).to_pylist()[0]
        fix = {k: first[k] for k in ("subject", "occurred_on") if first.get(k) is not None}
        fix.update(reference="FLOOR-FIX", corrects=first["reference"], item="revocation")
        ingest_file(
            registry,
            write_csv(root / "fix.csv", [fix]),
            manifest.sources[0].name,
            use_worker=False,
        )
        yield ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    finally:
        registry.close()


def _lines(snapshot: Snapshot, rulebook: Rulebook) -> bytes:
    sink = io.BytesIO()
    BatchEngine(snapshot, rulebook, AS_OF).write_jsonl(sink)
    return sink.getvalue()


def _copy(snapshot: Snapshot, into: Path, keep: dict[str, set[str]]) -> Snapshot:
    """The snapshot's files with only the columns `keep` names, folder by folder."""
    if into.exists():
        shutil.rmtree(into)
    for folder, glob in bench_score.FLOOR_GLOBS.items():
        for path in snapshot.path.glob(glob):
            table = pq.read_table(path, partitioning=None)
            target = into / path.relative_to(snapshot.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table.select([c for c in table.column_names if c in keep[folder]]), target
            )
    return Snapshot(into, snapshot.size, snapshot.buckets)


def _floor_columns() -> dict[str, set[str]]:
    return {folder: set(columns) for folder, columns in bench_score.FLOOR_READS.items()}


def test_the_city_exercises_every_read(snapshot: Snapshot, rulebook: Rulebook) -> None:
    """Lines with scores, people (unscored), listings by record, and a correction."""
    lines = _lines(snapshot, rulebook)
    assert b'"kind":"person"' in lines and b'"kind":"organisation"' in lines
    assert b'"list":"judgment-defaulters"' in lines
    corrected = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM read_parquet('{snapshot.path}/corrections/*.parquet') "
            "WHERE corrects_seq IS NOT NULL"
        )
        .fetchone()
    )
    assert corrected is not None and corrected[0] >= 1


def test_the_floors_columns_are_all_the_engine_reads(
    snapshot: Snapshot, rulebook: Rulebook, tmp_path: Path
) -> None:
    only = _copy(snapshot, tmp_path / "only", _floor_columns())
    assert _lines(only, rulebook) == _lines(snapshot, rulebook)


@pytest.mark.parametrize(
    ("folder", "column"),
    [(f, c) for f, columns in bench_score.FLOOR_READS.items() for c in columns],
)
def test_the_engine_reads_every_column_of_the_floor(
    snapshot: Snapshot, rulebook: Rulebook, tmp_path: Path, folder: str, column: str
) -> None:
    keep = _floor_columns()
    keep[folder].discard(column)
    without = _copy(snapshot, tmp_path / "without", keep)
    with pytest.raises(duckdb.Error, match=column):
        _lines(without, rulebook)
