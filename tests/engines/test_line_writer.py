"""The C line writer (credence/engines/_linebuild.c) and its Python side (line_writer).

Expected bytes are written out by hand here; the engines' lines as a whole
are compared with the store engine's in test_engines_identical.py (both the
C and the SQL paths).
"""

from __future__ import annotations

import datetime as dt
import io
import random

import numpy as np
import pyarrow as pa
import pytest

from credence.engines import line_writer as w

pytestmark = pytest.mark.skipif(not w.available(), reason="C line writer not built")

# A packed reason as credence/engines/fused.py lays it out, with 8 bits of points, 25 of
# seq, 16 of day (since 1900-01-01) and 6 of rule index, written out independently here.
_DAY_ZERO = dt.date(1900, 1, 1)
_SPEC = (23, 2**25 - 1, 7, 2**16 - 1, (_DAY_ZERO - dt.date(1970, 1, 1)).days, 1, 63, 48, 256)


def _key(points: int, seq: int, day: dt.date, item: int) -> int:
    days = (day - _DAY_ZERO).days
    return ((((256 - abs(points)) * 2**25 + seq) * 2**16 + days) * 64 + item) * 2 + (points < 0)


def _lines(n: int, pieces: list[tuple[object, ...]], rows: int = 2048) -> bytes:
    sink = io.BytesIO()
    w.write(sink, n, pieces, rows)
    return sink.getvalue()


