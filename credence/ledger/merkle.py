"""RFC 9162 Merkle tree math over raw leaf bytes, small enough to audit by eye.

The ledger's promise is that anyone can check it without trusting us: an
auditor takes the published leaves, recomputes tree heads, inclusion proofs
and consistency proofs with their own code, and compares. That only works if
our tree is exactly the standard one, so this module implements RFC 9162
§2.1 (Certificate Transparency v2; the tree is the same as RFC 6962 §2.1)
and nothing else: SHA-256, leaf prefix 0x00, interior prefix 0x01, the split
at the largest power of two smaller than n, and the RFC's own verification
algorithms (§2.1.3.2, §2.1.4.2) step by step. It depends on hashlib only, so
it can be copied out of the project and run beside another implementation.

Names follow the RFC: MTH is `root`, PATH is `inclusion_proof`, PROOF is
`consistency_proof`. The producers build the same trees as the RFC's
recursive definitions but walk them iteratively, so a log of millions of
entries needs O(log n) stack, not O(n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from credence.ledger import leafhash

__all__ = [
    "HASH_SIZE",
    "CompactRange",
    "RangeRoots",
    "consistency_proof",
    "consistency_ranges",
    "empty_root",
    "fold_frontier",
    "frontier_blocks",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_levels",
    "range_blocks",
    "root",
    "root_from_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """Hash a leaf with the 0x00 prefix, so a leaf can never pass for a node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children with the 0x01 prefix, the other half of second-preimage resistance."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """The tree head of a log with no entries, which RFC 9162 §2.1.1 fixes as SHA-256("")."""
    return _EMPTY_ROOT


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw leaves: the value an auditor recomputes from the published entries."""
    return _root_of_hashes(_leaf_hashes(leaves))


def root_from_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) when the leaves are already hashed, as the store keeps them.

    Pairing level by level and carrying an odd last node up unchanged builds
    exactly the RFC tree (left subtree = largest power of two smaller than n),
    without recursion.

    Raises ValueError if a hash is not HASH_SIZE bytes, because a truncated
    hash would silently give a root nobody else can reproduce.
    """
    level = list(leaf_hashes)
    for h in level:
        if not _is_hash(h):
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes, got {_describe(h)}")
    return _root_of_hashes(level)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf-side sibling first, as the RFC orders it.

    Raises ValueError unless 0 <= index < len(leaves): there is nothing to
    prove about a leaf that is not in the tree.
    """
    hashes = _leaf_hashes(leaves)
    return [_root_of_hashes(hashes[lo:hi]) for lo, hi in inclusion_ranges(index, len(leaves))]


