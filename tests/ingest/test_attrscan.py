"""The compiled attribute scan (credence/ingest/_attrscan.c) accepts what the patterns accept.

Two references, neither the code under test: Python's own `re` engine running
attrcheck's object_pattern (plus the once-each rule and the length bound), for
the scan's accept/refuse; and the RE2 passes (the certifier with the scan
switched off), for the whole certify() result, canonical texts included.
Texts are generated from the JSON grammar and then damaged byte by byte, so
that near misses (a stray quote, an escape, "-0", "1.50", a control
character, a key twice) are common.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.catalogue import AttributeSpec
from credence.core.records import MAX_ATTRIBUTES_CHARS
from credence.ingest import attrcheck
from credence.ingest.attrcheck import ItemAttributes, object_pattern
from tests.ingest.test_attrcheck import BASE, SPECS, texts

needs_c = pytest.mark.skipif(attrcheck.scanner is None, reason="the C extension is not built")

# Items of one, two (the RE2 path's placed extract) and six attributes (its searches).
ITEMS = {
    "one": {"count": SPECS["count"]},
    "two": {"amount": SPECS["amount"], "until": SPECS["until"]},
    "six": SPECS,
}
DAMAGE = st.sampled_from(
    ['"', "\\", ",", ":", "{", "}", " ", "\t", "\x01", "\x7f", "-", ".", "0", "9", "e", "ü", "京",
     "\u3000", "true", "null", '"count"', '"count":1', "2024-02-29"]
)  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn) -> str:
    text = draw(texts())
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        text = text[:at] + draw(DAMAGE) + text[at + cut :]
    return text


def _item(name: str) -> Any:
    item = BASE.model_copy(update={"attributes": ITEMS[name]})
    item.__dict__.pop("required_attributes", None)
    return item


def _accepts(specs: dict[str, AttributeSpec], text: str) -> bool:
    """The reference: Python's re on object_pattern, each key once, the length bound."""
    if not re.fullmatch(object_pattern(specs), text):
        return False
    keys = re.findall(r'"([a-z_]+)"[ \t\n\r]*:', text)  # values hold no '"' once matched
    return len(keys) == len(set(keys)) and len(text) <= MAX_ATTRIBUTES_CHARS


def _scan(specs: dict[str, AttributeSpec], batch: list[str | None]) -> list[bool]:
    checker = ItemAttributes(_item(next(k for k, v in ITEMS.items() if v == specs)))
    array = pa.array(batch, pa.string())
    assert attrcheck.scanner is not None
    flags, _values, _canonical = attrcheck.scanner.scan(
        len(array), (array.offset, *array.buffers()), checker._names, checker._types,
        MAX_ATTRIBUTES_CHARS,
    )  # fmt: skip
    return [bool(b) for b in flags]


@needs_c
@settings(max_examples=500)
@given(st.sampled_from(sorted(ITEMS)), st.lists(damaged(), min_size=1, max_size=12))
def test_the_scan_accepts_what_the_pattern_accepts(item: str, batch: list[str]) -> None:
    specs = ITEMS[item]
    assert _scan(specs, list(batch)) == [_accepts(specs, t) for t in batch]


@needs_c
@settings(max_examples=300)
@given(st.sampled_from(sorted(ITEMS)), st.lists(damaged(), min_size=1, max_size=12))
def test_certify_gives_the_same_with_and_without_the_scan(item: str, batch: list[str]) -> None:
    compiled = ItemAttributes(_item(item)).certify(pa.array(batch, pa.string()))
    scanner, attrcheck.scanner = attrcheck.scanner, None
    try:
        passes = ItemAttributes(_item(item)).certify(pa.array(batch, pa.string()))
    finally:
        attrcheck.scanner = scanner
    assert compiled[0].tolist() == passes[0].tolist()
    assert compiled[1].to_pylist() == passes[1].to_pylist()


