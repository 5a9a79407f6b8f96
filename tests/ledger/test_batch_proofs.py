"""Batch proofs equal RFC 9162 PATH computed from every leaf, for every split of a log."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from credence.ledger.batch_proofs import BatchProver
from credence.ledger.merkle import CompactRange, inclusion_proof, leaf_hash, root, verify_inclusion


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=1, max_value=70))
def test_every_batch_leaf_proof_is_the_rfc_proof(start: int, count: int) -> None:
    leaves = _leaves(start + count)
    before = CompactRange()
    before.extend(leaf_hash(x) for x in leaves[:start])
    prover = BatchProver(before, [leaf_hash(x) for x in leaves[start:]])
    assert prover.root() == root(leaves)
    for index in range(start, start + count):
        proof = prover.proof(index)
        assert proof == inclusion_proof(leaves, index)
        assert verify_inclusion(leaves[index], index, len(leaves), proof, root(leaves))


def test_a_leaf_before_the_batch_is_refused() -> None:
    before = CompactRange()
    before.extend(leaf_hash(x) for x in _leaves(5))
    prover = BatchProver(before, [leaf_hash(b"x")])
    try:
        prover.proof(2)
    except ValueError as exc:
        assert "not in this batch" in str(exc)
    else:
        raise AssertionError("a leaf before the batch got a proof")


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=1, max_value=70))
def test_the_whole_batch_walk_gives_each_leaf_its_rfc_proof(start: int, count: int) -> None:
    """`proof_texts` (one walk for the batch) against PATH from every leaf, leaf by leaf."""
    leaves = _leaves(start + count)
    before = CompactRange()
    before.extend(leaf_hash(x) for x in leaves[:start])
    prover = BatchProver(before, [leaf_hash(x) for x in leaves[start:]])
    texts = prover.proof_texts(bytes.hex)
    assert len(texts) == count
    for offset, text in enumerate(texts):
        assert text == [h.hex() for h in inclusion_proof(leaves, start + offset)]
