"""The guard's parts: normalisation, Chinese and pinyin, the allow-list and the organisation rule;
and the attribute-value rule at catalogue load and at ingest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from credence.core.catalogue import CatalogueError, parse_catalogue
from credence.core.guard import check_declared_categories, find_prohibited
from credence.core.guard.normalise import fold, lemmas, tokenise, variants
from credence.core.guard.pinyin import is_pinyin
from credence.core.records import Record, Rejection, RowValidator
from tests.conftest import ORG, PERSON


def category(text: str, **kw: Any) -> str | None:
    found = find_prohibited(text, **kw)
    return found.category if found else None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hivStatus", ["hiv", "status"]),
        ("HIVStatus", ["hiv", "status"]),
        ("blood_type-code", ["blood", "type", "code"]),
        ("Ｆａｉｔｈ", ["faith"]),
        ("zōngjiào", ["zongjiao"]),
        ("R.E.L.I.G.I.O.N.", ["religion"]),
        ("rеligion", ["religion"]),  # Cyrillic е
        ("re\u200bligion", ["religion"]),  # zero-width space
    ],
)
def test_text_is_folded_and_split(text: str, words: list[str]) -> None:
    assert [t.form for t in tokenise(fold(text))] == words


def test_digits_inside_words_are_also_read_as_letters() -> None:
    assert "religion" in variants(fold("re1igion"))[2]
    assert "protest" in variants(fold("pr0test"))[1]
    assert variants(fold("zong1jiao4"))[-1] == "zongjiao"


def test_lemmas_cover_inflections_not_derivations() -> None:
    assert {"worship"} <= lemmas("worshipping")
    assert {"admission"} <= lemmas("admissions")
    assert "related" not in lemmas("relatives") and "relat" not in lemmas("relatives")


def test_pinyin_segmentation() -> None:
    assert is_pinyin("zongjiaoxinyang")
    assert not is_pinyin("repeaters")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("宗 教 活 动", "religion or belief"),
        ("朋友圈联系人信用", "the conduct of other people"),
        ("Shangfang cishu", "political opinion or speech"),
        ("peiou_zhaiwu", "the conduct of other people"),
        ("ZONGJIAOflag", "religion or belief"),
        ("hivstatus", "health or genetics"),
        ("Sexualität", "sexual life"),
        ("brother-in-law", "the conduct of other people"),
        ("Relatives of defaulters", "the conduct of other people"),
        ("dissidents", "political opinion or speech"),
    ],
)
def test_disguised_terms_are_found(text: str, expected: str) -> None:
    assert category(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Surface water discharge",
        "Traceability of imported food",
        "Face value of the bill",
        "Customs union tariff arrears",
        "Bad-faith litigation",
        "Party A failed to pay Party B",
        "Section 12 filing late",
        "Sect. 5 of the Price Law",
        "Xinyang City market regulator",
        "中华民族",
        "家庭农场登记",
    ],
)
def test_ordinary_collocations_pass(text: str) -> None:
    assert find_prohibited(text) is None


def test_sector_words_are_about_the_organisation_only_in_its_trade() -> None:
    """A sector law or an organisation-only item clears 'drug', 'medical'; personal data stays."""
    assert find_prohibited("Drug Administration Law penalty for a pharmacy") is None
    assert find_prohibited("Medical practitioner's licence suspended") is None
    assert category("Medical notes of the debtor") == "health or genetics"
    assert find_prohibited("Pharmacy chain fined", subjects=["organisation"]) is None
    assert find_prohibited("Mental Health Law, art. 73", subjects=["organisation"]) is None
    assert category("Mental Health Law, art. 30", subjects=["person"]) == "health or genetics"
    assert category("Employee medical records", subjects=["organisation"]) == "health or genetics"
    assert category("员工健康记录", subjects=["organisation"]) == "health or genetics"


def test_weak_words_are_refused_for_people_only() -> None:
    assert category("Children of defaulters", subjects=["person"]) == "the conduct of other people"
    assert find_prohibited("Child labour by an employer", subjects=["organisation"]) is None
    assert category("Member of the factory union", subjects=["person"]) is not None


def test_declared_categories_are_refused_by_name_or_part() -> None:
    assert check_declared_categories(["religion"]) is not None
    assert check_declared_categories(["health or genetics"]) is not None
    assert check_declared_categories(["commercial"]) is None


def test_message_keeps_its_form() -> None:
    assert str(find_prohibited("creed")) == (
        "refers to religion or belief ('creed'), a prohibited category"
    )


# --- attribute values ----------------------------------------------------------------------


def _item(**attribute: Any) -> dict[str, Any]:
    return {
        "code": "commercial.probe",
        "title": "Probe item",
        "area": "commercial",
        "subjects": ["organisation", "person"],
        "polarity": "negative",
        "severity": "minor",
        "legal_basis": "Probe Law, art. 1",
        "publicity": "1 year",
        "visibility": "public",
        "attributes": {"note": attribute},
    }


def test_free_text_string_attribute_is_refused_at_load() -> None:
    with pytest.raises(CatalogueError, match="attribute 'note' is free text"):
        parse_catalogue({"items": [_item(type="string")]})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "string", "pattern": "("}, "does not compile"),
        ({"type": "integer", "pattern": "^1$"}, "apply only to string"),
        ({"type": "string", "values": ["Catholic", "none"]}, "religion or belief"),
        ({"type": "string", "pattern": "^(muslim|christian)$"}, "religion or belief"),
    ],
)
def test_bad_value_declarations_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue({"items": [_item(**spec)]})


def _validate(value: str, **spec: Any) -> Record | Rejection:
    catalogue = parse_catalogue({"items": [_item(type="string", **spec)]})
    validator = RowValidator(catalogue, "src", {"commercial.probe"}, dt.date(2026, 1, 1))
    row = {
        "item": "commercial.probe",
        "subject": PERSON,
        "occurred_on": "2025-01-01",
        "reference": "R-1",
        "attributes": {"note": value},
    }
    return validator.validate(row)


def test_values_are_checked_against_pattern_and_vocabulary_at_ingest() -> None:
    assert isinstance(_validate("(2024)京0105执12号", pattern=r"^\(\d{4}\).+号$"), Record)
    refused = _validate("anything at all", pattern=r"^\(\d{4}\).+号$")
    assert isinstance(refused, Rejection) and refused.field == "attributes.note"
    assert "does not match the pattern" in refused.reason
    assert isinstance(_validate("national", values=["national", "provincial"]), Record)
    other = _validate("county", values=["national", "provincial"])
    assert isinstance(other, Rejection) and "not one of the values" in other.reason
    long = _validate("A" * 300, pattern="^A+$")
    assert isinstance(long, Rejection) and "longer than 200" in long.reason


def test_values_are_guarded_at_ingest() -> None:
    refused = _validate("attends mosque weekly", pattern="^.{1,80}$")
    assert isinstance(refused, Rejection) and refused.field == "attributes.note"
    assert "religion or belief" in refused.reason
    assert isinstance(_validate("患有糖尿病", pattern="^.{1,80}$"), Rejection)
    assert isinstance(_validate("JY110105202400001", pattern="^.{1,80}$"), Record)


def test_organisation_subject_clears_sector_values() -> None:
    catalogue = parse_catalogue({"items": [_item(type="string", pattern="^.{1,80}$")]})
    validator = RowValidator(catalogue, "src", {"commercial.probe"}, dt.date(2026, 1, 1))
    row = {
        "item": "commercial.probe",
        "subject": ORG,
        "occurred_on": "2025-01-01",
        "reference": "R-1",
        "attributes": {"note": "医疗器械经营许可证"},
    }
    assert isinstance(validator.validate(row), Record)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("noreligion", "religion or belief"),  # "no" + a term, as "isgay"
        ("applicant_nochurch", "religion or belief"),
        ("diseaseno", "health or genetics"),  # a term + "no", as "hivstatus"
    ],
)
def test_no_joined_to_a_term_is_refused(text: str, category: str) -> None:
    """`no` is a head and a field word; unquoted in the YAML it had been read as False."""
    found = find_prohibited(text)
    assert found is not None and found.category == category


def test_a_lexicon_word_yaml_reads_as_a_boolean_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from credence.core.guard import lexicon

    with pytest.raises(ValueError, match=r"field_words holds \[False\], not words: quote them"):
        lexicon._words({"field_words": ["status", False]}, "field_words")
    lexicon.load_lexicon.cache_clear()
    try:
        words = lexicon.load_lexicon()
        assert "no" in words.field_words and "no" in words.head_words
        assert "False" not in words.field_words | words.head_words
    finally:
        lexicon.load_lexicon.cache_clear()
