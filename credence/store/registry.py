"""The registry: one object that holds the store, the catalogue and the keys.

Commands and, later, the HTTP API talk to this service rather than to
tables, so that the rules (who may submit what, one writer, signed heads)
live in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.core.catalogue import Catalogue, default_catalogue_path, load_catalogue
from credence.ledger import keys as keyfiles
from credence.ledger.treehead import TreeHead, key_id, public_key_pem
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
    ingest_runs,
    ledger_state,
    records,
    signing_keys,
    sources,
    tree_heads,
)

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
        """Create the store and keys if absent; return (registry, created)."""
        catalogue = cls.load_catalogue(settings)
        created = not settings.signing_key_path.exists()
        if created:
            keyfiles.create_signing_key(settings.signing_key_path)
        if not settings.subject_key_path.exists():
            keyfiles.create_subject_key(settings.subject_key_path)
        engine = create_engine(settings.database_url)
        create_schema(engine)
        public = keyfiles.load_signing_key(settings.signing_key_path).public_key()
        with write_transaction(engine) as conn:
            kid = key_id(public)
            exists = conn.execute(
                sa.select(signing_keys.c.key_id).where(signing_keys.c.key_id == kid)
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(signing_keys).values(
                        key_id=kid, public_key_pem=public_key_pem(public), created_at=utc_now()
                    )
                )
        return cls(settings, engine, catalogue), created

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """Open an existing registry; raise StoreError if there is none."""
        engine = create_engine(settings.database_url)
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
        text = json.dumps(sorted(set(patterns)))
        with write_transaction(self.engine) as conn:
            row = conn.execute(sa.select(sources.c.id).where(sources.c.name == name)).first()
            if row is None:
                conn.execute(
                    sa.insert(sources).values(name=name, patterns=text, created_at=utc_now())
                )
            else:
                conn.execute(sa.update(sources).where(sources.c.id == row[0]).values(patterns=text))
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

    # --- reading ---------------------------------------------------------------

    def latest_tree_head(self) -> TreeHead | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tree_heads).order_by(tree_heads.c.size.desc())).first()
        if row is None:
            return None
        return TreeHead(row.size, bytes(row.root), row.timestamp_ms, row.key_id, row.signature)

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
