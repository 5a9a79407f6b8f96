"""Rule semantics on the store engine: publicity, corrections, replay, listings, reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from credence.core.assessment import MAX_REASONS
from credence.core.rulebook import Rulebook, load_rulebook
from tests.rulebook.conftest import Case
from tests.rulebook.helpers import catalogue, preset, rec, write_rulebook

MINOR = "administrative.traffic-minor"
RED = "administrative.traffic-red-light"
LISTED = "judicial.defaulter-listed"
PERFORMED = "judicial.defaulter-performed"
EXTENDED = "judicial.defaulter-extended"
AS_OF = dt.date(2026, 6, 1)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# --- publicity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rulebook", "item", "kind", "decided", "ends", "points"),
    [
        pytest.param("suining-2010", MINOR, "person", "2025-03-10", "2026-03-10", -20, id="1y"),
        pytest.param("suining-2010", MINOR, "person", "2024-02-29", "2025-02-28", -20, id="leap"),
        pytest.param(
            "gov-default",
            "administrative.food-safety-penalty-minor",
            "org",
            "2025-11-30",
            "2026-02-28",
            -10,
            id="3m-month-end",
        ),
        pytest.param(
            "gov-default",
            "administrative.tax-penalty",
            "org",
            "2023-01-31",
            "2026-01-31",
            -100,
            id="3y",
        ),
    ],
)
def test_record_counts_until_publicity_ends(
    case: Case, rulebook: str, item: str, kind: str, decided: str, ends: str, points: int
) -> None:
    """A record counts through the day before its publicity ends, and never from that day."""
    subject = case.person() if kind == "person" else case.org()
    case.ingest([rec(item, subject, decided, "P")])
    book = preset(rulebook)
    base = book.spec.score.base if book.spec.score else 0
    end = day(ends)
    scores = {
        as_of: case.assess(book, subject, as_of).score
        for as_of in (day(decided), end - dt.timedelta(days=1), end, end + dt.timedelta(days=1))
    }
    assert scores == {
        day(decided): base + points,
        end - dt.timedelta(days=1): base + points,
        end: base,
        end + dt.timedelta(days=1): base,
    }


def test_record_does_not_count_before_it_starts(case: Case) -> None:
    """As of a day before the decision, the decision does not exist yet."""
    subject = case.person()
    case.ingest([rec(MINOR, subject, "2026-05-20", "P", decided="2026-06-02")])
    book = preset("suining-2010")
    assert case.assess(book, subject, day("2026-06-01")).score == 1000
    assert case.assess(book, subject, day("2026-06-02")).score == 980


def test_record_occurring_after_as_of_ignored(case: Case) -> None:
    """Replaying an earlier date must not use records of later events."""
    subject = case.person()
    case.ingest([rec(MINOR, subject, "2026-06-02", "P")])
    book = preset("suining-2010")
    assert case.assess(book, subject, day("2026-06-01")).score == 1000
    assert case.assess(book, subject, day("2026-06-02")).score == 980


# --- corrections and revocations -------------------------------------------------------------


@pytest.mark.parametrize("same_file", [False, True], ids=["later-file", "same-file"])
def test_correction_replaces_original(case: Case, same_file: bool) -> None:
    """A correction's points count instead of the original's, never as well as them."""
    subject = case.person()
    original = rec(MINOR, subject, "2026-05-01", "T-1")
    correction = rec(RED, subject, "2026-05-01", "T-2", corrects="T-1")
    if same_file:
        case.ingest([original, correction])
    else:
        case.ingest([original])
        assert case.assess(preset("suining-2010"), subject, AS_OF).score == 980
        case.ingest([correction])
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert result.score == 950
    assert [(r.item, r.points, r.seq) for r in result.reasons] == [(RED, -50, case.seq("T-2"))]


def test_correction_of_a_correction(case: Case) -> None:
    """Only the last record in a chain of corrections counts."""
    subject = case.person()
    case.ingest([rec(MINOR, subject, "2026-05-01", "T-1")])
    case.ingest([rec(RED, subject, "2026-05-01", "T-2", corrects="T-1")])
    case.ingest([rec("administrative.drunk-driving", subject, "2026-05-01", "T-3", corrects="T-2")])
    assert case.assess(preset("suining-2010"), subject, AS_OF).score == 950
    reasons = case.assess(preset("suining-2010"), subject, AS_OF).reasons
    assert [r.seq for r in reasons] == [case.seq("T-3")]


def test_revocation_removes_record(case: Case) -> None:
    """A revoked record no longer counts and is no longer given as a reason."""
    subject = case.person()
    case.ingest([rec(MINOR, subject, "2026-05-01", "T-1"), rec(RED, subject, "2026-05-01", "T-9")])
    case.ingest([rec("revocation", subject, "2026-05-20", "R-1", corrects="T-1")])
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert result.score == 950
    assert [r.item for r in result.reasons] == [RED]


def test_correction_to_another_subject(case: Case) -> None:
    """A record filed against the wrong person, corrected to the right one, stops penalising."""
    wrong, right = case.person(1), case.person(2)
    case.ingest([rec(MINOR, wrong, "2026-05-01", "T-1")])
    case.ingest([rec(MINOR, right, "2026-05-01", "T-2", corrects="T-1")])
    book = preset("suining-2010")
    first = case.assess(book, wrong, AS_OF)
    assert (first.score, first.reasons) == (1000, ())
    assert case.assess(book, right, AS_OF).score == 980


def test_correction_moves_a_listing_to_another_subject(case: Case) -> None:
    """A defaulter listing corrected to another person lists that person, not the first."""
    wrong, right = case.person(1), case.person(2)
    case.ingest([rec(LISTED, wrong, "2026-01-05", "L-1", case_number="C1")])
    case.ingest([rec(LISTED, right, "2026-01-05", "L-2", corrects="L-1", case_number="C1")])
    book = preset("gov-default")
    assert case.assess(book, wrong, AS_OF).lists == ()
    assert case.assess(book, wrong, AS_OF).measures == ()
    assert [lst.records for lst in case.assess(book, right, AS_OF).lists] == [(case.seq("L-2"),)]


def test_revoked_listing_ends_listing(case: Case) -> None:
    """Revoking the listing decision lifts the restrictions at once."""
    subject = case.person()
    case.ingest([rec(LISTED, subject, "2026-01-05", "L-1")])
    case.ingest([rec("revocation", subject, "2026-02-01", "R-1", corrects="L-1")])
    result = case.assess(preset("gov-default"), subject, AS_OF)
    assert (result.lists, result.measures) == ((), ())


# --- as-of replay and ledger size ------------------------------------------------------------


def test_known_size_limits_records(case: Case) -> None:
    """Replaying with a ledger size uses only entries with seq below it."""
    subject = case.person()
    start = case.registry.ledger_size()
    case.ingest([rec(MINOR, subject, "2026-05-01", "T-1")])
    case.ingest([rec(RED, subject, "2026-05-02", "T-2")])
    assert (case.seq("T-1"), case.seq("T-2")) == (start, start + 1)
    book = preset("suining-2010")
    expected = {start: 1000, start + 1: 980, start + 2: 930, None: 930}
    for size, score in expected.items():
        result = case.assess(book, subject, AS_OF, known_size=size)
        assert (result.score, result.known_size) == (score, size)


def test_known_size_ignores_later_corrections(case: Case) -> None:
    """A correction not yet in the ledger at that size must not hide the original."""
    subject = case.person()
    case.ingest([rec(MINOR, subject, "2026-05-01", "T-1")])
    case.ingest([rec(RED, subject, "2026-05-01", "T-2", corrects="T-1")])
    book = preset("suining-2010")
    size = case.seq("T-2")
    assert case.assess(book, subject, AS_OF, known_size=size).score == 980
    assert case.assess(book, subject, AS_OF, known_size=size + 1).score == 950


def test_size_known_at_uses_signed_tree_heads(case: Case) -> None:
    """Tree heads are stamped at ingest time: nothing was known yesterday, everything today."""
    subject = case.person()
    before = dt.datetime.now(dt.UTC).date()
    case.ingest([rec(MINOR, subject, "2026-05-01", "T-1")])
    after = dt.datetime.now(dt.UTC).date()
    registry = case.registry
    assert registry.size_known_at(before - dt.timedelta(days=1)) == 0
    assert registry.size_known_at(after) == registry.ledger_size() > case.seq("T-1")
    book = preset("suining-2010")
    yesterday = registry.size_known_at(before - dt.timedelta(days=1))
    assert case.assess(book, subject, AS_OF, known_size=yesterday).score == 1000
    today = registry.size_known_at(after)
    assert case.assess(book, subject, AS_OF, known_size=today).score == 980


# --- lists: entry, early exit, extension -----------------------------------------------------


def listing(case: Case, subject: str, as_of: dt.date) -> tuple[str | None, str | None] | None:
    """(since, until) of the subject's judgment-defaulter listing on `as_of`, or None."""
    result = case.assess(preset("gov-default"), subject, as_of)
    found = [(x.since, x.until) for x in result.lists if x.list == "judgment-defaulters"]
    assert len(found) <= 1
    return found[0] if found else None


