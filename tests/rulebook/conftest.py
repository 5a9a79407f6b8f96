"""Fixtures for the rulebook tests: one registry per test module, a fresh namespace per test.

Creating a registry and compiling a rulebook to SQL each cost tens of milliseconds, so a
module shares one registry (with a source allowed to submit every item) and one compiled
store engine per rulebook and as-of date. Each test gets a `Case`: its own subjects and
its own references, so tests cannot see each other's records.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.ids import make_ric, make_uscc
from credence.core.rulebook import Rulebook
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import IngestReport, ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import records
from tests.conftest import write_jsonl
from tests.rulebook.helpers import ALL_SOURCE, INGEST_TODAY

_CASES = itertools.count(1)


class World:
    """A registry shared by one test module, with compiled engines cached.

    A cached engine is only used as a context manager, so it holds no connection
    between assessments (the pool would run dry otherwise).
    """

    def __init__(self, registry: Registry, directory: Path) -> None:
        self.registry = registry
        self.directory = directory
        self._files = itertools.count()
        self._engines: dict[tuple[str, dt.date, int | None], StoreEngine] = {}

    def ingest(self, rows: list[dict[str, Any]]) -> IngestReport:
        """Ingest rows as one file (one run); every row must be accepted."""
        path = write_jsonl(self.directory / f"rows-{next(self._files)}.jsonl", rows)
        report = ingest_file(self.registry, path, ALL_SOURCE, today=INGEST_TODAY)
        rejects = path.with_name(path.name + ".rejects.csv")
        assert report.rejected == 0, rejects.read_text(encoding="utf-8")
        assert report.accepted == len(rows)
        return report

    def engine(self, rulebook: Rulebook, as_of: dt.date, known_size: int | None) -> StoreEngine:
        key = (rulebook.content_hash, as_of, known_size)
        if key not in self._engines:
            self._engines[key] = StoreEngine(
                self.registry.engine, rulebook, as_of, known_size=known_size
            )
        return self._engines[key]

    def close(self) -> None:
        self.registry.close()


class Case:
    """One test's view of the shared registry: its own subjects and references."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.number = next(_CASES)
        assert self.number < 100_000

    @property
    def registry(self) -> Registry:
        return self.world.registry

    def person(self, k: int = 1) -> str:
        """The k-th person of this case (k < 10), distinct from every other case's."""
        assert 0 < k < 10
        n = self.number * 10 + k
        born = dt.date(1980, 1, 1) + dt.timedelta(days=n // 1000)
        return "ric:" + make_ric(f"110105{born:%Y%m%d}{n % 1000:03d}")

    def org(self, k: int = 1) -> str:
        """The k-th organisation of this case (k < 10)."""
        assert 0 < k < 10
        return "uscc:" + make_uscc(f"91110000{self.number * 10 + k:09d}")

    def ref(self, reference: str) -> str:
        return f"c{self.number}-{reference}"

    def ingest(self, rows: list[dict[str, Any]]) -> IngestReport:
        """Ingest rows, their references (and `corrects`) made unique to this case."""
        own = []
        for row in rows:
            row = dict(row, reference=self.ref(row["reference"]))
            if row.get("corrects"):
                row["corrects"] = self.ref(row["corrects"])
            own.append(row)
        return self.world.ingest(own)

    def assess(
        self, rulebook: Rulebook, subject: str, as_of: dt.date, known_size: int | None = None
    ) -> Assessment:
        with self.world.engine(rulebook, as_of, known_size) as engine:
            return engine.assess(subject)

    def assess_all(
        self, rulebook: Rulebook, as_of: dt.date, known_size: int | None = None
    ) -> list[Assessment]:
        """Every assessed subject of the registry (all cases), in subject order."""
        with self.world.engine(rulebook, as_of, known_size) as engine:
            return list(engine.assess_all())

    def seq(self, reference: str) -> int:
        """The ledger sequence number of this case's record `reference`."""
        query = sa.select(records.c.seq).where(records.c.reference == self.ref(reference))
        with self.registry.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("rulebook")
    settings = Settings(data_dir=directory / "data", batch_size=1000)
    registry, _ = Registry.init(settings)
    registry.add_source(ALL_SOURCE, ["*"])
    shared = World(registry, directory)
    yield shared
    shared.close()


@pytest.fixture
def case(world: World) -> Case:
    return Case(world)
