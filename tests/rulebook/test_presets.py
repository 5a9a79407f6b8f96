"""The three presets on hand-built cases: the stated numbers must come out exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from credence.core.assessment import assemble
from credence.core.catalogue import Area
from tests.conftest import PERSON
from tests.rulebook.conftest import Case
from tests.rulebook.helpers import preset, rec

AS_OF = dt.date(2026, 6, 1)
RECENT = "2026-05-01"  # inside every item's publicity on AS_OF

DEFAULTER_RESTRICTIONS = (
    "no-flights",
    "no-soft-sleeper",
    "no-high-speed-rail",
    "no-star-hotels",
    "no-property-purchase",
    "no-private-school-fees",
    "no-luxury-travel",
)


def rows_for(subject: str, items: list[str], on: str = RECENT) -> list[dict[str, object]]:
    return [rec(item, subject, on, f"R-{i}") for i, item in enumerate(items)]


# --- suining-2010 ----------------------------------------------------------------------------

MINOR = "administrative.traffic-minor"
RED = "administrative.traffic-red-light"
DRUNK = "administrative.drunk-driving"
BRIBERY = "judicial.bribery-conviction"
DEFAMATION = "judicial.defamation-judgment"
HONOUR = "social.national-honour"


@pytest.mark.parametrize(
    ("items", "score", "grade"),
    [
        pytest.param([], 1000, "A", id="no-records"),
        pytest.param([MINOR], 980, "A", id="minor-traffic"),
        pytest.param([RED], 950, "B", id="red-light"),
        pytest.param([DRUNK], 950, "B", id="drunk-driving"),
        pytest.param([BRIBERY], 950, "B", id="bribery"),
        pytest.param([DEFAMATION], 900, "B", id="defamation"),
        pytest.param([MINOR, RED, DRUNK, BRIBERY], 830, "C", id="four-offences"),
        pytest.param([HONOUR], 1100, "A", id="national-honour"),
        pytest.param([HONOUR, DEFAMATION], 1000, "A", id="honour-offsets-defamation"),
        pytest.param([MINOR, MINOR], 960, "A", id="at-A-boundary"),
        pytest.param([MINOR, MINOR, MINOR], 940, "B", id="below-A"),
        pytest.param([RED, RED, RED], 850, "B", id="at-B-boundary"),
        pytest.param([RED, RED, RED, MINOR], 830, "C", id="below-B"),
        pytest.param([DEFAMATION] * 4, 600, "C", id="at-C-boundary"),
        pytest.param([DEFAMATION] * 4 + [MINOR], 580, "D", id="below-C"),
        pytest.param([DEFAMATION] * 11, 0, "D", id="clamped-at-scale-minimum"),
    ],
)
def test_suining_scores_and_grades(case: Case, items: list[str], score: int, grade: str) -> None:
    """Suining's reported deductions, awards and grade bands (A>=960, B>=850, C>=600)."""
    subject = case.person(1)
    if items:
        case.ingest(rows_for(subject, items))
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert (result.score, result.grade) == (score, grade)
    assert result.rulebook == preset("suining-2010").ref
    assert result.as_of == AS_OF.isoformat()
    assert result.lists == ()
    assert result.measures == ()


def test_suining_scores_people_only(case: Case) -> None:
    """The pilot scored residents; an organisation gets no score and no grade."""
    case.ingest([rec(BRIBERY, case.org(1), RECENT, "B-1")])
    result = case.assess(preset("suining-2010"), case.org(1), AS_OF)
    assert (result.score, result.grade, result.reasons) == (None, None, ())


def test_suining_ignores_items_it_does_not_score(case: Case) -> None:
    """Only the six listed items move the score; other records on the person do nothing."""
    subject = case.person(1)
    case.ingest(rows_for(subject, ["judicial.fraud-conviction", "commercial.overdue-loan", MINOR]))
    result = case.assess(preset("suining-2010"), subject, AS_OF)
    assert result.score == 980
    assert [r.item for r in result.reasons] == [MINOR]


# --- sesame-style ----------------------------------------------------------------------------