class _Runs:
    """A sink that keeps the length of each run it is given."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def write(self, data: memoryview) -> int:
        self.sizes.append(len(data))
        return len(data)


def test_pieces_write_what_they_hold() -> None:
    subject = pa.array(["ric:110101199001011237", "uscc:éŝ/ok", "a"])
    score = pa.array([700, None, -9223372036854775808], pa.int64())
    grade = pa.array([0, 1, 2], pa.int32())
    limits = pa.array(['{"rule":"scale"}', None, ""])
    pieces = [
        w.literal("{"),
        w.quoted(subject),
        w.literal(":"),
        w.integer(score, "null"),
        w.literal(","),
        w.take(grade, ['"A"', None, '"C"']),
        w.literal(",["),
        w.text(limits, "NULL"),
        w.literal("]\n"),
    ]
    assert _lines(3, pieces) == (
        b'{"ric:110101199001011237":700,"A",[{"rule":"scale"}]\n'
        + '{"uscc:éŝ/ok":null,,[NULL]\n'.encode()
        + b'{"a":-9223372036854775808,"C",[]\n'
    )


def test_runs_of_rows_join_to_the_same_lines() -> None:
    n = 10
    numbers = pa.array(range(n), pa.int64())
    pieces = [w.integer(numbers, "x"), w.literal("\n")]
    whole = "".join(f"{i}\n" for i in range(n)).encode()
    assert _lines(n, pieces, rows=3) == whole
    runs = _Runs()
    w.write(runs, n, pieces, 4)  # type: ignore[arg-type]
    assert runs.sizes == [8, 8, 4]


def test_joined_parts_skip_nulls_as_concat_ws() -> None:
    first = pa.array(["a", None, None, "d"])
    second = pa.array([0, 1, 0, 1], pa.int32())
    third = pa.array(["x", None, "z", None])
    pieces = [
        w.literal("["),
        w.joined(",", [w.text(first), w.take(second, ["B", None]), w.text(third)]),
        w.literal("]\n"),
    ]
    assert _lines(4, pieces) == b"[a,B,x]\n[]\n[B,z]\n[d]\n"


def test_packed_reasons_are_decoded() -> None:
    items = (b'"judicial.first"', b'"social.second"')
    keys = pa.array(
        [
            [_key(-150, 12345, dt.date(2024, 2, 29), 0), _key(30, 7, dt.date(1949, 10, 1), 1)],
            None,
            [],
            [_key(255, 2**25 - 1, dt.date(2079, 6, 6), 1)],
        ],
        pa.list_(pa.int64()),
    )
    piece = w.reasons(keys, (*_SPEC, items))
    assert piece is not None
    assert _lines(4, [piece, w.literal("\n")]) == (
        b'{"seq":12345,"item":"judicial.first","date":"2024-02-29","points":-150},'
        b'{"seq":7,"item":"social.second","date":"1949-10-01","points":30}\n'
        b"\n"
        b"\n"
        b'{"seq":33554431,"item":"social.second","date":"2079-06-06","points":255}\n'
    )


def test_sliced_columns_are_read_from_their_offset() -> None:
    subject = pa.array(["skip", "ric:1", "ric:2"]).slice(1)
    number = pa.array([None, 5, None], pa.int64()).slice(1)
    keys = pa.array(
        [[_key(-1, 1, dt.date(2000, 1, 1), 0)], [_key(-2, 2, dt.date(2000, 1, 2), 0)], None],
        pa.list_(pa.int64()),
    ).slice(1)
    piece = w.reasons(keys, (*_SPEC, (b'"i"',)))
    assert piece is not None
    pieces = [w.quoted(subject), w.integer(number, "null"), piece, w.literal("\n")]
    assert _lines(2, pieces) == (
        b'"ric:1"5{"seq":2,"item":"i","date":"2000-01-02","points":-2}\n"ric:2"null\n'
    )


@pytest.mark.parametrize("text", ['say "hi"', "back\\slash", "tab\there", "nul\x00"])
def test_a_text_needing_an_escape_is_refused(text: str) -> None:
    column = pa.array(["fine", text])
    assert w.subjects_plain(pa.array(["fine", "ric:1", "uscc:éŝ/ok"]))
    assert not w.subjects_plain(column)
    with pytest.raises(ValueError, match="JSON escape"):
        _lines(2, [w.quoted(column)])


@pytest.mark.parametrize(
    "texts",
    [["ok", None], ["ok", "x\x1f"], ["a", "\x7f\xff fine é"], ["fine", 'q"'], []],
)
def test_plain_is_the_same_with_and_without_the_c_writer(
    texts: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A null or an escape makes a column not plain; DEL and non-ASCII need none."""
    column = pa.array(texts, pa.string())
    expected = all(
        t is not None and not any(c in t for c in '"\\') and min(map(ord, t or "a")) >= 0x20
        for t in texts
    )
    assert w.subjects_plain(column) is expected
    assert w.subjects_plain(column.slice(1)) is w.subjects_plain(pa.array(texts[1:], pa.string()))
    monkeypatch.setattr(w, "_linebuild", None)
    assert w.subjects_plain(column) is expected


def test_bad_input_is_an_error_not_a_crash() -> None:
    from credence.engines import _linebuild

    short = (0, None, pa.py_buffer(b"\x00" * 8))  # one int64 for three rows
    with pytest.raises(ValueError, match="too short"):
        _linebuild.write(io.BytesIO().write, 3, (("I", short, b"null"),), 3)
    index = pa.array([0, 5], pa.int32())
    with pytest.raises(ValueError, match="out of its entries"):
        _lines(2, [w.take(index, ["a", "b"])])
    item = pa.array([[_key(-1, 1, dt.date(2000, 1, 1), 3)]], pa.list_(pa.int64()))
    piece = w.reasons(item, (*_SPEC, (b'"only"',)))
    assert piece is not None
    with pytest.raises(ValueError, match="item"):
        _lines(1, [piece])
    with pytest.raises(ValueError, match="rows out of range"):
        _linebuild.write(io.BytesIO().write, -1, (), 2)
    with pytest.raises(ValueError, match="unknown piece"):
        _linebuild.write(io.BytesIO().write, 1, (("Z", b""),), 1)


