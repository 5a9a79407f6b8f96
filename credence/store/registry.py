"""The registry: one object that holds the store, the catalogue and the keys.

Commands and, later, the HTTP API talk to this service rather than to
tables, so that the rules (who may submit what, one writer, signed heads)
live in one place.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.core.catalogue import Catalogue, default_catalogue_path, load_catalogue
from credence.ledger import keys as keyfiles
from credence.ledger.entries import KEY, erasure_entry, key_entry, source_entry
from credence.ledger.note import log_verifier
from credence.ledger.treehead import TreeHead, key_id, raw_public_key
from credence.settings import Settings
from credence.store.appender import Appender
from credence.store.database import (
    StoreError,
    check_schema,
    create_engine,
    create_schema,
    utc_now,
    write_transaction,
)
from credence.store.schema import (
    entries,
    erased,
    ingest_runs,
    ledger_state,
    records,
    sources,
    tree_heads,
)
from credence.store.sealing import append_entries, head_of


def make_private_dir(path: Path) -> None:
    """Create `path` readable by its owner only; tighten it if it already exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    patterns: tuple[str, ...]
    items: frozenset[str]


@dataclass(frozen=True)
class RunCounts:
    accepted: int
    duplicates: int
    rejected: int


class Registry:
    """An opened registry. Use `Registry.init` once, then `Registry.open`."""

    def __init__(self, settings: Settings, engine: sa.Engine, catalogue: Catalogue) -> None:
        self.settings = settings
        self.engine = engine
        self.catalogue = catalogue

    @staticmethod
    def load_catalogue(settings: Settings) -> Catalogue:
        path = Path(settings.catalogue) if settings.catalogue else default_catalogue_path()
        return load_catalogue(path)

    @classmethod
    def init(cls, settings: Settings) -> tuple[Registry, bool]:
        """Create the store and keys if absent; return (registry, created).

        The data and key directories are made private (0700) and every key
        and database file in them readable by the owner only (0600).
        """
        catalogue = cls.load_catalogue(settings)
        for directory in {settings.data_dir, settings.key_dir or settings.data_dir}:
            make_private_dir(directory)
        created = not settings.signing_key_path.exists()
        exists = not settings.db_url and (settings.data_dir / "credence.db").exists()
        if created and exists:
            raise StoreError(
                f"signing key {settings.signing_key_path} is missing but the registry exists: "
                "restore the key (check CREDENCE_KEY_DIR); a new key could not sign its history"
            )
        if created:
            keyfiles.create_signing_key(settings.signing_key_path)
        if not settings.subject_key_path.exists():
            if exists:
                raise StoreError(
                    f"subject-hash key {settings.subject_key_path} is missing but the registry "
                    "exists: restore the key from your backup (a new key would fail every record)"
                )
            keyfiles.create_subject_key(settings.subject_key_path)
        engine = create_engine(settings.database_url, settings.lock_timeout)
        create_schema(engine)
        registry = cls(settings, engine, catalogue)
        registry.issue_signing_key()
        registry.publish_public_key()
        return registry, created

    def log_origin(self) -> str:
        """The log's name in checkpoints: the setting, or one derived from the key."""
        public = self.signing_key().public_key()
        return self.settings.log_origin or f"credence/{key_id(public)[:16]}"

    def publish_public_key(self) -> Path:
        """Write the log's vkey beside the signing key: what auditors and witnesses pin."""
        verifier = log_verifier(self.log_origin(), self.signing_key().public_key())
        path = self.settings.public_key_path
        path.write_text(verifier.vkey() + "\n", encoding="utf-8")
        return path

    def issue_signing_key(self) -> bool:
        """Put the signing key's issue in the ledger, once; True if this added it."""
        key = self.signing_key()
        raw = raw_public_key(key.public_key())
        with write_transaction(self.engine) as conn:
            if raw in self._issued_keys(conn):
                return False
            append_entries(conn, key, [lambda seq: key_entry(seq, "issue", raw)])
        return True

    @staticmethod
    def _issued_keys(conn: sa.Connection) -> set[bytes]:
        bodies = conn.execute(sa.select(entries.c.body).where(entries.c.kind == KEY)).scalars()
        found = set()
        for body in bodies:
            data = json.loads(bytes(body))
            if data.get("action") == "issue":
                found.add(base64.b64decode(data["public_key"]))
        return found

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """Open an existing registry; raise StoreError if there is none."""
        engine = create_engine(settings.database_url, settings.lock_timeout)
        check_schema(engine)
        return cls(settings, engine, cls.load_catalogue(settings))

    def close(self) -> None:
        self.engine.dispose()

    # --- sources ---------------------------------------------------------------

    def add_source(self, name: str, patterns: list[str]) -> tuple[Source, bool]:
        """Register `name` (or replace its patterns); return (source, created)."""
        if not _SOURCE_NAME.match(name):
            raise StoreError(f"source name {name!r} must be lower-case letters, digits and -")
        if not patterns:
            raise StoreError("give at least one --items pattern, e.g. 'judicial.*'")
        for pattern in patterns:
            if not self.catalogue.match([pattern]):
                raise StoreError(f"pattern {pattern!r} matches no catalogue item")
        unique = sorted(set(patterns))
        text = json.dumps(unique)
        items = self.catalogue.match(unique)
        key = self.signing_key()
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                sa.select(sources.c.id, sources.c.patterns).where(sources.c.name == name)
            ).first()
            if row is not None and json.loads(row[1]) == unique:
                return self.source(name), False  # nothing changes: no ledger entry
            if row is None:
                conn.execute(
                    sa.insert(sources).values(name=name, patterns=text, created_at=utc_now())
                )
            else:
                conn.execute(sa.update(sources).where(sources.c.id == row[0]).values(patterns=text))
            append_entries(conn, key, [lambda seq: source_entry(seq, name, unique, items)])
        return self.source(name), row is None

    def source(self, name: str) -> Source:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sources.c.id, sources.c.patterns).where(sources.c.name == name)
            ).first()
        if row is None:
            raise StoreError(f"no source named {name!r}: register it with `credence source add`")
        patterns = tuple(json.loads(row[1]))
        return Source(row[0], name, patterns, frozenset(self.catalogue.match(list(patterns))))

    def sources(self) -> list[Source]:
        with self.engine.connect() as conn:
            names = list(conn.execute(sa.select(sources.c.name).order_by(sources.c.name)).scalars())
        return [self.source(n) for n in names]

    # --- writing ---------------------------------------------------------------

    def signing_key(self) -> Ed25519PrivateKey:
        return keyfiles.load_signing_key(self.settings.signing_key_path)

    def subject_key(self) -> bytes:
        return keyfiles.load_subject_key(self.settings.subject_key_path)

    def start_run(self, source: Source, file: str) -> Appender:
        """Record an ingest run and return the writer for its batches."""
        with write_transaction(self.engine) as conn:
            run_id = conn.execute(
                sa.insert(ingest_runs).values(
                    source_id=source.id,
                    file=file,
                    started_at=utc_now(),
                    accepted=0,
                    duplicates=0,
                    rejected=0,
                )
            ).inserted_primary_key
        assert run_id is not None
        return Appender(
            self.engine, source.id, int(run_id[0]), self.signing_key(), self.subject_key()
        )

    def finish_run(self, run_id: int, counts: RunCounts) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                sa.update(ingest_runs)
                .where(ingest_runs.c.id == run_id)
                .values(
                    finished_at=utc_now(),
                    accepted=counts.accepted,
                    duplicates=counts.duplicates,
                    rejected=counts.rejected,
                )
            )

    def erase(self, seq: int, reason: str) -> int:
        """Erase record #seq's content and salt; its leaf stays. Returns the erasure's seq.

        The record moves to the `erased` table (leaf hash, public leaf fields
        and reference, so the source cannot resubmit it as new), and a signed
        erasure entry names it, without which `verify` would call it tampering.
        """
        key = self.signing_key()
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(records).where(records.c.seq == seq)).first()
            if row is None:
                done = conn.execute(sa.select(erased.c.erased_by).where(erased.c.seq == seq))
                by = done.scalar()
                if by is not None:
                    raise StoreError(f"ledger entry #{seq} was already erased (by #{by})")
                raise StoreError(f"ledger entry #{seq} is not a record")
            if row.corrects_seq is not None:
                raise StoreError(
                    f"ledger entry #{seq} corrects or revokes #{row.corrects_seq}: erasing it "
                    "would bring that record back; revoke or correct it instead"
                )
            name = conn.execute(
                sa.select(sources.c.name).where(sources.c.id == row.source_id)
            ).scalar_one()
            (by,), _ = append_entries(
                conn,
                key,
                [lambda n: erasure_entry(n, seq, reason, name, row.item, row.reference)],
            )
            conn.execute(
                sa.insert(erased).values(
                    seq=seq,
                    source_id=row.source_id,
                    reference=row.reference,
                    item=row.item,
                    leaf_hash=row.leaf_hash,
                    erased_by=by,
                )
            )
            conn.execute(sa.delete(records).where(records.c.seq == seq))
        return by

    # --- reading ---------------------------------------------------------------

    def latest_tree_head(self) -> TreeHead | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tree_heads).order_by(tree_heads.c.size.desc())).first()
        return None if row is None else head_of(row)

    def ledger_size(self) -> int:
        with self.engine.connect() as conn:
            size = conn.execute(sa.select(ledger_state.c.size)).scalar()
        return int(size or 0)

    def size_known_at(self, day: dt.date) -> int:
        """How many entries the ledger held at the end of `day` (UTC), from its signed heads.

        A record counts as known on a day only once a signed tree head covers
        it, so replaying `--known-at` uses exactly what the log had committed.
        """
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        limit_ms = int(end.timestamp() * 1000)
        query = sa.select(sa.func.max(tree_heads.c.size)).where(
            tree_heads.c.timestamp_ms < limit_ms
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def records_by_seq(
        self, seqs: list[int]
    ) -> list[sa.Row[tuple[int, str, str, str | None, str | None]]]:
        """(seq, item, occurred_on, decided_on, attributes) of the given records."""
        query = sa.select(
            records.c.seq,
            records.c.item,
            records.c.occurred_on,
            records.c.decided_on,
            records.c.attributes,
        ).where(records.c.seq.in_(seqs))
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())  # type: ignore[arg-type]

    def counts_by_source_and_item(self) -> Counter[tuple[str, str]]:
        """Record counts keyed by (source name, item code)."""
        query = (
            sa.select(sources.c.name, records.c.item, sa.func.count())
            .join(sources, sources.c.id == records.c.source_id)
            .group_by(sources.c.name, records.c.item)
        )
        with self.engine.connect() as conn:
            return Counter({(s, i): n for s, i, n in conn.execute(query)})
