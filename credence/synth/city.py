"""A deterministic synthetic city: subjects and source feeds for demos, tests and benchmarks.

Real credit data about real people must never be needed to try credence, to
test it, or to measure it, so this module invents a city (Beijing-shaped,
because its court and district codes make plausible case numbers) whose
files look like what thirteen authorities would actually deliver:

* every subject ID passes credence's own checks (real region codes valid
  for the holder's birth year, real check characters, and a few USCCs with
  letter registration authorities, which python-stdnum alone refuses);
* record counts per subject are heavy-tailed, as in real registries: most
  subjects have nothing or very little, a few companies have thousands;
* items are drawn from the catalogue itself, each source's from its glob
  patterns, so a catalogue edit cannot leave the generator behind;
* a small, configurable share of rows is deliberately bad in the ways feeds
  really go wrong, so that rejections are exercised end to end.

Speed and memory are design constraints (a million subjects, twenty million
records, on two cores, in minutes): records are generated in chunks with
numpy, strings are assembled with pyarrow.compute, and files are streamed.
Everything derives from `numpy.random.PCG64(seed)` streams and `as_of` (never
the clock or hash order), so equal arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credence.core.catalogue import (
    AttributeSpec,
    AttributeType,
    Catalogue,
    CatalogueItem,
    Polarity,
    Severity,
    default_catalogue_path,
    load_catalogue,
)
from credence.core.ids import USCC_ALPHABET, SubjectKind
from credence.synth.regions import RegionTable, region_table

COLUMNS = ("item", "subject", "occurred_on", "reference", "decided_on", "attributes")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
FORMATS = ("parquet", "csv", "jsonl")
DEFAULT_AS_OF = dt.date(2026, 11, 1)
MANIFEST_FILE = "manifest.json"

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

# Chunking: records generated per step, and rows buffered per Parquet row group.
CHUNK_RECORDS = 250_000
ROW_GROUP_ROWS = 131_072

ORGANISATION_SHARE = 0.15
HISTORY_DAYS = 6 * 365 + 1  # records occurred within about six years before as_of
DECISION_LAG_DAYS = 60
PERFORMED_SHARE = 0.4  # listed defaulters who later perform, when that falls before as_of


@dataclass(frozen=True)
class SourceSpec:
    """One authority's feed: its name, the catalogue items it may submit, and its file."""

    name: str
    patterns: tuple[str, ...]
    file: str


@dataclass(frozen=True)
class CityManifest:
    """What was generated, written as `manifest.json` so a demo can configure its sources.

    `records` counts every row written, `bad_rows` the deliberately bad ones
    among them. `as_of` is the date the city was generated for: validate
    with `today=as_of`, or the newest rows look like future dates.
    """

    subjects: int
    organisations: int
    people: int
    records: int
    bad_rows: int
    seed: int
    sources: tuple[SourceSpec, ...]
    format: str
    as_of: dt.date = DEFAULT_AS_OF

    def to_json(self) -> str:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["sources"] = [
            {"name": s.name, "patterns": list(s.patterns), "file": s.file} for s in self.sources
        ]
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CityManifest:
        data = json.loads(text)
        data["as_of"] = dt.date.fromisoformat(data.get("as_of", DEFAULT_AS_OF.isoformat()))
        data["sources"] = tuple(
            SourceSpec(s["name"], tuple(s["patterns"]), s["file"]) for s in data["sources"]
        )
        return cls(**data)


