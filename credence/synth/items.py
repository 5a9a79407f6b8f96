"""Which sources submit which catalogue items, and how common each item is.

Items are drawn from the catalogue itself, each source's from its glob
patterns, so a catalogue edit cannot leave the generator behind: the
generator asks the catalogue which items each source may submit, and
refuses to run if any item has no source or two. Weights follow severity
and polarity for the same reason, so a new item gets a sensible share
without editing this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from credence.core.catalogue import Catalogue, CatalogueItem, Polarity, Severity
from credence.core.ids import SubjectKind
from credence.synth.arrays import Floats, Ints
from credence.synth.sinks import check_format


@dataclass(frozen=True)
class SourceSpec:
    """One authority's feed: its name, the catalogue items it may submit, and its file."""

    name: str
    patterns: tuple[str, ...]
    file: str


# --- sources -------------------------------------------------------------------------------
# Patterns, not item lists, so that new catalogue items find their source.

_SOURCE_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("court", ("judicial.*",)),
    (
        "market-regulator",
        (
            "administrative.food-*",
            "administrative.product-*",
            "administrative.price-*",
            "administrative.false-advertising-*",
            "administrative.unlicensed-*",
            "administrative.abnormal-*",
            "administrative.serious-violation-*",
            "administrative.false-materials",
            "administrative.licence-*",
            "administrative.business-*",
        ),
    ),
    ("environment-bureau", ("administrative.environment-*",)),
    ("work-safety", ("administrative.work-safety-*",)),
    (
        "tax-bureau",
        ("administrative.tax-*", "commercial.tax-arrears", "commercial.a-grade-taxpayer"),
    ),
    ("traffic-police", ("administrative.traffic-*", "administrative.drunk-driving")),
    ("railway", ("administrative.fare-evasion",)),
    ("education", ("administrative.exam-cheating", "social.academic-misconduct")),
    ("credit-bureau", ("commercial.overdue-loan", "commercial.contract-default")),
    ("labour-bureau", ("commercial.wage-arrears", "commercial.social-insurance-arrears")),
    ("customs", ("commercial.customs-*",)),
    ("procurement", ("commercial.procurement-violation", "commercial.quality-award")),
    (
        "civil-affairs",
        (
            "social.national-*",
            "social.model-*",
            "social.volunteer-*",
            "social.blood-*",
            "social.charity-*",
            "social.brave-*",
        ),
    ),
    ("public-security", ("administrative.resident-registration",)),
)

# Reference prefixes (`CT-000000001`); references are unique within a source.
_REFERENCE_PREFIX = {
    "court": "CT",
    "market-regulator": "MR",
    "environment-bureau": "EB",
    "work-safety": "WS",
    "tax-bureau": "TX",
    "traffic-police": "TP",
    "railway": "RW",
    "education": "ED",
    "credit-bureau": "CB",
    "labour-bureau": "LB",
    "customs": "CU",
    "procurement": "PR",
    "civil-affairs": "CA",
    "public-security": "PS",
}


def source_specs(fmt: str = "parquet") -> tuple[SourceSpec, ...]:
    """The city's sources, with file names for output format `fmt`."""
    check_format(fmt)
    return tuple(SourceSpec(name, pats, f"{name}.{fmt}") for name, pats in _SOURCE_PATTERNS)


def reference_prefix(source: str) -> str:
    """The prefix of `source`'s references: its code, or its name in capitals."""
    return _REFERENCE_PREFIX.get(source, source.upper())


def source_items(catalogue: Catalogue, sources: Sequence[SourceSpec]) -> dict[str, str]:
    """Map each catalogue item to its one source; raise ValueError if any has none or two."""
    owner: dict[str, str] = {}
    for spec in sources:
        for code in catalogue.match(list(spec.patterns)):
            if code in owner:
                raise ValueError(f"{code} matches both {owner[code]} and {spec.name}")
            owner[code] = spec.name
    missing = [code for code in catalogue.items if code not in owner]
    if missing:
        raise ValueError(f"no synthetic source submits {', '.join(missing)}")
    return owner