@needs_c
def test_hand_written_texts() -> None:
    six = ITEMS["six"]
    cases = {
        '{"count":1}': True,
        ' \n{ "count" :\t1 ,"flag":false}\r': True,
        '{"count":1,"amount":1.5,"until":"2024-02-29","kind":"甲"}': True,
        '{"count":1,"amount":12345678901234.5}': True,  # 14 digits before the point
        '{"count":1,"amount":123456789012345.5}': False,  # 15
        '{"count":999999999999999}': True,  # 15 digits
        '{"count":1000000000000000}': False,  # 16
        '{"count":0}': True,
        '{"count":-0}': False,
        '{"count":01}': False,
        '{"count":1,"amount":1.50}': False,
        '{"count":1,"amount":0.5}': False,
        '{"count":1,"amount":1.}': False,
        '{"count":1,"amount":-1.05}': True,
        '{"count":1,"kind":""}': False,  # an empty string
        '{"count":1,"kind":"a\\"b"}': False,  # an escape
        '{"count":1,"kind":"a\x1fb"}': False,  # a control character
        '{"count":1,"kind":"a\x7fb"}': True,  # DEL is not one
        '{"count":1,"count":1}': False,
        '{"count":1,}': False,
        '{"count":1}}': False,
        '{"count":1} x': False,
        '{"count":true}': False,
        '{"flag":true}': True,  # shape only: the required key is checked after
        '{"until":"2024-2-29"}': False,
        '{"cou\\u006et":1}': False,
        "{}": False,
        "": False,
    }
    assert _scan(six, [*cases, None]) == [*cases.values(), False]
    assert [_accepts(six, t) for t in cases] == list(cases.values())  # the reference agrees


@needs_c
def test_the_length_bound_counts_characters_not_bytes() -> None:
    def sized(chars: int) -> str:
        head, tail = '{"count":1,"kind":"', '"}'
        return head + "京" * (chars - len(head) - len(tail)) + tail

    at, over = sized(MAX_ATTRIBUTES_CHARS), sized(MAX_ATTRIBUTES_CHARS + 1)
    assert (len(at), len(over)) == (MAX_ATTRIBUTES_CHARS, MAX_ATTRIBUTES_CHARS + 1)
    assert _scan(ITEMS["six"], [at, over]) == [True, False]


@needs_c
def test_sliced_arrays_and_values_and_canonical_texts() -> None:
    checker = ItemAttributes(_item("six"))
    batch = ['{"count":9}', None, '{ "flag" : true , "count" : 2 }', '{"count":1,"count":1}',
             '{"until":"2024-01-02","kind":"dog","count":3}']  # fmt: skip
    array = pa.array(["junk", *batch], pa.string()).slice(1)
    assert attrcheck.scanner is not None
    flags, values, (offsets, data) = attrcheck.scanner.scan(
        len(array), (array.offset, *array.buffers()), checker._names, checker._types, 4096
    )
    assert list(flags) == [1, 0, 1, 0, 1]
    got = {
        name: pa.Array.from_buffers(pa.string(), 3, [pa.py_buffer(b) for b in v]).to_pylist()
        for name, v in zip(checker.specs, values, strict=True)
    }
    assert got == {
        "amount": [None, None, None],
        "case_number": [None, None, None],
        "count": ["9", "2", "3"],
        "flag": [None, "true", None],
        "kind": [None, None, '"dog"'],
        "until": [None, None, '"2024-01-02"'],
    }
    canonical = pa.Array.from_buffers(
        pa.string(), 3, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    assert canonical.to_pylist() == [
        '{"count":9}',
        '{"count":2,"flag":true}',
        '{"count":3,"kind":"dog","until":"2024-01-02"}',
    ]
    assert (
        canonical.to_pylist()[2]
        == orjson.dumps({"count": 3, "kind": "dog", "until": "2024-01-02"}).decode()
    )


@needs_c
def test_bad_arguments_are_errors() -> None:
    assert attrcheck.scanner is not None
    array = pa.array(['{"a":1}'])
    spec = (array.offset, *array.buffers())
    with pytest.raises(ValueError, match="one type each"):
        attrcheck.scanner.scan(1, spec, (b"a",), "", 10)
    with pytest.raises(ValueError, match="type x"):
        attrcheck.scanner.scan(1, spec, (b"a",), "x", 10)
    with pytest.raises(ValueError, match="shorter than its rows"):
        attrcheck.scanner.scan(2, spec, (b"a",), "i", 10)
    assert attrcheck.scanner.scan(1, spec, (b"a",), "i", 10)[0] == b"\x01"
