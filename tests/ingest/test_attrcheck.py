"""Attribute texts certified as array operations get exactly the scalar check's result.

The scalar check (RowValidator._attributes) is the rule book. For every
generated text the certifier accepts, the scalar check must accept it too
and write the very same canonical text; texts it leaves alone go to the
scalar check anyway, so they need no comparison. Hand-written cases pin
that plain texts really are certified (else the fast path could quietly
certify nothing) and that bad ones are not.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.catalogue import AttributeSpec, AttributeType, default_catalogue_path
from credence.core.catalogue import load_catalogue as load
from credence.core.records import _DIGITS, RowValidator
from credence.ingest.attrcheck import ItemAttributes

CATALOGUE = load(default_catalogue_path())
BASE = CATALOGUE.items["judicial.defaulter-listed"]
SPECS = {
    "case_number": AttributeSpec(type=AttributeType.STRING, pattern=r"^[A-Z0-9京()-]{1,12}$"),
    "kind": AttributeType.STRING,
    "amount": AttributeSpec(type=AttributeType.NUMBER),
    "count": AttributeSpec(type=AttributeType.INTEGER, required=True),
    "flag": AttributeSpec(type=AttributeType.BOOLEAN),
    "until": AttributeSpec(type=AttributeType.DATE),
}
SPECS["kind"] = AttributeSpec(type=AttributeType.STRING, values=("甲", "乙", "dog"), max_length=3)
ITEM = BASE.model_copy(update={"attributes": SPECS})
# Cached properties copied from BASE would describe its attributes: drop them.
ITEM.__dict__.pop("required_attributes", None)
SCALAR = RowValidator(CATALOGUE, "court", {BASE.code}, dt.date(2026, 1, 1))


def scalar(text: str) -> Any:
    return SCALAR._attributes(text, ITEM)


def certified(texts: list[str]) -> dict[int, str]:
    ok, canonical = ItemAttributes(ITEM).certify(pa.array(texts, pa.string()))
    rows = [i for i, good in enumerate(ok.tolist()) if good]
    return dict(zip(rows, canonical.to_pylist(), strict=True))


VALUES = st.one_of(
    st.integers(-(10**16), 10**16),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["甲", "乙", "dog", "cat", "", "2024-02-29", "2023-02-29", "1949-09-30"]),
    st.sampled_from(["X1", "(2024)京1", "a12b", "AB12CD", "x" * 13, 'a"b', "a\\b", "tab\there"]),
    st.text(alphabet='0123456789AZaz京()-" \\', max_size=14),
)
# Values meant for each key (valid or nearly so), else anything.
MEANT = {
    "case_number": st.sampled_from(["X1", "(2024)京1", "A12B", "x1", "京-" * 7, "", 'A"1', "A\\1"]),
    "kind": st.sampled_from(["甲", "乙", "dog", "cat", "甲乙丙丁"]),
    "amount": st.integers(-(10**16), 10**16),
    "count": st.integers(-(10**16), 10**16),
    "flag": st.booleans(),
    "until": st.dates(dt.date(1940, 1, 1), dt.date(2100, 1, 1)).map(str)
    | st.sampled_from(["2023-02-29", "2024-02-30", "0000-01-01", "2024-1-01"]),
    "bogus": VALUES,
}
SPACES = st.sampled_from([("",), ("",), ("", " "), ("", " ", "\n", "\t "), ("", "\u3000")])


@st.composite
def texts(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from(list(MEANT)), max_size=5, unique=draw(st.booleans())))
    space = st.sampled_from(draw(SPACES))  # one style of spacing per text
    pairs = [(key, draw(MEANT[key] if draw(st.integers(0, 9)) else VALUES)) for key in keys]
    if draw(st.booleans()):
        pairs.append(("count", draw(st.integers(-5, 10**15))))
    body = []
    for key, value in pairs:
        before, after = draw(space), draw(space)
        dumped = orjson.dumps(value).decode() if draw(st.integers(0, 19)) else "0.50"
        body.append(f"{before}{orjson.dumps(key).decode()}{after}:{draw(space)}{dumped}")
    return draw(space) + "{" + ",".join(body) + "}" + draw(space)


@settings(max_examples=400)
@given(st.lists(texts(), min_size=1, max_size=20))
def test_what_is_certified_the_scalar_check_accepts_with_the_same_text(batch: list[str]) -> None:
    for row, text in certified(batch).items():
        assert scalar(batch[row]) == text


def test_plain_texts_are_certified_in_any_key_order_and_spacing() -> None:
    batch = [
        '{"count":3,"case_number":"(2024)京1"}',
        '{ "until": "2024-02-29", "flag": true, "count": 0, "kind": "dog" }',
        '{"amount":-12000,"count":7}',
        '{"count":7, "amount":-21993.44}',
    ]
    assert certified(batch) == {
        0: '{"case_number":"(2024)京1","count":3}',
        1: '{"count":0,"flag":true,"kind":"dog","until":"2024-02-29"}',
        2: '{"amount":-12000,"count":7}',
        3: '{"amount":-21993.44,"count":7}',
    }
    for row, text in certified(batch).items():
        assert scalar(batch[row]) == text


@pytest.mark.parametrize(
    "text",
    [
        '{"case_number":"X1"}',  # count is required
        '{"count":1,"count":2}',  # a key twice
        '{"count":1,"bogus":2}',  # not declared
        '{"count":1,"amount":1.50}',  # a float the scalar check rewrites (1.5)
        '{"count":1,"amount":0.5}',  # below 1: left to the scalar check
        '{"count":1,"amount":1e5}',  # an exponent: written 100000
        '{"count":1,"amount":967.1417776317067}',  # 16 digits: written ...066
        '{"count":1,"amount":null}',  # a null is dropped by the scalar check
        '{"count":-0}',  # written 0
        '{"count":1,"kind":"cat"}',  # not in the vocabulary
        '{"count":1,"case_number":"x"}',  # does not match the pattern
        '{"count":1,"until":"2023-02-29"}',  # not a date
        '{"count":1,"until":"1949-09-30"}',  # before the earliest date
        '{"count":1,"flag":1}',  # not a boolean
        '{"count":1,"case_number":"A\\u0031"}',  # an escape
        "{}",
        "[]",
    ],
)
def test_texts_the_certifier_leaves_to_the_scalar_check(text: str) -> None:
    assert certified([text]) == {}


@given(st.text(alphabet="0123456789aZ京-", max_size=12))
def test_number_blanking_matches_the_scalar_rule_where_it_is_used(value: str) -> None:
    """RE2's blanking of digit runs equals the scalar one unless letters flank a run."""
    if re.search("[A-Za-z][0-9]+[A-Za-z]", value):
        return
    blanked = pc.replace_substring_regex(pa.array([value]), "[0-9]+", "0")[0].as_py()
    assert blanked == _DIGITS.sub("0", value)
