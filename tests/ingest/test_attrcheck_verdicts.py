"""Row verdicts on attribute texts: the bulk path's certifier changes none of them.

The certifier (credence.ingest.attrcheck) takes two routes: one anchored
extract for items of one or two attributes, a search per key (and one
repeated-key pattern) for the rest; and it certifies plain decimals, which
RFC 8785 writes as they stand. Whatever it certifies must be accepted by
the scalar check with the very same canonical text, and whatever it leaves
goes to the scalar check: so every row of a Parquet batch must come out of
ArrowValidator exactly as out of RowValidator, the same Record or the same
rejected field and reason. Generated texts aim at the edges (keys twice,
more pairs than attributes, decimals of 15 and 16 digits, trailing zeros,
exponents, whitespace, escapes); hand-written cases pin outcomes written
out by hand, and decimals are checked against the rfc8785 reference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow as pa
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.records import Record, Rejection, RowValidator
from credence.ingest.arrowcheck import CANONICAL_COLUMNS, ArrowValidator
from credence.ingest.attrcheck import ItemAttributes

TODAY = dt.date(2026, 1, 1)
CATALOGUE = load_catalogue(default_catalogue_path())
PERSON = "ric:11010519491231002X"  # GB 11643's sample, valid
# One, two (the placed extract), three and four attributes (the per-key search).
ITEMS = {
    "judicial.consumption-restriction": ("case_number",),
    "judicial.defaulter-performed": ("case_number", "court"),
    "judicial.defaulter-extended": ("case_number", "years", "court"),
    "judicial.defaulter-listed": ("case_number", "ground", "amount", "court"),
}
CASE = "(2024)京0105执1号"
COURT = "北京市东城区人民法院"


def validator() -> RowValidator:
    return RowValidator(CATALOGUE, "court", set(ITEMS), TODAY)


def verdicts(cases: list[tuple[str, str | None]]) -> tuple[list[Any], list[Any]]:
    """Per (item, attributes) row: (scalar verdicts, ArrowValidator verdicts)."""
    rows = [
        {
            "item": item,
            "subject": PERSON,
            "occurred_on": "2024-03-01",
            "reference": f"R-{i}",
            "decided_on": None,
            "attributes": text,
            "corrects": None,
        }
        for i, (item, text) in enumerate(cases)
    ]
    scalar = validator()
    expected = [scalar.validate(row) for row in rows]
    batch = pa.RecordBatch.from_pydict(
        {name: pa.array([r[name] for r in rows], pa.string()) for name in rows[0]}
    )
    table, rejected = ArrowValidator(validator()).check(batch, 0)
    got: dict[int, Any] = {n: r for n, r, _ in rejected}
    data = table.to_pydict()
    for i, number in enumerate(data["row"]):
        got[number] = Record("court", *(data[name][i] for name in CANONICAL_COLUMNS))
    return expected, [got[i] for i in range(len(rows))]


DECIMALS = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}.{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["0", "1", "9", "10", "21993", "12345678901234", "123456789012345"])
    | st.integers(1, 10**16).map(str),
    st.text("0123456789", min_size=1, max_size=17),
    st.sampled_from(["", "", "", "e5", "E-2"]),
)
NUMBERS = st.one_of(
    DECIMALS,
    st.integers(-(10**16), 10**16).map(str),
    st.sampled_from(["-0", "0.0", "1.0", "1.50", "967.1417776317067", "9007199254740993.5"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: orjson.dumps(f).decode()),
)
STRINGS = st.one_of(
    st.sampled_from([CASE, COURT, "X1", "x", "", "法院", "北京法院", "(0)京0执0号"]),
    st.text(alphabet="0123456789AZaz京执号()法院-,:{}", max_size=12),
).map(lambda s: orjson.dumps(s).decode())
RAW_VALUES = st.one_of(
    st.sampled_from(['"A\\u0031"', '"tab\\t"', "null", "true", "[]", "{}", '"2024-01-01"']),
    NUMBERS,
    STRINGS,
)
KEYS = ["case_number", "court", "years", "ground", "amount", "bogus"]
TYPED = {"case_number": STRINGS, "court": STRINGS, "years": NUMBERS, "ground": NUMBERS}
SPACE = st.sampled_from(["", "", "", " ", "\n", "\t ", "\u3000"])


@st.composite
def attribute_cases(draw: st.DrawFn) -> tuple[str, str | None]:
    item = draw(st.sampled_from(sorted(ITEMS)))
    declared = list(ITEMS[item])
    keys = draw(st.lists(st.sampled_from(declared * 3 + KEYS), max_size=6))
    if draw(st.booleans()):
        keys = list(dict.fromkeys(keys))  # each once, as most sources send
    pairs = []
    for key in keys:
        value = draw(TYPED.get(key, NUMBERS) if draw(st.integers(0, 4)) else RAW_VALUES)
        pairs.append(f"{draw(SPACE)}{orjson.dumps(key).decode()}{draw(SPACE)}:{draw(SPACE)}{value}")
    if not draw(st.integers(0, 30)):
        return item, draw(st.sampled_from([None, "", " ", "[]", "{", "not json"]))
    return item, f"{draw(SPACE)}{{{','.join(pairs)}}}{draw(SPACE)}"


@settings(max_examples=300)
@given(st.lists(attribute_cases(), min_size=1, max_size=60))
def test_every_row_gets_the_scalar_verdict(cases: list[tuple[str, str | None]]) -> None:
    expected, got = verdicts(cases)
    assert got == expected


def test_many_plain_rows_in_one_batch_get_the_scalar_verdict() -> None:
    """A batch large enough that each item's rows go through the certifier together."""
    texts = [
        ("judicial.consumption-restriction", f'{{"case_number":"(2024)京0105执{i}号"}}')
        for i in range(200)
    ]
    texts += [
        ("judicial.defaulter-performed", f'{{"court":"{COURT}","case_number":"X{i}"}}')
        for i in range(200)
    ]
    texts += [
        ("judicial.defaulter-listed", f'{{"case_number":"X{i}","amount":{i}.{i % 7 + 1}}}')
        for i in range(1, 200)
    ]
    texts += [
        ("judicial.defaulter-listed", f'{{"case_number":"X{i}","amount":1.{i}0}}')
        for i in range(50)
    ]
    expected, got = verdicts(texts)
    assert got == expected
    assert all(isinstance(v, Record) for v in got)