def test_outcome_keys_number_each_distinct_outcome() -> None:
    kind = pa.array(["person", "organisation", "organisation", "person", "organisation"])
    score = pa.array([None, 700, 700, None, -5], pa.int64())
    reclists = pa.array([None, "0,2", None, None, "0,2"])
    keys = w.outcome_keys(kind, score, reclists)
    found = [keys.keys[i][:3] for i in keys.index.to_pylist()]
    assert found == [
        ("person", None, None),
        ("organisation", 700, "0,2"),
        ("organisation", 700, None),
        ("person", None, None),
        ("organisation", -5, "0,2"),
    ]
    counts = {k[:3]: k[3] for k in keys.keys}
    assert counts == {
        ("person", None, None): 2,
        ("organisation", 700, "0,2"): 1,
        ("organisation", 700, None): 1,
        ("organisation", -5, "0,2"): 1,
    }


def test_outcome_keys_number_alike_counted_and_sorted() -> None:
    """Scores 10^7 apart make too many slots to count them in a table: NumPy's sorting
    unique numbers them instead, the same way (keys in order, counts)."""
    kind = pa.array(["organisation", "organisation", "person", "organisation"])
    score = pa.array([10_000_000, -5, None, 10_000_000], pa.int64())
    reclists = pa.array(["1", None, None, "1"], pa.string())
    keys = w.outcome_keys(kind, score, reclists)
    assert [keys.keys[i][:3] for i in keys.index.to_pylist()] == [
        ("organisation", 10_000_000, "1"),
        ("organisation", -5, None),
        ("person", None, None),
        ("organisation", 10_000_000, "1"),
    ]
    assert sorted(k[3] for k in keys.keys) == [1, 1, 2]


@pytest.mark.parametrize("bound", [50, 70_000, 10**9])
def test_dense_unique_is_numpys_unique(bound: int) -> None:
    key = np.random.default_rng(bound).integers(0, bound, 5_000)
    found = w._dense_unique(key, bound)
    expected = np.unique(key, return_inverse=True, return_counts=True)
    for mine, theirs in zip(found, expected, strict=True):
        assert np.array_equal(np.asarray(mine).reshape(-1), np.asarray(theirs).reshape(-1))


def test_outcome_keys_group_scores_too_wide_to_pack() -> None:
    """Scores 2^63 apart do not fit the packed key: grouped as rows, same numbering."""
    kind = pa.array(["organisation", "person", "organisation", "organisation"])
    score = pa.array([-(2**62), None, 2**62, -(2**62)], pa.int64())
    reclists = pa.array([None, None, "1", None], pa.string())
    keys = w.outcome_keys(kind, score, reclists)
    found = [keys.keys[i][:3] for i in keys.index.to_pylist()]
    assert found == [
        ("organisation", -(2**62), None),
        ("person", None, None),
        ("organisation", 2**62, "1"),
        ("organisation", -(2**62), None),
    ]
    assert sorted(k[3] for k in keys.keys) == [1, 1, 2]


def test_rows_are_put_in_subject_byte_order() -> None:
    """Each row gets its subject by number and the rows come in subject byte order; a
    numbered subject with no row (records all beyond the known size) is left out."""
    table = pa.table({"sid": [7, 4, 9, 2], "n": [1, 2, 3, 4]})
    numbering = pa.table(
        {
            "sid": [2, 5, 9, 4, 7],
            "subject": ["ric:10", "ric:11", "uscc:A", "ric:2", "uscc:B"],
        }
    )
    ordered = w.by_subject(table, numbering)
    assert ordered["subject"].to_pylist() == ["ric:10", "ric:2", "uscc:A", "uscc:B"]
    assert ordered["n"].to_pylist() == [4, 2, 3, 1]
    assert ordered["sid"].to_pylist() == [2, 4, 9, 7]
    # Every numbered subject has a row (no known size): the same order and keys.
    every = pa.table({"sid": [7, 4, 9, 2, 5], "n": [1, 2, 3, 4, 5]})
    ordered = w.by_subject(every, numbering)
    assert ordered["subject"].to_pylist() == ["ric:10", "ric:11", "ric:2", "uscc:A", "uscc:B"]
    assert ordered["n"].to_pylist() == [4, 5, 2, 3, 1]


