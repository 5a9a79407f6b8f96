"""The store on PostgreSQL: migrations, the writer's lock, COPY and a tampered row.

Marked `postgres`: run with `pytest -m postgres` against the server at
127.0.0.1:5432 (`.ci/run` does). Each test has its own database (`pg_url`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from credence.settings import Settings
from credence.store.database import (
    StoreError,
    check_schema,
    create_engine,
    schema_state,
    write_transaction,
)
from credence.store.migrate import migrate_registry
from credence.store.registry import Registry
from credence.store.schema import SCHEMA_REVISION, records
from credence.store.verify import verify_registry
from tests.conftest import ORG, PERSON, row, write_csv
from tests.store.schema_checks import differences, make_pre_alembic_schema_2, replay

pytestmark = pytest.mark.postgres


def test_a_new_store_is_at_head_and_matches_the_metadata(pg_url: str, tmp_path: Path) -> None:
    registry, _ = Registry.init(Settings(data_dir=tmp_path / "data", db_url=pg_url))
    with registry.engine.connect() as conn:
        assert schema_state(conn) == ("4", SCHEMA_REVISION)
    assert differences(registry.engine) == []
    registry.close()


def test_the_revisions_build_the_metadata_schema(pg_url: str) -> None:
    engine = create_engine(pg_url)
    replay(engine)
    assert differences(engine) == []
    engine.dispose()


def test_a_schema_2_store_from_before_alembic_is_migrated(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", db_url=pg_url)
    engine = create_engine(pg_url)
    make_pre_alembic_schema_2(engine)
    with pytest.raises(StoreError, match="run `credence migrate`"):
        check_schema(engine)
    assert "migrated schema 2 -> 4" in migrate_registry(settings)
    check_schema(engine)
    assert differences(engine) == []
    engine.dispose()


def test_ingest_verify_and_a_tampered_row(pg_url: str, tmp_path: Path) -> None:
    from credence.ingest.pipeline import ingest_file

    settings = Settings(data_dir=tmp_path / "data", db_url=pg_url, batch_size=3)
    registry, _ = Registry.init(settings)
    registry.add_source("court", ["judicial.*"])
    rows = [row(reference=f"C-{i}", subject=ORG if i % 2 else PERSON) for i in range(10)]
    report = ingest_file(registry, write_csv(tmp_path / "a.csv", rows), "court")
    assert report.accepted == 10 and report.rejected == 0  # COPY, in batches of 3
    again = ingest_file(registry, tmp_path / "a.csv", "court")
    assert again.duplicates == 10  # the lookup by reference (one array parameter)
    assert verify_registry(registry).ok
    with write_transaction(registry.engine) as conn:
        conn.execute(sa.update(records).where(records.c.seq == 5).values(item="judicial.x"))
    assert not verify_registry(registry).ok
    registry.close()


def test_a_held_reference_among_new_ones_rolls_the_copy_back_to_its_savepoint(
    pg_url: str, tmp_path: Path
) -> None:
    """COPY meets the unique reference: the savepoint is rolled back and the batch is sorted
    row by row in the same transaction, which then commits the new rows."""
    from credence.ingest.pipeline import ingest_file
    from tests.conftest import read_rejects

    registry, _ = Registry.init(Settings(data_dir=tmp_path / "data", db_url=pg_url))
    registry.add_source("court", ["judicial.*"])
    ingest_file(registry, write_csv(tmp_path / "a.csv", [row(), row(reference="C-2")]), "court")
    rows = [row(reference="C-3"), row(), row(reference="C-2", occurred_on="2024-03-02")]
    path = write_csv(tmp_path / "b.csv", rows)
    report = ingest_file(registry, path, "court")
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, 1)
    assert [(r["row"], r["field"]) for r in read_rejects(path)] == [("3", "reference")]
    with registry.engine.connect() as conn:
        refs = conn.execute(sa.select(records.c.reference).order_by(records.c.seq)).scalars()
        assert list(refs) == ["C-1", "C-2", "C-3"]
    assert verify_registry(registry).ok
    registry.close()


def test_one_writer_at_a_time_and_a_bounded_wait(pg_url: str, tmp_path: Path) -> None:
    registry, _ = Registry.init(Settings(data_dir=tmp_path / "data", db_url=pg_url))
    registry.close()
    holder = create_engine(pg_url)
    waiter = create_engine(pg_url, lock_timeout=0.3)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with write_transaction(holder):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError, match="lock timeout"), write_transaction(waiter):
        pass
    assert 0.25 < time.monotonic() - started < 5
    release.set()
    thread.join()
    with write_transaction(waiter):  # free again
        pass
    holder.dispose()
    waiter.dispose()


def test_an_unreachable_server_is_one_line() -> None:
    engine = create_engine("postgresql+psycopg://postgres:secret@127.0.0.1:1/nowhere")
    with pytest.raises(StoreError) as caught:
        check_schema(engine)
    message = str(caught.value)
    assert "nowhere at 127.0.0.1:1" in message and "secret" not in message
    assert "\n" not in message