def test_performance_of_same_case_removes_listing(case: Case) -> None:
    """Performing the judgment ends the listing from the performance record's date."""
    subject = case.person()
    case.ingest(
        [
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
            rec(PERFORMED, subject, "2024-09-01", "P-1", case_number="C1"),
        ]
    )
    assert listing(case, subject, day("2024-08-31")) == ("2024-03-05", "2026-03-05")
    assert listing(case, subject, day("2024-09-01")) is None
    result = case.assess(preset("gov-default"), subject, day("2025-01-01"))
    assert (result.lists, result.measures) == ((), ())


def test_performance_of_another_case_does_not_remove_listing(case: Case) -> None:
    """Only the listed case's performance ends the listing."""
    subject = case.person()
    case.ingest(
        [
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
            rec(PERFORMED, subject, "2024-09-01", "P-1", case_number="C2"),
        ]
    )
    assert listing(case, subject, day("2025-01-01")) == ("2024-03-05", "2026-03-05")


def test_performance_before_listing_does_not_remove_it(case: Case) -> None:
    """An earlier performance record of the same case cannot end a later listing."""
    subject = case.person()
    case.ingest(
        [
            rec(PERFORMED, subject, "2024-01-10", "P-1", case_number="C1"),
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
        ]
    )
    assert listing(case, subject, day("2025-01-01")) == ("2024-03-05", "2026-03-05")


