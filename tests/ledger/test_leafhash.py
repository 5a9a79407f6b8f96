"""The leaf hashes verify rebuilds in bulk: the C extension and the Python give the same bytes.

Expected leaves are computed here independently (rfc8785 for the JSON,
hashlib and hmac for the hashes), as docs/ledger.md defines a leaf; the
compiled path (`_leafhash`, when it is built) and the Python path must both
give them. On adversarial inputs (any text, quotes, control characters, lone
surrogates, odd ints, salts of any length or type, wrong types) the compiled
path either gives exactly the Python's bytes or declines (None), and it never
declines the kinds of values the database driver gives.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.arrowbuffers import text_buffers
from credence.ledger import leafhash, merkle
from credence.ledger.leafhash import SubjectDigests, python_leaf_hashes, record_leaf_hashes

KEY = bytes(range(32))
COLUMNS = [
    "seq",
    "salt",
    "attributes",
    "corrects",
    "decided",
    "item",
    "occurred",
    "reference",
    "source",
    "subject",
]
needs_c = pytest.mark.skipif(leafhash.compiled is None, reason="the C extension is not built")


def _expected(row: dict[str, Any], key: bytes) -> bytes:
    """SHA-256(0x00 || leaf) as docs/ledger.md defines it, from RFC 8785 JSON."""
    content: dict[str, Any] = {
        "item": row["item"],
        "occurred_on": row["occurred"],
        "reference": row["reference"],
        "source": row["source"],
        "subject": row["subject"],
    }
    if row["attributes"] is not None:
        content["attributes"] = row["_attrs"]
    if row["corrects"] is not None:
        content["corrects"] = row["corrects"]
    if row["decided"] is not None:
        content["decided_on"] = row["decided"]
    record_hash = hashlib.sha256(row["salt"] + rfc8785.dumps(content)).hexdigest()
    subject = hmac.new(key, row["subject"].encode(), hashlib.sha256).hexdigest()
    leaf = {
        "decided_on": row["decided"],
        "item": row["item"],
        "kind": "record",
        "occurred_on": row["occurred"],
        "record_hash": record_hash,
        "seq": row["seq"],
        "source": row["source"],
        "subject_hash": subject,
        "v": 1,
    }
    return hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()


def _plain_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Records of the plain kind the bulk proof hands to `record_leaf_hashes`."""
    rng = random.Random(seed)
    plain = string.ascii_letters + string.digits + " -_:./#京执号é\U0001f600"

    def text(k: int) -> str:
        return "".join(rng.choices(plain, k=rng.randint(0, k)))

    rows = []
    for i in range(n):
        attrs = rng.choice(
            [None, {"amount": rng.randint(-(10**14), 10**14), "court": text(12), "ok": True}]
        )
        rows.append(
            {
                "seq": rng.choice([i, rng.randint(0, 2**53 - 1)]),
                "salt": rng.randbytes(16),
                "_attrs": attrs,
                "attributes": None if attrs is None else rfc8785.dumps(attrs).decode(),
                "corrects": rng.choice([None, f"C-{text(6)}"]),
                "decided": rng.choice([None, "2024-02-29"]),
                "item": rng.choice(["judicial.fraud-conviction", text(30)]),
                "occurred": "2024-01-0" + str(rng.randint(1, 9)),
                "reference": text(40),
                "source": rng.choice(["court", "market", text(10)]),
                "subject": rng.choice([f"ric:{i:018d}", text(20)]),
            }
        )
    return rows


def _columns(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for r in rows) for c in COLUMNS]


@pytest.mark.parametrize("key", [KEY, b"", b"k" * 64, b"long key " * 20])
@pytest.mark.parametrize("path", ["compiled", "python"])
def test_leaf_hashes_are_the_ones_docs_ledger_defines(
    key: bytes, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "compiled" and leafhash.compiled is None:
        pytest.skip("the C extension is not built")
    if path == "python":
        monkeypatch.setattr(leafhash, "compiled", None)
    rows = _plain_rows(300, seed=len(key))
    found = record_leaf_hashes(*_columns(rows), SubjectDigests(key))
    assert found == [_expected(r, key) for r in rows]


@needs_c
def test_the_compiled_path_does_not_decline_what_the_driver_gives() -> None:
    rows = _plain_rows(50, seed=3)
    assert leafhash.compiled is not None
    assert leafhash.compiled.record_leaf_hashes(*_columns(rows), KEY, 1) is not None


# Adversarial values, of the driver's kinds and others
_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ['"', "\\", "\x00", "\n", "\ud800", "a\udfffb", "\u2028", "é", "\U0001f600"]
)
_VALUE = st.one_of(
    _TEXT,
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.binary(max_size=20),
    st.just(bytearray(b"0123456789abcdef")),
    st.floats(allow_nan=False),
)
_SALT = st.one_of(st.binary(min_size=0, max_size=40), _VALUE)
_SEQ = st.one_of(st.integers(min_value=-(2**64), max_value=2**64), _VALUE)


