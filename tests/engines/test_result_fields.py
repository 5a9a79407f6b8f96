"""What every result says besides its score, on both engines: hand-computed small cases.

A test rulebook scores people only: base 1000, scale 0-1040, administrative
points capped at -100, social points at +50. Five subjects, each built for
one expectation (numbers worked out by hand below, not by the engines):

- P1: red light -50, two minor traffic -20 each, volunteering +20, two blood
  donations +10 each: 1000 - 90 + 40 = 950, grade B; six scored records, so
  the top four are shown (-50, then the three 20s by ledger order) and 2 more.
- P2: three red lights, -150 administrative, capped at -100 (-50 not counted):
  900, grade B.
- P3: three volunteerings, +60 social, capped at +50 (+10 not counted); 1050
  is above the scale's 1040 (+10 more not counted): 1040, grade A.
- P4: one record dated after the as-of day: held, counts for nothing, left out.
- O1: an organisation, a kind this rulebook does not assess: left out.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credence.core.assessment import Assessment, Limit
from credence.core.rulebook import Rulebook, load_rulebook
from credence.engines.batch import BatchEngine
from credence.engines.snapshot import ensure_snapshot
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import ingest_file
from credence.scoring.heads import snapshot_head, store_head
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2, write_jsonl
from tests.rulebook.helpers import INGEST_TODAY, rec

AS_OF = dt.date(2026, 6, 1)
P1, P2 = PERSON, PERSON_2
P3 = "ric:110101199001011237"
P4 = "ric:110101199001011253"

RULEBOOK = """\
rulebook: honest-results
version: "1"
title: Small rules for hand-computed results
catalogue: default
score:
  subjects: [person]
  min: 0
  max: 1040
  base: 1000
  caps:
    administrative: {min: -100}
    social: {max: 50}
  points:
    - {item: administrative.traffic-red-light, points: -50}
    - {item: administrative.traffic-minor, points: -20}
    - {item: social.volunteer-service, points: 20}
    - {item: social.blood-donation, points: 10}
  grades:
    - {grade: A, min: 1000}
    - {grade: B, min: 900}
    - {grade: C}