# --- item weights --------------------------------------------------------------------------
# The overrides only encode what is known to be much more or less common than
# its severity suggests. Codes missing from the catalogue are ignored (a test
# checks they all exist).

_SEVERITY_WEIGHT = {Severity.MINOR: 1.0, Severity.ORDINARY: 0.35, Severity.SERIOUS: 0.06}
_POLARITY_WEIGHT = {Polarity.NEGATIVE: 1.0, Polarity.NEUTRAL: 1.0, Polarity.POSITIVE: 0.8}
WEIGHT_OVERRIDES: dict[str, float] = {
    "administrative.licence-granted": 8.0,
    "administrative.business-registration": 0.0,  # one per organisation, written apart
    "administrative.resident-registration": 0.0,  # identity resolution's reference, not a fact
    "administrative.traffic-minor": 10.0,
    "administrative.traffic-red-light": 4.0,
    "administrative.drunk-driving": 2.0,
    "administrative.abnormal-operations": 3.0,
    "social.volunteer-service": 5.0,
    "social.blood-donation": 1.5,
    "commercial.overdue-loan": 3.0,
    "commercial.a-grade-taxpayer": 3.0,
    "judicial.defaulter-listed": 10.0,
    "judicial.consumption-restriction": 2.0,
    "judicial.defaulter-performed": 0.0,  # only ever follows a listing (same case number)
    "judicial.defaulter-extended": 0.0,  # only a court extends its own listing
    "judicial.bribery-conviction": 0.2,
    "judicial.fraud-conviction": 0.3,
    "judicial.defamation-judgment": 0.2,
    "administrative.exam-cheating": 0.3,
    "social.academic-misconduct": 0.1,
    "social.model-worker": 0.3,
    "social.brave-deed": 0.2,
    "social.national-honour": 0.02,
}
LISTED = "judicial.defaulter-listed"
PERFORMED = "judicial.defaulter-performed"


def item_weight(item: CatalogueItem) -> float:
    """Relative frequency of `item` among records of a subject it applies to."""
    base = _SEVERITY_WEIGHT[item.severity] * _POLARITY_WEIGHT[item.polarity]
    return base * WEIGHT_OVERRIDES.get(item.code, 1.0)


# --- the catalogue as the generator needs it -----------------------------------------------


@dataclass(frozen=True)
class ItemTable:
    """The catalogue as the generator needs it: codes, sources and per-kind samplers."""

    catalogue: Catalogue
    codes: tuple[str, ...]
    sources: tuple[SourceSpec, ...]
    source_of: Ints  # item index -> source index
    org_items: Ints
    org_cum: Floats
    person_items: Ints
    person_cum: Floats
    listed: int | None
    performed: int | None

    def item(self, index: int) -> CatalogueItem:
        return self.catalogue.items[self.codes[index]]


def item_table(catalogue: Catalogue, sources: tuple[SourceSpec, ...]) -> ItemTable:
    """Index `catalogue` for drawing: raise ValueError unless each item has one source."""
    owner = source_items(catalogue, sources)
    codes = tuple(catalogue.items)
    index = {spec.name: i for i, spec in enumerate(sources)}
    weights = np.array([item_weight(catalogue.items[c]) for c in codes])

    def sampler(kind: SubjectKind) -> tuple[Ints, Floats]:
        chosen = np.array(
            [i for i, c in enumerate(codes) if catalogue.items[c].applies_to(kind) and weights[i]],
            dtype=np.int64,
        )
        return chosen, np.cumsum(weights[chosen]) if chosen.size else np.zeros(1)

    org_items, org_cum = sampler(SubjectKind.ORGANISATION)
    person_items, person_cum = sampler(SubjectKind.PERSON)
    return ItemTable(
        catalogue=catalogue,
        codes=codes,
        sources=sources,
        source_of=np.array([index[owner[c]] for c in codes], dtype=np.int64),
        org_items=org_items,
        org_cum=org_cum,
        person_items=person_items,
        person_cum=person_cum,
        listed=codes.index(LISTED) if LISTED in codes else None,
        performed=codes.index(PERFORMED) if PERFORMED in codes else None,
    )