@st.composite
def _batches(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    n = draw(st.integers(min_value=0, max_value=4))
    rows = _plain_rows(n, seed=draw(st.integers(0, 1000)))
    columns = [list(c) for c in _columns(rows)]
    for _ in range(draw(st.integers(min_value=0, max_value=3)) if n else 0):
        c = draw(st.integers(min_value=0, max_value=len(COLUMNS) - 1))
        i = draw(st.integers(min_value=0, max_value=n - 1))
        strategy = {0: _SEQ, 1: _SALT}.get(c, _VALUE)
        columns[c][i] = draw(strategy)
    if n and draw(st.booleans()):  # sometimes one column shorter
        c = draw(st.integers(min_value=0, max_value=len(COLUMNS) - 1))
        columns[c].pop()
    return [tuple(col) for col in columns]


def _outcome(f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # what ChunkProof.add catches
        return type(e)


@needs_c
@settings(max_examples=600, deadline=None)
@given(batch=_batches())
def test_the_compiled_path_gives_the_pythons_bytes_or_declines(
    batch: list[tuple[Any, ...]],
) -> None:
    assert leafhash.compiled is not None
    compiled = _outcome(leafhash.compiled.record_leaf_hashes, *batch, KEY, 1)
    python = _outcome(python_leaf_hashes, *batch, SubjectDigests(KEY))
    if isinstance(compiled, list):
        assert compiled == python
    else:  # declined or refused: then the Python decides (record_leaf_hashes falls back)
        assert compiled is None or compiled in (TypeError, ValueError), compiled
        assert _outcome(record_leaf_hashes, *batch, SubjectDigests(KEY)) in (
            python,
            compiled,  # the same refusal as Python's (columns of different lengths)
        )


def _ref_levels(hashes: list[Any]) -> list[list[Any]]:
    """Every perfect subtree by level, written out from RFC 9162's node hash."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [
                hashlib.sha256(b"\x01" + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            ]
        )
    return levels


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_perfect_levels_are_rfc_9162_subtrees(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "compiled" and leafhash.compiled is None:
        pytest.skip("the C extension is not built")
    if path == "python":
        monkeypatch.setattr(leafhash, "compiled", None)
    rng = random.Random(9)
    for n in [*range(70), 1000, 8192]:
        hashes = [rng.randbytes(32) for _ in range(n)]
        assert merkle.perfect_levels(hashes) == _ref_levels(hashes), n
    odd = [b"", b"a", b"x" * 100, rng.randbytes(32), b"\x00" * 31]  # any bytes, as in Python
    assert merkle.perfect_levels(odd) == _ref_levels(odd)


@needs_c
def test_compiled_perfect_levels_decline_what_is_not_bytes() -> None:
    assert leafhash.compiled is not None
    data: list[Any] = [b"a" * 32, bytearray(b"b" * 32), b"c" * 32, b"d" * 32]
    assert leafhash.compiled.perfect_levels(data) is None
    assert merkle.perfect_levels(data) == _ref_levels(data)  # the Python then
    assert leafhash.compiled.perfect_levels([]) == [[]]
    with pytest.raises(TypeError):
        leafhash.compiled.perfect_levels(5)


@needs_c
def test_compiled_sha256_is_sha256() -> None:
    assert leafhash.compiled is not None
    for n in (0, 1, 55, 56, 63, 64, 65, 1000):
        data = bytes(range(256)) * 4
        assert leafhash.compiled.sha256(data[:n]) == hashlib.sha256(data[:n]).digest()


# Ingest's sealing reads the checked table's Arrow buffers (`arrow_leaf_hashes`): one source,
# seqs from first_seq. Expected leaves as docs/ledger.md defines them (_expected above).
_TABLE_COLUMNS = {
    "salt": "salt",
    "attributes_json": "attributes",
    "corrects": "corrects",
    "decided_on": "decided",
    "item": "item",
    "occurred_on": "occurred",
    "reference": "reference",
    "subject": "subject",
}


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            name: pa.array([r[key] for r in rows], pa.binary() if name == "salt" else pa.string())
            for name, key in _TABLE_COLUMNS.items()
        }
    )


def _court_rows(n: int, seed: int) -> list[dict[str, Any]]:
    return [{**r, "source": "court"} for r in _plain_rows(n, seed)]


@needs_c
@pytest.mark.parametrize("shape", ["whole", "sliced", "chunked", "large string", "no extension"])
def test_sealed_leaf_hashes_from_arrow_columns_are_the_ones_docs_ledger_defines(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _court_rows(400, seed=11)
    table = _table(rows)
    if shape == "sliced":  # arrays at an offset, validity bits not byte-aligned
        table, rows = table.slice(150, 203), rows[150:353]
    elif shape == "chunked":
        table = pa.concat_tables([table.slice(0, 99), table.slice(99)])
    elif shape == "large string":  # not read in place: the Python lists' path
        table = table.set_column(6, "reference", table["reference"].cast(pa.large_string()))
    elif shape == "no extension":  # an extension built before arrow_leaf_hashes
        monkeypatch.setattr(leafhash, "compiled", _OnlyLists(leafhash.compiled))
    first = 2**40 + 3
    found = leafhash.sealed_leaf_hashes("court", KEY, first, table)
    assert found == [_expected({**r, "seq": first + i}, KEY) for i, r in enumerate(rows)]


class _OnlyLists:
    """The extension without arrow_leaf_hashes."""

    def __init__(self, compiled: Any) -> None:
        self.record_leaf_hashes = compiled.record_leaf_hashes


@needs_c
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reference", 'R"1'),
        ("subject", "ric:1\\2"),
        ("corrects", 'C-"'),
        ("item", None),
        ("occurred_on", None),
        ("reference", None),
        ("subject", None),
        ("salt", None),
    ],
)
def test_sealed_leaf_hashes_decline_what_the_arrow_path_seals(column: str, value: Any) -> None:
    rows = _court_rows(30, seed=5)
    rows[17][_TABLE_COLUMNS[column]] = value
    assert leafhash.sealed_leaf_hashes("court", KEY, 1, _table(rows)) is None
    rows[17] = _court_rows(1, seed=6)[0]
    assert leafhash.sealed_leaf_hashes("court", KEY, 1, _table(rows)) is not None


def _with_raw_item(table: pa.Table, raw: bytes) -> pa.Table:
    """`table` (one row) with an item of these bytes, UTF-8 or not (Arrow does not check)."""
    offsets = pa.py_buffer(np.array([0, len(raw)], dtype=np.int32))
    item = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(raw)])
    return table.set_column(4, "item", item)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=8)
    | st.text(max_size=4).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80"])
)
def test_text_that_is_not_utf8_is_declined_as_pythons_decoder_refuses_it(raw: bytes) -> None:
    table = _with_raw_item(_table(_court_rows(1, seed=2)), raw)
    found = leafhash.sealed_leaf_hashes("court", KEY, 0, table)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert found is None
    else:
        assert found is not None and len(found) == 1


@needs_c
def test_arrow_leaf_hashes_refuse_buffers_shorter_than_the_rows() -> None:
    compiled = leafhash.compiled
    assert compiled is not None
    table = _table(_court_rows(3, seed=4))
    columns = [text_buffers(table[name]) for name in _TABLE_COLUMNS]
    with pytest.raises(ValueError, match="shorter than its rows"):
        compiled.arrow_leaf_hashes(0, 4, tuple(columns), "court", KEY, 1)
    # a seq past 2**63 - 1: declined (the Arrow path seals it), as the lists' path declines
    assert compiled.arrow_leaf_hashes(2**63 - 2, 3, tuple(columns), "court", KEY, 1) is None
    last = compiled.arrow_leaf_hashes(2**63 - 3, 3, tuple(columns), "court", KEY, 1)
    lists = compiled.record_leaf_hashes(
        range(2**63 - 3, 2**63),
        *(table[c].to_pylist() for c in list(_TABLE_COLUMNS)[:-1]),
        ["court"] * 3,
        table["subject"].to_pylist(),
        KEY,
        1,
    )
    assert last is not None and last == lists
    # no rows: no buffer is read (an empty array may come without offsets)
    assert compiled.arrow_leaf_hashes(5, 0, ((0, None, None, None),) * 8, "court", KEY, 1) == []
    offset, validity, offsets, _ = columns[4]
    columns[4] = (offset, validity, offsets, pa.py_buffer(b"x"))  # offsets past the data
    with pytest.raises(ValueError, match="outside the data"):
        compiled.arrow_leaf_hashes(0, 3, tuple(columns), "court", KEY, 1)