def inclusion_ranges(index: int, n: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose roots make PATH(index, D[n]), in proof order.

    The ranges are disjoint, so a proof can be built in one streaming pass
    over the leaf hashes (see `RangeRoots`) instead of holding the log.
    """
    if not 0 <= index < n:
        raise ValueError(f"inclusion proof index {index} is out of range for a tree of {n} leaves")
    # Walk down from the root; each step's sibling subtree is appended by
    # PATH *after* the deeper part of the path, so the list is reversed.
    siblings: list[tuple[int, int]] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo, m = lo + k, m - k
    siblings.reverse()
    return siblings


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1, in the RFC's order.

    The RFC defines PROOF only for 0 < m < n. We also answer m == n and
    m == 0 with the empty proof, because both are trivially consistent and
    `verify_consistency` accepts exactly the empty proof for them; callers
    then need no special case when a log has not grown. Raises ValueError
    unless 0 <= old_size <= len(leaves): a log cannot be consistent with a
    bigger version of itself.
    """
    ranges = consistency_ranges(old_size, len(leaves))
    hashes = _leaf_hashes(leaves) if ranges else []
    return [_root_of_hashes(hashes[lo:hi]) for lo, hi in ranges]


def consistency_ranges(old_size: int, n: int) -> list[tuple[int, int]]:
    """The disjoint leaf ranges [lo, hi) whose roots make PROOF(old_size, D[n]), in order."""
    if not 0 <= old_size <= n:
        raise ValueError(
            f"consistency proof old_size {old_size} is out of range for a tree of {n} leaves"
        )
    if old_size in (0, n):
        return []
    # SUBPROOF(m, D, b) appends its sibling after the recursive part, so the
    # descent collects siblings outermost first and the result is reversed.
    suffix: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, n, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            suffix.append((lo + k, hi))
            hi = lo + k
        else:
            suffix.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    proof = [] if whole else [(lo, hi)]
    proof.extend(reversed(suffix))
    return proof


class RangeRoots:
    """Roots of given disjoint leaf ranges, gathered in one pass over the leaf hashes.

    Feed every leaf hash in order with `add`; `roots()` then answers in the
    ranges' order. Memory is O(log n) per range, whatever the log's size.
    """

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self._ranges = list(ranges)
        self._order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
        self._ranges_by_start = [ranges[i] for i in self._order]
        self._trees = [CompactRange() for _ in ranges]
        self._cursor = 0

    def add(self, index: int, leaf_hash: bytes) -> None:
        while self._cursor < len(self._order) and self._ranges_by_start[self._cursor][1] <= index:
            self._cursor += 1
        if self._cursor < len(self._order):
            lo, hi = self._ranges_by_start[self._cursor]
            if lo <= index < hi:
                self._trees[self._cursor].append(leaf_hash)

    def roots(self) -> list[bytes]:
        by_start = [tree.root() for tree in self._trees]
        found = [b""] * len(self._ranges)
        for position, original in enumerate(self._order):
            lo, hi = self._ranges[original]
            if self._trees[position].size != hi - lo:
                raise ValueError(f"leaves {lo}..{hi - 1} were not all seen")
            found[original] = by_start[position]
        return found


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check PATH with the algorithm of RFC 9162 §2.1.3.2, step for step.

    It returns False rather than raising on malformed input (negative or
    out-of-range index, hashes that are not HASH_SIZE bytes, a proof of the
    wrong length), because a verifier fed by untrusted parties must have
    exactly two answers.
    """
    if not isinstance(leaf, bytes | bytearray | memoryview):
        return False
    if not (_is_count(index) and _is_count(size) and _is_hash(root) and _is_proof(proof)):
        return False
    # 1. leaf_index >= tree_size fails.
    if index >= size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    # 4. For each p in inclusion_path:
    for p in proof:
        # 4a. sn == 0 means the proof is too long.
        if sn == 0:
            return False
        # 4b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c.
        fn >>= 1
        sn >>= 1
    # 5. sn == 0 (the proof was not too short) and r == root_hash.
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check PROOF with the algorithm of RFC 9162 §2.1.4.2, step for step.

    Edge cases the RFC leaves to the caller, decided here so that every
    verifier of this ledger agrees:

    - old_size == new_size: True only for an empty proof and equal roots.
    - old_size == 0: the RFC does not define a proof from the empty tree.
      Every log extends the empty log, so we return True only for an empty
      proof, and only if old_root is empty_root(), the one root a tree of
      size 0 can have.
    - old_size > new_size, negative sizes, hashes that are not HASH_SIZE
      bytes, a proof of the wrong length: False, never an exception.
    """
    if not (_is_count(old_size) and _is_count(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _is_proof(proof)):
        return False
    if old_size > new_size:
        return False
    if old_size == 0 and old_root != _EMPTY_ROOT:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0
    # 1. An empty consistency_path fails.
    if len(proof) == 0:
        return False
    # 2. If first is an exact power of 2, prepend first_hash.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, right-shift both until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of consistency_path.
    fr = sr = path[0]
    # 6. For each subsequent value c:
    for c in path[1:]:
        # 6a. sn == 0 means the proof is too long.
        if sn == 0:
            return False
        # 6b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c.
        fn >>= 1
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash and sn == 0.
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The right edge of an append-only log: enough to extend it and compute its head.

    A log that re-read every leaf to compute each new tree head would slow
    down as it grows. The heads only depend on the roots of the perfect
    subtrees along the right edge, one per set bit of the size, so that
    short list (largest subtree first) is the state to persist between
    appends and to restore with `CompactRange(size, hashes)`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Restore persisted state, refusing any that cannot belong to a tree of `size`."""
        if not _is_count(size):
            raise ValueError(f"compact range size must be a non-negative integer, got {size!r}")
        stored = list(hashes)
        expected = size.bit_count()
        if len(stored) != expected:
            raise ValueError(
                f"a compact range of size {size} has {expected} hashes, got {len(stored)}"
            )
        for h in stored:
            if not _is_hash(h):
                raise ValueError(
                    f"compact range hashes must be {HASH_SIZE} bytes, got {_describe(h)}"
                )
        self._size = size
        self._hashes = [bytes(h) for h in stored]

    @property
    def size(self) -> int:
        """Number of leaves appended so far, including those before a restore."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The state to persist: perfect-subtree roots along the right edge, largest first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one already-hashed leaf, merging equal-sized subtrees like a binary carry."""
        if not _is_hash(leaf_hash):
            raise ValueError(f"leaf hashes must be {HASH_SIZE} bytes, got {_describe(leaf_hash)}")
        h = bytes(leaf_hash)
        carry = self._size
        while carry & 1:
            h = node_hash(self._hashes.pop(), h)
            carry >>= 1
        self._hashes.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many already-hashed leaves in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of everything appended; the subtrees fold right to left as in the RFC tree."""
        if not self._hashes:
            return _EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, hashes=<{len(self._hashes)} hashes>)"


# --- Pieces for computing roots in parallel (verify): perfect aligned subtrees ---
#
# Every root this module defines is a fold of perfect subtrees aligned to their own
# size: MTH(D[0:n]) of the subtrees for the set bits of n (largest first), and the
# root of any node [lo, hi) of the RFC tree likewise from lo. A worker that holds
# the leaves of an aligned chunk can therefore compute every such subtree inside it
# (`perfect_levels`), and whoever holds the subtrees combines them (`fold_frontier`).


def range_blocks(lo: int, hi: int) -> list[tuple[int, int]]:
    """The perfect aligned subtrees (start, size) whose fold is the root of [lo, hi).

    Valid for [0, n) and for every node of the RFC 9162 tree, whose start is a
    multiple of the smallest power of two not below its size. Largest first.
    Raises ValueError for a range that is not of that shape.
    """
    if not (_is_count(lo) and _is_count(hi)) or hi <= lo:
        raise ValueError(f"not a non-empty leaf range: [{lo}, {hi})")
    size = hi - lo
    blocks: list[tuple[int, int]] = []
    start = lo
    for bit in range(size.bit_length() - 1, -1, -1):
        width = 1 << bit
        if size & width:
            if start % width:
                raise ValueError(f"[{lo}, {hi}) is not a node of a Merkle tree")
            blocks.append((start, width))
            start += width
    return blocks


def frontier_blocks(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees (start, size) of a log of `size` leaves: CompactRange's hashes."""
    return range_blocks(0, size) if size else []


def fold_frontier(hashes: Sequence[bytes]) -> bytes:
    """The root of perfect subtrees given largest first (as `CompactRange.root`)."""
    if not hashes:
        return _EMPTY_ROOT
    r = hashes[-1]
    for h in reversed(hashes[:-1]):
        r = node_hash(h, r)
    return r


def perfect_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every perfect subtree over the leaf hashes, by level: levels[k][i] is the root of
    leaves [i * 2**k, (i + 1) * 2**k). An odd node at the end of a level has no parent."""
    if leafhash.compiled is not None:  # the same in C (credence/ledger/_leafhash.c)
        found: list[list[bytes]] | None = leafhash.compiled.perfect_levels(leaf_hashes)
        if found is not None:
            return found
    levels = [list(leaf_hashes)]
    sha256 = hashlib.sha256
    prefix = _NODE_PREFIX
    level = levels[0]
    while len(level) > 1:
        level = [
            sha256(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        levels.append(level)
    return levels


def _split(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _leaf_hashes(leaves: Sequence[bytes]) -> list[bytes]:
    """leaf_hash over a whole log, inlined because it runs once per entry."""
    sha256 = hashlib.sha256
    return [sha256(_LEAF_PREFIX + leaf).digest() for leaf in leaves]


def _root_of_hashes(level: list[bytes]) -> bytes:
    """Iterative MTH over already-validated leaf hashes."""
    if not level:
        return _EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_proof(proof: object) -> bool:
    return (
        isinstance(proof, Sequence)
        and not isinstance(proof, str | bytes | bytearray)
        and all(_is_hash(p) for p in proof)
    )


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return type(value).__name__
