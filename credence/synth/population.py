"""The city's subjects: organisations with USCCs, people with resident IDs, all valid.

Every subject ID must pass credence's own checks, or the demo would reject
the city instead of exercising it: region codes are real and valid for the
holder's birth year, check characters are computed as the standards say,
and about 3% of USCCs have letter registration authorities (which
python-stdnum alone refuses). IDs are built as (n, 18) ASCII matrices with
numpy, column by column, because a million subjects must take seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from credence.core.ids import USCC_ALPHABET
from credence.synth.arrays import Ints, civil, epoch_day, years_before
from credence.synth.districts import DISTRICT_P, DISTRICTS
from credence.synth.regions import RegionTable, region_table

DEFAULT_AS_OF = dt.date(2026, 11, 1)
ORGANISATION_SHARE = 0.15

Chars = npt.NDArray[np.uint8]


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


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
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


def population(subjects: int, seed: int, as_of: dt.date = DEFAULT_AS_OF) -> Population:
    """The subjects of the city `synthesise(..., subjects, seed, as_of=as_of)` writes about."""
    if subjects < 1:
        raise ValueError("a city needs at least one subject")
    rng = streams(seed)[0]
    regions = region_table(as_of.year - 81, as_of.year)
    n_org = organisation_count(subjects)
    org_chars = _organisations(n_org, regions, rng)
    person_chars, birth = _people(subjects - n_org, regions, as_of, rng)
    keys = pa.concat_arrays([_keys(b"uscc:", org_chars), _keys(b"ric:", person_chars)])
    return Population(keys=keys, organisations=n_org, birth_day=birth)


def _keys(prefix: bytes, chars: Chars) -> Any:
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


# --- vectorised digits and check characters ------------------------------------------------


def _digits(values: Ints, width: int) -> Chars:
    """Decimal digits of each value, most significant first: shape (n, width)."""
    out = np.empty((values.size, width), dtype=np.uint8)
    rest = values.copy()
    for pos in range(width - 1, -1, -1):
        out[:, pos] = rest % 10
        rest //= 10
    return out


def _weighted_sum(values: Chars | Ints, weights: Ints) -> Ints:
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

# --- organisations -------------------------------------------------------------------------

# Registration authority, its share, and entity types with their shares (GB 32100-2015
# annex A). 'N' (agriculture) and 'Y' (other) are the letter authorities, about 3%.
_AUTHORITIES: tuple[tuple[str, float, str, tuple[float, ...]], ...] = (
    ("9", 0.87, "123", (0.55, 0.40, 0.05)),  # market regulation: enterprise, household, coop
    ("1", 0.05, "1239", (0.3, 0.5, 0.1, 0.1)),  # establishment: organ, institution, ...
    ("5", 0.05, "1239", (0.5, 0.3, 0.1, 0.1)),  # civil affairs: association, non-profit, ...
    ("N", 0.02, "129", (0.5, 0.4, 0.1)),  # agriculture: collective, cooperative, other
    ("Y", 0.01, "1", (1.0,)),  # other registration authorities
)


def _organisations(n: int, regions: RegionTable, rng: np.random.Generator) -> Chars:
    """USCCs as an (n, 18) ASCII matrix: authority, type, region, GB 11714 code, check."""
    chars = np.zeros((n, 18), dtype=np.uint8)
    chars[:, 0:2] = _authorities_and_types(n, rng)
    chars[:, 2:8] = _digits(_organisation_regions(n, regions, rng), 6) + ord("0")
    chars[:, 8:17] = _organisation_codes(n, rng)
    total = _weighted_sum(_USCC_INDEX[chars[:, :17]], _USCC_WEIGHTS)
    chars[:, 17] = _USCC_CHARS[(31 - total % 31) % 31]
    return chars


def _authorities_and_types(n: int, rng: np.random.Generator) -> Chars:
    """The first two USCC characters: registration authority and entity type."""
    chars = np.zeros((n, 2), dtype=np.uint8)
    auth = rng.choice(len(_AUTHORITIES), size=n, p=[a[1] for a in _AUTHORITIES])
    for i, (letter, _share, types, shares) in enumerate(_AUTHORITIES):
        rows = np.flatnonzero(auth == i)
        chars[rows, 0] = ord(letter)
        pick = rng.choice(len(types), size=rows.size, p=shares)
        chars[rows, 1] = np.frombuffer(types.encode(), dtype=np.uint8)[pick]
    return chars


def _organisation_regions(n: int, regions: RegionTable, rng: np.random.Generator) -> Ints:
    """Registered in the city's districts, a few elsewhere (any code current at as_of)."""
    home = np.array([int(d[0]) for d in DISTRICTS], dtype=np.int64)
    current = regions.codes[regions.valid[:, -1]].astype(np.int64)
    region: Ints = np.where(
        rng.random(n) < 0.9,
        home[rng.choice(home.size, size=n, p=DISTRICT_P)],
        current[rng.integers(0, current.size, size=n)],
    )
    return region


