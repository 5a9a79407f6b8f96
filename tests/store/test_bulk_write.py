"""The bulk write path: a level-at-a-time frontier and sealed columns give the same ledger."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import pyarrow as pa
import pytest
import rfc8785
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from credence.core.records import Record
from credence.ingest.arrowcheck import records_table
from credence.ingest.checking import seal_columns
from credence.ledger import leafhash
from credence.ledger.leaf import (
    SubjectHasher,
    leaf_hash_column,
    record_hash,
    record_leaf,
    seal_hashes,
    subject_hash,
)
from credence.ledger.merkle import CompactRange, root_from_hashes
from credence.store.sealing import extended, grafted, python_subtrees, subtrees

needs_c = pytest.mark.skipif(leafhash.compiled is None, reason="the C extension is not built")


@given(st.integers(0, 600), st.integers(0, 600))
def test_extended_frontier_equals_appending_one_by_one(before: int, added: int) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(before + added)]
    start = CompactRange()
    start.extend(leaves[:before])
    grown = extended(CompactRange(start.size, start.hashes), leaves[before:])
    assert grown.size == before + added
    assert grown.root() == root_from_hashes(leaves)
    one_by_one = CompactRange(start.size, start.hashes)
    one_by_one.extend(leaves[before:])
    assert grown.hashes == one_by_one.hashes


@given(st.integers(0, 600), st.integers(0, 600))
def test_a_batch_grafted_as_its_subtrees_equals_appending_one_by_one(
    before: int, added: int
) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(before + added)]
    start = CompactRange()
    start.extend(leaves[:before])
    cover = subtrees(before, leaves[before:])
    assert sum(1 << height for height, _ in cover) == added
    grown = grafted(CompactRange(start.size, start.hashes), cover)
    one_by_one = CompactRange(start.size, start.hashes)
    one_by_one.extend(leaves[before:])
    assert (grown.size, grown.hashes) == (one_by_one.size, one_by_one.hashes)
    assert grown.root() == root_from_hashes(leaves)


def test_subtrees_hashed_for_another_start_are_refused_when_they_do_not_fit() -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(8)]
    with pytest.raises(ValueError, match="does not start at 3"):
        grafted(_range(leaves[:3]), subtrees(4, leaves[4:]))


def _tree_hash(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH of 1 or more leaf hashes, by its recursive definition (hashlib only)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + _tree_hash(leaves[:k]) + _tree_hash(leaves[k:])).digest()


def _expected_cover(start: int, leaves: list[bytes]) -> list[tuple[int, bytes]]:
    """Leaves [start, start + n) cut left to right into the largest aligned perfect subtrees
    that fit (the unique such cover), each with its MTH."""
    cover, lo, end = [], start, start + len(leaves)
    while lo < end:
        height = 0
        while lo % (2 << height) == 0 and lo + (2 << height) <= end:
            height += 1
        cover.append((height, _tree_hash(leaves[lo - start : lo - start + (1 << height)])))
        lo += 1 << height
    return cover


SUBTREE_CASES = [
    (start, n)
    for start in (0, 1, 2, 3, 5, 6, 7, 8, 9, 1023, 1024, 1025, 2**40 - 1, 2**62 + 6)
    for n in (0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 1000, 1023, 1024, 1025)
] + [(10, 50_000), (49_999, 50_001), (2**20, 2**16)]


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_subtrees_are_the_rfc9162_subtrees_covering_the_batch(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "compiled" and getattr(leafhash.compiled, "subtrees", None) is None:
        pytest.skip("the C extension is not built")
    if path == "python":
        monkeypatch.setattr(leafhash, "compiled", None)
    pool = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2**17)]
    for start, n in SUBTREE_CASES:
        leaves = pool[:n]
        cover = subtrees(start, leaves)
        assert cover == python_subtrees(start, leaves), (start, n)
        if n <= 1025 or start == 10:  # the recursive reference is slow on the largest
            assert cover == _expected_cover(start, leaves), (start, n)
        else:
            assert sum(1 << height for height, _ in cover) == n


@needs_c
def test_compiled_subtrees_decline_what_only_the_python_takes() -> None:
    compiled = leafhash.compiled
    assert compiled is not None
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    short = [b"ab", b"cd", b"ef"]  # not 32 bytes: declined, and the Python hashes them
    assert compiled.subtrees(3, short) is None
    assert subtrees(3, short) == python_subtrees(3, short)
    assert subtrees(3, short)[1] == (1, hashlib.sha256(b"\x01cdef").digest())
    assert compiled.subtrees(3, [*leaves[:2], bytearray(leaves[2])]) is None
    assert compiled.subtrees(-1, leaves) is None
    assert compiled.subtrees(2**63, leaves) is None
    assert subtrees(2**64 + 3, leaves) == python_subtrees(2**64 + 3, leaves)
    assert compiled.subtrees(2**63 - 2, leaves) == python_subtrees(2**63 - 2, leaves)
    with pytest.raises(TypeError):
        compiled.subtrees(0, 5)


def _range(leaf_hashes: list[bytes]) -> CompactRange:
    compact = CompactRange()
    compact.extend(leaf_hashes)
    return compact


RECORDS = [
    Record("court", 'R-"1\\', "judicial.x", "ric:11010519491231002X", "2024-01-01", None,
           '{"amount":1.5,"case_number":"京1"}', None),
    Record("court", "R-2", "judicial.x", "uscc:91350100M000100Y43", "2024-01-01", "2024-02-01",
           None, 'R-"1\\'),
    Record("court", "R-3", "judicial.x", "ric:11010519491231002X", "2024-01-03", None, None, None),
]  # fmt: skip


def test_sealed_columns_hold_the_leaf_bytes_of_leaf_py() -> None:
    key = os.urandom(32)
    table = seal_columns("court", SubjectHasher(key), 41, records_table(list(enumerate(RECORDS))))
    salts = table["salt"].to_pylist()
    for i, rec in enumerate(RECORDS):
        # The record hash commits to the RFC 8785 form of the record (rfc8785 package).
        content = rfc8785.dumps(rec.to_dict())
        assert content == rec.content()
        expected_hash = record_hash(salts[i], content)
        assert table["record_hash"][i].as_py() == expected_hash
        assert table["subject_hash"][i].as_py() == subject_hash(key, rec.subject)
        leaf = record_leaf(41 + i, rec, expected_hash, subject_hash(key, rec.subject))
        assert table["leaf_hash"][i].as_py() == hashlib.sha256(b"\x00" + leaf).digest()
    assert len(set(salts)) == len(RECORDS) and all(len(s) == 16 for s in salts)
    assert table["row"].to_pylist() == [0, 1, 2]
    assert table.schema.field("salt").type == pa.binary()


# Plain values (nothing to escape): ingest's worker seals them with the compiled extension
# when it is built (`leafhash.sealed_leaf_hashes`), else with the Arrow path. Either way
# the leaf must be the RFC 8785 bytes of leaf.py's layout, built here independently.
PLAIN = [
    Record("court", "R-10", "judicial.x", "ric:11010519491231002X", "2024-01-01", None,
           '{"amount":1.5,"case_number":"京1","note":"a \\" quote"}', None),
    Record("court", "R-11", "judicial.x", "uscc:91350100M000100Y43", "2024-01-01",
           "2024-02-01", None, "R-10"),
    Record("court", "R-12", "judicial.y", "ric:11010519491231002X", "2023-12-31", None,
           None, None),
]  # fmt: skip


def _expected_leaf(seq: int, rec: Record, salt: bytes, key: bytes) -> bytes:
    content = rfc8785.dumps(rec.to_dict())
    leaf = {
        "decided_on": rec.decided_on,
        "item": rec.item,
        "kind": "record",
        "occurred_on": rec.occurred_on,
        "record_hash": hashlib.sha256(salt + content).hexdigest(),
        "seq": seq,
        "source": rec.source,
        "subject_hash": hmac.new(key, rec.subject.encode(), hashlib.sha256).hexdigest(),
        "v": 1,
    }
    return hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()


@pytest.mark.parametrize("path", ["compiled", "arrow"])
@pytest.mark.parametrize("records", [PLAIN, PLAIN + RECORDS], ids=["plain", "escaped"])
def test_sealed_leaves_are_rfc8785_leaves_on_either_path(
    path: str, records: list[Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "compiled" and leafhash.compiled is None:
        pytest.skip("the C extension is not built")
    if path == "arrow":
        monkeypatch.setattr(leafhash, "compiled", None)
    key = os.urandom(32)
    table = seal_columns("court", SubjectHasher(key), 7, records_table(list(enumerate(records))))
    # the compiled path seals plain values only, and leaves these two columns out
    compiled_path = path == "compiled" and records is PLAIN
    assert ("record_hash" in table.column_names) is not compiled_path
    salts = table["salt"].to_pylist()
    got = table["leaf_hash"].to_pylist()
    assert got == [_expected_leaf(7 + i, r, salts[i], key) for i, r in enumerate(records)]
    # The writer's record-by-record path and a re-seal at other seqs read these columns.
    full = seal_hashes("court", SubjectHasher(key), table)
    for i, rec in enumerate(records):
        assert full["record_hash"][i].as_py() == record_hash(salts[i], rfc8785.dumps(rec.to_dict()))
    assert leaf_hash_column("court", 9, full) == [
        _expected_leaf(9 + i, r, salts[i], key) for i, r in enumerate(records)
    ]


def _court_records(start: int, n: int) -> list[Record]:
    subjects = ["ric:11010519491231002X", "uscc:91350100M000100Y43"]
    return [
        Record("court", f"B-{start + i}", "judicial.defaulter-listed", subjects[i % 2],
               "2024-01-01", "2024-02-01" if i % 3 else None, '{"case_number":"(2024)京0105执1号"}',
               None)
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("guess", [0, 3], ids=["seqs-as-guessed", "another-write-first"])
def test_a_bulk_batch_is_stored_with_the_leaves_of_its_real_seqs(
    store: str, guess: int, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """The bulk path on each store (PostgreSQL: the COPY built from the columns): the
    rows read back hold the leaves built here for the seqs they got, also when the worker
    guessed other seqs (a write landed first), and the ledger verifies."""
    from credence.settings import Settings
    from credence.store.registry import Registry
    from credence.store.schema import records
    from credence.store.verify import verify_registry

    url = request.getfixturevalue("pg_url") if store == "postgresql" else ""
    registry, _ = Registry.init(Settings(data_dir=tmp_path / "data", db_url=url))
    try:
        registry.add_source("court", ["judicial.*"])
        appender = registry.start_run(registry.source("court"), "batch.parquet")
        key = registry.subject_key()
        size = registry.ledger_size()
        batch = _court_records(0, 40)
        table = seal_columns("court", SubjectHasher(key), size + guess,
                             records_table(list(enumerate(batch))))  # fmt: skip
        outcome = appender.append_columns("court", table, size + guess)
        assert (outcome.accepted, outcome.tree_size) == (40, size + 40)
        with registry.engine.connect() as conn:
            stored = conn.execute(
                sa.select(records.c.seq, records.c.reference, records.c.salt,
                          records.c.leaf_hash, records.c.attributes, records.c.corrects_seq)
                .order_by(records.c.seq)
            ).all()  # fmt: skip
        assert [r.reference for r in stored] == [rec.reference for rec in batch]
        assert [r.seq for r in stored] == list(range(size, size + 40))
        assert [r.attributes for r in stored] == [rec.attributes_json for rec in batch]
        assert {r.corrects_seq for r in stored} == {None}
        for r, rec in zip(stored, batch, strict=True):
            assert bytes(r.leaf_hash) == _expected_leaf(r.seq, rec, bytes(r.salt), key)
        assert verify_registry(registry).ok
    finally:
        registry.close()
