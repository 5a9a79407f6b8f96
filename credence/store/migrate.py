"""`credence migrate`: bring a registry made by an earlier credence to the current schema.

From schema 2 on, Alembic does it (`credence.store.versioning`): a store
made before Alembic is stamped at the revision its `meta.schema` names,
then upgraded. Schema 1 first takes the path below to schema 2, in one
transaction, and then continues through Alembic.

Schema 2 adds what a verifier needs so that nothing stored beside the data
is trusted: heads chained to their predecessors, governance (the signing
key, each source's permitted items) and erasures as ledger entries. The
records, their leaves and every existing root are untouched, so checkpoints
anyone kept before the migration stay valid. Steps (docs/ledger.md):

1. check every existing head's RFC 6962 signature under the signing key
   file, and that the log's leaf hashes give the latest head's root;
2. add the `entries` and `erased` tables and the heads' chain columns;
3. chain-sign every existing head with the same key;
4. append the key's issue and every source's permissions as entries,
   sealed by a new signed head;
5. record schema version 2 (then Alembic stamps revision 1 and upgrades).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.ledger import keys as keyfiles
from credence.ledger.entries import key_entry, source_entry
from credence.ledger.merkle import CompactRange
from credence.ledger.treehead import chain_bytes, raw_public_key, signed_bytes
from credence.settings import Settings
from credence.store import versioning
from credence.store.database import StoreError, create_engine, schema_state, write_transaction
from credence.store.registry import Registry, Source
from credence.store.schema import SCHEMA_VERSION, entries, erased, meta, records, tree_heads
from credence.store.sealing import append_entries


def migrate_registry(settings: Settings) -> str:
    """Migrate the registry in `settings`; return a one-line account of what was done."""
    engine = create_engine(settings.database_url, settings.lock_timeout)
    try:
        with engine.connect() as conn:
            found, revision = schema_state(conn)
        if found is None:
            raise StoreError("no registry here: run `credence init` first")
        if found != "1":
            return _upgrade(engine, found, revision)
        key = keyfiles.load_signing_key(settings.signing_key_path)
        heads = _check_v1(engine, key)
        entries.create(engine, checkfirst=True)
        erased.create(engine, checkfirst=True)
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("ALTER TABLE tree_heads ADD COLUMN prev_size BIGINT")
            conn.exec_driver_sql("ALTER TABLE tree_heads ADD COLUMN chain_signature BLOB")
            _chain(conn, key, heads)
            conn.execute(sa.update(meta).where(meta.c.key == "schema").values(value="2"))
            versioning.upgrade(conn, "2")
        registry = Registry(settings, engine, Registry.load_catalogue(settings))
        added = _governance(registry, key)
    finally:
        engine.dispose()
    return (
        f"migrated schema 1 -> {SCHEMA_VERSION}: {len(heads)} heads chained, "
        f"{added} governance entries appended; run `credence verify`"
    )


def _upgrade(engine: sa.Engine, found: str, revision: str | None) -> str:
    """Schema 2 and later: Alembic from the store's revision (or its `meta.schema`) to head."""
    if found not in versioning.REVISION_OF_SCHEMA and revision is None:
        raise StoreError(f"cannot migrate schema {found} (this credence knows 1 to 3)")
    with write_transaction(engine) as conn:
        moved = versioning.upgrade(conn, found)
    if not moved and revision is None:
        return f"registry is at schema {SCHEMA_VERSION}: recorded its Alembic revision"
    if not moved:
        return f"registry is already at schema {SCHEMA_VERSION}: nothing to do"
    return f"migrated schema {found} -> {SCHEMA_VERSION} (Alembic revision {versioning.head()})"


def _check_v1(engine: sa.Engine, key: Ed25519PrivateKey) -> list[tuple[int, bytes, int]]:
    """(size, root, timestamp) of every head, after checking them under the key file."""
    public = key.public_key()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                tree_heads.c.size,
                tree_heads.c.root,
                tree_heads.c.timestamp_ms,
                tree_heads.c.signature,
            ).order_by(tree_heads.c.size)
        ).all()
        frontier = CompactRange()
        for (stored,) in conn.execute(sa.select(records.c.leaf_hash).order_by(records.c.seq)):
            frontier.append(bytes(stored))
    for size, root, ts, sig in rows:
        try:
            public.verify(bytes(sig), signed_bytes(size, bytes(root), ts))
        except InvalidSignature:
            raise StoreError(
                f"tree head at size {size} does not verify under the signing key file: "
                "refusing to migrate (run `credence verify` with the old credence)"
            ) from None
    if rows and (frontier.size != rows[-1][0] or frontier.root() != bytes(rows[-1][1])):
        raise StoreError("the log does not match its latest signed head: refusing to migrate")
    return [(int(s), bytes(r), int(t)) for s, r, t, _ in rows]


def _chain(
    conn: sa.Connection, key: Ed25519PrivateKey, heads: list[tuple[int, bytes, int]]
) -> None:
    prev = 0
    for size, root, ts in heads:
        chain = key.sign(chain_bytes(prev, size, root, ts))
        conn.execute(
            sa.update(tree_heads)
            .where(tree_heads.c.size == size)
            .values(prev_size=prev, chain_signature=chain)
        )
        prev = size


def _source_leaf(source: Source, seq: int) -> bytes:
    return source_entry(seq, source.name, list(source.patterns), sorted(source.items))


def _governance(registry: Registry, key: Ed25519PrivateKey) -> int:
    raw = raw_public_key(key.public_key())
    makers: list[Callable[[int], bytes]] = [lambda seq: key_entry(seq, "issue", raw)]
    for source in registry.sources():
        makers.append(functools.partial(_source_leaf, source))
    with write_transaction(registry.engine) as conn:
        append_entries(conn, key, makers)
    return len(makers)