SESAME_AS_OF = dt.date(2026, 6, 15)
LOW_PERKS = ("deposit-free-hotel", "deposit-free-power-bank")
CAR = (*LOW_PERKS, "deposit-free-car-rental")
SOCIAL_GOOD = [
    "social.volunteer-service",
    "social.charity-donation",
    "social.model-worker",
    "social.national-honour",
]


@pytest.mark.parametrize(
    ("items", "score", "grade", "measures"),
    [
        pytest.param([], 600, "C", LOW_PERKS, id="no-records-starts-at-600"),
        pytest.param(["commercial.overdue-loan"], 540, "E", (), id="overdue-loan"),
        pytest.param(["commercial.tax-arrears"], 560, "D", (), id="tax-arrears"),
        pytest.param(
            ["commercial.tax-arrears", "social.model-worker"], 590, "D", (), id="just-below-600"
        ),
        pytest.param(
            ["social.model-worker", "social.volunteer-service"], 640, "C", LOW_PERKS, id="640"
        ),
        pytest.param(["social.national-honour"], 650, "B", CAR, id="at-650"),
        pytest.param(SOCIAL_GOOD, 700, "A", (*CAR, "simplified-visa-paperwork"), id="at-700"),
        pytest.param(
            ["judicial.defaulter-listed", "judicial.fraud-conviction", "commercial.overdue-loan"],
            350,
            "E",
            (),
            id="clamped-at-350",
        ),
    ],
)
def test_sesame_scores_grades_and_perks(
    case: Case,
    items: list[str],
    score: int,
    grade: str,
    measures: tuple[str, ...],
) -> None:
    """Fresh records count in full; the social cap holds; perks follow the thresholds."""
    subject = case.person(1)
    if items:
        case.ingest(rows_for(subject, items, SESAME_AS_OF.isoformat()))
    result = case.assess(preset("sesame-style"), subject, SESAME_AS_OF)
    assert (result.score, result.grade, result.measures) == (score, grade, measures)


@pytest.mark.parametrize("extra", [[], ["commercial.tax-arrears"]], ids=["social", "per-area"])
def test_sesame_social_cap(case: Case, extra: list[str]) -> None:
    """Good deeds are capped per area: farming them stops at the cap; other areas still count."""
    rulebook = preset("sesame-style")
    assert rulebook.score is not None
    cap = rulebook.score.caps[Area.SOCIAL].max
    assert cap is not None and cap < 300
    subject = case.person(1)
    case.ingest(rows_for(subject, SOCIAL_GOOD * 3 + extra, SESAME_AS_OF.isoformat()))
    result = case.assess(rulebook, subject, SESAME_AS_OF)
    assert result.score == 600 + cap - 40 * len(extra)


@pytest.mark.parametrize(
    ("score", "measures"),
    [
        (599, ()),
        (600, LOW_PERKS),
        (649, LOW_PERKS),
        (650, CAR),
        (699, CAR),
        (700, (*CAR, "simplified-visa-paperwork")),
        (749, (*CAR, "simplified-visa-paperwork")),
        (750, (*CAR, "simplified-visa-paperwork", "expedited-visa")),
        (950, (*CAR, "simplified-visa-paperwork", "expedited-visa")),
    ],
)
def test_sesame_perk_thresholds(score: int, measures: tuple[str, ...]) -> None:
    """Perks start exactly at 600, 650, 700 and 750 (score_at_least is inclusive)."""
    result = assemble(preset("sesame-style"), PERSON, score, [], [], SESAME_AS_OF, None)
    assert result.measures == measures


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        *[(350, "E"), (549, "E"), (550, "D"), (599, "D"), (600, "C")],
        *[(649, "C"), (650, "B"), (699, "B"), (700, "A"), (950, "A")],
    ],
)
def test_sesame_grade_bands(score: int, grade: str) -> None:
    """Bands E/D/C/B/A start at 550/600/650/700, each minimum inclusive."""
    assert preset("sesame-style").grade_for(score) == grade


