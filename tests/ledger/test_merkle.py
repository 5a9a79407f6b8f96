"""credence.ledger.merkle against RFC 9162 §2.1, a naive reference, and published vectors.

The module exists so outside auditors get the same tree heads and proofs with
their own code. These tests therefore compare it with a second implementation
written straight from the RFC's recursive definitions (slow, obviously right)
and with the Certificate Transparency test vectors, rather than with itself.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest

from credence.ledger.merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    consistency_ranges,
    empty_root,
    fold_frontier,
    frontier_blocks,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_levels,
    range_blocks,
    root,
    root_from_hashes,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# Naive reference, transcribed from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1.
# It hashes with hashlib directly so it shares no code with the module; the
# RFC's list concatenation `A : B` is written `[*A, B]`.
# ---------------------------------------------------------------------------


def ref_leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 || d0); MTH(D_n) = node(MTH(D[0:k]), ...)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return ref_leaf(d[0])
    k = ref_k(n)
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D_n)."""
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D_n, b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D_n) = SUBPROOF(m, D_n, true); for m == n this is the empty list."""
    return ref_subproof(m, d, True)


# Distinct leaves of varied length, including the empty leaf.
LEAVES: list[bytes] = [b""] + [f"leaf {i} ".encode() * (i % 4) + bytes([i]) for i in range(1, 256)]
assert len(set(LEAVES)) == len(LEAVES)


@cache
def ref_root_of_size(n: int) -> bytes:
    return ref_mth(LEAVES[:n])


def flipped(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def single_bit_mutations(proof: Sequence[bytes]) -> Iterator[list[bytes]]:
    for pos, h in enumerate(proof):
        for bit in range(len(h) * 8):
            mutated = list(proof)
            mutated[pos] = flipped(h, bit)
            yield mutated


def length_mutations(proof: Sequence[bytes], extra: bytes) -> Iterator[list[bytes]]:
    """Each hash removed in turn, and one hash added at each end."""
    for pos in range(len(proof)):
        yield [*proof[:pos], *proof[pos + 1 :]]
    yield [*proof, extra]
    yield [extra, *proof]
    if proof:
        yield [*proof, proof[-1]]
        yield [proof[0], *proof]


SOME_HASH = hashlib.sha256(b"not a node of any tree here").digest()

# Powers of two, their neighbours, and a few odd shapes.
MUTATION_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 15, 16, 17, 31, 32, 33, 63, 64]


# ---------------------------------------------------------------------------
# 1. The hashing rules of RFC 9162 §2.1.1, computed by hand.
# ---------------------------------------------------------------------------


def test_empty_root_is_sha256_of_the_empty_string() -> None:
    expected = hashlib.sha256(b"").digest()
    assert empty_root() == expected
    assert root([]) == expected
    assert root_from_hashes([]) == expected
    assert CompactRange().root() == expected
    assert expected.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_one_leaf_root_is_the_prefixed_leaf_hash() -> None:
    leaf = b"hello"
    expected = hashlib.sha256(b"\x00hello").digest()
    assert leaf_hash(leaf) == expected
    assert root([leaf]) == expected
    assert len(expected) == HASH_SIZE


def test_two_leaf_root_is_the_prefixed_node_hash() -> None:
    h0 = hashlib.sha256(b"\x00" + b"a").digest()
    h1 = hashlib.sha256(b"\x00" + b"b").digest()
    expected = hashlib.sha256(b"\x01" + h0 + h1).digest()
    assert node_hash(h0, h1) == expected
    assert root([b"a", b"b"]) == expected
    assert root_from_hashes([h0, h1]) == expected


def test_three_leaf_root_splits_at_two_not_at_the_midpoint() -> None:
    h = [hashlib.sha256(b"\x00" + x).digest() for x in (b"a", b"b", b"c")]
    expected = hashlib.sha256(
        b"\x01" + hashlib.sha256(b"\x01" + h[0] + h[1]).digest() + h[2]
    ).digest()
    assert root([b"a", b"b", b"c"]) == expected


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # Without the prefixes, a two-leaf root would equal the hash of a 64-byte leaf.
    h0, h1 = leaf_hash(b"a"), leaf_hash(b"b")
    assert root([h0 + h1]) != root([b"a", b"b"])


# ---------------------------------------------------------------------------
# 2. Every size 1..64 against the reference.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_root_and_inclusion_proofs_match_the_reference(n: int) -> None:
    leaves = LEAVES[:n]
    r = root(leaves)
    assert r == ref_root_of_size(n)
    assert root_from_hashes([leaf_hash(x) for x in leaves]) == r
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert proof == ref_path(i, leaves), (n, i)
        assert verify_inclusion(leaves[i], i, n, proof, r), (n, i)
        # Wrong index: every other index of a small tree, the neighbours in a bigger one.
        others = range(n) if n <= 16 else {0, i - 1, i + 1, i ^ 1, i ^ 2, n - 1 - i, n - 1}
        for j in others:
            if j != i and 0 <= j < n:
                assert not verify_inclusion(leaves[i], j, n, proof, r), (n, i, j)
        # Wrong size. Sizes n-1 and n+1 can share the path's shape, which is
        # why a tree head signs its size together with its root; doubling or
        # halving the size changes the shape.
        assert not verify_inclusion(leaves[i], i, 2 * n, proof, r), (n, i)
        assert not verify_inclusion(leaves[i], i, n // 2, proof, r), (n, i)
        # Wrong leaf, and the right leaf's hash passed where the leaf belongs.
        assert not verify_inclusion(LEAVES[n], i, n, proof, r), (n, i)
        assert not verify_inclusion(leaf_hash(leaves[i]), i, n, proof, r), (n, i)
        # Wrong root.
        assert not verify_inclusion(leaves[i], i, n, proof, SOME_HASH), (n, i)


@pytest.mark.parametrize("n", range(1, 65))
def test_consistency_proofs_match_the_reference(n: int) -> None:
    leaves = LEAVES[:n]
    new_root = ref_root_of_size(n)
    for m in range(1, n + 1):
        old_root = ref_root_of_size(m)
        proof = consistency_proof(leaves, m)
        assert proof == ref_proof(m, leaves), (m, n)
        assert verify_consistency(m, n, old_root, new_root, proof), (m, n)
        if m < n:
            assert not verify_consistency(m, n, new_root, old_root, proof), (m, n)
            assert not verify_consistency(n, m, new_root, old_root, proof), (m, n)
            assert not verify_consistency(m, n, old_root, new_root, []), (m, n)
            assert not verify_consistency(m, n, old_root, SOME_HASH, proof), (m, n)
            assert not verify_consistency(m, n, SOME_HASH, new_root, proof), (m, n)


def test_every_proof_verifies_from_the_empty_tree_only_with_an_empty_proof() -> None:
    for n in range(0, 9):
        assert consistency_proof(LEAVES[:n], 0) == []
        assert verify_consistency(0, n, empty_root(), ref_root_of_size(n), [])
        assert not verify_consistency(0, n, empty_root(), ref_root_of_size(n), [empty_root()])
        # A tree of size 0 has exactly one root.
        assert not verify_consistency(0, n, SOME_HASH, ref_root_of_size(n), [])


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    r = ref_root_of_size(5)
    assert consistency_proof(LEAVES[:5], 5) == []
    assert verify_consistency(5, 5, r, r, [])
    assert not verify_consistency(5, 5, r, SOME_HASH, [])
    assert not verify_consistency(5, 5, r, r, [r])
    assert verify_consistency(0, 0, empty_root(), empty_root(), [])
    assert not verify_consistency(0, 0, empty_root(), SOME_HASH, [])
    assert not verify_consistency(0, 0, SOME_HASH, SOME_HASH, [])


# ---------------------------------------------------------------------------
# 3. Every single-bit mutation, and every change of length, is rejected.
# ---------------------------------------------------------------------------


def mutation_indices(n: int) -> list[int]:
    """Every index of a small tree; for bigger ones, the edges of the tree and of its subtrees."""
    if n <= 9:
        return list(range(n))
    k = 1 << ((n - 1).bit_length() - 1)
    picks = {0, 1, 2, k // 2 - 1, k // 2, k - 1, k, k + 1, n // 2, n - 3, n - 2, n - 1}
    return sorted(i for i in picks if 0 <= i < n)


def mutation_old_sizes(n: int) -> list[int]:
    """Every old size for a small tree; for bigger ones, those next to subtree boundaries."""
    if n <= 9:
        return list(range(1, n + 1))
    k = 1 << ((n - 1).bit_length() - 1)
    picks = {1, 2, 3, k // 2, k - 1, k, k + 1, n // 2, n - 2, n - 1, n}
    return sorted(m for m in picks if 1 <= m <= n)


@pytest.mark.parametrize("n", MUTATION_SIZES)
def test_every_mutated_inclusion_proof_is_rejected(n: int) -> None:
    leaves = LEAVES[:n]
    r = ref_root_of_size(n)
    for i in mutation_indices(n):
        proof = inclusion_proof(leaves, i)
        for bad in single_bit_mutations(proof):
            assert not verify_inclusion(leaves[i], i, n, bad, r), (n, i)
        for bad in length_mutations(proof, SOME_HASH):
            assert not verify_inclusion(leaves[i], i, n, bad, r), (n, i, len(bad))
    # The root's bits too, for one leaf per size.
    proof = inclusion_proof(leaves, n - 1)
    for bit in range(HASH_SIZE * 8):
        assert not verify_inclusion(leaves[n - 1], n - 1, n, proof, flipped(r, bit)), n


@pytest.mark.parametrize("n", MUTATION_SIZES)
def test_every_mutated_consistency_proof_is_rejected(n: int) -> None:
    leaves = LEAVES[:n]
    new_root = ref_root_of_size(n)
    old_sizes = mutation_old_sizes(n)
    for m in old_sizes:
        old_root = ref_root_of_size(m)
        proof = consistency_proof(leaves, m)
        for bad in single_bit_mutations(proof):
            assert not verify_consistency(m, n, old_root, new_root, bad), (m, n)
        for bad in length_mutations(proof, SOME_HASH):
            assert not verify_consistency(m, n, old_root, new_root, bad), (m, n, len(bad))
    # Both roots' bits too, for one old size per new size.
    m = old_sizes[len(old_sizes) // 2]
    old_root, proof = ref_root_of_size(m), consistency_proof(leaves, m)
    for bit in range(HASH_SIZE * 8):
        assert not verify_consistency(m, n, flipped(old_root, bit), new_root, proof), (m, n)
        assert not verify_consistency(m, n, old_root, flipped(new_root, bit), proof), (m, n)


# ---------------------------------------------------------------------------
# Malformed input: verifiers say False, producers raise ValueError.
# ---------------------------------------------------------------------------


def _inclusion_case() -> tuple[bytes, int, int, list[bytes], bytes]:
    leaves = LEAVES[:5]
    return leaves[2], 2, 5, inclusion_proof(leaves, 2), ref_root_of_size(5)


def _consistency_case() -> tuple[int, int, bytes, bytes, list[bytes]]:
    return 3, 7, ref_root_of_size(3), ref_root_of_size(7), consistency_proof(LEAVES[:7], 3)


def test_the_malformed_input_fixtures_are_otherwise_valid() -> None:
    assert verify_inclusion(*_inclusion_case())
    assert verify_consistency(*_consistency_case())


Bad = Any  # deliberately ill-typed arguments, as an untrusted caller might send


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda a: (a[0], a[2], a[2], a[3], a[4]), id="index-equals-size"),
        pytest.param(lambda a: (a[0], 7, a[2], a[3], a[4]), id="index-beyond-size"),
        pytest.param(lambda a: (a[0], -1, a[2], a[3], a[4]), id="negative-index"),
        pytest.param(lambda a: (a[0], a[1], 0, a[3], a[4]), id="size-zero"),
        pytest.param(lambda a: (a[0], a[1], -5, a[3], a[4]), id="negative-size"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], a[4][:31]), id="short-root"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], a[4] + b"\0"), id="long-root"),
        pytest.param(lambda a: (a[0], a[1], a[2], [a[3][0][:31], *a[3][1:]], a[4]), id="short"),
        pytest.param(lambda a: (a[0], a[1], a[2], [*a[3][:-1], a[3][-1] + b"!"], a[4]), id="long"),
        pytest.param(lambda a: (a[0], a[1], a[2], [], a[4]), id="empty-proof"),
        pytest.param(lambda a: (a[0], a[1], a[2], [*a[3], b""], a[4]), id="empty-hash"),
        pytest.param(lambda a: (a[0], a[1], a[2], None, a[4]), id="proof-none"),
        pytest.param(lambda a: (a[0], a[1], a[2], b"".join(a[3]), a[4]), id="proof-bytes"),
        pytest.param(lambda a: (a[0], a[1], a[2], [h.hex() for h in a[3]], a[4]), id="hex-strs"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], None), id="root-none"),
        pytest.param(lambda a: (None, a[1], a[2], a[3], a[4]), id="leaf-none"),
        pytest.param(lambda a: (a[0], "2", a[2], a[3], a[4]), id="index-str"),
        pytest.param(lambda a: (a[0], 2.0, a[2], a[3], a[4]), id="index-float"),
    ],
)
def test_verify_inclusion_returns_false_for_malformed_input(mutate: Callable[..., Bad]) -> None:
    assert verify_inclusion(*mutate(_inclusion_case())) is False


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda a: (a[1], a[0], a[3], a[2], a[4]), id="old-size-above-new"),
        pytest.param(lambda a: (-1, a[1], a[2], a[3], a[4]), id="negative-old-size"),
        pytest.param(lambda a: (a[0], -7, a[2], a[3], a[4]), id="negative-new-size"),
        pytest.param(lambda a: (a[0], a[1], a[2][:31], a[3], a[4]), id="short-old-root"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3] + b"\0", a[4]), id="long-new-root"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], [a[4][0][:31], *a[4][1:]]), id="short"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], [*a[4], b""]), id="empty-hash"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], []), id="empty-proof"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], None), id="proof-none"),
        pytest.param(lambda a: (a[0], a[1], a[2], a[3], [h.hex() for h in a[4]]), id="hex-strs"),
        pytest.param(lambda a: (a[0], a[1], None, a[3], a[4]), id="old-root-none"),
        pytest.param(lambda a: (str(a[0]), a[1], a[2], a[3], a[4]), id="old-size-str"),
        pytest.param(lambda a: (0, a[1], a[2][:31], a[3], []), id="from-zero-short-root"),
        pytest.param(lambda a: (a[1], a[1], a[3], a[3] + b"\0", []), id="same-size-long-root"),
    ],
)
def test_verify_consistency_returns_false_for_malformed_input(mutate: Callable[..., Bad]) -> None:
    assert verify_consistency(*mutate(_consistency_case())) is False


def test_verifiers_enforce_the_rfc_size_checks_even_when_the_hashes_line_up() -> None:
    # Arbitrary hashes arranged so that the hash chain alone would pass; only
    # the RFC's checks on index and sizes can reject these. Each has a valid
    # twin first, to show that the hashes really do line up.
    p, c1, c2, c3 = (hashlib.sha256(bytes([i])).digest() for i in range(4))
    leaf = b"the only leaf"
    lh = leaf_hash(leaf)
    # §2.1.3.2 step 1: leaf_index >= tree_size.
    assert verify_inclusion(leaf, 0, 1, [], lh)
    assert not verify_inclusion(leaf, 1, 1, [], lh)
    # §2.1.3.2 step 4a: a path longer than the tree is tall.
    assert verify_inclusion(leaf, 0, 2, [c1], node_hash(lh, c1))
    assert not verify_inclusion(leaf, 0, 1, [c1], node_hash(c1, lh))
    # §2.1.4.2 step 6a: a consistency path longer than the tree is tall.
    old, new = node_hash(c2, p), node_hash(c2, node_hash(p, c1))
    assert verify_consistency(3, 4, old, new, [p, c1, c2])
    old, new = node_hash(c3, old), node_hash(c3, new)
    assert not verify_consistency(3, 4, old, new, [p, c1, c2, c3])
    # §2.1.4.2 step 7: sn must reach 0, so a path for (1, 2) is not one for (1, 3).
    assert verify_consistency(1, 2, p, node_hash(p, c1), [c1])
    assert not verify_consistency(1, 3, p, node_hash(p, c1), [c1])
    # old_size > new_size.
    assert not verify_consistency(3, 2, p, node_hash(p, c1), [p, c1])


def test_producers_raise_clear_errors_for_out_of_range_arguments() -> None:
    leaves = LEAVES[:5]
    with pytest.raises(ValueError, match="index 5 is out of range for a tree of 5 leaves"):
        inclusion_proof(leaves, 5)
    with pytest.raises(ValueError, match="index -1 is out of range"):
        inclusion_proof(leaves, -1)
    with pytest.raises(ValueError, match="index 0 is out of range for a tree of 0 leaves"):
        inclusion_proof([], 0)
    with pytest.raises(ValueError, match="old_size 6 is out of range for a tree of 5 leaves"):
        consistency_proof(leaves, 6)
    with pytest.raises(ValueError, match="old_size -1 is out of range"):
        consistency_proof(leaves, -1)
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_hashes([leaf_hash(b"a"), b"short"])


def test_verifiers_accept_bytes_like_input() -> None:
    # Outside the declared types, but what a caller parsing a file may well hold.
    leaf, index, size, proof, r = _inclusion_case()
    mutable_leaf: Bad = bytearray(leaf)
    mutable_proof: Bad = tuple(bytearray(p) for p in proof)
    leaf_view: Bad = memoryview(leaf)
    mutable_root: Bad = bytearray(r)
    assert verify_inclusion(mutable_leaf, index, size, mutable_proof, r)
    assert verify_inclusion(leaf_view, index, size, proof, mutable_root)


# ---------------------------------------------------------------------------
# 4. CompactRange.
# ---------------------------------------------------------------------------

COMPACT_MAX = 200
LEAF_HASHES = [ref_leaf(x) for x in LEAVES[:COMPACT_MAX]]


@cache
def compact_roots() -> tuple[bytes, ...]:
    """Roots of CompactRange after 0..COMPACT_MAX appends, without restoring."""
    cr = CompactRange()
    roots = [cr.root()]
    for h in LEAF_HASHES:
        cr.append(h)
        roots.append(cr.root())
    return tuple(roots)


def test_compact_range_root_equals_root_for_every_size() -> None:
    roots = compact_roots()
    for n in range(COMPACT_MAX + 1):
        assert roots[n] == root(LEAVES[:n]), n
    for n in range(65):
        assert roots[n] == ref_root_of_size(n), n


def test_compact_range_state_is_the_right_edge_of_perfect_subtrees() -> None:
    cr = CompactRange()
    for n in range(1, COMPACT_MAX + 1):
        cr.append(LEAF_HASHES[n - 1])
        assert cr.size == n
        # One perfect subtree per set bit of n, largest first.
        expected: list[bytes] = []
        start = 0
        for bit in reversed(range(n.bit_length())):
            if n >> bit & 1:
                expected.append(ref_mth(LEAVES[start : start + (1 << bit)]))
                start += 1 << bit
        assert cr.hashes == tuple(expected), n


def test_restored_compact_range_continues_like_the_original() -> None:
    roots = compact_roots()
    live = CompactRange()
    for split in range(COMPACT_MAX + 1):
        restored = CompactRange(live.size, live.hashes)
        assert restored.size == split
        assert restored.root() == roots[split]
        for n in range(split, COMPACT_MAX):
            restored.append(LEAF_HASHES[n])
            assert restored.root() == roots[n + 1], (split, n + 1)
        if split < COMPACT_MAX:
            live.append(LEAF_HASHES[split])


def test_compact_range_extend_equals_repeated_append() -> None:
    a, b = CompactRange(), CompactRange()
    a.extend(LEAF_HASHES[:77])
    for h in LEAF_HASHES[:77]:
        b.append(h)
    assert (a.size, a.hashes, a.root()) == (b.size, b.hashes, b.root())
    a.extend(iter(LEAF_HASHES[77:100]))
    assert a.root() == root(LEAVES[:100])


def test_compact_range_hashes_are_an_immutable_snapshot() -> None:
    cr = CompactRange()
    cr.extend(LEAF_HASHES[:3])
    before = cr.hashes
    cr.append(LEAF_HASHES[3])
    assert len(before) == 2
    assert len(cr.hashes) == 1


def test_compact_range_refuses_state_that_cannot_exist() -> None:
    h = LEAF_HASHES[0]
    with pytest.raises(ValueError, match="size 3 has 2 hashes, got 1"):
        CompactRange(3, [h])
    with pytest.raises(ValueError, match="size 0 has 0 hashes, got 1"):
        CompactRange(0, [h])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange(1, [h[:31]])
    with pytest.raises(ValueError, match="non-negative"):
        CompactRange(-1, [])
    cr = CompactRange()
    with pytest.raises(ValueError, match="32 bytes"):
        cr.append(b"raw leaf, not a hash")
    assert cr.size == 0


# ---------------------------------------------------------------------------
# 5. Published known-answer vectors.
#
# Leaves, node hashes and roots are copied from transparency-dev/merkle
# (testonly/constants.go), the inclusion and consistency proofs from its
# proof/verify_test.go; these are the RFC 6962 vectors that Certificate
# Transparency Go and the C++ merkle_tree_test.cc also use. None of the hex
# below was computed here: the tests check that the module and the naive
# reference both reproduce it.
# ---------------------------------------------------------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

# Root for tree sizes 0..8.
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

# Perfect-subtree hashes by level (0 = leaves) and position within the level.
CT_NODES = [
    [
        bytes.fromhex(h)
        for h in (
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        )
    ],
    [
        bytes.fromhex(h)
        for h in (
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        )
    ],
    [
        bytes.fromhex(h)
        for h in (
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        )
    ],
    [bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# (leaf index, tree size, proof). verify_test.go numbers leaves from 1; these are from 0.
CT_INCLUSION = [
    (0, 1, []),
    (0, 8, [CT_NODES[0][1], CT_NODES[1][1], CT_NODES[2][1]]),
    (5, 8, [CT_NODES[0][4], CT_NODES[1][3], CT_NODES[2][0]]),
    (2, 3, [CT_NODES[1][0]]),
    (1, 5, [CT_NODES[0][0], CT_NODES[1][1], CT_NODES[0][4]]),
]

# (old size, new size, proof).
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [CT_NODES[0][1], CT_NODES[1][1], CT_NODES[2][1]]),
    (6, 8, [CT_NODES[1][2], CT_NODES[1][3], CT_NODES[2][0]]),
    (2, 5, [CT_NODES[1][1], CT_NODES[0][4]]),
    (6, 7, [CT_NODES[1][2], CT_NODES[0][6], CT_NODES[2][0]]),
]


def test_published_inclusion_vectors_are_the_ones_in_verify_test_go() -> None:
    # The proofs above are written as node references; spell out the hex that
    # verify_test.go lists, so a typo in the references cannot hide.
    assert [h.hex()[:8] for h in CT_INCLUSION[1][2]] == ["96a296d2", "5f083f0a", "6b47aaf2"]
    assert [h.hex()[:8] for h in CT_INCLUSION[2][2]] == ["bc1a0643", "ca854ea1", "d37ee418"]
    assert [h.hex()[:8] for h in CT_INCLUSION[4][2]] == ["6e340b9c", "5f083f0a", "bc1a0643"]
    assert [h.hex()[:8] for h in CT_CONSISTENCY[2][2]] == ["0ebc5d34", "ca854ea1", "d37ee418"]
    assert [h.hex()[:8] for h in CT_CONSISTENCY[4][2]] == ["0ebc5d34", "b08693ec", "d37ee418"]


def test_published_roots() -> None:
    for n, expected in enumerate(CT_ROOTS):
        assert root(CT_LEAVES[:n]) == expected, n
        assert ref_mth(CT_LEAVES[:n]) == expected, n
    assert CT_ROOTS[8].hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def test_published_node_hashes() -> None:
    for level, nodes in enumerate(CT_NODES):
        width = 1 << level
        for pos, expected in enumerate(nodes):
            assert root(CT_LEAVES[pos * width : (pos + 1) * width]) == expected, (level, pos)


def test_published_compact_range_states() -> None:
    # testonly/constants.go CompactTrees(): the state after each of 0..8 appends.
    nh = CT_NODES
    expected = [
        (),
        (nh[0][0],),
        (nh[1][0],),
        (nh[1][0], nh[0][2]),
        (nh[2][0],),
        (nh[2][0], nh[0][4]),
        (nh[2][0], nh[1][2]),
        (nh[2][0], nh[1][2], nh[0][6]),
        (nh[3][0],),
    ]
    cr = CompactRange()
    assert cr.hashes == expected[0]
    for n, leaf in enumerate(CT_LEAVES, start=1):
        cr.append(leaf_hash(leaf))
        assert cr.hashes == expected[n], n
        assert cr.root() == CT_ROOTS[n], n


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    leaves = CT_LEAVES[:size]
    assert inclusion_proof(leaves, index) == proof
    assert ref_path(index, leaves) == proof
    assert verify_inclusion(leaves[index], index, size, proof, CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    leaves = CT_LEAVES[:new]
    assert consistency_proof(leaves, old) == proof
    assert ref_proof(old, leaves) == proof
    assert verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], proof)


# ---------------------------------------------------------------------------
# Large trees: iterative, so the stack stays O(log n).
# ---------------------------------------------------------------------------


@contextmanager
def shallow_stack(frames: int) -> Iterator[None]:
    """Allow only `frames` more Python frames than the caller is already using."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_large_trees_need_no_deep_recursion() -> None:
    n = (1 << 15) + 3
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    cr = CompactRange()
    cr.extend(leaf_hash(x) for x in leaves)
    with shallow_stack(40):
        r = root(leaves)
        incl = inclusion_proof(leaves, n - 2)
        cons = consistency_proof(leaves, (1 << 14) + 5)
    assert r == cr.root()
    assert verify_inclusion(leaves[n - 2], n - 2, n, incl, r)
    old_root = root(leaves[: (1 << 14) + 5])
    assert verify_consistency((1 << 14) + 5, n, old_root, r, cons)