@pytest.mark.parametrize(
    ("item", "text", "outcome"),
    [
        # Certified texts: keys sorted, whitespace gone, decimals as they stand.
        (
            "judicial.defaulter-performed",
            f'{{"court":"{COURT}", "case_number":"{CASE}"}}',
            f'{{"case_number":"{CASE}","court":"{COURT}"}}',
        ),
        (
            "judicial.defaulter-listed",
            f'{{"amount":21993.44,"case_number":"{CASE}"}}',
            f'{{"amount":21993.44,"case_number":"{CASE}"}}',
        ),
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","amount":-1.5,"ground":2}}',
            f'{{"amount":-1.5,"case_number":"{CASE}","ground":2}}',
        ),
        # Left to the scalar check, which rewrites the number.
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","amount":1.50}}',
            f'{{"amount":1.5,"case_number":"{CASE}"}}',
        ),
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","amount":1e5}}',
            f'{{"amount":100000,"case_number":"{CASE}"}}',
        ),
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","amount":967.1417776317067}}',
            f'{{"amount":967.1417776317066,"case_number":"{CASE}"}}',
        ),
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","amount":0.5}}',
            f'{{"amount":0.5,"case_number":"{CASE}"}}',
        ),
        # Rejections, with the field and reason the scalar check gives.
        (
            "judicial.defaulter-performed",
            f'{{"case_number":"{CASE}","case_number":"{CASE}"}}',
            ("attributes", "a key appears twice in the object"),
        ),
        (
            "judicial.defaulter-performed",
            f'{{"case_number":"{CASE}","court":"{COURT}","court":"{COURT}"}}',
            ("attributes", "a key appears twice in the object"),
        ),
        (
            "judicial.defaulter-listed",
            f'{{"case_number":"{CASE}","ground":1,"ground":1}}',
            ("attributes", "a key appears twice in the object"),
        ),
        (
            "judicial.consumption-restriction",
            '{"court":"北京市东城区人民法院"}',
            ("attributes.court", "is not declared in the catalogue item"),
        ),
        (
            "judicial.defaulter-performed",
            f'{{"court":"{COURT}"}}',
            ("attributes.case_number", "is required for this item"),
        ),
        (
            "judicial.defaulter-extended",
            f'{{"case_number":"{CASE}","years":1.5}}',
            ("attributes.years", "must be an integer"),
        ),
    ],
)
def test_hand_written_outcomes(item: str, text: str, outcome: Any) -> None:
    expected, got = verdicts([(item, text)])
    assert got == expected
    if isinstance(outcome, str):
        assert isinstance(got[0], Record)
        assert got[0].attributes_json == outcome
    else:
        assert isinstance(got[0], Rejection)
        assert (got[0].field, got[0].reason) == outcome


@settings(max_examples=500)
@given(DECIMALS | NUMBERS)
def test_a_certified_number_is_its_own_rfc8785_form(number: str) -> None:
    """Against the reference serialiser; and plain decimals of up to 15 digits are certified."""
    checker = ItemAttributes(CATALOGUE.items["judicial.defaulter-listed"])
    text = f'{{"case_number":"{CASE}","amount":{number}}}'
    ok, canonical = checker.certify(pa.array([text], pa.string()))
    digits = sum(c.isdigit() for c in number)
    plain = (
        "." in number
        and "e" not in number.lower()
        and number.lstrip("-")[0] != "0"
        and number[-1] != "0"
        and digits <= 15
    )
    if ok[0]:
        value = orjson.loads(number)
        assert rfc8785.dumps(value).decode() == number
        assert canonical.to_pylist() == [f'{{"amount":{number},"case_number":"{CASE}"}}']
    assert bool(ok[0]) == (plain or _integral(number))


def _integral(number: str) -> bool:
    """An integer text the certifier takes: no point, no exponent, below 10^15."""
    try:
        value = int(number)
    except ValueError:
        return False
    return abs(value) < 10**15 and number != "-0"
