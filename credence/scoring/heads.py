"""Which signed tree head a result was computed from, as every result names it.

A score is only reproducible if it says which state of the ledger it read:
`{"size": N, "root": "<hex>"}` of a signed tree head, so anyone holding the
head can check the records behind it. The store engine reads the store
(the latest head, or for a `--known-at` replay the head of that size); the
batch engine reads a snapshot, which records the head it was exported up
to. Both name the same head when they score the same state.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from credence.engines.snapshot import Snapshot
from credence.ledger.merkle import empty_root
from credence.store.registry import Registry
from credence.store.schema import tree_heads


def _head(size: int, root: str | None) -> dict[str, Any]:
    # The empty tree has a root (RFC 9162 2.1.1) even where no head was signed for it.
    return {"size": size, "root": root if root or size else empty_root().hex()}


def store_head(registry: Registry, size: int | None = None) -> dict[str, Any]:
    """The latest signed head, or the head of `size` (root null if none was signed at it)."""
    if size is None:
        latest = registry.latest_tree_head()
        return _head(latest.size, latest.root.hex()) if latest else _head(0, None)
    query = sa.select(tree_heads.c.root).where(tree_heads.c.size == size)
    with registry.engine.connect() as conn:
        root = conn.execute(query).scalar()
    return _head(size, bytes(root).hex() if root is not None else None)


def snapshot_head(snapshot: Snapshot) -> dict[str, Any]:
    """The head a snapshot was exported up to, from its manifest."""
    try:
        manifest = json.loads((snapshot.path / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    root = manifest.get("root") if manifest.get("size") == snapshot.size else None
    return _head(snapshot.size, root)
