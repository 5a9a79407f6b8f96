"""The tamper tests' registry of 2,501 records (`filled`), ingested once a test process.

Every test of verify edits its own copy of it (`tests.conftest.registry_for`):
ingesting it and proving it cost about half a second a test, 64 times in
test_verify_fast alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.verify import verify_registry
from tests.conftest import ORG, new_registry, registry_for, row, write_csv


@pytest.fixture(scope="session")
def filled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of a closed registry of 2,501 records after 3 governance
    entries: heads at sizes 1, 2, 3 (governance), then 1003, 2003, 2504 (batches of
    1,000). Built as the `registry` and `settings` fixtures build theirs."""
    base = tmp_path_factory.mktemp("filled")
    settings = Settings(data_dir=base / "data", batch_size=1000)
    reg = new_registry(settings)
    try:
        rows = [
            row(reference=f"C-{i}", subject=ORG if i % 2 else row()["subject"]) for i in range(2500)
        ]
        rows.append(row(reference="C-fix", corrects="C-7"))
        source = write_csv(base / "a.csv", rows)
        ingest_file(reg, source, "court", today=dt.date(2026, 1, 1))
        assert verify_registry(reg).ok
    finally:
        reg.close()
    return settings.data_dir


@pytest.fixture
def registry(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Registry]:
    """The empty registry of tests/conftest.py, or, for a test using `filled`, its own
    copy of the filled registry."""
    reg = registry_for(request, settings, when="filled", copy="filled_template")
    yield reg
    reg.close()


@pytest.fixture
def filled(registry: Registry, settings: Settings) -> Path:
    """The registry of 2,501 records (`filled_template`, this test's copy); the SQLite path."""
    return settings.data_dir / "credence.db"