def read_manifest(out_dir: Path) -> CityManifest:
    """The manifest of a city generated into `out_dir`."""
    return CityManifest.from_json((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


# --- sources -------------------------------------------------------------------------------
# Patterns, not item lists: the generator asks the catalogue which items each
# source may submit, and refuses to run if any item has no source or two.

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
}


def source_specs(fmt: str = "parquet") -> tuple[SourceSpec, ...]:
    """The city's sources, with file names for output format `fmt`."""
    _check_format(fmt)
    return tuple(SourceSpec(name, pats, f"{name}.{fmt}") for name, pats in _SOURCE_PATTERNS)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


# --- item weights --------------------------------------------------------------------------
# Weights follow severity and polarity, so a new catalogue item gets a sensible
# share without editing this file; the overrides only encode what is known to
# be much more or less common than its severity suggests. Codes missing from the
# catalogue are ignored (a test checks they all exist).

_SEVERITY_WEIGHT = {Severity.MINOR: 1.0, Severity.ORDINARY: 0.35, Severity.SERIOUS: 0.06}
_POLARITY_WEIGHT = {Polarity.NEGATIVE: 1.0, Polarity.NEUTRAL: 1.0, Polarity.POSITIVE: 0.8}
WEIGHT_OVERRIDES: dict[str, float] = {
    "administrative.licence-granted": 8.0,
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


@dataclass(frozen=True)
class _Items:
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


def _items(catalogue: Catalogue, sources: tuple[SourceSpec, ...]) -> _Items:
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
    return _Items(
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


# --- the city's districts ------------------------------------------------------------------
# Region code, court code, district name, one-character abbreviation, weight.
_DISTRICTS: tuple[tuple[str, str, str, str, float], ...] = (
    ("110101", "京0101", "东城区", "东", 0.04),
    ("110102", "京0102", "西城区", "西", 0.05),
    ("110105", "京0105", "朝阳区", "朝", 0.16),
    ("110106", "京0106", "丰台区", "丰", 0.09),
    ("110107", "京0107", "石景山区", "石", 0.03),
    ("110108", "京0108", "海淀区", "海", 0.14),
    ("110109", "京0109", "门头沟区", "门", 0.02),
    ("110111", "京0111", "房山区", "房", 0.06),
    ("110112", "京0112", "通州区", "通", 0.08),
    ("110113", "京0113", "顺义区", "顺", 0.06),
    ("110114", "京0114", "昌平区", "昌", 0.10),
    ("110115", "京0115", "大兴区", "兴", 0.09),
    ("110116", "京0116", "怀柔区", "怀", 0.02),
    ("110117", "京0117", "平谷区", "平", 0.02),
    ("110118", "京0118", "密云区", "密", 0.02),
    ("110119", "京0119", "延庆区", "延", 0.02),
)
_DISTRICT_P = np.array([d[4] for d in _DISTRICTS]) / sum(d[4] for d in _DISTRICTS)


def _district_texts(template: str) -> list[str]:
    """`template` rendered for every district ({code}, {court}, {name}, {d})."""
    return [
        template.format(code=code, court=court, name=name, d=abbr)
        for code, court, name, abbr, _w in _DISTRICTS
    ]


# --- population ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """The city's subjects: organisations first (`uscc:`), then people (`ric:`).

    `birth_day` (days since 1970-01-01, one per person) lets records about
    people start no earlier than their sixteenth birthday.
    """

    keys: Any  # pyarrow StringArray of canonical subject keys
    organisations: int
    birth_day: Ints

    @property
    def size(self) -> int:
        return len(self.keys)

    @property
    def people(self) -> int:
        return self.size - self.organisations


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams for population, records and bad rows.

    Bad rows have their own stream so that `bad_row_rate` changes which rows
    are spoiled but never the good rows: the test compares the two to find
    every deliberately bad row.
    """
    children = np.random.SeedSequence(seed).spawn(3)
    pop, rec, bad = (np.random.Generator(np.random.PCG64(s)) for s in children)
    return pop, rec, bad


def organisation_count(subjects: int) -> int:
    """About 15% of the city's subjects are organisations (at least one in a city of two)."""
    if subjects < 2:
        return 0
    return max(1, round(subjects * ORGANISATION_SHARE))


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _civil(days: Ints) -> tuple[Ints, Ints, Ints]:
    """Year, month and day of epoch days."""
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    month = (months - years).astype(np.int64) + 1
    dom = (d - months).astype(np.int64) + 1
    return year, month, dom


def _digits(values: Ints, width: int) -> npt.NDArray[np.uint8]:
    """Decimal digits of each value, most significant first: shape (n, width)."""
    out = np.empty((values.size, width), dtype=np.uint8)
    rest = values.copy()
    for pos in range(width - 1, -1, -1):
        out[:, pos] = rest % 10
        rest //= 10
    return out


def _weighted_sum(values: npt.NDArray[np.uint8] | Ints, weights: Ints) -> Ints:
    """Row sums of values * weights, column by column to keep memory flat."""
    total = np.zeros(values.shape[0], dtype=np.int64)
    for j, w in enumerate(weights.tolist()):
        total += values[:, j].astype(np.int64) * w
    return total


def _first_duplicates(keys: Ints) -> Ints:
    """Indices of every occurrence of a key after its first."""
    _, first = np.unique(keys, return_index=True)
    dup = np.ones(keys.shape, dtype=bool)
    dup[first] = False
    return np.flatnonzero(dup).astype(np.int64)


_USCC_INDEX = np.full(128, -1, dtype=np.int64)
_USCC_INDEX[[ord(c) for c in USCC_ALPHABET]] = np.arange(len(USCC_ALPHABET))
_USCC_CHARS = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_GB11714_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_RIC_CHECK = np.frombuffer(b"0123456789X", dtype=np.uint8)

# Registration authority, its share, and entity types with their shares (GB 32100-2015
# annex A). 'N' (agriculture) and 'Y' (other) are the letter authorities, about 3%.
_AUTHORITIES: tuple[tuple[str, float, str, tuple[float, ...]], ...] = (
    ("9", 0.87, "123", (0.55, 0.40, 0.05)),  # market regulation: enterprise, household, coop
    ("1", 0.05, "1239", (0.3, 0.5, 0.1, 0.1)),  # establishment: organ, institution, ...
    ("5", 0.05, "1239", (0.5, 0.3, 0.1, 0.1)),  # civil affairs: association, non-profit, ...
    ("N", 0.02, "129", (0.5, 0.4, 0.1)),  # agriculture: collective, cooperative, other
    ("Y", 0.01, "1", (1.0,)),  # other registration authorities
)


def _organisations(n: int, regions: RegionTable, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """USCCs as an (n, 18) ASCII matrix: authority, type, region, GB 11714 code, check."""
    chars = np.zeros((n, 18), dtype=np.uint8)
    auth = rng.choice(len(_AUTHORITIES), size=n, p=[a[1] for a in _AUTHORITIES])
    kind = np.zeros(n, dtype=np.uint8)
    for i, (letter, _share, types, shares) in enumerate(_AUTHORITIES):
        rows = np.flatnonzero(auth == i)
        chars[rows, 0] = ord(letter)
        pick = rng.choice(len(types), size=rows.size, p=shares)
        kind[rows] = np.frombuffer(types.encode(), dtype=np.uint8)[pick]
    chars[:, 1] = kind
    # Registered in the city's districts, a few elsewhere (any code current at as_of).
    home = np.array([int(d[0]) for d in _DISTRICTS], dtype=np.int64)
    current = regions.codes[regions.valid[:, -1]].astype(np.int64)
    region = np.where(
        rng.random(n) < 0.9,
        home[rng.choice(home.size, size=n, p=_DISTRICT_P)],
        current[rng.integers(0, current.size, size=n)],
    )
    chars[:, 2:8] = _digits(region, 6) + ord("0")
    # GB 11714 organisation code: 8 digits (older bodies) or "MA" + 6 characters (since
    # 2015), nationally unique, so drawn without repeats.
    body = np.zeros((n, 8), dtype=np.uint8)
    new_style = rng.random(n) < 0.6
    value = np.zeros(n, dtype=np.int64)
    todo = np.arange(n, dtype=np.int64)
    while todo.size:
        value[todo] = np.where(
            new_style[todo],
            rng.integers(0, 31**6, size=todo.size),
            rng.integers(0, 10**8, size=todo.size),
        )
        todo = _first_duplicates(np.where(new_style, 10**8 + value, value))
    old = np.flatnonzero(~new_style)
    body[old] = _digits(value[old], 8) + ord("0")
    new = np.flatnonzero(new_style)
    body[new, 0], body[new, 1] = ord("M"), ord("A")
    rest = value[new]
    for pos in range(7, 1, -1):
        body[new, pos] = _USCC_CHARS[rest % 31]
        rest //= 31
    code_values = np.where(body >= ord("A"), body.astype(np.int64) - 55, body - ord("0"))
    check = 11 - _weighted_sum(code_values, _GB11714_WEIGHTS) % 11
    chars[:, 8:16] = body
    chars[:, 16] = np.where(check == 10, ord("X"), np.where(check == 11, 0, check) + ord("0"))
    total = _weighted_sum(_USCC_INDEX[chars[:, :17]], _USCC_WEIGHTS)
    chars[:, 17] = _USCC_CHARS[(31 - total % 31) % 31]
    return chars


def _people(
    n: int, regions: RegionTable, as_of: dt.date, rng: np.random.Generator
) -> tuple[npt.NDArray[np.uint8], Ints]:
    """Resident IDs as an (n, 18) ASCII matrix, and birth days (epoch days)."""
    latest = _epoch_day(_years_before(as_of, 18))  # 18 today
    earliest = _epoch_day(_years_before(as_of, 81)) + 1  # 80 today
    age = rng.beta(1.8, 2.2, size=n)  # most adults are 30 to 60
    birth = np.clip(latest - (age * (latest - earliest + 1)).astype(np.int64), earliest, latest)
    year, month, dom = _civil(birth)
    # Birth place: 60% born in the city, the rest anywhere; the code must exist that year.
    home = np.flatnonzero(regions.home)
    want_home = rng.random(n) < 0.6
    place = np.zeros(n, dtype=np.int64)
    todo = np.arange(n, dtype=np.int64)
    for _attempt in range(50):
        if not todo.size:
            break
        draw = np.where(
            want_home[todo],
            home[rng.integers(0, home.size, size=todo.size)],
            rng.integers(0, regions.codes.size, size=todo.size),
        )
        ok = regions.valid[draw, year[todo] - regions.first_year]
        place[todo[ok]] = draw[ok]
        todo = todo[~ok]
    for i in todo:  # practically never: the first code valid that year
        place[i] = int(np.argmax(regions.valid[:, year[i] - regions.first_year]))
    region = regions.codes[place].astype(np.int64)
    order = rng.integers(0, 1000, size=n)
    date_number = year * 10_000 + month * 100 + dom
    while True:  # same place, birthday and order code: draw another order code
        dup = _first_duplicates(region * 10**11 + date_number * 1000 + order)
        if not dup.size:
            break
        order[dup] = rng.integers(0, 1000, size=dup.size)
    digits = np.concatenate(
        [_digits(region, 6), _digits(date_number, 8), _digits(order, 3)], axis=1
    )
    check = (12 - _weighted_sum(digits, _RIC_WEIGHTS) % 11) % 11
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = digits + ord("0")
    chars[:, 17] = _RIC_CHECK[check]
    return chars, birth


def _keys(prefix: bytes, chars: npt.NDArray[np.uint8]) -> Any:
    """Subject keys (`prefix` + each row of `chars`) as a pyarrow string array."""
    n, width = chars.shape
    size = len(prefix) + width
    full = np.empty((n, size), dtype=np.uint8)
    full[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    full[:, len(prefix) :] = chars
    offsets = np.arange(n + 1, dtype=np.int32) * size
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(full.tobytes())
    )


def population(subjects: int, seed: int, as_of: dt.date = DEFAULT_AS_OF) -> Population:
    """The subjects of the city `synthesise(..., subjects, seed, as_of=as_of)` writes about."""
    if subjects < 1:
        raise ValueError("a city needs at least one subject")
    rng = _streams(seed)[0]
    regions = region_table(as_of.year - 81, as_of.year)
    n_org = organisation_count(subjects)
    org_chars = _organisations(n_org, regions, rng)
    person_chars, birth = _people(subjects - n_org, regions, as_of, rng)
    keys = pa.concat_arrays([_keys(b"uscc:", org_chars), _keys(b"ric:", person_chars)])
    return Population(keys=keys, organisations=n_org, birth_day=birth)


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """One chunk of records as numbers; strings are made only when writing."""

    subject: Ints
    item: Ints
    occurred: Ints  # epoch days
    decided: Ints
    year: Ints  # year in document numbers
    seq: Ints  # sequence number in document numbers
    district: Ints  # index into _DISTRICTS: court, authority

    def take(self, index: Ints) -> _Rows:
        return _Rows(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: Sequence[_Rows]) -> _Rows:
        names = _Rows.__dataclass_fields__
        return _Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))


def _activity(pop: Population, rng: np.random.Generator) -> Floats:
    """Cumulative record intensity per subject: zero-inflated lognormal, so heavy-tailed.

    Half the people and a quarter of the organisations never appear; among the
    rest, intensity is lognormal (sigma 1.6), so the busiest subjects have
    hundreds of times the mean. Organisations are three times as active.
    """
    n, n_org = pop.size, pop.organisations
    is_org = np.arange(n) < n_org
    active = rng.random(n) < np.where(is_org, 0.75, 0.5)
    scale = np.where(is_org, 3.0, 1.0)
    intensity = rng.lognormal(0.0, 1.6, size=n) * scale * active
    if not intensity.any():
        intensity[:] = 1.0
    out: Floats = np.cumsum(intensity)
    return out


def _chunk(
    n: int,
    pop: Population,
    cum: Floats,
    items: _Items,
    as_of: int,
    rng: np.random.Generator,
) -> _Rows:
    """`n` independent records, plus performances that follow some defaulter listings."""
    subject = np.searchsorted(cum, rng.random(n) * cum[-1], side="right").astype(np.int64)
    np.minimum(subject, pop.size - 1, out=subject)
    is_org = subject < pop.organisations
    item = np.zeros(n, dtype=np.int64)
    for mask, chosen, weights in (
        (is_org, items.org_items, items.org_cum),
        (~is_org, items.person_items, items.person_cum),
    ):
        k = int(mask.sum())
        if k:
            pick = np.searchsorted(weights, rng.random(k) * weights[-1], side="right")
            item[mask] = chosen[np.minimum(pick, chosen.size - 1)]
    # More recent years are busier; people appear only from their sixteenth birthday.
    ago = 1.0 - rng.power(1.3, size=n)
    start = np.full(n, as_of - HISTORY_DAYS, dtype=np.int64)
    people = np.flatnonzero(~is_org)
    sixteen = pop.birth_day[subject[people] - pop.organisations] + 5844
    start[people] = np.maximum(start[people], sixteen)
    occurred = as_of - (ago * (as_of - start)).astype(np.int64)
    lag = np.minimum(DECISION_LAG_DAYS + 1, as_of - occurred + 1)
    decided = occurred + (rng.random(n) * lag).astype(np.int64)
    year = _civil(occurred)[0]
    rows = _Rows(
        subject=subject,
        item=item,
        occurred=occurred,
        decided=decided,
        year=year,
        seq=rng.integers(1, 100_000, size=n),
        district=rng.choice(len(_DISTRICTS), size=n, p=_DISTRICT_P),
    )
    if items.listed is None or items.performed is None:
        return rows
    listed = np.flatnonzero(item == items.listed)
    listed = listed[rng.random(listed.size) < PERFORMED_SHARE]
    later = rows.decided[listed] + rng.integers(15, 731, size=listed.size)
    listed, later = listed[later <= as_of], later[later <= as_of]
    performed = rows.take(listed)
    performed = _Rows(
        subject=performed.subject,
        item=np.full(listed.size, items.performed, dtype=np.int64),
        occurred=later,
        decided=later
        + (rng.random(listed.size) * np.minimum(4, as_of - later + 1)).astype(np.int64),
        year=performed.year,  # same case number: same year, court and sequence
        seq=performed.seq,
        district=performed.district,
    )
    both = _Rows.concat([rows, performed])
    return both.take(rng.permutation(n + listed.size).astype(np.int64))


# --- attribute values ----------------------------------------------------------------------
# Each generator returns JSON-encoded values (strings already quoted) for the
# rows of one item, built column-wise with pyarrow.compute.

_CASE_TYPE = {  # the case-type characters of a court case number
    "judicial.defaulter-listed": "执",
    "judicial.defaulter-performed": "执",
    "judicial.consumption-restriction": "执",
    "judicial.bribery-conviction": "刑初",
    "judicial.fraud-conviction": "刑初",
    "judicial.false-litigation": "司惩",
}
# Heads of document numbers, by (item, attribute) or (source, attribute). Chinese heads
# give "京朝市监处罚〔2024〕123号", digits give "1101052024000123", letters "CF-2024-000123".
_DOC_HEADS = {
    ("market-regulator", "decision_number"): "京{d}市监处罚",
    ("environment-bureau", "decision_number"): "京{d}环保罚字",
    ("work-safety", "decision_number"): "京{d}应急罚",
    ("tax-bureau", "decision_number"): "京{d}税稽罚",
    ("tax-bureau", "notice_number"): "京{d}税欠公告",
    ("traffic-police", "decision_number"): "{code}",
    ("railway", "decision_number"): "TL",
    ("education", "decision_number"): "JYKS",
    ("social.academic-misconduct", "decision_number"): "KYCX",
    ("labour-bureau", "decision_number"): "京{d}人社监罚",
    ("labour-bureau", "notice_number"): "京{d}社保稽核",
    ("procurement", "decision_number"): "京财采处",
    ("civil-affairs", "decision_number"): "京{d}民罚",
}
_AUTHORITY = {
    "market-regulator": "北京市{name}市场监督管理局",
    "environment-bureau": "北京市生态环境局",
    "work-safety": "北京市{name}应急管理局",
    "tax-bureau": "国家税务总局北京市{name}税务局",
    "labour-bureau": "北京市{name}人力资源和社会保障局",
    "procurement": "北京市财政局",
    "civil-affairs": "北京市民政局",
}
_FINES: dict[str, tuple[int, ...]] = {
    "administrative.traffic-minor": (20, 50, 100, 200),
    "administrative.traffic-red-light": (200,),
    "administrative.drunk-driving": (1000, 1500, 2000),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "reason": (
        "未按规定报送年度报告",
        "通过登记的住所或者经营场所无法联系",
        "未按规定公示即时信息",
        "公示企业信息隐瞒真实情况、弄虚作假",
    ),
    "lender": (
        "中国工商银行北京市分行",
        "中国建设银行北京市分行",
        "招商银行北京分行",
        "北京银行",
        "北京农商银行",
        "马上消费金融股份有限公司",
    ),
    "award": ("北京市人民政府质量管理奖", "中国质量奖提名奖", "区长质量奖"),
    "honour": ("全国劳动模范", "全国先进工作者", "全国五一劳动奖章", "全国三八红旗手"),
    "licence_type_org": (
        "食品经营许可证",
        "道路运输经营许可证",
        "建筑业企业资质证书",
        "医疗器械经营许可证",
        "危险化学品经营许可证",
    ),
    "licence_type_person": ("医师执业证书", "律师执业证", "导游证", "道路运输从业资格证"),
}
OPTIONAL_SHARE = 0.6  # optional attributes present in about this share of rows


@lru_cache(maxsize=512)
def _text_array(texts: tuple[str, ...]) -> Any:
    return pa.array(texts, type=pa.string())


def _pick(texts: Sequence[str], index: Ints) -> Any:
    return pc.take(_text_array(tuple(texts)), pa.array(index))


def _num(values: Ints) -> Any:
    return pc.cast(pa.array(values, type=pa.int64()), pa.string())


def _padded(values: Ints, width: int) -> Any:
    return pc.utf8_lpad(_num(values), width=width, padding="0")


@lru_cache(maxsize=4096)
def _lit(text: str) -> Any:
    """A cached pyarrow scalar: pyarrow.compute converts plain Python strings slowly."""
    return pa.scalar(text, type=pa.string())


def _join(*parts: Any) -> Any:
    """Element-wise concatenation of string arrays and literal strings."""
    args = [_lit(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, _lit(""))


def _quoted(text: Any) -> Any:
    return _join('"', text, '"')


def iso_dates(days: Ints) -> Any:
    """ISO `YYYY-MM-DD` strings for epoch days, vectorised."""
    return pc.cast(pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32()), pa.string())


def _money(rng: np.random.Generator, n: int, median: float) -> Any:
    """Amounts in CNY, some with fen: JSON numbers like 48213 or 1520.75."""
    yuan = np.maximum(1, rng.lognormal(np.log(median), 1.2, size=n).astype(np.int64))
    fen = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 100, size=n))
    plain = _num(yuan)
    return pc.if_else(pa.array(fen > 0), _join(plain, ".", _padded(fen, 2)), plain)


