"""The bulk write path: a level-at-a-time frontier and sealed columns give the same ledger."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from credence.core.records import Record
from credence.ingest.arrowcheck import records_table
from credence.ingest.checking import seal_columns
from credence.ledger.leaf import SubjectHasher, record_hash, record_leaf, subject_hash
from credence.ledger.merkle import CompactRange, root_from_hashes
from credence.store.sealing import extended, grafted, subtrees


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
