"""The vectorised validator's date and reference checks read Arrow's bytes in place;
here they are held to the rules written out in Python, on hostile texts, nulls and
sliced arrays (whose offsets do not start at zero)."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.records import RowValidator
from credence.ingest.arrowcheck import ArrowValidator, _reference_ok

TODAY = dt.date(2026, 1, 1)
EARLIEST = dt.date(1949, 10, 1)  # records.EARLIEST_DATE, written out
VALIDATOR = ArrowValidator(
    RowValidator(load_catalogue(default_catalogue_path()), "court", set(), TODAY)
)
PIECES = ["2024", "1949", "0000", "9999", "-", "01", "02", "29", "30", "31", "13", "00", "10"]
ODD = ["", " ", "\n", "x", "é", "中", "２", "=", "+", "@", "\x7f", "\x00", "!", "~", "-0", ":", "/"]


def date_rule(text: str | None) -> bool:
    if text is None or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return False
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return False
    return EARLIEST <= day <= TODAY


def reference_rule(text: str | None) -> bool:
    if text is None or not re.fullmatch(r"[\x21-\x7e]{1,128}", text):
        return False
    return text[0] not in "=+-@"


dates = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.lists(st.sampled_from(PIECES + ODD), max_size=6).map("".join),
    st.text(max_size=12),
    st.none(),
)
references = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=130),
    st.lists(st.sampled_from([*ODD, "CT-000000001", "a" * 64]), max_size=4).map("".join),
    st.text(max_size=10),
    st.none(),
)


def sliced(texts: list[str | None], cut: int) -> pa.Array:
    """`texts` as a string array sliced out of a longer one."""
    cut = min(cut, len(texts))
    whole = pa.array(["pad-1999-01-01"] * cut + texts + ["tail"], pa.string())
    return whole.slice(cut, len(texts))


@given(st.lists(dates, max_size=30), st.integers(0, 5))
def test_dates_follow_the_rule(texts: list[str | None], cut: int) -> None:
    found = VALIDATOR._date_ok(sliced(texts, cut)).to_pylist()
    assert found == [date_rule(t) for t in texts]


@given(st.lists(references, max_size=30), st.integers(0, 5))
def test_references_follow_the_rule(texts: list[str | None], cut: int) -> None:
    found = _reference_ok(sliced(texts, cut)).to_pylist()
    assert found == [reference_rule(t) for t in texts]


def test_hand_written_cases() -> None:
    cases = {
        "2024-02-29": True,
        "2023-02-29": False,
        "1949-10-01": True,
        "1949-09-30": False,
        "2026-01-01": True,
        "2026-01-02": False,
        "2024-1-011": False,
        "2024-01-01\n": False,
        "２０２４-01-01": False,
        "2024-01-0:": False,  # ':' follows '9'
        "2024-01/01": False,  # '/' precedes '0'
        "2024x01-01": False,
        "2024-01x01": False,
    }
    texts = list(cases)
    assert VALIDATOR._date_ok(pa.array(texts)).to_pylist() == list(cases.values())
    # All printable (read from the bytes), then with a space (the regexes).
    references = {"CT-1": True, "=SUM(A1)": False, "-1": False, "x" * 128: True, "y" * 129: False}
    for extra in ({}, {"a b": False}):
        refs = {**references, **extra}
        assert _reference_ok(pa.array(list(refs))).to_pylist() == list(refs.values())
    assert _reference_ok(pa.nulls(3, pa.string())).to_pylist() == [False] * 3
    assert VALIDATOR._date_ok(pa.nulls(3, pa.string())).to_pylist() == [False] * 3