def _fine(item: CatalogueItem, is_org: Bools, rng: np.random.Generator, n: int) -> Any:
    """Fines in whole yuan by severity; people are fined about a tenth of what firms are."""
    choices = _FINES.get(item.code)
    if choices is not None:
        return _num(np.array(choices, dtype=np.int64)[rng.integers(0, len(choices), size=n)])
    if item.severity is Severity.MINOR:
        small = np.array([200, 500, 1000, 2000, 3000, 5000], dtype=np.int64)
        fine = small[rng.integers(0, small.size, size=n)]
    elif item.severity is Severity.ORDINARY:
        fine = rng.integers(1, 100, size=n) * 1000
    else:
        fine = rng.integers(5, 500, size=n) * 10_000
    return _num(np.where(is_org, fine, np.maximum(fine // 1000 * 100, 50)))


def _document_number(head: str, rows: _Rows) -> Any:
    heads = _pick(_district_texts(head), rows.district)
    year = _num(rows.year)
    if head.isascii() and not head.startswith("{"):
        return _join(heads, "-", year, "-", _padded(rows.seq, 6))
    if head == "{code}":
        return _join(heads, year, _padded(rows.seq, 6))
    return _join(heads, "〔", year, "〕", _num(rows.seq), "号")


def _attribute(
    name: str,
    spec: AttributeSpec,
    item: CatalogueItem,
    source: str,
    rows: _Rows,
    is_org: Bools,
    rng: np.random.Generator,
) -> Any:
    """JSON-encoded values of attribute `name` for `rows` of `item`."""
    n = rows.item.size
    if name == "case_number":
        court = _pick([d[1] for d in _DISTRICTS], rows.district)
        kind = _CASE_TYPE.get(item.code, "民初")
        return _quoted(_join("(", _num(rows.year), ")", court, kind, _num(rows.seq), "号"))
    if name == "court":
        return _quoted(_pick(_district_texts("北京市{name}人民法院"), rows.district))
    if name in ("decision_number", "notice_number"):
        head = _DOC_HEADS.get((item.code, name)) or _DOC_HEADS.get((source, name), "CF")
        return _quoted(_document_number(head, rows))
    if name == "authority":
        return _quoted(
            _pick(_district_texts(_AUTHORITY.get(source, "北京市人民政府")), rows.district)
        )
    if name == "fine":
        return _fine(item, is_org, rng, n)
    if name == "amount":
        return _money(rng, n, 800.0 if item.area == "social" else 30_000.0)
    if name == "ground":  # listing grounds 1-6; refusal to perform when able is most common
        return _num(rng.choice(6, size=n, p=[0.6, 0.1, 0.1, 0.05, 0.1, 0.05]) + 1)
    if name == "licence_number":
        region = _pick([d[0] for d in _DISTRICTS], rows.district)
        return _quoted(_join("JY", region, _num(rows.year), _padded(rows.seq, 6)))
    if name == "licence_type":
        org = _pick(_CHOICES["licence_type_org"], rng.integers(0, 5, size=n))
        person = _pick(_CHOICES["licence_type_person"], rng.integers(0, 4, size=n))
        return _quoted(pc.if_else(pa.array(is_org), org, person))
    if name == "valid_until":
        return _quoted(iso_dates(rows.occurred + 5 * 365 + 1))
    if name == "year":  # ratings are published in the spring for the previous year
        return _num(rows.year - 1)
    if name == "days_overdue":
        return _num(90 + rng.geometric(1 / 120, size=n))
    if name == "hours":
        return _num(np.clip(rng.lognormal(3.0, 1.0, size=n).astype(np.int64), 1, 2000))
    if name == "certificate_number":
        return _quoted(
            _join(
                "AEOCN", _pick([d[0][:4] for d in _DISTRICTS], rows.district), _padded(rows.seq, 6)
            )
        )
    if name == "level":
        return _quoted(_pick(("national", "provincial"), (rng.random(n) < 0.9).astype(np.int64)))
    if name in _CHOICES:
        texts = _CHOICES[name]
        return _quoted(_pick(texts, rng.integers(0, len(texts), size=n)))
    return _fallback(name, spec, rows, rng)


def _fallback(name: str, spec: AttributeSpec, rows: _Rows, rng: np.random.Generator) -> Any:
    """A typed value for an attribute this module has no special knowledge of."""
    n = rows.item.size
    if spec.type is AttributeType.STRING:
        tag = name.upper().replace("_", "-")
        return _quoted(_join(tag, "-", _num(rows.year), "-", _padded(rows.seq, 6)))
    if spec.type is AttributeType.INTEGER:
        return _num(rng.integers(1, 100, size=n))
    if spec.type is AttributeType.NUMBER:
        return _money(rng, n, 10_000.0)
    if spec.type is AttributeType.DATE:
        return _quoted(iso_dates(rows.occurred))
    return _pick(("false", "true"), rng.integers(0, 2, size=n))


def _attributes_json(
    item: CatalogueItem,
    source: str,
    rows: _Rows,
    is_org: Bools,
    rng: np.random.Generator,
) -> Any:
    """The attributes column for rows of one item: a JSON object, or empty when none."""
    n = rows.item.size
    if not item.attributes:
        return pa.nulls(n, pa.string()).fill_null("")
    pieces = []
    for name, spec in item.attributes.items():
        piece = _join(f',"{name}":', _attribute(name, spec, item, source, rows, is_org, rng))
        if not spec.required:
            piece = pc.if_else(pa.array(rng.random(n) < OPTIONAL_SHARE), piece, _lit(""))
        pieces.append(piece)
    body = _join(*pieces)
    empty = pc.equal(pc.binary_length(body), pa.scalar(0, type=pa.int32()))
    return pc.if_else(empty, _lit(""), _join("{", pc.utf8_slice_codeunits(body, 1), "}"))


def _attributes_column(
    rows: _Rows, items: _Items, pop: Population, rng: np.random.Generator
) -> Any:
    """Attributes for a whole chunk: built item by item, then put back in row order."""
    order = np.argsort(rows.item, kind="stable")
    bounds = np.searchsorted(rows.item[order], np.arange(len(items.codes) + 1))
    parts = []
    for index in range(len(items.codes)):
        lo, hi = int(bounds[index]), int(bounds[index + 1])
        if lo == hi:
            continue
        sub = rows.take(order[lo:hi])
        is_org = sub.subject < pop.organisations
        source = items.sources[int(items.source_of[index])].name
        parts.append(_attributes_json(items.item(index), source, sub, is_org, rng))
    if not parts:
        return pa.array([], type=pa.string())
    grouped = pa.chunked_array(parts, type=pa.string()).combine_chunks()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return pc.take(grouped, pa.array(inverse))


# --- bad rows ------------------------------------------------------------------------------

BAD_KINDS = (
    "check-character",
    "unknown-item",
    "future-date",
    "impossible-date",
    "missing-reference",
    "wrong-kind",
    "decided-before-occurred",
    "missing-attribute",
    "malformed-subject",
)


@dataclass(frozen=True)
class _Spoiler:
    """Turns good rows into the realistic mistakes a source might send."""

    items: _Items
    source: str
    pop: Population
    as_of: dt.date
    rng: np.random.Generator

    def spoil(self, row: dict[str, str]) -> dict[str, str]:
        kind = BAD_KINDS[int(self.rng.integers(0, len(BAD_KINDS)))]
        return getattr(self, "_" + kind.replace("-", "_"))(dict(row))  # type: ignore[no-any-return]

    def _choice(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    def _check_character(self, row: dict[str, str]) -> dict[str, str]:
        scheme, _, ident = row["subject"].partition(":")
        alphabet = USCC_ALPHABET if scheme == "uscc" else "0123456789X"
        row["subject"] = f"{scheme}:{ident[:-1]}{self._choice(alphabet.replace(ident[-1], ''))}"
        return row

    def _unknown_item(self, row: dict[str, str]) -> dict[str, str]:
        code = row["item"]
        area, _, name = code.partition(".")
        for typo in (
            self._choice([f"{area}.{name.replace('-', '_')}", code[:-1], code.upper()]),
            f"{code}-old",
        ):
            if typo not in self.items.catalogue:
                row["item"] = typo
                break
        return row

    def _future_date(self, row: dict[str, str]) -> dict[str, str]:
        day = self.as_of + dt.timedelta(days=int(self.rng.integers(1, 400)))
        row["occurred_on"] = row["decided_on"] = day.isoformat()
        return row

    def _impossible_date(self, row: dict[str, str]) -> dict[str, str]:
        field = self._choice(["occurred_on", "decided_on"])
        month_day = self._choice(["02-30", "02-31", "04-31", "06-31", "09-31", "11-31", "13-01"])
        row[field] = f"{row[field][:4]}-{month_day}"
        return row

    def _missing_reference(self, row: dict[str, str]) -> dict[str, str]:
        row["reference"] = ""
        return row

    def _wrong_kind(self, row: dict[str, str]) -> dict[str, str]:
        """A subject of the other kind for this item, or an item not for this subject's kind."""
        is_org = row["subject"].startswith("uscc:")
        kind = SubjectKind.ORGANISATION if is_org else SubjectKind.PERSON
        item = self.items.catalogue[row["item"]]
        others = (
            range(self.pop.organisations, self.pop.size)
            if is_org
            else range(self.pop.organisations)
        )
        if len(others) and len(item.subjects) == 1:
            row["subject"] = self.pop.keys[
                int(self.rng.integers(0, len(others))) + others[0]
            ].as_py()
            return row
        mine = self.items.catalogue.match(
            [p for s in self.items.sources if s.name == self.source for p in s.patterns]
        )
        wrong = [c for c in mine if not self.items.catalogue[c].applies_to(kind)]
        if wrong:
            row["item"] = self._choice(wrong)
            return row
        return self._check_character(row)

    def _decided_before_occurred(self, row: dict[str, str]) -> dict[str, str]:
        occurred = dt.date.fromisoformat(row["occurred_on"])
        row["decided_on"] = (
            occurred - dt.timedelta(days=int(self.rng.integers(1, 31)))
        ).isoformat()
        return row

    def _missing_attribute(self, row: dict[str, str]) -> dict[str, str]:
        """Drop a required attribute; for items with none, send an undeclared one."""
        item = self.items.catalogue[row["item"]]
        required = [n for n, spec in item.attributes.items() if spec.required]
        values = json.loads(row["attributes"]) if row["attributes"] else {}
        if required:
            values.pop(self._choice(required), None)
        else:
            values["remark"] = "补录"
        row["attributes"] = (
            json.dumps(values, ensure_ascii=False, separators=(",", ":")) if values else ""
        )
        return row

    def _malformed_subject(self, row: dict[str, str]) -> dict[str, str]:
        scheme, _, ident = row["subject"].partition(":")
        cut = int(self.rng.integers(0, len(ident)))
        row["subject"] = f"{scheme}:{ident[:cut]}{ident[cut + 1 :]}"
        return row


def _spoil_table(table: Any, rate: float, spoiler: _Spoiler) -> tuple[Any, int]:
    """Replace a `rate` share of rows in place (positions kept) with bad ones."""
    if rate <= 0 or not table.num_rows:
        return table, 0
    mask = spoiler.rng.random(table.num_rows) < rate
    bad = np.flatnonzero(mask)
    if not bad.size:
        return table, 0
    rows = [spoiler.spoil(r) for r in table.take(pa.array(bad)).to_pylist()]
    arrow_mask = pa.array(mask)
    columns = [
        pc.replace_with_mask(
            table.column(name).combine_chunks(),
            arrow_mask,
            pa.array([r[name] for r in rows], type=pa.string()),
        )
        for name in COLUMNS
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA), int(bad.size)


# --- writers -------------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, table: Any) -> None: ...

    def close(self) -> None: ...


class _ParquetSink:
    """Parquet, buffered so small sources still get row groups of useful size."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(str(path), SCHEMA, compression="zstd")
        self._buffer: list[Any] = []
        self._rows = 0

    def write(self, table: Any) -> None:
        self._buffer.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = pa.concat_tables(self._buffer).combine_chunks()
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._buffer, self._rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


class _CsvSink:
    def __init__(self, path: Path) -> None:
        self._writer = pacsv.CSVWriter(str(path), SCHEMA)

    def write(self, table: Any) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


class _JsonlSink:
    """JSON Lines with every column a string, built column-wise like the others."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")

    def write(self, table: Any) -> None:
        if not table.num_rows:
            return
        parts: list[Any] = []
        for i, name in enumerate(COLUMNS):
            text = pc.replace_substring(table.column(name), "\\", "\\\\")
            text = pc.replace_substring(text, '"', '\\"')
            parts += [("{" if i == 0 else ",") + f'"{name}":"', text, '"']
        lines = _join(*parts, "}\n")
        self._file.write("".join(lines.to_pylist()).encode("utf-8"))

    def close(self) -> None:
        self._file.close()


def _sink(path: Path, fmt: str) -> _Sink:
    if fmt == "parquet":
        return _ParquetSink(path)
    if fmt == "csv":
        return _CsvSink(path)
    return _JsonlSink(path)


# --- synthesise ----------------------------------------------------------------------------


def synthesise(
    out_dir: Path,
    subjects: int,
    seed: int,
    *,
    records_per_subject: float = 20.0,
    bad_row_rate: float = 0.001,
    fmt: str = "parquet",
    as_of: dt.date = DEFAULT_AS_OF,
    progress: Callable[[int], None] | None = None,
) -> CityManifest:
    """Write a synthetic city's source files and `manifest.json` into `out_dir`.

    About `subjects * records_per_subject` records are written (a few more:
    defaulters who perform get a second record), spread over the sources as
    the catalogue and `item_weight` dictate. `progress` is called with the
    number of records generated so far after each chunk.
    """
    _check_format(fmt)
    if records_per_subject < 0 or not 0 <= bad_row_rate < 1:
        raise ValueError("records_per_subject must be >= 0 and bad_row_rate in [0, 1)")
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = source_specs(fmt)
    items = _items(load_catalogue(default_catalogue_path()), specs)
    pop = population(subjects, seed, as_of)
    _pop_rng, rng, bad_rng = _streams(seed)
    cum = _activity(pop, rng)
    item_codes = pa.array(items.codes, type=pa.string())
    today = _epoch_day(as_of)
    sinks = [_sink(out_dir / spec.file, fmt) for spec in specs]
    spoilers = [_Spoiler(items, spec.name, pop, as_of, bad_rng) for spec in specs]
    written = [0] * len(specs)
    target = round(subjects * records_per_subject)
    done = bad_rows = 0
    try:
        while done < target:
            rows = _chunk(min(CHUNK_RECORDS, target - done), pop, cum, items, today, rng)
            attributes = _attributes_column(rows, items, pop, rng)
            source = items.source_of[rows.item]
            order = np.argsort(source, kind="stable")
            bounds = np.searchsorted(source[order], np.arange(len(specs) + 1))
            for s, spec in enumerate(specs):
                index = pa.array(order[bounds[s] : bounds[s + 1]])
                if not len(index):
                    continue
                sub = rows.take(order[bounds[s] : bounds[s + 1]])
                numbers = np.arange(written[s] + 1, written[s] + 1 + sub.item.size)
                prefix = _REFERENCE_PREFIX.get(spec.name, spec.name.upper())
                table = pa.Table.from_arrays(
                    [
                        pc.take(item_codes, pa.array(sub.item)),
                        pc.take(pop.keys, pa.array(sub.subject)),
                        iso_dates(sub.occurred),
                        _join(prefix, "-", _padded(numbers, 9)),
                        iso_dates(sub.decided),
                        pc.take(attributes, index),
                    ],
                    schema=SCHEMA,
                )
                table, spoiled = _spoil_table(table, bad_row_rate, spoilers[s])
                sinks[s].write(table)
                written[s] += sub.item.size
                bad_rows += spoiled
            done += rows.item.size
            if progress is not None:
                progress(done)
    finally:
        for sink in sinks:
            sink.close()
    manifest = CityManifest(
        subjects=pop.size,
        organisations=pop.organisations,
        people=pop.people,
        records=sum(written),
        bad_rows=bad_rows,
        seed=seed,
        sources=specs,
        format=fmt,
        as_of=as_of,
    )
    (out_dir / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
