"""The synthetic city: valid, deterministic, heavy-tailed, and bad only where meant to be."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from stdnum.cn import uscc as stdnum_uscc

from credence.core.catalogue import Catalogue, default_catalogue_path, load_catalogue
from credence.core.ids import SubjectKind, make_ric, make_uscc, parse_subject
from credence.core.records import Record, Rejection, RowValidator
from credence.synth import city
from credence.synth.city import (
    COLUMNS,
    WEIGHT_OVERRIDES,
    CityManifest,
    population,
    read_manifest,
    source_items,
    source_specs,
    synthesise,
)
from credence.synth.regions import region_table

AS_OF = dt.date(2026, 11, 1)
SUBJECTS = 500
SEED = 7
BAD_RATE = 0.03

Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(default_catalogue_path())


def _read(out: Path, manifest: CityManifest) -> Rows:
    return {s.name: pq.read_table(out / s.file).to_pylist() for s in manifest.sources}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[CityManifest, Rows, Path]:
    out = tmp_path_factory.mktemp("clean")
    manifest = synthesise(out, SUBJECTS, SEED, bad_row_rate=0.0, as_of=AS_OF)
    return manifest, _read(out, manifest), out


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[CityManifest, Rows, Path]:
    out = tmp_path_factory.mktemp("spoiled")
    manifest = synthesise(out, SUBJECTS, SEED, bad_row_rate=BAD_RATE, as_of=AS_OF)
    return manifest, _read(out, manifest), out


def _validator(catalogue: Catalogue, name: str, patterns: tuple[str, ...]) -> RowValidator:
    return RowValidator(catalogue, name, set(catalogue.match(list(patterns))), today=AS_OF)


def test_every_item_has_exactly_one_source(catalogue: Catalogue) -> None:
    specs = source_specs()
    for code in catalogue.items:
        owners = [s.name for s in specs if code in catalogue.match(list(s.patterns))]
        assert len(owners) == 1, f"{code} is submitted by {owners}"
    assert set(source_items(catalogue, specs)) == set(catalogue.items)
    for spec in specs:
        assert spec.name == spec.name.lower() and " " not in spec.name
        assert spec.file == f"{spec.name}.parquet"
        assert catalogue.match(list(spec.patterns)), f"{spec.name} submits nothing"


def test_weight_overrides_name_catalogue_items(catalogue: Catalogue) -> None:
    assert set(WEIGHT_OVERRIDES) <= set(catalogue.items)


def test_population_ids_are_valid_unique_and_plausible() -> None:
    pop = population(3000, SEED, AS_OF)
    keys = pop.keys.to_pylist()
    assert len(set(keys)) == len(keys) == 3000
    assert pop.organisations == 450 and pop.people == 2550
    letter_authorities = 0
    for i, key in enumerate(keys):
        parsed = parse_subject(key, AS_OF)
        assert str(parsed) == key
        is_org = i < pop.organisations
        assert parsed.kind is (SubjectKind.ORGANISATION if is_org else SubjectKind.PERSON)
        if is_org:
            assert make_uscc(parsed.ident[:17]) == parsed.ident
            if parsed.ident[0].isalpha():
                letter_authorities += 1
                assert not stdnum_uscc.is_valid(parsed.ident)  # only credence accepts these
        else:
            assert make_ric(parsed.ident[:17]) == parsed.ident
            born = dt.date.fromisoformat(
                f"{parsed.ident[6:10]}-{parsed.ident[10:12]}-{parsed.ident[12:14]}"
            )
            age = (AS_OF - born).days / 365.2425
            assert 18 <= age < 81
    assert 3 <= letter_authorities <= 30  # about 3% of 450


def test_population_has_historic_and_home_regions() -> None:
    people = population(3000, SEED, AS_OF).keys.to_pylist()[450:]
    regions = Counter(k[4:10] for k in people)
    assert sum(c for r, c in regions.items() if r.startswith("11")) > 0.5 * len(people)
    assert len(regions) > 300  # migrants from all over the country


def test_runs_are_byte_identical(clean: tuple[CityManifest, Rows, Path], tmp_path: Path) -> None:
    manifest, _rows, first = clean
    again = synthesise(tmp_path, SUBJECTS, SEED, bad_row_rate=0.0, as_of=AS_OF)
    assert again == manifest
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_other_seed_gives_another_city(
    clean: tuple[CityManifest, Rows, Path], tmp_path: Path
) -> None:
    _manifest, _rows, first = clean
    synthesise(tmp_path, SUBJECTS, SEED + 1, bad_row_rate=0.0, as_of=AS_OF)
    assert (first / "court.parquet").read_bytes() != (tmp_path / "court.parquet").read_bytes()


def test_manifest(clean: tuple[CityManifest, Rows, Path]) -> None:
    manifest, rows, out = clean
    assert read_manifest(out) == manifest
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert data["sources"][0] == {
        "name": "court",
        "patterns": ["judicial.*"],
        "file": "court.parquet",
    }
    assert manifest.subjects == SUBJECTS == manifest.organisations + manifest.people
    assert manifest.records == sum(len(r) for r in rows.values())
    assert manifest.bad_rows == 0 and manifest.format == "parquet" and manifest.as_of == AS_OF
    # About subjects * records_per_subject: a few more for defaulters who perform.
    assert SUBJECTS * 20 <= manifest.records <= SUBJECTS * 20 * 1.05


def test_columns_are_strings(clean: tuple[CityManifest, Rows, Path]) -> None:
    manifest, _rows, out = clean
    for spec in manifest.sources:
        schema = pq.read_schema(out / spec.file)
        assert tuple(schema.names) == COLUMNS
        assert all(t == pa.string() for t in schema.types)


def test_every_row_is_accepted_except_the_bad_ones(
    catalogue: Catalogue,
    clean: tuple[CityManifest, Rows, Path],
    spoiled: tuple[CityManifest, Rows, Path],
) -> None:
    """Bad rows replace good ones in place: the rows that differ are exactly the bad ones."""
    manifest, good, _ = clean
    spoiled_manifest, bad, _ = spoiled
    assert manifest.records == spoiled_manifest.records
    rejected: Counter[str] = Counter()
    differing = 0
    for spec in manifest.sources:
        assert len(good[spec.name]) == len(bad[spec.name])
        validator = _validator(catalogue, spec.name, spec.patterns)
        for clean_row, row in zip(good[spec.name], bad[spec.name], strict=True):
            result = validator.validate(row)
            if row == clean_row:
                assert isinstance(result, Record), (spec.name, row, result)
            else:
                differing += 1
                assert isinstance(result, Rejection), (spec.name, clean_row, row)
                rejected[result.field.split(".")[0]] += 1
    assert differing == spoiled_manifest.bad_rows
    expected = BAD_RATE * manifest.records
    assert 0.7 * expected < differing < 1.3 * expected
    # Varied faults: every column that can be wrong is wrong somewhere.
    assert set(rejected) >= {"item", "subject", "occurred_on", "decided_on", "reference"}
    assert rejected["attributes"] > 0


def test_default_bad_rate_is_small(catalogue: Catalogue, tmp_path: Path) -> None:
    manifest = synthesise(tmp_path, 300, SEED, as_of=AS_OF)  # bad_row_rate=0.001
    assert manifest.bad_rows <= 0.005 * manifest.records


def test_records_are_heavy_tailed(clean: tuple[CityManifest, Rows, Path]) -> None:
    _manifest, rows, _ = clean
    per_subject = Counter(r["subject"] for feed in rows.values() for r in feed)
    counts = list(per_subject.values()) + [0] * (SUBJECTS - len(per_subject))
    mean = statistics.fmean(counts)
    assert statistics.median(counts) <= mean / 4
    assert max(counts) > 8 * mean
    assert counts.count(0) > SUBJECTS / 4


def test_items_dates_and_references_are_plausible(
    catalogue: Catalogue, clean: tuple[CityManifest, Rows, Path]
) -> None:
    _manifest, rows, _ = clean
    earliest = (AS_OF - dt.timedelta(days=6 * 366)).isoformat()
    seen: Counter[str] = Counter()
    for spec in source_specs():
        feed = rows[spec.name]
        refs = [r["reference"] for r in feed]
        assert len(set(refs)) == len(refs)
        for r in feed:
            assert earliest <= r["occurred_on"] <= r["decided_on"] <= AS_OF.isoformat()
            seen[r["item"]] += 1
    # Common things are common, grave things rare.
    assert seen["administrative.traffic-minor"] > 20 * seen["judicial.bribery-conviction"]
    assert seen["administrative.licence-granted"] > seen["administrative.licence-revoked"]
    assert seen["social.national-honour"] < 10
    assert len(seen) > 35  # most of the catalogue appears even in a small city
    del catalogue


def test_performed_defaulters_keep_their_case_number(
    clean: tuple[CityManifest, Rows, Path],
) -> None:
    _manifest, rows, _ = clean
    listed: dict[tuple[str, str], str] = {}
    performed = []
    for r in rows["court"]:
        case: str = json.loads(r["attributes"])["case_number"]
        if r["item"] == "judicial.defaulter-listed":
            listed[(r["subject"], case)] = r["decided_on"]
        elif r["item"] == "judicial.defaulter-performed":
            performed.append((r["subject"], case, r["occurred_on"]))
    assert len(performed) > 5
    for subject, case, occurred in performed:
        assert (subject, case) in listed
        assert listed[(subject, case)] < occurred


def test_attribute_texts_look_real(clean: tuple[CityManifest, Rows, Path]) -> None:
    _manifest, rows, _ = clean
    cases = [json.loads(r["attributes"])["case_number"] for r in rows["court"]]
    assert any(c.startswith("(20") and "京01" in c and c.endswith("号") for c in cases)
    decisions = [json.loads(r["attributes"]) for r in rows["market-regulator"] if r["attributes"]]
    assert any("市监处罚〔" in d.get("decision_number", "") for d in decisions)
    railway = [json.loads(r["attributes"])["decision_number"] for r in rows["railway"]]
    assert all(n.startswith("TL-20") for n in railway)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_other_formats_hold_the_same_rows(fmt: str, tmp_path: Path) -> None:
    parquet = synthesise(tmp_path / "p", 120, SEED, bad_row_rate=0.02, as_of=AS_OF)
    other = synthesise(tmp_path / fmt, 120, SEED, bad_row_rate=0.02, as_of=AS_OF, fmt=fmt)
    assert (other.records, other.bad_rows, other.format) == (parquet.records, parquet.bad_rows, fmt)
    for spec, other_spec in zip(parquet.sources, other.sources, strict=True):
        expected = pq.read_table(tmp_path / "p" / spec.file).to_pylist()
        path = tmp_path / fmt / other_spec.file
        assert other_spec.file == f"{spec.name}.{fmt}"
        if fmt == "csv":
            options = pacsv.ConvertOptions(
                column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=False
            )
            got = pacsv.read_csv(path, convert_options=options).to_pylist()
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            got = [json.loads(line) for line in lines]
        assert got == expected, spec.name


def test_progress_and_scaling(tmp_path: Path) -> None:
    seen: list[int] = []
    manifest = synthesise(
        tmp_path, 200, SEED, records_per_subject=3.0, as_of=AS_OF, progress=seen.append
    )
    assert seen and seen[-1] == manifest.records and seen == sorted(seen)
    assert 600 <= manifest.records <= 640


def test_empty_feeds_are_still_written(tmp_path: Path) -> None:
    manifest = synthesise(tmp_path, 10, SEED, records_per_subject=0.0, as_of=AS_OF)
    # Without other records, only each organisation's registration is written.
    assert manifest.records == manifest.organisations == 2
    for spec in manifest.sources:
        rows = pq.read_table(tmp_path / spec.file).num_rows
        assert rows == (2 if spec.name == "market-regulator" else 0)


def test_every_organisation_is_registered_once_with_a_name(tmp_path: Path) -> None:
    manifest = synthesise(tmp_path, 400, SEED, records_per_subject=2.0, as_of=AS_OF)
    table = pq.read_table(tmp_path / "market-regulator.parquet").to_pylist()
    found = [r for r in table if r["item"] == "administrative.business-registration"]
    subjects = [r["subject"] for r in found]
    assert len(subjects) == len(set(subjects)) == manifest.organisations
    assert all(s.startswith("uscc:") for s in subjects)
    for row in found[:50]:
        attributes = json.loads(row["attributes"])
        code = row["subject"].removeprefix("uscc:")
        assert attributes["region"] == code[2:8]  # the USCC carries the registration region
        assert re.fullmatch(r"[\u4e00-\u9fff]{6,20}", attributes["name"])
        assert re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)+", attributes["name_latin"])


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        synthesise(tmp_path, 10, SEED, fmt="xlsx")
    with pytest.raises(ValueError, match="subject"):
        synthesise(tmp_path, 0, SEED)


def test_vectorised_check_characters_match_reference() -> None:
    """The numpy check characters agree with credence.core.ids for many random bodies."""
    rng = np.random.default_rng(0)
    regions = region_table(AS_OF.year - 81, AS_OF.year)
    orgs = city._organisations(2000, regions, rng)
    for row in orgs:
        code = row.tobytes().decode()
        assert make_uscc(code[:17]) == code
    people, _birth = city._people(2000, regions, AS_OF, rng)
    for row in people:
        number = row.tobytes().decode()
        assert make_ric(number[:17]) == number
