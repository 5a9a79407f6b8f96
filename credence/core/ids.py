"""Subject identifiers: `uscc:<code>`, `ric:<number>` and `<scheme>:<id>`.

A wrong identifier is how the wrong person gets punished, so every key is
checked before a record about it is accepted, and a rejection says exactly
what is wrong ("check character should be 'P'"), so that the source can fix
it. The checks come from python-stdnum; we add only what it lacks: USCCs
whose registration-authority character is a letter (GB 32100-2015 allows
`1-9` and `A-Y` minus I, O, S, V, Z there), and a birth date in the future.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

# GB 32100-2015 code alphabet: digits and capitals without I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_INDEX = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, ...
_OTHER_SCHEME = re.compile(r"[a-z][a-z0-9-]{1,31}")
_OTHER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
# ASCII only, matched whole: str.isdigit() and int() also take Arabic-Indic,
# full-width and Thai digits, which made one person four subjects.
_RIC = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS6 = re.compile(r"[0-9]{6}")
# The longest subject key, trimmed, as given and in canonical form: the store's
# `subject` column is this wide, so a key that passes validation always fits.
SUBJECT_MAX_LENGTH = 160


class SubjectKind(StrEnum):
    """Whom a record is about; catalogue items name the kinds they apply to."""

    ORGANISATION = "organisation"
    PERSON = "person"


class InvalidSubject(ValueError):
    """A subject key that must not be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """A validated subject key in canonical form (`scheme:id`)."""

    scheme: str
    ident: str
    kind: SubjectKind

    def __str__(self) -> str:
        return f"{self.scheme}:{self.ident}"


def parse_subject(key: str, today: dt.date | None = None) -> SubjectKey:
    """Validate `key` and return it in canonical form, or raise InvalidSubject.

    Unknown schemes are accepted when well formed (other registries, such as
    social organisations' own codes, exist); they are treated as
    organisations because no scheme of people other than `ric` is catalogued.
    """
    key = key.strip()
    if len(key) > SUBJECT_MAX_LENGTH:
        raise InvalidSubject(f"is longer than {SUBJECT_MAX_LENGTH} characters")
    scheme, sep, ident = key.partition(":")
    scheme = scheme.lower()
    if not sep or not ident:
        raise InvalidSubject(f"{key!r} is not of the form scheme:id (e.g. uscc:..., ric:...)")
    if scheme == "uscc":
        return SubjectKey("uscc", check_uscc(ident), SubjectKind.ORGANISATION)
    if scheme == "ric":
        return SubjectKey("ric", check_ric(ident, today), SubjectKind.PERSON)
    if not _OTHER_SCHEME.fullmatch(scheme):
        raise InvalidSubject(f"scheme {scheme!r} is not a lower-case name of 2-32 characters")
    if not _OTHER_ID.fullmatch(ident):
        raise InvalidSubject(f"identifier {ident!r} has characters outside A-Z, a-z, 0-9, . _ / -")
    return SubjectKey(scheme, ident, SubjectKind.ORGANISATION)