"""


def _rows() -> list[dict[str, Any]]:
    def r(item: str, subject: str, on: str, ref: str) -> dict[str, Any]:
        return rec(item, subject, on, ref)

    return [
        r("administrative.traffic-red-light", P1, "2026-01-10", "P1-a"),
        r("administrative.traffic-minor", P1, "2026-01-11", "P1-b"),
        r("administrative.traffic-minor", P1, "2026-01-12", "P1-c"),
        r("social.volunteer-service", P1, "2026-01-13", "P1-d"),
        r("social.blood-donation", P1, "2026-01-14", "P1-e"),
        r("social.blood-donation", P1, "2026-01-15", "P1-f"),
        *(r("administrative.traffic-red-light", P2, f"2026-02-0{d}", f"P2-{d}") for d in (1, 2, 3)),
        *(r("social.volunteer-service", P3, f"2026-03-0{d}", f"P3-{d}") for d in (1, 2, 3)),
        r("administrative.traffic-minor", P4, "2026-09-01", "P4-a"),
        r("administrative.food-safety-penalty", ORG, "2026-01-20", "O1-a"),
    ]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, Settings, Rulebook]]:
    root = tmp_path_factory.mktemp("results")
    settings = Settings(data_dir=root / "data", score_buckets=2)
    registry, _ = Registry.init(settings)
    registry.add_source("all", ["*"])
    report = ingest_file(
        registry, write_jsonl(root / "rows.jsonl", _rows()), "all", today=INGEST_TODAY
    )
    assert report.accepted == 14, report
    book = root / "book.yaml"
    book.write_text(RULEBOOK, encoding="utf-8")
    yield registry, settings, load_rulebook(book, registry.catalogue)
    registry.close()


@pytest.fixture(scope="module", params=["sql", "duckdb"])
def results(
    request: pytest.FixtureRequest, world: tuple[Registry, Settings, Rulebook]
) -> tuple[dict[str, Assessment], int]:
    """Every assessment by subject, and the subjects held, on one engine."""
    registry, settings, rulebook = world
    if request.param == "sql":
        with StoreEngine(registry.engine, rulebook, AS_OF, ledger=store_head(registry)) as eng:
            found = list(eng.assess_all())
            return {a.subject: a for a in found}, eng.subjects_held()
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    batch = BatchEngine(snapshot, rulebook, AS_OF, ledger=snapshot_head(snapshot))
    found = list(batch.run())
    return {a.subject: a for a in found}, batch.subjects_held


def test_six_scored_records_show_four_and_two_more(
    results: tuple[dict[str, Assessment], int],
) -> None:
    p1 = results[0][P1]
    assert (p1.score, p1.grade, p1.records) == (950, "B", 6)
    assert [(r.item.split(".")[1], r.points) for r in p1.reasons] == [
        ("traffic-red-light", -50),
        ("traffic-minor", -20),
        ("traffic-minor", -20),
        ("volunteer-service", 20),
    ]
    assert p1.more_reasons == 2 and p1.limits == ()
    assert p1.to_dict()["more_reasons"] == 2


def test_a_capped_area_shows_what_it_left_out(results: tuple[dict[str, Assessment], int]) -> None:
    p2 = results[0][P2]
    assert (p2.score, p2.grade, p2.more_reasons) == (900, "B", 0)
    assert p2.limits == (Limit("cap", "administrative", -100, -50),)
    assert p2.to_dict()["limits"] == [
        {"rule": "cap", "area": "administrative", "at": -100, "not_counted": -50}
    ]


def test_cap_and_scale_end_together(results: tuple[dict[str, Assessment], int]) -> None:
    p3 = results[0][P3]
    assert (p3.score, p3.grade) == (1040, "A")
    assert p3.limits == (Limit("cap", "social", 50, 10), Limit("scale", None, 1040, 10))


def test_subjects_without_a_counting_record_are_left_out_but_counted(
    results: tuple[dict[str, Assessment], int],
) -> None:
    found, held = results
    assert sorted(found) == sorted([P1, P2, P3])
    assert held == 5  # P1-P4 and O1: two of them left out


def test_results_name_ledger_and_catalogue(
    world: tuple[Registry, Settings, Rulebook], results: tuple[dict[str, Assessment], int]
) -> None:
    registry, _, rulebook = world
    head = registry.latest_tree_head()
    assert head is not None
    data = results[0][P1].to_dict()
    assert data["ledger"] == {"size": head.size, "root": head.root.hex()}
    assert data["catalogue"] == {
        "name": "default",
        "version": registry.catalogue.version,
        "hash": registry.catalogue.content_hash,
    }
    assert data["rulebook"]["content_hash"] == rulebook.content_hash
    # One dict per run, not one per subject.
    assert all(a.ledger is results[0][P1].ledger for a in results[0].values())


def test_both_engines_name_the_same_head(world: tuple[Registry, Settings, Rulebook]) -> None:
    registry, settings, _ = world
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    assert snapshot_head(snapshot) == store_head(registry)
    assert store_head(registry, 0)["root"] == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of b""
    )


def test_one_subject_with_nothing_counting(world: tuple[Registry, Settings, Rulebook]) -> None:
    registry, _, rulebook = world
    with StoreEngine(registry.engine, rulebook, AS_OF) as eng:
        p4 = eng.assess(P4)
    assert p4.records == 0 and p4.reasons == () and p4.limits == ()


def test_one_subject_is_one_statement_with_every_result(
    world: tuple[Registry, Settings, Rulebook],
) -> None:
    """A check reads the subject's records once: score, reasons and limits all come from
    one statement (a subject with hundreds of records paid for them three times)."""
    import sqlalchemy as sa

    registry, _, rulebook = world
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(str(args[2]))

    sa.event.listen(registry.engine, "before_cursor_execute", count)
    try:
        with StoreEngine(registry.engine, rulebook, AS_OF) as eng:
            p1, p3 = eng.assess(P1), eng.assess(P3)
    finally:
        sa.event.remove(registry.engine, "before_cursor_execute", count)
    assert len([s for s in executed if s.lstrip().upper().startswith("WITH")]) == 2
    assert (p1.score, p1.grade, p1.records, p1.more_reasons) == (950, "B", 6, 2)
    assert [r.points for r in p1.reasons] == [-50, -20, -20, 20]
    assert p3.limits == (Limit("cap", "social", 50, 10), Limit("scale", None, 1040, 10))


def test_catalogue_hash_is_rfc8785_of_the_file(world: tuple[Registry, Settings, Rulebook]) -> None:
    import hashlib

    import rfc8785

    from credence.core.yamlfile import load_yaml, strip_lines

    catalogue = world[0].catalogue
    data = strip_lines(load_yaml(Path(catalogue.source_path)))
    expected = "sha256:" + hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    assert catalogue.content_hash == expected


def test_explain_says_and_n_more_and_shows_limits(
    world: tuple[Registry, Settings, Rulebook], results: tuple[dict[str, Assessment], int]
) -> None:
    from credence.core.explain import explain_lines

    rulebook = world[2]
    p1 = explain_lines(rulebook, results[0][P1], {}, held=6)["reasons"]
    assert len(p1) == 5 and p1[-1] == "and 2 more scored records, none weighing more"
    p2 = explain_lines(rulebook, results[0][P2], {}, held=3)["reasons"]
    assert p2[-1] == (
        "-50 points of the administrative area not counted: the rulebook caps that area at -100"
    )
    p3 = explain_lines(rulebook, results[0][P3], {}, held=3)["reasons"]
    assert p3[-1] == "+10 points not counted: the score is held at its maximum 1040"


@pytest.fixture(scope="module")
def json_lines(world: tuple[Registry, Settings, Rulebook]) -> tuple[dict[str, Any], int]:
    """The batch engine's JSON lines (built by DuckDB) by subject, and the subjects held."""
    registry, settings, rulebook = world
    snapshot = ensure_snapshot(registry.engine, settings.snapshot_dir, settings.score_buckets)
    batch = BatchEngine(snapshot, rulebook, AS_OF, ledger=snapshot_head(snapshot))
    sink = io.BytesIO()
    run = batch.write_jsonl(sink)
    lines = sink.getvalue().decode().splitlines()
    assert run.assessed == len(lines) == sum(o.subjects for o in run.outcomes)
    return {d["subject"]: d for d in map(json.loads, lines)}, batch.subjects_held


