"""Loading rulebooks: presets, the content hash, and errors that point at file, line and field."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from string import Template

import pytest
import yaml

from credence.core.canonical import canonical_json
from credence.core.prohibited import PROHIBITED_CATEGORIES
from credence.core.rulebook import (
    Rulebook,
    RulebookError,
    load_rulebook,
    preset_names,
    presets_dir,
    resolve_rulebook_path,
)
from tests.rulebook.helpers import catalogue, line_of, write_rulebook

PRESETS = ("gov-default", "sesame-style", "suining-2010")

# A small valid rulebook using every section; error cases change one line of it.
# $extra_lists and $extra_measures are where tests append one more entry.
BASE = Template("""\
rulebook: test-book
version: "1"
title: Test rulebook
catalogue: default
publicity:
  administrative.traffic-minor: 6 months
score:
  subjects: [person]
  min: 0
  max: 2000
  base: 1000
  points:
    - {item: administrative.traffic-minor, points: -20}
    - {item: social.national-honour, points: 100}
  grades:
    - {grade: A, min: 900}
    - {grade: B, min: 800}
    - {grade: C}
lists:
  - name: defaulters
    colour: black
    title: Judgment defaulters
    subjects: [person]
    legal_basis: "Fa Shi [2017] No. 7"
    entry: {records: [judicial.defaulter-listed]}
    duration: 2 years
    exit: {records: [judicial.defaulter-performed], match: case_number}
    extension:
      records: [judicial.defaulter-extended]
      match: case_number
      attribute: years
      max: 3 years
$extra_lists
measures:
  - name: no-flights
    kind: restriction
    title: No air travel
    when: {list: defaulters}
    legal_basis: "Fa Shi [2015] No. 17"
    agencies: [airlines]
    purposes: [flight-booking]
