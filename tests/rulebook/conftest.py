"""Fixtures for the rulebook tests: a registry that accepts every item, ingest and assess."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from credence.core.assessment import Assessment
from credence.core.rulebook import Rulebook
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import IngestReport, ingest_file
from credence.store.registry import Registry
from tests.conftest import write_jsonl
from tests.rulebook.helpers import ALL_SOURCE, INGEST_TODAY

Ingest = Callable[..., IngestReport]
Assess = Callable[..., Assessment]


@pytest.fixture
def reg(registry: Registry) -> Registry:
    """The shared fresh registry plus one source allowed to submit every item."""
    registry.add_source(ALL_SOURCE, ["*"])
    return registry


@pytest.fixture
def ingest(reg: Registry, tmp_path: Path) -> Ingest:
    """Ingest rows as one file (one run); every row must be accepted."""
    counter = itertools.count()

    def run(rows: list[dict[str, Any]], source: str = ALL_SOURCE) -> IngestReport:
        path = write_jsonl(tmp_path / f"rows-{next(counter)}.jsonl", rows)
        report = ingest_file(reg, path, source, today=INGEST_TODAY)
        assert report.rejected == 0, (path.with_name(path.name + ".rejects.csv")).read_text()
        assert report.accepted == len(rows)
        return report

    return run


@pytest.fixture
def assess(reg: Registry) -> Assess:
    """Assess one subject with the store engine."""

    def run(
        rulebook: Rulebook, subject: str, as_of: dt.date, known_size: int | None = None
    ) -> Assessment:
        with StoreEngine(reg.engine, rulebook, as_of, known_size=known_size) as engine:
            return engine.assess(subject)

    return run