def test_a_row_without_a_number_is_refused() -> None:
    table = pa.table({"sid": [4, 6], "n": [1, 2]})
    numbering = pa.table({"sid": [4, 8], "subject": ["ric:1", "ric:2"]})
    with pytest.raises(LookupError, match="subject number 6"):
        w.by_subject(table, numbering)


def test_a_number_given_twice_is_refused() -> None:
    table = pa.table({"sid": [4, 6], "n": [1, 2]})
    numbering = pa.table({"sid": [4, 6, 4], "subject": ["ric:1", "ric:3", "ric:2"]})
    with pytest.raises(LookupError, match="repeated"):
        w.by_subject(table, numbering)


def test_runs_of_a_few_rows_give_the_same_lines() -> None:
    n = 7
    numbers = pa.array([i * 1000 - 3000 for i in range(n)], pa.int64())
    pieces = [w.literal("{"), w.integer(numbers, "null"), w.literal("}\n")]
    sink = io.BytesIO()
    w.write(sink, n, pieces, rows=3)
    assert (
        sink.getvalue()
        == _lines(n, pieces)
        == b"".join(b"{%d}\n" % (i * 1000 - 3000) for i in range(n))
    )


def test_a_sink_cannot_keep_the_writers_buffer() -> None:
    """Each run is a view of the writer's own buffer, released when `write` returns from
    the sink: a sink that keeps it gets a released view, never stale or freed memory."""
    kept: list[memoryview] = []

    class Keeping:
        def write(self, data: memoryview) -> int:
            kept.append(data)
            return len(data)

    w.write(Keeping(), 4, [w.literal("line\n")], rows=2)  # type: ignore[arg-type]
    assert len(kept) == 2
    for view in kept:
        with pytest.raises(ValueError, match="released"):
            bytes(view)


def test_a_failing_sink_stops_the_writing() -> None:
    class Full:
        def write(self, data: memoryview) -> int:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        w.write(Full(), 4, [w.literal("line\n")], rows=2)  # type: ignore[arg-type]


def _byte_order(texts: list[str]) -> list[int]:
    """Row numbers in byte order of the UTF-8 texts, ties in row order (Python's stable sort)."""
    return sorted(range(len(texts)), key=lambda i: texts[i].encode())


@pytest.mark.skipif(not w.available(), reason="the C line writer is not built")
def test_radix_order_is_byte_order_with_ties_in_row_order() -> None:
    """Texts sharing long prefixes (deeper than the radix goes: 64 bytes), of every length,
    with NUL, high and multi-byte characters, repeated; sliced arrays; a few rows."""
    rng = random.Random(7)
    for trial in range(200):
        n = rng.choice([0, 1, 2, 3, 31, 32, 33, 200, 3000])
        alphabet = rng.choice(["ab", "a\x00\x7f", "0123456789", "éa中", "ÿ\x01"])
        prefix = rng.choice(["", "ric:", "uscc:9111", "p" * 70])
        texts = [
            prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            for _ in range(n)
        ]
        column = pa.array(texts, pa.string())
        if n > 2 and trial % 3 == 0:
            column, texts = column.slice(1, n - 2), texts[1 : n - 1]
        found = w.text_order(column).tolist()
        assert found == _byte_order(texts), (trial, texts[:8])


def test_text_order_with_a_null_takes_arrows_sort() -> None:
    """The radix sort refuses nulls; `text_order` then sorts with Arrow (nulls last)."""
    column = pa.array(["b", None, "a"], pa.string())
    assert w.text_order(column).tolist() == [2, 0, 1]
    if w.available():
        from credence.arrowbuffers import text_buffers
        from credence.engines import _linebuild

        with pytest.raises(ValueError, match="null"):
            _linebuild.sort_order(3, text_buffers(column))