$extra_measures
""")


def base_text(extra_lists: str = "", extra_measures: str = "") -> str:
    return BASE.substitute(extra_lists=extra_lists, extra_measures=extra_measures)


def load_text(tmp_path: Path, text: str) -> Rulebook:
    return load_rulebook(write_rulebook(tmp_path, text), catalogue())


def load_error(tmp_path: Path, text: str) -> tuple[str, str]:
    """The error message loading `text` gives, and the path it should name."""
    path = write_rulebook(tmp_path, text)
    with pytest.raises(RulebookError) as info:
        load_rulebook(path, catalogue())
    return str(info.value), str(path)


# --- presets and the hash ------------------------------------------------------------------


def test_preset_names_are_the_three_shipped() -> None:
    """The CLI offers exactly the shipped presets; a missing one would silently vanish."""
    assert preset_names() == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads(name: str) -> None:
    """Every shipped preset must validate against the default catalogue."""
    rulebook = load_rulebook(resolve_rulebook_path(name), catalogue())
    assert rulebook.name == name
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", rulebook.content_hash)
    assert rulebook.ref == {
        "name": name,
        "version": rulebook.version,
        "content_hash": rulebook.content_hash,
    }


@pytest.mark.parametrize("name", PRESETS)
def test_content_hash_is_sha256_of_canonical_json(name: str) -> None:
    """The hash must be reproducible by anyone from the file alone (RFC 8785 JSON, SHA-256)."""
    path = resolve_rulebook_path(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    expected = "sha256:" + hashlib.sha256(canonical_json(data)).hexdigest()
    assert load_rulebook(path, catalogue()).content_hash == expected
    assert load_rulebook(path, catalogue()).content_hash == expected


def _with_catalogue_hash(value: str) -> str:
    return base_text().replace(
        "catalogue: default\n", f'catalogue: default\ncatalogue_hash: "{value}"\n'
    )


def test_a_declared_catalogue_hash_that_matches_loads(tmp_path: Path) -> None:
    rulebook = load_text(tmp_path, _with_catalogue_hash(catalogue().content_hash))
    assert rulebook.spec.catalogue_hash == catalogue().content_hash


def test_a_declared_catalogue_hash_that_differs_is_refused(tmp_path: Path) -> None:
    """Rules written for other items must not run on this catalogue; the error names both."""
    declared = "sha256:" + "0" * 64
    message, path = load_error(tmp_path, _with_catalogue_hash(declared))
    text = _with_catalogue_hash(declared)
    assert message.startswith(f"{path}:{line_of(text, 'catalogue_hash')}: field 'catalogue_hash'")
    assert declared in message and catalogue().content_hash in message


def test_a_malformed_catalogue_hash_is_refused(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, _with_catalogue_hash("md5:abc"))
    assert "catalogue_hash" in message and "sha256" in message


def test_resolve_rulebook_path() -> None:
    """Names resolve to presets, file names to paths, and an unknown name is an error."""
    assert resolve_rulebook_path("gov-default") == presets_dir() / "gov-default.yaml"
    assert resolve_rulebook_path("mine.yaml") == Path("mine.yaml")
    with pytest.raises(RulebookError, match="no preset rulebook 'gov-defualt'"):
        resolve_rulebook_path("gov-defualt")


@pytest.mark.parametrize("name", PRESETS)
def test_hash_ignores_comments_and_whitespace(name: str, tmp_path: Path) -> None:
    """Re-wrapping or commenting a rulebook must not change which rules a score cites."""
    text = resolve_rulebook_path(name).read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            lines += ["", "# a comment before a top-level key", ""]
        if line.rstrip().endswith(("}", "]")):
            line += "   # a comment after a flow collection   "
        lines.append(line)
    relaid = "\n".join(lines) + "\n\n# trailing comment\n"
    assert relaid.count("#") > text.count("#") + 10
    original = load_rulebook(resolve_rulebook_path(name), catalogue()).content_hash
    assert load_text(tmp_path, relaid).content_hash == original


def test_hash_ignores_key_order_and_flow_style(tmp_path: Path) -> None:
    """Key order and flow/block layout are presentation, not rules."""
    text = base_text()
    moved = (
        text.replace("publicity:\n  administrative.traffic-minor: 6 months\n", "").replace(
            "    - {item: social.national-honour, points: 100}\n",
            "    - points: 100\n      item: social.national-honour\n",
        )
        + "publicity: {administrative.traffic-minor: 6 months}\n"
    )
    assert load_text(tmp_path, moved).content_hash == load_text(tmp_path, text).content_hash


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("points: -20}", "points: -21}"),
        ("min: 900}", "min: 901}"),
        ("6 months", "5 months"),
        ('version: "1"', 'version: "2"'),
        ("duration: 2 years", "duration: 1 year"),
    ],
)
def test_hash_changes_when_a_rule_changes(tmp_path: Path, old: str, new: str) -> None:
    """Any change of substance must give a new hash, or two rule sets would share one name."""
    text = base_text()
    assert old in text
    changed = load_text(tmp_path, text.replace(old, new)).content_hash
    assert changed != load_text(tmp_path, text).content_hash


def test_base_rulebook_is_valid(tmp_path: Path) -> None:
    """The fixture every error case edits must itself load, so each error has one cause."""
    rulebook = load_text(tmp_path, base_text())
    assert set(rulebook.item_rules) == {"administrative.traffic-minor", "social.national-honour"}
    assert set(rulebook.lists) == {"defaulters"}
    assert set(rulebook.measures) == {"no-flights"}


# --- errors name file, line and field ------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        "    duration: 2 years\n",
        "    duraton: 2 years\n",
        ["- name: defaulters", "duraton"],
        ["lists.0.duraton", "Extra inputs are not permitted"],
        id="unknown-key",
    ),
    pytest.param(
        "title: Test rulebook\n",
        "title: Test rulebook\ndescripton: Misspelt description\n",
        "descripton",
        ["descripton", "Extra inputs are not permitted"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        "{item: administrative.traffic-minor, points: -20}",
        "{item: administrative.no-such-thing, points: -20}",
        "no-such-thing",
        ["'administrative.no-such-thing' is not an item of catalogue 'default'"],
        id="item-not-in-catalogue",
    ),
    pytest.param(
        "{item: administrative.traffic-minor, points: -20}",
        '{item: "administrative.zz-*", points: -20}',
        "zz-*",
        ["'administrative.zz-*' is not an item of catalogue 'default'"],
        id="glob-matches-nothing",
    ),
    pytest.param(
        "    - {item: social.national-honour, points: 100}\n",
        "    - {item: social.national-honour, points: 100}\n"
        "    - {item: administrative.traffic-minor, points: -30}\n",
        "points: -30",
        ["administrative.traffic-minor", "scored by an earlier rule"],
        id="same-item-twice",
    ),
    pytest.param(
        "{item: social.national-honour, points: 100}",
        "{item: social.national-honour, points: -100}",
        "points: -100",
        ["item 'social.national-honour' is positive", "-100 points goes the wrong way"],
        id="negative-points-for-positive-item",
    ),
    pytest.param(
        "{item: administrative.traffic-minor, points: -20}",
        "{item: administrative.traffic-minor, points: 20}",
        "points: 20}",
        ["item 'administrative.traffic-minor' is negative", "20 points goes the wrong way"],
        id="positive-points-for-negative-item",
    ),
    pytest.param(
        "    - {item: social.national-honour, points: 100}\n",
        "    - {item: social.national-honour, points: 100}\n"
        "    - {item: administrative.licence-granted, points: 5}\n",
        "licence-granted",
        ["item 'administrative.licence-granted' is neutral", "5 points goes the wrong way"],
        id="points-for-neutral-item",
    ),
    pytest.param(
        "{grade: B, min: 800}",
        "{grade: B, min: 950}",
        ["  grades:", "{grade: A, min: 900}", "min: 950"],
        ["field 'grades'", "highest 'min' down"],
        id="grades-not-descending",
    ),
    pytest.param(
        "when: {list: defaulters}",
        "when: {list: no-such-list}",
        "no-such-list",
        ["list 'no-such-list' is not defined"],
        id="measure-on-undefined-list",
    ),
    pytest.param(
        "administrative.traffic-minor: 6 months",
        "administrative.traffic-minor: 2 years",
        "traffic-minor: 2 years",
        ["publicity of 'administrative.traffic-minor' is 1 year", "2 years"],
        id="publicity-longer-than-catalogue",
    ),
    pytest.param(
        "  administrative.traffic-minor: 6 months\n",
        "  administrative.drunk-driving: 1 year\n  administrative.traffic-minor: 2 years\n",
        "traffic-minor: 2 years",
        ["publicity of 'administrative.traffic-minor' is 1 year", "2 years"],
        id="publicity-second-override-longer",
    ),
    pytest.param(
        "match: case_number}",
        "match: amount}",
        "match: amount",
        ["item 'judicial.defaulter-performed' has no attribute 'amount'"],
        id="exit-match-attribute-missing",
    ),
]


@pytest.mark.parametrize(("old", "new", "at", "fragments"), ERROR_CASES)
def test_error_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, at: str | list[str], fragments: list[str]
) -> None:
    """A policy officer must be able to go straight to the line that is wrong.

    `at` marks the line the error must name (or the acceptable lines of a block).
    """
    text = base_text()
    assert text.count(old) == 1
    text = text.replace(old, new)
    message, path = load_error(tmp_path, text)
    lines = sorted({line_of(text, a) for a in ([at] if isinstance(at, str) else at)})
    named = re.match(rf"{re.escape(path)}:(\d+): ", message)
    assert named is not None, message
    assert int(named.group(1)) in lines, f"expected line {lines}: {message}"
    for fragment in fragments:
        assert fragment in message


# --- prohibited categories -----------------------------------------------------------------

TERMS = [
    pytest.param(category, term, id=term)
    for category, terms in PROHIBITED_CATEGORIES.items()
    for term in terms
]
FIRST_TERMS = [
    pytest.param(category, terms[0], id=terms[0])
    for category, terms in PROHIBITED_CATEGORIES.items()
]
CATEGORIES = list(PROHIBITED_CATEGORIES)


def extra_list(name: str = "watch-list", title: str = "Watched subjects", cats: str = "") -> str:
    return (
        f"  - name: {name}\n"
        "    colour: black\n"
        f"    title: {title}\n"
        "    subjects: [person]\n"
        '    legal_basis: "Some law, art. 1"\n'
        "    entry: {records: [judicial.fraud-conviction]}\n"
        "    duration: 1 year\n" + (f"    categories: [{cats}]\n" if cats else "")
    )


def extra_measure(
    title: str = "Extra checks", purpose: str = "extra-checks", cats: str = ""
) -> str:
    return (
        "  - name: extra-measure\n"
        "    kind: restriction\n"
        f"    title: {title}\n"
        "    when: {list: defaulters}\n"
        '    legal_basis: "Some law, art. 2"\n'
        "    agencies: [someone]\n"
        f"    purposes: [{purpose}]\n" + (f"    categories: [{cats}]\n" if cats else "")
    )


def assert_refused(tmp_path: Path, text: str, at: str, category: str) -> None:
    message, path = load_error(tmp_path, text)
    assert message.startswith(f"{path}:{line_of(text, at)}: "), message
    assert category in message
    assert "prohibited category" in message


def test_lawful_extra_entries_load(tmp_path: Path) -> None:
    """The entries the prohibited cases edit are lawful as written, so the guard is the cause."""
    rulebook = load_text(tmp_path, base_text(extra_list(), extra_measure()))
    assert "watch-list" in rulebook.lists
    assert "extra-measure" in rulebook.measures


def test_guard_matches_whole_words_only(tmp_path: Path) -> None:
    """'surface' is not 'face': a lawful list must not be refused for a word inside a word."""
    text = base_text(extra_list(name="surface-water-polluters", title="Surface water polluters"))
    assert "surface-water-polluters" in load_text(tmp_path, text).lists


@pytest.mark.parametrize(("category", "term"), FIRST_TERMS)
def test_list_name_with_prohibited_term_refused(tmp_path: Path, category: str, term: str) -> None:
    """A list named after a prohibited category must not load, whatever it is entered by."""
    text = base_text(extra_list(name=f"{term}-register"))
    assert_refused(tmp_path, text, f"name: {term}-register", category)


@pytest.mark.parametrize(("category", "term"), TERMS)
def test_list_title_with_prohibited_term_refused(tmp_path: Path, category: str, term: str) -> None:
    """A list title is what the public reads: it must not reveal a prohibited category."""
    text = base_text(extra_list(title=f"Register of {term} matters"))
    assert_refused(tmp_path, text, "name: watch-list", category)


@pytest.mark.parametrize(("category", "term"), TERMS)
def test_measure_title_with_prohibited_term_refused(
    tmp_path: Path, category: str, term: str
) -> None:
    """A joint measure must not be described in terms of a prohibited category."""
    text = base_text(extra_measures=extra_measure(title=f"Checks on {term} matters"))
    assert_refused(tmp_path, text, "name: extra-measure", category)


@pytest.mark.parametrize(("category", "term"), FIRST_TERMS)
def test_measure_purpose_with_prohibited_term_refused(
    tmp_path: Path, category: str, term: str
) -> None:
    """A measure's purposes limit its use; none may be a prohibited category."""
    text = base_text(extra_measures=extra_measure(purpose=f"{term}-screening"))
    assert_refused(tmp_path, text, "name: extra-measure", category)


@pytest.mark.parametrize("category", CATEGORIES)
def test_points_rule_declaring_prohibited_category_refused(tmp_path: Path, category: str) -> None:
    """A rule that declares it uses a prohibited category is refused outright."""
    text = base_text().replace(
        "{item: administrative.traffic-minor, points: -20}",
        f'{{item: administrative.traffic-minor, points: -20, categories: ["{category}"]}}',
    )
    assert_refused(tmp_path, text, "categories:", category)


@pytest.mark.parametrize("category", CATEGORIES)
def test_list_declaring_prohibited_category_refused(tmp_path: Path, category: str) -> None:
    """Declaring a prohibited category on a list is refused like on a rule."""
    text = base_text(extra_list(cats=f'"{category}"'))
    assert_refused(tmp_path, text, "name: watch-list", category)


@pytest.mark.parametrize("category", CATEGORIES)
def test_measure_declaring_prohibited_category_refused(tmp_path: Path, category: str) -> None:
    """Declaring a prohibited category on a measure is refused like on a rule."""
    text = base_text(extra_measures=extra_measure(cats=f'"{category}"'))
    assert_refused(tmp_path, text, "name: extra-measure", category)
