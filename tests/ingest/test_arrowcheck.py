"""The vectorised validator accepts and rejects exactly the rows the scalar one does.

The scalar RowValidator is the rule book (and is tested on its own against
python-stdnum and hand-written cases); here generated and hostile batches
go through both, and every row must come out the same: the same Record, or
the same rejected field and reason. Hand-written cases pin a few outcomes
to values written out by hand.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric as stdnum_ric

from credence.core.catalogue import REVOCATION, default_catalogue_path, load_catalogue
from credence.core.ids import make_ric, make_uscc
from credence.core.records import Record, Rejection, RowValidator
from credence.ingest import arrowcheck
from credence.ingest.arrowcheck import CANONICAL_COLUMNS, ArrowValidator

TODAY = dt.date(2026, 1, 1)
COLUMNS = ("item", "subject", "occurred_on", "reference", "decided_on", "attributes", "corrects")
CATALOGUE = load_catalogue(default_catalogue_path())
ALLOWED = {c for c in CATALOGUE.items if c.startswith("judicial.")}

PERSON = "ric:11010519491231002X"  # the classic GB 11643 sample, valid
ORG = "uscc:91350100M000100Y43"  # python-stdnum's sample USCC, valid
SUBJECTS = [
    PERSON,
    ORG,
    "ric:110105194912310021",  # wrong check digit (should be X)
    "uscc:91350100M000100Y44",  # wrong check character (should be 3)
    "ric:11010519491231002x",  # lower-case x
    "uscc:91350100m000100y43",  # lower case: valid once upper-cased
    " " + PERSON,
    "RIC:11010519491231002X",
    "ric:" + make_ric("11010520900101123"),  # born in the future
    "ric:" + make_ric("99999919800101123"),  # no such region
    "ric:" + make_ric("11010519800230123"),  # 30 February
    "uscc:" + make_uscc("N1110000600037341"),  # letter authority: valid
    "uscc:911100006000IO3410",  # I and O are not in the alphabet
    "uscc:" + make_uscc("91AB0000600037341"),  # region code with letters
    "ric:１１010519491231002X",  # full-width digits
    "org-code:ABC.123",
    "ric:",
    "nothing",
    "",
    None,
]
DATES = [
    "2024-03-01",
    "2024-02-29",
    "2023-02-29",
    "2024-13-01",
    "2024-04-31",
    "1949-10-01",
    "1949-09-30",
    "2026-01-01",
    "2026-01-02",
    "2024-3-01",
    " 2024-03-01",
    "2024-03-01T00:00",
    "２０２４-03-01",
    "",
    "  ",
    None,
]
ITEMS = [
    "judicial.defaulter-listed",
    "judicial.defamation-judgment",  # people only
    "judicial.consumption-restriction",
    REVOCATION,
    "administrative.traffic-minor",  # catalogued, not the court's
    "judicial.nope",
    " judicial.defaulter-listed",
    "",
    None,
]
REFERENCES = ["C-1", "C-2", 'C"3\\', "=SUM(A1)", "-1", "C 4", "Ç-5", "x" * 128, "x" * 129, "", None]
ATTRIBUTES = [
    None,
    "",
    " ",
    '{"case_number":"(2024)京0105执1号"}',
    '{"case_number":"(2024)京0105执1号","amount":12000.5,"ground":2}',
    '{"case_number":"X","amount":1e400}',
    '{"case_number":"X","ground":true}',
    '{"case_number":"X","case_number":"Y"}',
    '{"bogus":1}',
    "[]",
    "not json",
]


def validator() -> RowValidator:
    return RowValidator(CATALOGUE, "court", set(ALLOWED), TODAY)


def batch_of(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {name: pa.array([r.get(name) for r in rows], pa.string()) for name in COLUMNS}
    )


def both(rows: list[dict[str, Any]], first: int = 1) -> tuple[list[Any], list[Any]]:
    """Per row, (row number, Record or Rejection): scalar, then vectorised."""
    scalar = validator()
    expected = [(first + i, scalar.validate(row)) for i, row in enumerate(rows)]
    table, rejected = ArrowValidator(validator()).check(batch_of(rows), first)
    got: dict[int, Any] = {n: r for n, r, _ in rejected}
    data = table.to_pydict()
    for i, number in enumerate(data["row"]):
        assert number not in got
        got[number] = Record("court", *(data[name][i] for name in CANONICAL_COLUMNS))
    return expected, sorted(got.items())


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    text = st.text(alphabet='0123456789X-:"\\ =abcuricscX京', max_size=24)
    return {
        "item": draw(st.sampled_from(ITEMS)),
        "subject": draw(st.one_of(st.sampled_from(SUBJECTS), text.map(lambda t: "ric:" + t))),
        "occurred_on": draw(st.one_of(st.sampled_from(DATES), st.dates().map(str))),
        "reference": draw(st.one_of(st.sampled_from(REFERENCES), text)),
        "decided_on": draw(st.one_of(st.sampled_from(DATES), st.dates().map(str))),
        "attributes": draw(st.sampled_from(ATTRIBUTES)),
        "corrects": draw(st.sampled_from([None, None, "", "C-1", "=x", "C 1"])),
    }


@given(st.lists(rows(), min_size=1, max_size=40), st.integers(1, 10**6))
def test_vectorised_and_scalar_agree_on_every_row(batch: list[dict[str, Any]], first: int) -> None:
    expected, got = both(batch, first)
    assert got == expected


def test_a_mostly_valid_batch_is_certified_without_the_scalar_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = {
        "item": "judicial.defaulter-listed",
        "subject": PERSON,
        "occurred_on": "2024-03-01",
        "reference": "C-1",
        "decided_on": "2024-03-05",
        "attributes": '{"case_number":"(2024)京0105执1号","amount":12000}',
    }
    rows = [dict(good, reference=f"C-{i}") for i in range(50)]
    rows[7]["subject"] = "ric:110105194912310021"
    fell_back: list[int] = []
    real = ArrowValidator._fallback

    def spy(self: ArrowValidator, batch: Any, first: int, rows: Any, tables: Any) -> Any:
        fell_back.extend(rows.tolist())
        return real(self, batch, first, rows, tables)

    monkeypatch.setattr(ArrowValidator, "_fallback", spy)
    table, rejected = ArrowValidator(validator()).check(batch_of(rows), 1)
    assert fell_back == [7]
    assert [(n, r) for n, r, _ in rejected] == [
        (8, Rejection("subject", "check character should be 'X'"))
    ]
    assert table.num_rows == 49
    assert (
        table["attributes_json"][0].as_py() == '{"amount":12000,"case_number":"(2024)京0105执1号"}'
    )


HOSTILE: list[tuple[dict[str, Any], tuple[str, str] | None]] = [
    ({}, None),
    ({"subject": "ric:110105194912310021"}, ("subject", "check character should be 'X'")),
    ({"subject": "uscc:91350100M000100Y44"}, ("subject", "check character should be '3'")),
    ({"occurred_on": "2024-02-30"}, ("occurred_on", "2024-02-30 is not a date")),
    ({"occurred_on": "2026-01-02"}, ("occurred_on", "2026-01-02 is in the future")),
    (
        {"occurred_on": "1949-09-30"},
        ("occurred_on", "1949-09-30 is before 1949-10-01, the earliest date credence accepts"),
    ),
    ({"decided_on": "2024-02-01"}, ("decided_on", "2024-02-01 is before occurred_on 2024-03-01")),
    ({"decided_on": ""}, None),
    ({"item": "judicial.nope"}, ("item", "'judicial.nope' is not in the catalogue")),
    (
        {"item": "administrative.traffic-minor"},
        ("item", "source 'court' may not submit administrative.traffic-minor"),
    ),
    (
        {"item": "judicial.defamation-judgment", "subject": ORG},
        ("subject", "item judicial.defamation-judgment does not apply to a organisation"),
    ),
    (
        {"reference": "=SUM(A1)"},
        ("reference", "must not start with =, +, - or @ (spreadsheet formula characters)"),
    ),
    ({"reference": "C 1"}, ("reference", "must be 1-128 printable ASCII characters, no spaces")),
    ({"reference": "x" * 129}, ("reference", "is longer than 128 characters")),
    ({"item": REVOCATION}, ("corrects", "a revocation must name the record it withdraws")),
    ({"item": REVOCATION, "corrects": "C-0", "attributes": None}, None),
    ({"attributes": '{"bogus":1}'}, ("attributes.bogus", "is not declared in the catalogue item")),
    ({"attributes": None}, ("attributes.case_number", "is required for this item")),
    ({"subject": " " + PERSON}, None),  # trimmed by the scalar rules: accepted, canonical
]


@pytest.mark.parametrize(("change", "outcome"), HOSTILE)
def test_hostile_rows(change: dict[str, Any], outcome: tuple[str, str] | None) -> None:
    base = {
        "item": "judicial.defaulter-listed",
        "subject": PERSON,
        "occurred_on": "2024-03-01",
        "reference": "C-1",
        "decided_on": "2024-03-05",
        "attributes": '{"case_number":"(2024)京0105执1号"}',
    }
    row = {**base, **change}
    expected, got = both([row])
    assert got == expected
    result = got[0][1]
    if outcome is None:
        assert isinstance(result, Record)
        assert result.subject == PERSON
    else:
        assert result == Rejection(*outcome)


def test_dates_as_arrow_dates_and_dictionary_columns_are_read_like_the_reader() -> None:
    rows = [
        {"item": "judicial.consumption-restriction", "subject": PERSON, "reference": f"C-{i}",
         "attributes": '{"case_number":"A-1"}'}
        for i in range(3)
    ]  # fmt: skip
    batch = pa.RecordBatch.from_pydict(
        {
            **{k: pa.array([r[k] for r in rows]).dictionary_encode() for k in rows[0]},
            "occurred_on": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), None]),
        }
    )
    table, rejected = ArrowValidator(validator()).check(batch, 1)
    assert table["occurred_on"].to_pylist() == ["2024-01-01", "2024-01-02"]
    assert [(n, r) for n, r, _ in rejected] == [(3, Rejection("occurred_on", "is required"))]


def test_resident_id_check_digits_match_python_stdnum() -> None:
    """Certified exactly when stdnum accepts the ID and its region existed in its year."""
    from credence.core.ids import region_existed

    rng = random.Random(7)
    keys = []
    for _ in range(3000):
        region = rng.choice(["110105", "310101", "440305", "999999", "011010"])
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 70))
        body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
        keys.append("ric:" + body + rng.choice("0123456789X"))
    vectorised = ArrowValidator(validator())
    got = vectorised._valid_rics(pa.array(keys)).tolist()
    expected = [stdnum_ric.is_valid(k[4:]) and region_existed(k[4:10], k[10:14]) for k in keys]
    assert got == expected
    # Again, now with the (region, year) answers the validator remembers, in another order.
    again = vectorised._valid_rics(pa.array(keys[::-1])).tolist()
    assert again == expected[::-1]
    assert 100 < sum(got) < 2900


def test_uscc_check_characters_match_python_stdnum() -> None:
    from stdnum.cn import uscc as stdnum_uscc

    rng = random.Random(11)
    alphabet = arrowcheck.USCC_ALPHABET
    bodies = ["9" + "".join(rng.choice("0123456789") for _ in range(16)) for _ in range(2000)]
    keys = [f"uscc:{b}{c}" for b in bodies for c in rng.sample(alphabet, 3)]
    got = arrowcheck._valid_usccs(pa.array(keys)).tolist()
    assert got == [stdnum_uscc.is_valid(k[5:]) for k in keys]
    assert any(got) and not all(got)


@given(st.integers(0, 40), st.data())
def test_texts_are_placed_at_their_rows_and_null_elsewhere(n: int, data: st.DataObject) -> None:
    """_attributes' output column: each piece's texts at its rows (in any order), null at the
    rows of no piece; the expected list is written out in Python."""
    order = data.draw(st.permutations(range(n)))
    placed = order[: data.draw(st.integers(0, n))]  # the rest stay null
    cuts = sorted(data.draw(st.lists(st.integers(0, len(placed)), max_size=4)))
    texts = {r: data.draw(st.none() | st.text(max_size=5)) for r in placed}
    pieces = []
    for lo, hi in zip([0, *cuts], [*cuts, len(placed)], strict=True):
        values = pa.array([texts[r] for r in placed[lo:hi]], pa.string())
        if data.draw(st.booleans()):  # a certify result may come chunked
            half = len(values) // 2
            values = pa.chunked_array([values.slice(0, half), values.slice(half)], pa.string())
        pieces.append((np.array(placed[lo:hi], dtype=np.int64), values))
    expected = [texts.get(r) for r in range(n)]
    column = arrowcheck._placed(n, pieces)
    assert column.equals(pa.array(expected, pa.string()))
    assert column.to_pylist() == expected
