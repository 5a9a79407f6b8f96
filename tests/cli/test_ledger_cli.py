"""The ledger commands end to end: proofs checked by the outside script, erase, migrate."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from tests.conftest import ORG, PERSON, row, write_csv

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / "examples" / "audit_ledger.py"
FIXTURE = ROOT / "tests" / "fixtures" / "v1-registry"

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def loaded(run: Run, tmp_path: Path) -> Path:
    assert run("init")[0] == 0
    assert run("source", "add", "court", "--items", "judicial.*")[0] == 0
    rows = [row(reference=f"C-{i}", subject=ORG if i % 2 else PERSON) for i in range(5)]
    code, out = run("ingest", str(write_csv(tmp_path / "a.csv", rows)), "--source", "court")
    assert code == 0, out
    return tmp_path / "data"


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(AUDIT), *args], capture_output=True, text=True, check=False
    )


def test_an_outsider_checks_a_record_and_the_log_growth(
    run: Run, loaded: Path, tmp_path: Path
) -> None:
    vkey = str(loaded / "log.vkey")
    proof, record = tmp_path / "p.tlog-proof", tmp_path / "r.json"
    code, out = run("proof", "inclusion", "4", "--out", str(proof), "--record", str(record))
    assert code == 0, out
    checked = audit("record", str(record), str(proof), "--log-key", vkey)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    changed = record.read_text().replace("C-2", "C-9")
    record.write_text(changed)
    assert audit("record", str(record), str(proof), "--log-key", vkey).returncode == 1

    old = tmp_path / "old.note"
    assert run("checkpoint", "--out", str(old))[0] == 0
    assert run("source", "add", "tax", "--items", "administrative.tax-*")[0] == 0
    growth = tmp_path / "growth.txt"
    assert run("proof", "consistency", "7", "--out", str(growth))[0] == 0
    assert growth.read_text().startswith("old 7\n")
    ok = audit("consistency", str(old), str(growth), "--log-key", vkey)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_erase_removes_content_keeps_the_tree(run: Run, loaded: Path) -> None:
    code, out = run("erase", "3", "--reason", "dispute upheld, withdrawn by the court")
    assert code == 0 and "erased ledger entry #3: erasure entry #7" in out, out
    code, out = run("verify")
    assert code == 0 and "8 entries (4 records)" in out, out
    with sqlite3.connect(loaded / "credence.db") as conn:
        assert conn.execute("SELECT count(*) FROM records WHERE seq = 3").fetchone() == (0,)
    code, out = run("erase", "3", "--reason", "again")
    assert code == 2 and "already erased" in out
    code, out = run("erase", "1", "--reason", "not a record")
    assert code == 2 and "is not a record" in out
    code, out = run("erase", "4", "--reason", "x")
    assert code == 2 and "--reason" in out


def test_erased_record_no_longer_counts(run: Run, loaded: Path, tmp_path: Path) -> None:
    code, before = run("explain", PERSON, "--as-of", "2026-01-01", "--json")
    assert code == 0 and "judgment-defaulters" in before
    for seq in ("2", "4", "6"):  # every record about PERSON
        assert run("erase", seq, "--reason", "retention period over")[0] == 0
    code, after = run("explain", PERSON, "--as-of", "2026-01-01", "--json")
    assert code == 0 and "judgment-defaulters" not in after, after
    rows = [row(reference="C-0", subject=PERSON)]
    code, out = run("ingest", str(write_csv(tmp_path / "again.csv", rows)), "--source", "court")
    assert code == 0 and "1 rejected" in out  # an erased reference is not taken as new


def test_migrate_a_schema_1_registry(tmp_path: Path) -> None:
    data = tmp_path / "v1"
    shutil.copytree(FIXTURE, data)
    env = {"CREDENCE_DATA_DIR": str(data)}
    runner = CliRunner()
    refused = runner.invoke(app, ["verify"], env=env)
    assert refused.exit_code == 2 and "schema is version 1" in refused.output
    with sqlite3.connect(data / "credence.db") as conn:
        (old_root,) = conn.execute("SELECT root FROM tree_heads ORDER BY size DESC").fetchone()
        (old_size,) = conn.execute("SELECT max(size) FROM tree_heads").fetchone()
    done = runner.invoke(app, ["migrate"], env=env)
    assert done.exit_code == 0 and "migrated schema 1 -> 4" in done.output, done.output
    ok = runner.invoke(app, ["verify"], env=env)
    assert ok.exit_code == 0, ok.output
    with sqlite3.connect(data / "credence.db") as conn:
        kept = conn.execute("SELECT root FROM tree_heads WHERE size = ?", (old_size,)).fetchone()
    assert kept == (old_root,)  # checkpoints kept before the migration stay valid
    again = runner.invoke(app, ["migrate"], env=env)
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_files_are_private(run: Run, loaded: Path) -> None:
    assert loaded.stat().st_mode & 0o777 == 0o700
    for name in ("credence.db", "signing-key.pem", "subject-key"):
        assert (loaded / name).stat().st_mode & 0o777 == 0o600, name


def test_score_and_explain_refuse_a_registry_that_fails_its_checks(run: Run, loaded: Path) -> None:
    with sqlite3.connect(loaded / "credence.db") as conn:
        conn.execute("""UPDATE sources SET patterns = '["*"]' WHERE name = 'court'""")
    code, out = run("score", "--engine", "sql")
    assert code == 2 and "fails its integrity checks" in out and "permitted items" in out
    code, out = run("explain", PERSON)
    assert code == 2 and "fails its integrity checks" in out
    code, out = run("explain", PERSON, "--unverified")
    assert code == 0 and "WARNING: UNVERIFIED REGISTRY" in out


def test_score_refuses_a_tampered_snapshot(run: Run, loaded: Path) -> None:
    import pyarrow.parquet as pq

    assert run("score", "--engine", "duckdb", "--as-of", "2026-01-01")[0] == 0
    part = next((loaded / "snapshot" / "records").glob("*/*.parquet"))
    table = pq.read_table(part, partitioning=None)
    pq.write_table(table.slice(1), part)
    code, out = run("score", "--engine", "duckdb", "--as-of", "2026-01-01")
    assert code == 2 and "refusing to score it" in out, out


def test_verify_requires_the_witness_cosignature_on_the_latest_head(
    run: Run, loaded: Path, tmp_path: Path
) -> None:
    vkey = str(loaded / "log.vkey")
    wdir = tmp_path / "witness"
    code, out = run("witness", "init", "--dir", str(wdir), "--log-key", vkey, "--name", "w.test/1")
    assert code == 0, out
    wkey = str(wdir / "witness.vkey")
    first = tmp_path / "cp1.note"
    assert run("checkpoint", "--out", str(first))[0] == 0
    cosigned = tmp_path / "cp1.cosigned"
    code, out = run("witness", "cosign", str(first), "--dir", str(wdir), "--out", str(cosigned))
    assert code == 0, out
    code, out = run("verify", "--checkpoint", str(cosigned), "--witness", wkey)
    assert code == 0 and "cosigned by w.test/1" in out, out
    assert run("source", "add", "tax", "--items", "administrative.tax-*")[0] == 0
    code, out = run("verify", "--checkpoint", str(cosigned), "--witness", wkey)
    assert code == 1 and "no checkpoint given carries witness w.test/1" in out, out
    growth = tmp_path / "growth.txt"
    old_size = first.read_text().splitlines()[1]
    assert run("proof", "consistency", old_size, "--out", str(growth))[0] == 0
    second = tmp_path / "cp2.cosigned"
    code, out = run(
        "witness",
        "cosign",
        str(growth),
        "--dir",
        str(wdir),
        "--proof",
        str(growth),
        "--out",
        str(second),
    )
    assert code == 0, out
    code, out = run("verify", "--checkpoint", str(second), "--witness", wkey)
    assert code == 0, out


def test_init_never_replaces_a_lost_key_of_an_existing_registry(run: Run, loaded: Path) -> None:
    (loaded / "signing-key.pem").unlink()
    code, out = run("init")
    assert code == 2 and "restore the key" in out, out
    assert not (loaded / "signing-key.pem").exists()
    code, out = run("verify", "--public-key", str(loaded / "log.vkey"))
    assert code == 0, out  # an auditor holding only the published key can still check
