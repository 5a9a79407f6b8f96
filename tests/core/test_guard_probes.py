"""The guard measured on labelled probes, not on its own word list.

`guard_probes.yaml` and each later holdout batch (`guard_holdout_*.yaml`,
written before the lexicon was tuned on it) hold prohibited items written
the way an author who knows about the word list would write them, and
ordinary items that merely resemble them, each placed in one field of a
catalogue item, a rulebook list or measure, or an ingested record. This
test puts every probe where it says, loads it through the public loaders
(so the wiring is measured too), prints the refusal and false-refusal
rates, and holds them to the targets.
"""

from __future__ import annotations

import datetime as dt
import functools
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
from credence.core.records import Rejection, RowValidator
from credence.core.rulebook import RulebookError, parse_rulebook
from tests.conftest import ORG, PERSON

PROBE_FILES = sorted(Path(__file__).parent.glob("guard_*.yaml"))
REFUSAL_TARGET = 0.95
FALSE_REFUSAL_TARGET = 0.05
CATALOGUE_FIELDS = {"code", "title", "description", "legal_basis", "attr_name", "attr_desc"}


def probes() -> list[dict[str, Any]]:
    """Every probe of every batch: `guard_probes.yaml` and the holdouts."""
    return [
        probe
        for path in PROBE_FILES
        for probe in yaml.safe_load(path.read_text(encoding="utf-8"))["probes"]
    ]


@functools.cache
def shipped() -> Catalogue:
    return load_catalogue(default_catalogue_path())


def _item(probe: dict[str, Any]) -> dict[str, Any]:
    at, text = probe["at"], probe["text"]
    item: dict[str, Any] = {
        "code": "social.probe-item",
        "title": "Probe item",
        "area": "social",
        "subjects": ["organisation"] if probe.get("org") else ["person"],
        "polarity": "negative",
        "severity": "minor",
        "legal_basis": "Probe Regulation (2020), art. 1",
        "publicity": "1 year",
        "visibility": "restricted",
        "attributes": {"ref": {"type": "string", "pattern": "^[A-Z0-9-]{1,20}$"}},
    }
    if at == "code":
        item["code"], item["area"] = text, text.split(".", 1)[0]
    elif at == "attr_name":
        item["attributes"][text] = {"type": "integer"}
    elif at == "attr_desc":
        item["attributes"]["detail"] = {"type": "integer", "description": text}
    elif at == "attr_value":
        item["attributes"]["detail"] = {"type": "string", "pattern": "^.{1,200}$"}
    else:  # a title is at least 3 characters: pad a 2-character Chinese one with a year
        item[at] = text if len(text) >= 5 else f"{text} 2024"
    return item


def _catalogue_refuses(probe: dict[str, Any]) -> bool:
    try:
        parse_catalogue({"catalogue": "probe", "items": [_item(probe)]})
    except CatalogueError as exc:
        assert "prohibited category" in str(exc), exc  # refused for the right reason
        return True
    return False


def _value_refuses(probe: dict[str, Any]) -> bool:
    catalogue = parse_catalogue({"catalogue": "probe", "items": [_item(probe)]})
    validator = RowValidator(catalogue, "probe", {"social.probe-item"}, dt.date(2026, 1, 1))
    row = {
        "item": "social.probe-item",
        "subject": ORG if probe.get("org") else PERSON,
        "occurred_on": "2025-01-01",
        "reference": "P-1",
        "attributes": {"detail": probe["text"]},
    }
    result = validator.validate(row)
    if isinstance(result, Rejection):
        assert result.field == "attributes.detail", result
        assert "prohibited category" in result.reason, result
        return True
    return False


def _rulebook(probe: dict[str, Any]) -> dict[str, Any]:
    at, text = probe["at"], probe["text"]
    subjects = ["organisation"] if probe.get("org") else ["person"]
    lst = {
        "name": "probe-list",
        "colour": "black",
        "title": "Probe list",
        "subjects": subjects,
        "legal_basis": "Probe Regulation (2020), art. 2",
        "entry": {"records": ["judicial.fraud-conviction"]},
        "duration": "1 year",
    }
    measure = {
        "name": "probe-measure",
        "kind": "restriction",
        "title": "Probe measure",
        "when": {"list": "probe-list"},
        "subjects": subjects,
        "legal_basis": "Probe Regulation (2020), art. 3",
        "agencies": ["Probe agency"],
        "purposes": ["probe-purpose"],
    }
    target, key = (lst, at[5:]) if at.startswith("list_") else (measure, at[8:])
    if at == "purpose":
        measure["purposes"] = [text]
    elif at == "agency":
        measure["agencies"] = [text]
    else:
        target[key] = text
    measure["when"] = {"list": lst["name"]}
    return {
        "rulebook": "probe",
        "version": "1",
        "title": "Probe rulebook",
        "lists": [lst],
        "measures": [measure],
    }


def _rulebook_refuses(probe: dict[str, Any]) -> bool:
    try:
        parse_rulebook(_rulebook(probe), shipped())
    except RulebookError as exc:
        assert "prohibited category" in str(exc), exc
        return True
    return False


def refuses(probe: dict[str, Any]) -> bool:
    """Whether the loaders refuse the probe placed where it says."""
    if probe["at"] in CATALOGUE_FIELDS:
        return _catalogue_refuses(probe)
    if probe["at"] == "attr_value":
        return _value_refuses(probe)
    return _rulebook_refuses(probe)


def test_probe_set_is_big_and_labelled() -> None:
    """At least 200 probes, both kinds, every category of the guard and every hiding place."""
    assert {p.name for p in PROBE_FILES} >= {"guard_probes.yaml", "guard_holdout_4.yaml"}
    all_probes = probes()
    assert len(all_probes) >= 200
    assert sum(p["refuse"] for p in all_probes) >= 100
    assert sum(not p["refuse"] for p in all_probes) >= 80
    places = {p["at"] for p in all_probes}
    assert CATALOGUE_FIELDS | {"attr_value", "purpose", "agency", "list_title"} <= places


def test_guard_meets_its_targets_on_the_probes(capsys: pytest.CaptureFixture[str]) -> None:
    """Refuses >=95% of prohibited probes and <=5% of ordinary ones; prints both rates."""
    results = [(p, refuses(p)) for p in probes()]
    prohibited = [(p, r) for p, r in results if p["refuse"]]
    ordinary = [(p, r) for p, r in results if not p["refuse"]]
    missed = [p["text"] for p, r in prohibited if not r]
    wrongly = [p["text"] for p, r in ordinary if r]
    refusal = 1 - len(missed) / len(prohibited)
    false_refusal = len(wrongly) / len(ordinary)
    report = (
        f"guard probes: refused {len(prohibited) - len(missed)}/{len(prohibited)} prohibited "
        f"({refusal:.1%}), falsely refused {len(wrongly)}/{len(ordinary)} ordinary "
        f"({false_refusal:.1%})"
    )
    with capsys.disabled():  # the rates belong in every `make test` output
        print(f"\n{report}")
    assert refusal >= REFUSAL_TARGET, f"{report}; missed: {missed}"
    assert false_refusal <= FALSE_REFUSAL_TARGET, f"{report}; wrongly refused: {wrongly}"
