"""The Spark engine gives every subject the line the store and DuckDB engines give.

All three engines run the same compiled rulebook; here their JSON lines are
compared subject by subject and byte for byte (score, grade, records, lists
with their dates and records, measures, reasons, limits, rulebook, ledger),
for every preset, as of today and as of a past day, on a synthetic city with
corrections that move records between subjects. The small city runs in
`make test` when PySpark is installed; the national one (100,000 subjects)
is also `slow`, for `.ci/run` (`pytest -m spark`).

Expected lines come from the store engine (SQLite, assessment by assessment
in Python), which shares none of the Spark engine's SQL for assembling them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from credence.core.rulebook import Rulebook, load_rulebook, preset_names, resolve_rulebook_path
from credence.engines.batch import BatchEngine
from credence.engines.errors import SnapshotError
from credence.engines.snapshot import Snapshot, ensure_snapshot
from credence.engines.spark_snapshot import SparkInput, export_snapshot, read_export
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import synthesise
from tests.engines.test_engines_identical import _correct_some

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

TODAY = dt.date(2026, 11, 1)  # the synthetic city's day
PAST = dt.date(2025, 6, 1)
LEDGER = {"size": 12, "root": 'ab"cd\\'}  # quoted and escaped like any JSON text


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """One local Spark for every test (starting the JVM costs seconds)."""
    pytest.importorskip("pyspark")
    from credence.engines.spark_session import spark_session

    return spark_session("local[2]", memory="1g", shuffle_partitions=2)


def _city(root: Path, subjects: int, buckets: int) -> tuple[Registry, Settings, Snapshot]:
    settings = Settings(data_dir=root / "data", score_buckets=buckets)
    registry, _ = Registry.init(settings)
    manifest = synthesise(root / "city", subjects, seed=11, records_per_subject=4)
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
        ingest_file(registry, root / "city" / spec.file, spec.name, use_worker=False)
    first = manifest.sources[0]
    _correct_some(registry, root, first.name, root / "city" / first.file)
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    return registry, settings, snapshot


@pytest.fixture(scope="module")
def small_city(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, Settings, Snapshot]]:
    registry, settings, snapshot = _city(tmp_path_factory.mktemp("spark-city"), 3_000, 4)
    yield registry, settings, snapshot
    registry.close()


def _store_lines(
    registry: Registry, rulebook: Rulebook, as_of: dt.date, known: int | None
) -> dict[str, bytes]:
    with StoreEngine(registry.engine, rulebook, as_of, known, LEDGER) as store:
        return {a.subject: orjson.dumps(a.to_dict()) for a in store.assess_all()}


def _duckdb_lines(
    snapshot: Snapshot, rulebook: Rulebook, as_of: dt.date, known: int | None
) -> dict[str, bytes]:
    sink = io.BytesIO()
    BatchEngine(snapshot, rulebook, as_of, known, ledger=LEDGER).write_jsonl(sink)
    return _by_subject(sink.getvalue())


def _by_subject(text: bytes) -> dict[str, bytes]:
    if not text:
        return {}
    assert text.endswith(b"\n")
    lines = text[:-1].split(b"\n")
    found = {orjson.loads(line)["subject"]: line for line in lines}
    assert len(found) == len(lines), "a subject came out twice"
    return found


def _spark_lines(
    spark: SparkSession,
    source: SparkInput,
    rulebook: Rulebook,
    as_of: dt.date,
    known: int | None,
) -> tuple[dict[str, bytes], list[bytes], int, Counter[str]]:
    from credence.engines.spark import SparkEngine

    sink = io.BytesIO()
    run = SparkEngine(spark, source, rulebook, as_of, known).write(None, "jsonl", LEDGER, sink)
    text = sink.getvalue()
    counted: Counter[str] = Counter()
    for o in run.outcomes:
        counted[f"{o.kind.value} {o.grade}"] += o.subjects
        for name, colour in o.lists:
            counted[f"list {name} {colour}"] += o.subjects
        for measure in o.measures:
            counted[f"measure {measure}"] += o.subjects
    lines = text[:-1].split(b"\n") if text else []
    assert run.assessed == len(lines)
    return _by_subject(text), lines, run.subjects_held, counted


def _counts(lines: dict[str, bytes]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for line in lines.values():
        a = orjson.loads(line)
        counted[f"{a['kind']} {a['grade']}"] += 1
        for listing in a["lists"]:
            counted[f"list {listing['list']} {listing['colour']}"] += 1
        for measure in a["measures"]:
            counted[f"measure {measure}"] += 1
    return counted


def _assert_same(expected: dict[str, bytes], got: dict[str, bytes], engine: str) -> None:
    assert got.keys() == expected.keys(), engine
    differ = [s for s in expected if expected[s] != got[s]]
    assert not differ, (engine, len(differ), expected[differ[0]], got[differ[0]])


def _three_engines(
    spark: SparkSession,
    registry: Registry,
    snapshot: Snapshot,
    preset: str,
    as_of: dt.date,
    known: int | None,
) -> dict[str, bytes]:
    rulebook = load_rulebook(resolve_rulebook_path(preset), registry.catalogue)
    on_store = _store_lines(registry, rulebook, as_of, known)
    on_duckdb = _duckdb_lines(snapshot, rulebook, as_of, known)
    source = SparkInput(snapshot.path, snapshot.buckets, LEDGER)
    on_spark, in_order, held, counted = _spark_lines(spark, source, rulebook, as_of, known)
    _assert_same(on_store, on_duckdb, f"duckdb, {preset} as of {as_of}")
    _assert_same(on_store, on_spark, f"spark, {preset} as of {as_of}")
    # Lines come in subject order, and the outcome counts are those of the lines.
    subjects = [orjson.loads(line)["subject"] for line in in_order]
    assert subjects == sorted(subjects)
    assert counted == _counts(on_store)
    with StoreEngine(registry.engine, rulebook, as_of, known) as store:
        assert held == store.subjects_held() >= len(on_spark)
    # The comparison means something only if the city exercises the rules.
    assert len(on_store) > 500
    assert any(b'"reasons":[{' in line for line in on_store.values()) or rulebook.score is None
    if rulebook.lists:
        assert any(
            b'"records":[' in line and b'"lists":[]' not in line for line in on_spark.values()
        )
    return on_spark


def test_spark_duckdb_and_store_agree_on_every_subject(
    spark: SparkSession, small_city: tuple[Registry, Settings, Snapshot]
) -> None:
    """Every preset, today and a past day: one test, so `make test -n 2` starts one JVM."""
    registry, _, snapshot = small_city
    for preset in preset_names():
        for as_of in (TODAY, PAST):
            _three_engines(spark, registry, snapshot, preset, as_of, None)


@pytest.mark.slow  # each Spark run costs seconds of fixed overhead: these run in .ci/run
def test_spark_replays_what_the_ledger_held_earlier(
    spark: SparkSession, small_city: tuple[Registry, Settings, Snapshot]
) -> None:
    """--known-at: only records before a past size count (and corrections after it do not)."""
    registry, _, snapshot = small_city
    known = registry.ledger_size() // 2
    _three_engines(spark, registry, snapshot, "gov-default", TODAY, known)


@pytest.mark.slow
def test_an_export_scores_the_same_and_refuses_a_changed_file(
    spark: SparkSession, small_city: tuple[Registry, Settings, Snapshot], tmp_path: Path
) -> None:
    """The copy for a cluster carries the suppressions and the head, and checks its files."""
    registry, _, snapshot = small_city
    rulebook = load_rulebook(resolve_rulebook_path("gov-default"), registry.catalogue)
    dest = tmp_path / "export"
    manifest = export_snapshot(snapshot, LEDGER, [], dest)
    assert manifest["buckets"] == snapshot.buckets == 4
    assert {p.split("/")[1] for p in manifest["files"] if p.startswith("records/")} == {
        f"bucket={b}" for b in range(4)
    }
    source = read_export(dest)
    assert source.ledger == LEDGER and source.buckets == 4
    got, _, _, _ = _spark_lines(spark, source, rulebook, TODAY, None)
    _assert_same(_store_lines(registry, rulebook, TODAY, None), got, "spark export")
    victim = sorted(dest.glob("records/bucket=*/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-1] + b"!")
    with pytest.raises(SnapshotError, match="SHA-256"):
        read_export(dest)
    (dest / "stray.parquet").write_bytes(b"")  # not under records/: not a data file, ignored
    victim.unlink()
    with pytest.raises(SnapshotError, match="differ from the manifest"):
        read_export(dest)


@pytest.mark.slow
def test_score_and_export_commands(
    spark: SparkSession, small_city: tuple[Registry, Settings, Snapshot], tmp_path: Path
) -> None:
    """`score --engine spark` (JSON lines and Parquet) and `export` + `score --snapshot`."""
    registry, settings, _ = small_city
    env = {"CREDENCE_DATA_DIR": str(settings.data_dir), "CREDENCE_SCORE_BUCKETS": "4"}
    runner = CliRunner()
    rulebook = load_rulebook(resolve_rulebook_path("gov-default"), registry.catalogue)
    expected = _store_lines(registry, rulebook, TODAY, None)
    lines = tmp_path / "scores.jsonl"
    args = ["score", "--engine", "spark", "--as-of", TODAY.isoformat()]
    result = runner.invoke(app, [*args, "--out", str(lines)], env=env)
    assert result.exit_code == 0, result.output
    got = _by_subject(lines.read_bytes())
    assert got.keys() == expected.keys()
    # The head named is the registry's, so compare all but the ledger.
    for subject in list(expected)[:50]:
        want, have = json.loads(expected[subject]), json.loads(got[subject])
        assert have["ledger"]["size"] == registry.ledger_size()
        assert {**want, "ledger": None} == {**have, "ledger": None}
    table = tmp_path / "scores.parquet"
    result = runner.invoke(app, [*args, "--out", str(table)], env=env)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(table).to_pylist()
    assert {r["subject"]: r["assessment"].encode() for r in rows} == got
    assert all(r["grade"] == json.loads(r["assessment"])["grade"] for r in rows)
    dest = tmp_path / "for-cluster"
    result = runner.invoke(app, ["export", "--format", "parquet", str(dest)], env=env)
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.jsonl"
    result = runner.invoke(app, [*args, "--snapshot", str(dest), "--out", str(again)], env=env)
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == lines.read_bytes()


def test_a_missing_pyspark_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import credence.engines.spark_session as session

    monkeypatch.setattr(session, "spark_available", lambda: False)
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(app, ["score", "--engine", "spark"], env=env)
    assert result.exit_code == 2
    assert "install credence[spark]" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_national_city_agrees_on_all_three_engines(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """100,000 subjects, every preset, today (the run's real day, and the city's day)
    and a past day: every line the same."""
    root = tmp_path_factory.mktemp("spark-nation")
    registry, _, snapshot = _city(root, 100_000, 16)
    try:
        for preset in preset_names():
            for as_of in (dt.date.today(), TODAY, PAST):
                found = _three_engines(spark, registry, snapshot, preset, as_of, None)
                assert len(found) > 10_000
    finally:
        registry.close()