@pytest.mark.slow
def test_a_million_leaves() -> None:
    n = 1_000_000
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    cr = CompactRange()
    cr.extend(leaf_hash(x) for x in leaves)
    r = root(leaves)
    assert r == cr.root()
    proof = inclusion_proof(leaves, 765_432)
    assert verify_inclusion(leaves[765_432], 765_432, n, proof, r)
    cons = consistency_proof(leaves, 999_999)
    assert verify_consistency(999_999, n, root(leaves[:999_999]), r, cons)


# ---------------------------------------------------------------------------
# Roots from perfect subtrees (verify computes them per chunk, in workers).
# ---------------------------------------------------------------------------


def _subtrees_of(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect aligned subtree (start, width) of the leaves, from perfect_levels."""
    levels = perfect_levels([ref_leaf(x) for x in leaves])
    return {(i << k, 1 << k): h for k, level in enumerate(levels) for i, h in enumerate(level)}


@pytest.mark.parametrize("n", range(1, 65))
def test_the_fold_of_a_sizes_perfect_subtrees_is_its_root(n: int) -> None:
    nodes = _subtrees_of(LEAVES[:n])
    blocks = frontier_blocks(n)
    assert sum(w for _, w in blocks) == n and [w for _, w in blocks] == sorted(
        (w for _, w in blocks), reverse=True
    )
    for m in range(1, n + 1):
        assert fold_frontier([nodes[b] for b in frontier_blocks(m)]) == ref_mth(LEAVES[:m]), m


@pytest.mark.parametrize("n", range(2, 65))
def test_consistency_proof_nodes_fold_from_perfect_subtrees(n: int) -> None:
    nodes = _subtrees_of(LEAVES[:n])
    for m in range(1, n):
        folded = [
            fold_frontier([nodes[b] for b in range_blocks(lo, hi)])
            for lo, hi in consistency_ranges(m, n)
        ]
        assert folded == ref_proof(m, LEAVES[:n]), (m, n)


def test_perfect_levels_leave_out_an_unpaired_last_node() -> None:
    hashes = [ref_leaf(x) for x in LEAVES[:5]]
    levels = perfect_levels(hashes)
    assert [len(level) for level in levels] == [5, 2, 1]
    assert levels[2][0] == ref_mth(LEAVES[:4])


def test_range_blocks_refuse_a_range_that_is_no_node() -> None:
    assert range_blocks(4, 8) == [(4, 4)]
    assert range_blocks(8, 14) == [(8, 4), (12, 2)]
    assert fold_frontier([]) == empty_root() and frontier_blocks(0) == []
    for lo, hi in [(2, 6), (3, 5), (5, 5), (6, 4)]:
        with pytest.raises(ValueError):
            range_blocks(lo, hi)