def test_sesame_top_band_and_visa_perks_reachable(case: Case) -> None:
    """Grade A and the 700/750 perks must be earnable by someone, or the preset is dead rules.

    The best conduct the preset can see: many fresh records of every item it scores up.
    """
    subject = case.person(1)
    rulebook = preset("sesame-style")
    good = [code for code, rule in rulebook.item_rules.items() if rule.points > 0]
    case.ingest(rows_for(subject, good * 5, SESAME_AS_OF.isoformat()))
    result = case.assess(rulebook, subject, SESAME_AS_OF)
    assert result.score is not None
    assert result.score >= 750, f"best possible score is {result.score} ({result.grade})"


@pytest.mark.parametrize(
    ("item", "decided", "points"),
    [
        pytest.param("commercial.overdue-loan", "2026-06-15", -60, id="0-months-full"),
        pytest.param("commercial.overdue-loan", "2026-05-16", -60, id="a-day-short-of-1-month"),
        pytest.param("commercial.overdue-loan", "2026-05-15", -57, id="1-month"),
        pytest.param("commercial.overdue-loan", "2025-12-15", -42, id="6-months"),
        pytest.param("commercial.overdue-loan", "2025-06-16", -32, id="a-day-short-of-12-months"),
        pytest.param("commercial.overdue-loan", "2025-06-15", -30, id="12-months-half"),
        pytest.param("commercial.overdue-loan", "2021-07-15", -2, id="59-months"),
        pytest.param("commercial.overdue-loan", "2021-06-15", 0, id="60-months-no-longer-public"),
        pytest.param("judicial.defaulter-listed", "2024-06-15", -38, id="minus-37.5-away-from-0"),
        pytest.param("social.volunteer-service", "2024-06-15", 3, id="plus-2.5-away-from-0"),
        pytest.param("social.national-honour", "2024-06-15", 13, id="plus-12.5-away-from-0"),
    ],
)
def test_sesame_half_life_by_whole_months(case: Case, item: str, decided: str, points: int) -> None:
    """Points halve yearly, by whole months of age, rounding halves away from zero."""
    subject = case.person(1)
    case.ingest([rec(item, subject, decided, "A-1")])
    result = case.assess(preset("sesame-style"), subject, SESAME_AS_OF)
    assert result.score == 600 + points
    assert [r.points for r in result.reasons] == ([points] if points else [])


# --- gov-default -----------------------------------------------------------------------------


def test_gov_defaulter_listed_for_two_years_with_all_restrictions(case: Case) -> None:
    """SPC Fa Shi [2017] No. 7: two years from the decision, with the seven restrictions."""
    subject = case.person(1)
    case.ingest(
        [rec("judicial.defaulter-listed", subject, "2025-01-02", "L", decided="2025-01-10")]
    )
    rulebook = preset("gov-default")
    result = case.assess(rulebook, subject, AS_OF)
    assert [lst.to_dict() for lst in result.lists] == [
        {
            "list": "judgment-defaulters",
            "colour": "black",
            "since": "2025-01-10",
            "until": "2027-01-10",
            "records": [case.seq("L")],
        }
    ]
    assert result.measures == DEFAULTER_RESTRICTIONS
    assert (result.score, result.grade) == (None, None)
    assert case.assess(rulebook, subject, dt.date(2027, 1, 9)).measures == DEFAULTER_RESTRICTIONS
    gone = case.assess(rulebook, subject, dt.date(2027, 1, 10))
    assert (gone.lists, gone.measures) == ((), ())


def test_gov_gives_people_no_score(case: Case) -> None:
    """The government system keeps no personal score, whatever records a person has."""
    case.ingest(rows_for(case.person(1), [BRIBERY, "commercial.overdue-loan", HONOUR]))
    for subject in (case.person(1), case.person(2)):
        result = case.assess(preset("gov-default"), subject, AS_OF)
        assert (result.score, result.grade, result.reasons) == (None, None, ())
        assert (result.lists, result.measures) == ((), ())