def test_other_listing_stays_when_one_case_is_performed(case: Case) -> None:
    """Two listed cases: performing one leaves the other in force."""
    subject = case.person()
    case.ingest(
        [
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
            rec(LISTED, subject, "2024-06-01", "L-2", case_number="C2"),
            rec(PERFORMED, subject, "2024-09-01", "P-1", case_number="C2"),
        ]
    )
    result = case.assess(preset("gov-default"), subject, day("2025-01-01"))
    assert [(x.since, x.until, x.records) for x in result.lists] == [
        ("2024-03-05", "2026-03-05", (case.seq("L-1"),))
    ]


def test_extension_extends_listing(case: Case) -> None:
    """An extension of 2 years makes the listing last 4 years from its start."""
    subject = case.person()
    case.ingest(
        [
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
            rec(EXTENDED, subject, "2025-06-01", "E-1", case_number="C1", years=2),
        ]
    )
    assert listing(case, subject, day("2025-05-31")) == ("2024-03-05", "2026-03-05")
    assert listing(case, subject, day("2027-01-01")) == ("2024-03-05", "2028-03-05")
    assert listing(case, subject, day("2028-03-04")) == ("2024-03-05", "2028-03-05")
    assert listing(case, subject, day("2028-03-05")) is None


@pytest.mark.parametrize("years", [[4], [2, 2], [3, 1], [1, 1, 1, 1]])
def test_extensions_capped_at_three_years(case: Case, years: list[int]) -> None:
    """However many extensions are granted, the listing ends 2 + 3 years after its start."""
    subject = case.person()
    case.ingest(
        [rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1")]
        + [
            rec(EXTENDED, subject, f"2025-0{i + 1}-10", f"E-{i}", case_number="C1", years=n)
            for i, n in enumerate(years)
        ]
    )
    assert listing(case, subject, day("2029-03-04")) == ("2024-03-05", "2029-03-05")
    assert listing(case, subject, day("2029-03-05")) is None


def test_extension_of_another_case_does_not_extend(case: Case) -> None:
    """An extension names its case; it must not lengthen a different listing."""
    subject = case.person()
    case.ingest(
        [
            rec(LISTED, subject, "2024-03-05", "L-1", case_number="C1"),
            rec(EXTENDED, subject, "2025-06-01", "E-1", case_number="C9", years=2),
        ]
    )
    assert listing(case, subject, day("2026-03-04")) == ("2024-03-05", "2026-03-05")
    assert listing(case, subject, day("2026-03-05")) is None


# --- reasons ---------------------------------------------------------------------------------


def test_reasons_top_four_by_points_then_seq(case: Case) -> None:
    """Reasons are the largest contributions, ties in ledger order, at most four."""
    subject = case.person()
    items = [
        ("R-0", MINOR),  # -20
        ("R-1", RED),  # -50
        ("R-2", "social.national-honour"),  # +100
        ("R-3", "administrative.drunk-driving"),  # -50
        ("R-4", "judicial.defamation-judgment"),  # -100
        ("R-5", MINOR),  # -20
    ]
    case.ingest([rec(item, subject, "2026-05-01", ref) for ref, item in items])
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert result.score == 1000 - 20 - 50 + 100 - 50 - 100 - 20
    assert len(result.reasons) == MAX_REASONS == 4
    assert [(r.seq, r.points) for r in result.reasons] == [
        (case.seq("R-2"), 100),
        (case.seq("R-4"), -100),
        (case.seq("R-1"), -50),
        (case.seq("R-3"), -50),
    ]
    assert all(r.date == "2026-05-01" for r in result.reasons)


def test_reasons_leave_out_records_that_no_longer_count(case: Case) -> None:
    """A record past its publicity is not a reason for today's score."""
    subject = case.person()
    case.ingest(
        [
            rec(MINOR, subject, "2024-01-01", "OLD"),
            rec(MINOR, subject, "2026-05-01", "NEW"),
        ]
    )
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert result.score == 980
    assert [r.seq for r in result.reasons] == [case.seq("NEW")]


def test_assess_all_agrees_with_assess(case: Case) -> None:
    """The all-subjects query and the one-subject query must give identical assessments."""
    subjects = [case.person(1), case.person(2), case.org(1)]
    case.ingest(
        [
            rec(LISTED, subjects[0], "2025-01-05", "L-1"),
            rec(MINOR, subjects[1], "2026-05-01", "T-1"),
            rec("administrative.food-safety-penalty", subjects[2], "2026-01-01", "F-1"),
            rec("commercial.a-grade-taxpayer", subjects[2], "2026-01-01", "A-1"),
        ]
    )
    for name in ("gov-default", "sesame-style", "suining-2010"):
        book = preset(name)
        everyone = {a.subject: a for a in case.assess_all(book, AS_OF)}
        assert list(everyone) == sorted(everyone)
        for subject in subjects:
            one = case.assess(book, subject, AS_OF)
            if subject in everyone:
                assert everyone[subject].to_dict() == one.to_dict()
            else:
                assert book.spec.score is not None and subject.startswith("uscc:")


# --- ageing, publicity overrides and listings in a custom rulebook ---------------------------

CUSTOM = """\
rulebook: custom-ageing
version: "1"
title: Custom ageing rules
catalogue: default
publicity:
  administrative.drunk-driving: 1 year
  judicial.defaulter-listed: 1 year
score:
  subjects: [person]
  min: 0
  max: 2000
  base: 1000
  ageing: {half_life: 6 months}
  points:
    - {item: administrative.traffic-minor, points: -40, ageing: {expires_after: 3 months}}
    - {item: administrative.traffic-red-light, points: -40, ageing: {}}
    - {item: administrative.drunk-driving, points: -40}
    - {item: social.volunteer-service, points: 40}
  grades:
    - {grade: A, min: 900}
    - {grade: B}
lists:
  - name: defaulters
    colour: black
    title: Judgment defaulters
    subjects: [person]
    legal_basis: "Fa Shi [2017] No. 7"
    entry: {records: [judicial.defaulter-listed]}
    duration: 2 years
"""

CUSTOM_AS_OF = dt.date(2026, 6, 15)


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Rulebook:
    path = write_rulebook(tmp_path_factory.mktemp("custom"), CUSTOM)
    return load_rulebook(path, catalogue())


@pytest.mark.parametrize(
    ("item", "decided", "points"),
    [
        pytest.param(MINOR, "2026-03-16", -40, id="expires-after-inside"),
        pytest.param(MINOR, "2026-03-15", 0, id="expires-after-passed-while-public"),
        pytest.param(RED, "2025-06-16", -40, id="empty-ageing-means-full-points"),
        pytest.param("administrative.drunk-driving", "2026-01-15", -22, id="5m-old"),
        pytest.param("administrative.drunk-driving", "2025-12-15", -20, id="6m-old-half"),
        pytest.param(
            "administrative.drunk-driving", "2025-06-16", -11, id="shortened-publicity-inside"
        ),
        pytest.param("administrative.drunk-driving", "2025-06-15", 0, id="shortened-publicity"),
        pytest.param("administrative.drunk-driving", "2025-09-15", -14, id="9m-old"),
        pytest.param("social.volunteer-service", "2025-06-15", 10, id="12m-quarter"),
    ],
)
def test_custom_ageing_and_publicity(
    case: Case, custom: Rulebook, item: str, decided: str, points: int
) -> None:
    """Rule-level ageing overrides the score's; a shortened publicity is obeyed."""
    subject = case.person()
    case.ingest([rec(item, subject, decided, "A")])
    assert case.assess(custom, subject, CUSTOM_AS_OF).score == 1000 + points


def test_listing_does_not_outlast_shortened_publicity(case: Case, custom: Rulebook) -> None:
    """A rulebook that makes the listing record public for 1 year cannot list for 2.

    Either the loader refuses a list that outlasts its entry record's publicity, or the
    listing ends when the record stops being public; listing someone on a record that may
    no longer be published is the harm the publicity limit exists to prevent.
    """
    subject = case.person()
    case.ingest([rec(LISTED, subject, "2025-03-01", "L-1")])
    inside = case.assess(custom, subject, dt.date(2026, 2, 28))
    assert [x.list for x in inside.lists] == ["defaulters"]
    after = case.assess(custom, subject, dt.date(2026, 3, 1))
    assert after.lists == (), f"listed until {after.lists[0].until}; public until 2026-03-01"


def test_half_life_ladder_covers_publicity_given_in_days() -> None:
    """A day-based publicity period must not end the ageing ladder early."""
    from credence.core.cutoffs import months_covering
    from credence.core.periods import Period

    assert months_covering(Period.parse("2 years")) == 24
    assert months_covering(Period.parse("400 days")) == 15  # 15 * 28 >= 400
    assert months_covering(Period.parse("4 weeks")) == 1
