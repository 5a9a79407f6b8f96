"""Tamper detection: edit the SQLite file behind credence's back and verify names it."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.verify import verify_registry
from tests.conftest import ORG, row, write_csv


@pytest.fixture
def filled(registry: Registry, settings: Settings, tmp_path: Path) -> Path:
    """A registry of 2,500 records in three signed heads; returns the SQLite path."""
    rows = [
        row(reference=f"C-{i}", subject=ORG if i % 2 else row()["subject"]) for i in range(2500)
    ]
    rows.append(row(reference="C-fix", corrects="C-7"))
    ingest_file(registry, write_csv(tmp_path / "a.csv", rows), "court", today=dt.date(2026, 1, 1))
    assert verify_registry(registry).ok
    return settings.data_dir / "credence.db"


def edit(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


def problems(registry: Registry) -> list[str]:
    report = verify_registry(registry)
    assert not report.ok
    return report.problems


def test_changed_record_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "UPDATE records SET occurred_on = '2024-03-02' WHERE reference = 'C-1234'")
    (problem,) = problems(registry)
    assert "ledger entry #1234" in problem and "reference C-1234" in problem
    assert "does not match its ledger leaf" in problem


def test_changed_subject_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, f"UPDATE records SET subject = '{ORG}' WHERE seq = 10")
    assert "ledger entry #10 " in problems(registry)[0]


def test_changed_record_and_leaf_hash_is_caught_by_the_signed_head(
    registry: Registry, filled: Path
) -> None:
    """An attacker who rewrites the record and its leaf hash cannot re-sign the head."""
    from credence.ledger.leaf import record_hash, record_leaf, subject_hash
    from credence.store.verify import _record_of, _record_rows

    edit(filled, "UPDATE records SET occurred_on = '2024-03-02' WHERE seq = 1500")
    with registry.engine.connect() as conn:
        names = {1: "court"}
        entry = next(r for r in _record_rows(conn, 0, 10**12) if r.seq == 1500)
        rec, salt = _record_of(entry, names)
    import hashlib

    leaf = record_leaf(
        1500,
        rec,
        record_hash(salt, rec.content()),
        subject_hash(registry.subject_key(), rec.subject),
    )
    new_hash = hashlib.sha256(b"\x00" + leaf).hexdigest()
    edit(filled, f"UPDATE records SET leaf_hash = X'{new_hash}' WHERE seq = 1500")
    (problem,) = problems(registry)
    assert "tree head at size 2000 does not match the log" in problem
    assert "between #1000 and #1999" in problem


def test_deleted_record_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "DELETE FROM records WHERE seq = 42")
    assert "ledger entry #42 is missing" in problems(registry)[0]


def test_deleted_ledger_tail_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "DELETE FROM records WHERE seq >= 2400")
    assert "beyond the log's 2400 entries" in problems(registry)[-1]


def test_forged_signature_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1 WHERE size = 1000")
    assert "tree head at size 1000: signature does not verify" in problems(registry)


def test_redirected_correction_is_named(registry: Registry, filled: Path) -> None:
    edit(filled, "UPDATE records SET corrects_seq = 8 WHERE reference = 'C-fix'")
    assert "corrects link does not point" in problems(registry)[0]


def test_cli_verify_exits_non_zero_and_names_the_leaf(
    registry: Registry, filled: Path, settings: Settings
) -> None:
    env = {"CREDENCE_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "2501 leaves" in ok.output
    edit(filled, "UPDATE records SET attributes = NULL WHERE seq = 7")
    bad = runner.invoke(app, ["verify"], env=env)
    assert bad.exit_code == 1
    assert "ledger entry #7 " in bad.output and "TAMPERED" in bad.output


@pytest.mark.parametrize("workers", [0, 2])
def test_parallel_and_inline_verification_agree(
    registry: Registry, filled: Path, workers: int
) -> None:
    report = verify_registry(registry, workers=workers)
    assert report.ok and (report.leaves, report.records, report.heads) == (2501, 2501, 3)
    edit(filled, "UPDATE records SET subject = 'uscc:91110000600037341L' WHERE seq = 2300")
    edit(filled, "UPDATE records SET occurred_on = '2020-01-01' WHERE seq = 1700")
    (problem,) = verify_registry(registry, workers=workers).problems
    assert problem.startswith("ledger entry #1700 ")