def test_gov_minor_penalty_counts_three_months_only(case: Case) -> None:
    """A minor penalty is public for 3 months: -10 inside, nothing after."""
    subject = case.org(1)
    case.ingest([rec("administrative.food-safety-penalty-minor", subject, "2026-03-01", "P-1")])
    rulebook = preset("gov-default")
    inside = case.assess(rulebook, subject, dt.date(2026, 5, 31))
    assert (inside.score, inside.grade) == (990, "B")
    assert [(r.item, r.points) for r in inside.reasons] == [
        ("administrative.food-safety-penalty-minor", -10)
    ]
    for day in (dt.date(2026, 6, 1), dt.date(2026, 9, 1)):
        after = case.assess(rulebook, subject, day)
        assert (after.score, after.grade, after.reasons) == (1000, "A", ())


def test_gov_a_grade_taxpayer_red_list(case: Case) -> None:
    """An A-grade taxpayer is on the red list for a year, with the tax green lane."""
    subject = case.org(1)
    case.ingest([rec("commercial.a-grade-taxpayer", subject, "2026-04-01", "T-1", year=2025)])
    rulebook = preset("gov-default")
    result = case.assess(rulebook, subject, AS_OF)
    assert [(lst.list, lst.colour, lst.since, lst.until) for lst in result.lists] == [
        ("a-grade-taxpayers", "red", "2026-04-01", "2027-04-01")
    ]
    assert "tax-green-lane" in result.measures
    assert result.measures == ("tax-green-lane", "customs-facilitation")
    assert (result.score, result.grade) == (1030, "A")
    later = case.assess(rulebook, subject, dt.date(2027, 4, 1))
    assert (later.lists, later.measures, later.score) == ((), (), 1000)


def test_gov_commercial_cap(case: Case) -> None:
    """Commercial rewards are capped at +60 for organisations."""
    subject = case.org(1)
    case.ingest(
        rows_for(
            subject,
            [
                "commercial.a-grade-taxpayer",
                "commercial.customs-advanced-certified",
                "commercial.quality-award",
            ],
        )
    )
    assert case.assess(preset("gov-default"), subject, AS_OF).score == 1060


@pytest.mark.parametrize(
    ("items", "score", "grade"),
    [
        pytest.param(["administrative.product-quality-penalty"], 960, "B", id="ordinary"),
        pytest.param(["administrative.food-safety-penalty"], 900, "B", id="serious"),
        pytest.param(["commercial.wage-arrears"], 880, "C", id="commercial-serious"),
        pytest.param(["judicial.defaulter-listed"], 800, "C", id="defaulter"),
        pytest.param(["administrative.licence-granted"], 1000, "A", id="neutral"),
    ],
)
def test_gov_organisation_points(case: Case, items: list[str], score: int, grade: str) -> None:
    """Organisation points by severity, as the preset states them."""
    subject = case.org(1)
    case.ingest(rows_for(subject, items))
    result = case.assess(preset("gov-default"), subject, AS_OF)
    assert (result.score, result.grade) == (score, grade)


def test_gov_grade_d_is_key_supervision(case: Case) -> None:
    """Grade D puts an organisation under key supervision while the grade holds."""
    subject = case.org(1)
    case.ingest(rows_for(subject, ["administrative.food-safety-penalty"] * 4))
    result = case.assess(preset("gov-default"), subject, AS_OF)
    assert (result.score, result.grade) == (600, "D")
    assert [(lst.list, lst.since, lst.until) for lst in result.lists] == [
        ("key-supervision", None, None)
    ]
    assert result.measures == ("more-frequent-inspections",)


def test_gov_serious_violators_list(case: Case) -> None:
    """The SAMR serious-violator list lasts 3 years and excludes from procurement."""
    subject = case.org(1)
    case.ingest([rec("administrative.serious-violation-list", subject, "2024-06-01", "S-1")])
    rulebook = preset("gov-default")
    result = case.assess(rulebook, subject, AS_OF)
    assert [(lst.list, lst.until) for lst in result.lists] == [("serious-violators", "2027-06-01")]
    assert result.measures == ("no-public-procurement", "no-subsidies", "licence-restrictions")
