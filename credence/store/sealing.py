"""Sealing a write: the Merkle frontier, non-record entries and the signed tree head.

Every transaction that adds to the ledger (a batch of records, a source
registered, a key issued, an erasure) ends here, inside the same
transaction: the frontier is saved and a new head is signed and chained to
the previous one. So every committed entry is in a signed head at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.ledger import leafhash
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import TreeHead, sign_tree_head
from credence.store.schema import entries, ledger_state, tree_heads


def load_frontier(conn: sa.Connection) -> CompactRange:
    """The Merkle frontier at the ledger's current size (read inside the write transaction)."""
    row = conn.execute(sa.select(ledger_state.c.size, ledger_state.c.frontier)).first()
    if row is None:
        return CompactRange()
    blob = bytes(row[1])
    return CompactRange(int(row[0]), [blob[i : i + 32] for i in range(0, len(blob), 32)])


def extended(frontier: CompactRange, leaf_hashes: list[bytes]) -> CompactRange:
    """`frontier` with `leaf_hashes` appended, a level of the tree at a time.

    The same result as CompactRange.append per leaf (tests compare them), but
    each level's node hashes are one list comprehension instead of a Python
    loop with a carry per leaf: for a 50,000-leaf batch about 4x less time.
    """
    if not leaf_hashes:
        return frontier
    size = frontier.size
    old = dict(zip(_set_bits(size), frontier.hashes, strict=True))
    sha256 = hashlib.sha256
    level = list(leaf_hashes)
    start, height = size, 0
    kept: dict[int, bytes] = {}
    while level:
        if start & 1:  # the frontier's subtree at this height completes a pair
            level.insert(0, old.pop(height))
            start -= 1
        if len(level) & 1:  # the last node has no partner (yet): it stays on the edge
            kept[height] = level.pop()
        level = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
        start >>= 1
        height += 1
    total = size + len(leaf_hashes)
    return CompactRange(total, [kept.get(k) or old[k] for k in _set_bits(total)])


# A batch's leaves at seqs [start, start + n) as the perfect aligned subtrees that cover
# them, left to right: (height, root). The worker computes them for the seqs it guessed.
Subtrees = list[tuple[int, bytes]]


def subtrees(start: int, leaf_hashes: list[bytes]) -> Subtrees:
    """The perfect aligned subtrees covering leaves [start, start + n), left to right.

    They hold every node hash that appending the leaves at `start` computes
    but those that join the frontier's own subtrees: computed beside the
    writer (by the worker, which guessed `start`), they leave the writer
    O(log n) hashes a batch (grafted) instead of n. The compiled extension
    computes the same cover (python_subtrees is the reference): hashing the
    ~n interior nodes one hashlib call each cost the worker ~0.5 us a row.
    """
    compute = getattr(leafhash.compiled, "subtrees", None)  # None: not built, or built before
    if compute is not None:
        found: Subtrees | None = compute(start, leaf_hashes)
        if found is not None:
            return found
    return python_subtrees(start, leaf_hashes)


def python_subtrees(start: int, leaf_hashes: list[bytes]) -> Subtrees:
    """`subtrees` in Python: the reference, and the path without the extension (or for a
    leaf hash that is not 32 bytes, which the extension declines)."""
    left: Subtrees = []
    right: Subtrees = []
    sha256 = hashlib.sha256
    level = list(leaf_hashes)
    lo, height = start, 0
    while level:
        if lo & 1:  # no partner on the left inside the range: a subtree of the cover
            left.append((height, level.pop(0)))
            lo += 1
        if len(level) & 1:  # none on the right either
            right.append((height, level.pop()))
        level = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
        lo >>= 1
        height += 1
    return left + right[::-1]


def grafted(frontier: CompactRange, cover: Subtrees) -> CompactRange:
    """`frontier` extended by the leaves whose subtrees (at seqs from its size) are `cover`.

    The same result as extended() with those leaves (tests compare them).
    """
    size = frontier.size
    hashes = list(frontier.hashes)
    sha256 = hashlib.sha256
    for height, node in cover:
        if size & ((1 << height) - 1):
            raise ValueError(f"a subtree of height {height} does not start at {size}")
        carry = size >> height
        while carry & 1:  # the frontier's subtree of the same height completes a pair
            node = sha256(b"\x01" + hashes.pop() + node).digest()
            carry >>= 1
        hashes.append(node)
        size += 1 << height
    return CompactRange(size, hashes)


def _set_bits(n: int) -> list[int]:
    """Heights of the perfect subtrees of a tree of `n` leaves, largest first."""
    return [k for k in range(n.bit_length() - 1, -1, -1) if n >> k & 1]


def _save_frontier(conn: sa.Connection, frontier: CompactRange) -> None:
    blob = b"".join(frontier.hashes)
    updated = conn.execute(
        sa.update(ledger_state)
        .where(ledger_state.c.id == 1)
        .values(size=frontier.size, frontier=blob)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(ledger_state).values(id=1, size=frontier.size, frontier=blob))


def latest_head_size(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(tree_heads.c.size))).scalar() or 0)


def seal(conn: sa.Connection, frontier: CompactRange, key: Ed25519PrivateKey) -> TreeHead:
    """Save the frontier and sign a head at its size, chained to the previous head."""
    _save_frontier(conn, frontier)
    head = sign_tree_head(
        key,
        frontier.size,
        frontier.root(),
        time.time_ns() // 1_000_000,
        prev_size=latest_head_size(conn),
    )
    conn.execute(sa.insert(tree_heads).values(**head_row(head)))
    return head


def head_row(head: TreeHead) -> dict[str, object]:
    return {
        "size": head.size,
        "root": head.root,
        "timestamp_ms": head.timestamp_ms,
        "key_id": head.key_id,
        "signature": head.signature,
        "prev_size": head.prev_size,
        "chain_signature": head.chain_signature,
    }


def head_of(row: sa.Row[tuple[object, ...]]) -> TreeHead:
    m = row._mapping
    return TreeHead(
        int(m["size"]),
        bytes(m["root"]),
        int(m["timestamp_ms"]),
        str(m["key_id"]),
        bytes(m["signature"]),
        int(m["prev_size"] or 0),
        bytes(m["chain_signature"] or b""),
    )


def append_entries(
    conn: sa.Connection, key: Ed25519PrivateKey, makers: list[Callable[[int], bytes]]
) -> tuple[list[int], TreeHead]:
    """Append one non-record entry per maker (called with its seq) and seal.

    Returns the entries' positions and the new head.
    """
    frontier = load_frontier(conn)
    seqs: list[int] = []
    for make in makers:
        seq = frontier.size
        body = make(seq)
        leaf_hash = hashlib.sha256(b"\x00" + body).digest()
        kind = str(orjson.loads(body)["kind"])
        conn.execute(sa.insert(entries).values(seq=seq, kind=kind, body=body, leaf_hash=leaf_hash))
        frontier.append(leaf_hash)
        seqs.append(seq)
    return seqs, seal(conn, frontier, key)
