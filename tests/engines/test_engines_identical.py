"""Both engines give identical assessments, subject by subject, on a synthetic city.

The store engine (SQLite) and the batch engine (DuckDB over the Parquet
snapshot) run the same compiled rulebook; this is the test that they also
agree in fact, for every preset, for a past as-of date, for a replay limited
to what the ledger held earlier, and after corrections that move records
between subjects (and so between the batch engine's hash buckets).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from credence.core.assessment import Assessment
from credence.core.rulebook import load_rulebook, preset_names, resolve_rulebook_path
from credence.engines import line_writer
from credence.engines.batch import BatchEngine
from credence.engines.snapshot import ensure_snapshot
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import synthesise
from tests.conftest import write_csv

AS_OF = dt.date(2026, 11, 1)
SUBJECTS = 10_000


@pytest.fixture(scope="module")
def city_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Settings]]:
    root = tmp_path_factory.mktemp("city")
    settings = Settings(data_dir=root / "data", score_buckets=4)
    registry, _ = Registry.init(settings)
    manifest = synthesise(root / "city", SUBJECTS, seed=7, records_per_subject=4)
    for spec in manifest.sources:
        registry.add_source(spec.name, list(spec.patterns))
        ingest_file(registry, root / "city" / spec.file, spec.name, use_worker=False)
    _correct_some(
        registry, root, manifest.sources[0].name, root / "city" / manifest.sources[0].file
    )
    yield registry, settings
    registry.close()


def _correct_some(registry: Registry, root: Path, source: str, file: Path) -> None:
    """Revoke some records, correct others, and move some to another subject."""
    rows = pq.read_table(file).to_pylist()
    good = [r for r in rows if str(r["subject"]).startswith(("ric:", "uscc:"))][:300]
    fixes = []
    for i, r in enumerate(good[:90]):
        fix = {k: v for k, v in r.items() if v is not None and k != "corrects"}
        fix["reference"] = f"FIX-{i}"
        fix["corrects"] = r["reference"]
        if i % 3 == 0:
            fix = {k: fix[k] for k in ("reference", "corrects", "subject", "occurred_on")}
            fix["item"] = "revocation"
        elif i % 3 == 1:
            fix["subject"] = (
                good[-1 - i]["subject"] if good[-1 - i]["item"] == r["item"] else r["subject"]
            )
        else:
            fix["occurred_on"] = "2020-01-01"
            fix.pop("decided_on", None)
        fixes.append(fix)
    report = ingest_file(registry, write_csv(root / "fixes.csv", fixes), source, use_worker=False)
    assert report.accepted > 30, report


def _by_subject(assessments: Iterator[Assessment]) -> dict[str, Assessment]:
    return {a.subject: a for a in assessments}


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("replay", ["now", "past", "known-half"])
def test_store_and_batch_engines_agree(
    city_registry: tuple[Registry, Settings], preset: str, replay: str
) -> None:
    """Every subject's assessment is the same on SQLite and on DuckDB."""
    registry, settings = city_registry
    rulebook = load_rulebook(resolve_rulebook_path(preset), registry.catalogue)
    as_of = dt.date(2025, 6, 1) if replay == "past" else AS_OF
    known = registry.ledger_size() // 2 if replay == "known-half" else None
    with StoreEngine(registry.engine, rulebook, as_of, known) as store:
        on_store = _by_subject(store.assess_all())
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    on_batch = _by_subject(BatchEngine(snapshot, rulebook, as_of, known).run())
    assert len(on_store) > 1_000
    assert on_store.keys() == on_batch.keys()
    differ = [s for s in on_store if on_store[s] != on_batch[s]]
    assert not differ, (on_store[differ[0]], on_batch[differ[0]])
    # The comparison means something only if the city exercises the rules.
    assert any(a.reasons for a in on_store.values()) or rulebook.score is None
    if rulebook.lists:
        assert any(a.lists for a in on_store.values())


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("replay", ["now", "past", "known-half"])
@pytest.mark.parametrize("writer", ["c", "sql"])
def test_batch_json_lines_are_the_store_engines_byte_for_byte(
    city_registry: tuple[Registry, Settings],
    preset: str,
    replay: str,
    writer: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lines the batch engine writes are exactly what the store engine's assessments
    serialise to, whether C (`line_writer`) or DuckDB builds them.

    Every subject's whole line is compared (score, grade, records, lists with
    their dates and records, measures, reasons, limits, rulebook, ledger), and
    so are the outcome counts the summary is printed from.
    """
    if writer == "c" and not line_writer.available():
        pytest.skip("C line writer not built")
    built = []
    real_write = line_writer.write

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(args[1])  # (sink, n, pieces)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(line_writer, "write", spy)
    if writer == "sql":
        monkeypatch.setattr(line_writer, "available", lambda: False)
    registry, settings = city_registry
    rulebook = load_rulebook(resolve_rulebook_path(preset), registry.catalogue)
    as_of = dt.date(2025, 6, 1) if replay == "past" else AS_OF
    known = registry.ledger_size() // 2 if replay == "known-half" else None
    ledger = {"size": 12, "root": 'ab"cd'}
    with StoreEngine(registry.engine, rulebook, as_of, known, ledger) as store:
        assessed = list(store.assess_all())
    expected = {a.subject: orjson.dumps(a.to_dict()) for a in assessed}
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    batch = BatchEngine(snapshot, rulebook, as_of, known, ledger=ledger, group_bytes=1)
    sink = io.BytesIO()
    run = batch.write_jsonl(sink)
    text = sink.getvalue()
    assert text.endswith(b"\n")
    lines = text[:-1].split(b"\n")
    got = {orjson.loads(line)["subject"]: line for line in lines}
    assert len(got) == len(lines) == run.assessed
    assert got.keys() == expected.keys()
    differ = [s for s in expected if expected[s] != got[s]]
    assert not differ, (expected[differ[0]], got[differ[0]])
    # Lines come bucket group by bucket group, each in subject order (as `run()` gives them).
    assert [orjson.loads(line)["subject"] for line in lines] == [
        a.subject for a in BatchEngine(snapshot, rulebook, as_of, known, group_bytes=1).run()
    ]
    want: Counter[tuple[object, ...]] = Counter()
    for a in assessed:
        want[("kind", a.kind.value, a.grade)] += 1
        for listing in a.lists:
            want[("list", listing.list, listing.colour)] += 1
        for measure in a.measures:
            want[("measure", measure)] += 1
    counted: Counter[tuple[object, ...]] = Counter()
    for o in run.outcomes:
        counted[("kind", o.kind.value, o.grade)] += o.subjects
        for name, colour in o.lists:
            counted[("list", name, colour)] += o.subjects
        for measure in o.measures:
            counted[("measure", measure)] += o.subjects
    assert counted == want
    assert batch.subjects_held == store.subjects_held() >= len(got)
    assert (sum(built) == len(lines)) if writer == "c" else not built
    if rulebook.lists:
        assert any(b'"records":[' in line and b'"lists":[]' not in line for line in lines)


def test_one_subject_matches_the_batch(city_registry: tuple[Registry, Settings]) -> None:
    """Rescoring one subject on the store gives what the batch gave for them."""
    registry, settings = city_registry
    rulebook = load_rulebook(resolve_rulebook_path("gov-default"), registry.catalogue)
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    batch = list(BatchEngine(snapshot, rulebook, AS_OF).run())
    sample = [a for a in batch if a.lists or a.reasons][:200]
    with StoreEngine(registry.engine, rulebook, AS_OF) as store:
        for expected in sample:
            assert store.assess(expected.subject) == expected


def test_reasons_ranked_alike_without_the_packed_key(
    city_registry: tuple[Registry, Settings],
) -> None:
    """Reasons are packed in one BIGINT (ranked by `min`, decoded for the line) when points,
    seqs, days and rules fit, else ranked by `arg_min` of a struct on a (points, seq) pair:
    both give the same lines (ties on |points| are broken by seq either way)."""
    registry, settings = city_registry
    rulebook = load_rulebook(resolve_rulebook_path("gov-default"), registry.catalogue)
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    found = []
    for packed in (True, False):
        batch = BatchEngine(snapshot, rulebook, AS_OF)
        assert batch.fused.packed
        batch.fused.packed = packed
        sink = io.BytesIO()
        batch.write_jsonl(sink)
        found.append(sink.getvalue())
    assert found[0] == found[1]
    assert found[0].count(b'"more_reasons":0') < found[0].count(b"\n")  # some lines rank > 4
