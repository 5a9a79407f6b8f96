"""Cheap integrity checks, run before anything is scored or a checkpoint is signed.

`credence verify` reads the whole log; these read a handful of rows, so
`score`, `explain` and `checkpoint` can afford them every time. They catch
what a careless or hostile edit most often leaves behind: a latest head that
does not verify under the pinned key, a frontier or entry count that does
not match the head, entries beyond it, source permissions that differ from
the ledger, and a database older than the checkpoint kept beside the key.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credence.ledger.treehead import TreeHead, key_id, verify_tree_head
from credence.store.proofs import signed_head
from credence.store.registry import Registry
from credence.store.schema import entries, erased, records, sources, tree_heads
from credence.store.sealing import load_frontier


def quick_check(registry: Registry, public_key: Ed25519PublicKey) -> tuple[TreeHead, list[str]]:
    """The latest head and what is wrong with the registry at a glance (empty: nothing)."""
    head = signed_head(registry.engine)
    problems: list[str] = []
    if head.key_id != key_id(public_key) or not verify_tree_head(public_key, head):
        problems.append(f"the latest tree head (size {head.size}) does not verify under the key")
    with registry.engine.connect() as conn:
        frontier = load_frontier(conn)
        count, top = _positions(conn)
        if frontier.size != head.size or frontier.root() != head.root:
            problems.append(
                f"the ledger state (size {frontier.size}) is not the latest signed head "
                f"(size {head.size})"
            )
        if count != head.size or top != head.size - 1:
            problems.append(
                f"the ledger holds {count} entries up to #{top}, the latest signed head {head.size}"
            )
        problems += _source_problems(conn)
    problems += _kept_checkpoint_problems(registry, head)
    return head, problems


def _positions(conn: sa.Connection) -> tuple[int, int]:
    count, top = 0, -1
    for table in (records, entries, erased):
        n, m = conn.execute(sa.select(sa.func.count(), sa.func.max(table.c.seq))).one()
        count += int(n)
        top = max(top, -1 if m is None else int(m))
    return count, top


def _source_problems(conn: sa.Connection) -> list[str]:
    latest: dict[str, list[str]] = {}
    query = sa.select(entries.c.body).where(entries.c.kind == "source").order_by(entries.c.seq)
    for body in conn.execute(query).scalars():
        data = json.loads(bytes(body))
        latest[str(data.get("name"))] = data.get("patterns")
    problems = []
    for name, patterns in conn.execute(sa.select(sources.c.name, sources.c.patterns)):
        if latest.get(name) != sorted(json.loads(patterns)):
            problems.append(f"source {name}'s permitted items differ from the ledger")
    return problems


def _kept_checkpoint_problems(registry: Registry, head: TreeHead) -> list[str]:
    """The checkpoint kept beside the key must not be ahead of, or differ from, the log."""
    from credence.ledger.note import Checkpoint, NoteError, SignedNote
    from credence.store.trust import kept_checkpoint_path

    path = kept_checkpoint_path(registry.settings)
    if not path.exists():
        return []
    try:
        cp = Checkpoint.parse_body(SignedNote.parse(path.read_text(encoding="utf-8")).body)
    except (OSError, NoteError) as exc:
        return [f"the kept checkpoint {path} is unreadable: {exc}"]
    if cp.size > head.size:
        return [
            f"the ledger's latest head is at size {head.size}, but a checkpoint at size "
            f"{cp.size} was issued ({path}): the database was rolled back or truncated"
        ]
    with registry.engine.connect() as conn:
        root = conn.execute(sa.select(tree_heads.c.root).where(tree_heads.c.size == cp.size))
        stored = root.scalar()
    if stored is None or bytes(stored) != cp.root:
        return [
            f"the ledger has no head matching the checkpoint kept at {path} (size {cp.size}): "
            "it was rolled back and regrown, or forked"
        ]
    return []