def test_json_lines_carry_the_hand_computed_results(
    world: tuple[Registry, Settings, Rulebook], json_lines: tuple[dict[str, Any], int]
) -> None:
    registry, _, rulebook = world
    found, held = json_lines
    assert sorted(found) == sorted([P1, P2, P3]) and held == 5
    p1, p2, p3 = found[P1], found[P2], found[P3]
    assert (p1["kind"], p1["score"], p1["grade"], p1["records"]) == ("person", 950, "B", 6)
    assert [(r["item"].split(".")[1], r["points"], r["date"]) for r in p1["reasons"]] == [
        ("traffic-red-light", -50, "2026-01-10"),
        ("traffic-minor", -20, "2026-01-11"),
        ("traffic-minor", -20, "2026-01-12"),
        ("volunteer-service", 20, "2026-01-13"),
    ]
    assert p1["more_reasons"] == 2 and p1["limits"] == [] and p1["lists"] == []
    assert (p2["score"], p2["grade"], p2["more_reasons"]) == (900, "B", 0)
    assert p2["limits"] == [
        {"rule": "cap", "area": "administrative", "at": -100, "not_counted": -50}
    ]
    assert (p3["score"], p3["grade"]) == (1040, "A")
    assert p3["limits"] == [
        {"rule": "cap", "area": "social", "at": 50, "not_counted": 10},
        {"rule": "scale", "area": None, "at": 1040, "not_counted": 10},
    ]
    head = registry.latest_tree_head()
    assert head is not None
    assert p1["ledger"] == {"size": head.size, "root": head.root.hex()}
    assert p1["rulebook"]["content_hash"] == rulebook.content_hash
    assert (p1["as_of"], p1["known_size"], p1["measures"]) == ("2026-06-01", None, [])
    assert list(p1) == [
        "subject", "kind", "score", "grade", "records", "lists", "measures", "reasons",
        "more_reasons", "limits", "rulebook", "catalogue", "ledger", "as_of", "known_size",
    ]  # fmt: skip
