"""The catalogue: the shipped default, and the validator's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from credence.core.catalogue import (
    Catalogue,
    CatalogueError,
    default_catalogue_path,
    load_catalogue,
    parse_catalogue,
)
from credence.core.ids import SubjectKind

REQUIRED = {
    "judicial.defaulter-listed": {"organisation", "person"},
    "judicial.defaulter-performed": {"organisation", "person"},
    "judicial.bribery-conviction": None,
    "judicial.defamation-judgment": None,
    "administrative.traffic-minor": {"person"},
    "administrative.traffic-red-light": {"person"},
    "administrative.drunk-driving": {"person"},
    "social.national-honour": {"person"},
    "social.volunteer-service": {"person"},
    "administrative.food-safety-penalty": {"organisation"},
    "commercial.a-grade-taxpayer": {"organisation"},
    "commercial.tax-arrears": {"organisation", "person"},
}


@pytest.fixture(scope="module")
def default() -> Catalogue:
    return load_catalogue(default_catalogue_path())


def test_default_catalogue_has_the_contracted_codes(default: Catalogue) -> None:
    assert len(default) >= 40
    for code, kinds in REQUIRED.items():
        assert code in default, code
        if kinds is not None:
            assert {k.value for k in default[code].subjects} == kinds, code


def test_default_catalogue_covers_every_area_and_the_listed_kinds(default: Catalogue) -> None:
    assert {i.area.value for i in default.items.values()} == {
        "administrative",
        "commercial",
        "social",
        "judicial",
    }
    issue_kinds = [
        "commercial.tax-arrears",
        "commercial.contract-default",
        "commercial.overdue-loan",
        "administrative.false-materials",
        "administrative.fare-evasion",
        "administrative.licence-granted",
        "social.model-worker",
        "social.blood-donation",
        "judicial.defaulter-performed",
        "commercial.a-grade-taxpayer",
    ]
    assert [code for code in issue_kinds if code not in default] == []
    for kind in ("food-safety", "work-safety", "environment", "tax"):
        assert f"administrative.{kind}-penalty" in default
        assert default[f"administrative.{kind}-penalty-minor"].publicity == "3 months"
        assert default[f"administrative.{kind}-penalty"].severity.value == "serious"


def test_match_uses_globs(default: Catalogue) -> None:
    judicial = default.match(["judicial.*"])
    assert "judicial.defaulter-listed" in judicial
    assert all(c.startswith("judicial.") for c in judicial)
    assert default.match(["nothing.*"]) == []
    assert default["social.volunteer-service"].applies_to(SubjectKind.PERSON)
    assert not default["social.volunteer-service"].applies_to(SubjectKind.ORGANISATION)


def _item(**overrides: Any) -> dict[str, Any]:
    item = {
        "code": "social.example-item",
        "title": "An example item",
        "area": "social",
        "subjects": ["person"],
        "polarity": "positive",
        "severity": "minor",
        "legal_basis": "Example Law, art. 1",
        "publicity": "3 years",
        "visibility": "public",
    }
    item.update(overrides)
    return item


def _write(tmp_path: Path, *items: dict[str, Any]) -> Path:
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump({"catalogue": "t", "items": list(items)}, sort_keys=False))
    return path


def test_a_good_item_loads(tmp_path: Path) -> None:
    cat = load_catalogue(_write(tmp_path, _item()))
    assert cat["social.example-item"].publicity_period.count == 3


@pytest.mark.parametrize(
    ("overrides", "category"),
    [
        (
            {"code": "social.protest-participation", "title": "Took part in a protest"},
            "political opinion or speech",
        ),
        ({"code": "social.online-speech", "title": "Online speech"}, "political opinion or speech"),
        ({"code": "social.church-attendance", "title": "Attends church"}, "religion or belief"),
        (
            {"code": "social.religious-activity", "title": "Religious activity"},
            "religion or belief",
        ),
        ({"code": "social.ethnic-group", "title": "Ethnic group"}, "ethnicity"),
        ({"code": "social.health-status", "title": "Health status"}, "health or genetics"),
        ({"code": "social.genetic-risk", "title": "Genetic risk score"}, "health or genetics"),
        ({"code": "social.face-scan", "title": "Face scan match"}, "biometrics"),
        ({"code": "social.fingerprint", "title": "Fingerprint on file"}, "biometrics"),
        ({"code": "social.sexual-orientation", "title": "Sexual orientation"}, "sexual life"),
        (
            {"code": "social.union-member", "title": "Trade union membership"},
            "trade-union membership",
        ),
        (
            {"code": "social.friends-defaulters", "title": "Has friends who are defaulters"},
            "the conduct of other people",
        ),
        (
            {"code": "social.family-conduct", "title": "Conduct of family members"},
            "the conduct of other people",
        ),
        ({"title": "Innocuous title", "categories": ["religion or belief"]}, "religion or belief"),
        (
            {"title": "Innocuous title", "description": "scored from the subject's contacts"},
            "the conduct of other people",
        ),
        ({"title": "Innocuous", "attributes": {"ethnicity": {"type": "string"}}}, "ethnicity"),
    ],
)
def test_prohibited_categories_are_refused(
    tmp_path: Path, overrides: dict[str, Any], category: str
) -> None:
    with pytest.raises(CatalogueError, match=f"refers to {category}") as info:
        load_catalogue(_write(tmp_path, _item(), _item(**overrides)))
    assert "cat.yaml:" in str(info.value)  # names the file and line


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"legal_basis": None}, "legal_basis"),
        ({"legal_basis": ""}, "legal_basis"),
        ({"publicity": None}, "publicity"),
        ({"publicity": "forever"}, "publicity"),
        ({"area": "political"}, "area"),
        ({"code": "Social.Bad"}, "code"),
        ({"code": "commercial.x", "area": "social"}, "code"),
        ({"subjects": []}, "subjects"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_incomplete_items_are_refused(
    tmp_path: Path, overrides: dict[str, Any], field: str
) -> None:
    item = _item(**overrides)
    for key, value in overrides.items():
        if value is None:
            del item[key]
    with pytest.raises(CatalogueError, match=f"field '{field}"):
        load_catalogue(_write(tmp_path, item))


def test_duplicate_codes_are_refused() -> None:
    with pytest.raises(CatalogueError, match="defined twice"):
        parse_catalogue({"items": [_item(), _item()]})


def test_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _item(), _item(code="social.second", publicity="soon"))
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if "social.second" in text
    )
    with pytest.raises(CatalogueError, match=rf"cat.yaml:{line}: item 'social.second'"):
        load_catalogue(path)