def uscc_check_character(body17: str) -> str:
    """The GB 32100-2015 check character of a 17-character USCC body.

    Same alphabet and weights as python-stdnum (tests compare the two on
    thousands of codes); kept here because stdnum re-cleans its input on
    every call, which dominated ingestion, and refuses letter authorities.
    """
    total = sum(_USCC_INDEX[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[-total % 31]


def check_uscc(code: str) -> str:
    """Return the canonical USCC (GB 32100-2015) or raise InvalidSubject."""
    if not code.isascii():
        raise InvalidSubject("USCC must be ASCII digits and capitals (no full-width characters)")
    number = code.upper() if " " not in code and "-" not in code else stdnum_uscc.compact(code)
    if len(number) != 18:
        raise InvalidSubject(f"USCC must have 18 characters, not {len(number)}")
    bad = [c for c in number if c not in _USCC_INDEX]
    if bad:
        raise InvalidSubject(f"USCC character {bad[0]!r} is not in the GB 32100 alphabet")
    if not _DIGITS6.fullmatch(number[2:8]):
        raise InvalidSubject(f"USCC region code {number[2:8]!r} must be 6 digits")
    expected = uscc_check_character(number[:17])
    if number[17] != expected:
        raise InvalidSubject(f"check character should be {expected!r}")
    return number


def check_ric(number: str, today: dt.date | None = None) -> str:
    """Return the canonical resident ID (GB 11643-1999) or raise InvalidSubject.

    Non-ASCII input is refused before python-stdnum sees it: its clean-up
    folds full-width digits into ASCII, and the source must send what it means.
    """
    if not number.isascii():
        raise InvalidSubject("resident ID must be 17 ASCII digits 0-9 and a digit or X")
    if not _RIC.fullmatch(number):
        number = stdnum_ric.compact(number)  # slow; canonical input skips it
    if len(number) != 18:
        raise InvalidSubject(f"resident ID must have 18 characters, not {len(number)}")
    if not _RIC.fullmatch(number):
        raise InvalidSubject("resident ID must be 17 ASCII digits 0-9 and a digit or X")
    expected = stdnum_ric.calc_check_digit(number)
    if number[17] != expected:
        raise InvalidSubject(f"check character should be {expected!r}")
    born = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    try:
        birth = dt.date.fromisoformat(born)
    except ValueError:
        raise InvalidSubject(f"birth date {born} is not a date") from None
    if birth > (today or dt.date.today()):
        raise InvalidSubject(f"birth date {born} is in the future")
    if not region_existed(number[:6], number[6:10]):
        raise InvalidSubject(f"region code {number[:6]} did not exist in {number[6:10]}")
    return number


def region_existed(region: str, year: str) -> bool:
    """Whether python-stdnum's region table has county code `region` in `year`.

    Exactly stdnum's `get_birth_place` test, with its table read once per
    region instead of once per (region, year): a lookup in stdnum's table
    costs about 100 µs, and a batch of new people meets thousands of
    (region, year) pairs but only the ~3,000 counties.
    """
    if not year.isdigit():
        return False
    born = int(year)
    for start, end in _region_spans(region):
        if (start is None or born >= start) and (end is None or born <= end):
            return True
    return False


_Span = tuple[int | None, int | None]


def region_codes() -> list[str]:
    """Every six-digit county code in python-stdnum's region table."""
    from stdnum import numdb

    codes: list[str] = []

    def walk(prefixes: list[Any], head: str) -> None:
        for length, low, high, _props, children in prefixes:
            for value in range(int(low), int(high) + 1):
                code = head + str(value).zfill(length)
                if len(code) == 6:
                    codes.append(code)
                elif len(code) < 6:
                    walk(children, code)

    walk(numdb.get("cn/loc").prefixes, "")
    return codes


def warm_regions() -> int:
    """Read every county's spans into the cache (about 0.5 s): a long-running
    service calls it at start so that no request pays for a first lookup."""
    codes = region_codes()
    for code in codes:
        _region_spans(code)
    return len(codes)


_SPANS: dict[str, tuple[_Span, ...]] = {}
_SPANS_LIMIT = 16_384  # ~3,300 counties; other six-digit codes only from bad input


def _region_spans(region: str) -> tuple[_Span, ...]:
    """`region`'s year spans (_read_spans), cached; the cache can be handed to a worker."""
    found = _SPANS.get(region)
    if found is None:
        if len(_SPANS) >= _SPANS_LIMIT:
            _SPANS.clear()
        found = _SPANS[region] = _read_spans(region)
    return found


def known_region_spans() -> dict[str, tuple[_Span, ...]]:
    """The regions read so far with their spans (a copy), to seed another process's cache.

    Reading one from stdnum's table costs about 0.2 ms; a validation worker
    starting on a new file met some 3,000 of them, 0.7 s the writer had
    already spent.
    """
    return dict(_SPANS)


def seed_region_spans(spans: dict[str, tuple[_Span, ...]]) -> None:
    """Take spans read by another process (known_region_spans) into this one's cache."""
    if len(_SPANS) + len(spans) < _SPANS_LIMIT:
        _SPANS.update(spans)


def _read_spans(region: str) -> tuple[_Span, ...]:
    """The year spans in which `region` was a county, as stdnum's table gives them.

    A county without a `[start-end]` prefix holds in every year; an entry
    without a county (stdnum's table lacks some) holds in none, as its
    KeyError meant before.
    """
    from stdnum import numdb

    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(region):
        info.update(props)
    if not info or "county" not in info:
        return ()
    spans: list[_Span] = []
    for county in info["county"].split(","):
        if not county.startswith("["):
            spans.append((None, None))
            break  # stdnum returns at the first county without a span
        start, end = county[1:].split("]")[0].split("-")
        spans.append((int(start) if start else None, int(end) if end else None))
    return tuple(spans)


def make_uscc(body17: str) -> str:
    """Append the GB 32100 check character; used by the synthetic city and tests."""
    return body17 + uscc_check_character(body17)


def make_ric(body17: str) -> str:
    """Append the GB 11643 check character; used by the synthetic city and tests."""
    return body17 + str(stdnum_ric.calc_check_digit(body17 + "0"))