def _organisation_codes(n: int, rng: np.random.Generator) -> Chars:
    """GB 11714 organisation codes with their check character, as an (n, 9) matrix.

    Eight digits (older bodies) or "MA" + six characters (since 2015), nationally
    unique, so drawn without repeats.
    """
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
    body = np.zeros((n, 9), dtype=np.uint8)
    old = np.flatnonzero(~new_style)
    body[old, :8] = _digits(value[old], 8) + ord("0")
    new = np.flatnonzero(new_style)
    body[new, 0], body[new, 1] = ord("M"), ord("A")
    rest = value[new]
    for pos in range(7, 1, -1):
        body[new, pos] = _USCC_CHARS[rest % 31]
        rest //= 31
    code = body[:, :8]
    code_values = np.where(code >= ord("A"), code.astype(np.int64) - 55, code - ord("0"))
    check = 11 - _weighted_sum(code_values, _GB11714_WEIGHTS) % 11
    body[:, 8] = np.where(check == 10, ord("X"), np.where(check == 11, 0, check) + ord("0"))
    return body


# --- people --------------------------------------------------------------------------------


def _people(
    n: int, regions: RegionTable, as_of: dt.date, rng: np.random.Generator
) -> tuple[Chars, Ints]:
    """Resident IDs as an (n, 18) ASCII matrix, and birth days (epoch days)."""
    birth = _birth_days(n, as_of, rng)
    year, month, dom = civil(birth)
    region = regions.codes[_birth_places(year, regions, rng)].astype(np.int64)
    date_number = year * 10_000 + month * 100 + dom
    order = _order_codes(region * 10**11 + date_number * 1000, rng)
    digits = np.concatenate(
        [_digits(region, 6), _digits(date_number, 8), _digits(order, 3)], axis=1
    )
    check = (12 - _weighted_sum(digits, _RIC_WEIGHTS) % 11) % 11
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = digits + ord("0")
    chars[:, 17] = _RIC_CHECK[check]
    return chars, birth


def _birth_days(n: int, as_of: dt.date, rng: np.random.Generator) -> Ints:
    """Birth days of adults aged 18 to 80 at `as_of`, most of them 30 to 60."""
    latest = epoch_day(years_before(as_of, 18))  # 18 today
    earliest = epoch_day(years_before(as_of, 81)) + 1  # 80 today
    age = rng.beta(1.8, 2.2, size=n)
    birth: Ints = np.clip(
        latest - (age * (latest - earliest + 1)).astype(np.int64), earliest, latest
    )
    return birth


def _birth_places(year: Ints, regions: RegionTable, rng: np.random.Generator) -> Ints:
    """Region indices: 60% born in the city, the rest anywhere; the code must exist that year."""
    n = year.size
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
    return place


def _order_codes(place_and_birthday: Ints, rng: np.random.Generator) -> Ints:
    """Three-digit order codes, redrawn until no two people share place, birthday and code."""
    order = rng.integers(0, 1000, size=place_and_birthday.size)
    while True:
        dup = _first_duplicates(place_and_birthday + order)
        if not dup.size:
            break
        order[dup] = rng.integers(0, 1000, size=dup.size)
    return order
