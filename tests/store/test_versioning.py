"""Alembic revisions on SQLite: a new store is at head, and the revisions build the same schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from credence.settings import Settings
from credence.store import versioning
from credence.store.database import StoreError, check_schema, create_engine, schema_state
from credence.store.migrate import migrate_registry
from credence.store.registry import Registry
from credence.store.schema import SCHEMA_REVISION
from tests.store.schema_checks import differences, make_pre_alembic_schema_2, replay


def test_the_revision_checked_on_open_is_alembic_head() -> None:
    assert versioning.head() == SCHEMA_REVISION


def test_a_new_store_is_at_head_and_matches_the_metadata(registry: Registry) -> None:
    with registry.engine.connect() as conn:
        assert schema_state(conn) == ("4", SCHEMA_REVISION)
    assert differences(registry.engine) == []


def test_the_revisions_build_the_metadata_schema(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'replayed.db'}")
    replay(engine)
    assert differences(engine) == []
    engine.dispose()


def test_a_schema_2_store_from_before_alembic_is_migrated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = create_engine(settings.database_url)
    make_pre_alembic_schema_2(engine)
    with pytest.raises(StoreError, match="run `credence migrate`"):
        check_schema(engine)
    assert "migrated schema 2 -> 4" in migrate_registry(settings)
    check_schema(engine)
    with engine.connect() as conn:
        assert schema_state(conn) == ("4", SCHEMA_REVISION)
    assert differences(engine) == []
    assert "nothing to do" in migrate_registry(settings)
    engine.dispose()


def test_the_schema_1_fixture_migrates_to_head(tmp_path: Path) -> None:
    data = tmp_path / "v1"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "v1-registry", data)
    settings = Settings(data_dir=data)
    assert "migrated schema 1 -> 4" in migrate_registry(settings)
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        assert schema_state(conn) == ("4", SCHEMA_REVISION)
    assert differences(engine) == []
    engine.dispose()
