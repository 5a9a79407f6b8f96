"""Every command on a PostgreSQL store, and the `sql` engine giving SQLite's answers there.

Marked `postgres` (run with `pytest -m postgres`; `.ci/run` does). Each test
has its own database from the `pg_url` fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from credence.synth.city import CityManifest, synthesise
from tests.conftest import ORG, PERSON, row, write_csv

pytestmark = pytest.mark.postgres
AS_OF = "2026-11-01"
CREDENCE = str(Path(sys.executable).with_name("credence"))

Run = Callable[..., tuple[int, str]]


def runner_for(data: Path, url: str | None) -> Run:
    env = {"CREDENCE_DATA_DIR": str(data), "CREDENCE_DB_URL": url or ""}
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


def load_city(run: Run, city: Path, manifest: CityManifest) -> None:
    assert run("init")[0] == 0
    for spec in manifest.sources:
        items = [a for p in spec.patterns for a in ("--items", p)]
        assert run("source", "add", spec.name, *items)[0] == 0
        code, out = run("ingest", str(city / spec.file), "--source", spec.name)
        assert code == 0, out


def without_ledger(lines: str) -> list[str]:
    """JSON lines less the `ledger` field: roots differ (each store has its own salts)."""
    kept = []
    for line in lines.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            data.pop("ledger", None)
            kept.append(json.dumps(data))
    return kept


def one_document(text: str) -> dict[str, object]:
    """The JSON document `explain --json` prints, less the `ledger` field."""
    data, _ = json.JSONDecoder().raw_decode(text, text.index("{"))
    data.pop("ledger", None)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CityManifest]:
    root = tmp_path_factory.mktemp("pgcity")
    return root, synthesise(root, 150, seed=3, records_per_subject=8, fmt="csv")


def test_sql_engine_and_explain_agree_with_sqlite(
    pg_url: str, tmp_path: Path, city: tuple[Path, CityManifest]
) -> None:
    on_pg = runner_for(tmp_path / "pg", pg_url)
    on_sqlite = runner_for(tmp_path / "sqlite", None)
    for run in (on_pg, on_sqlite):
        load_city(run, *city)
        code, out = run("verify")
        assert code == 0, out
    outputs = {}
    for name, run in (("pg", on_pg), ("sqlite", on_sqlite)):
        code, out = run("score", "--engine", "sql", "--as-of", AS_OF)
        assert code == 0, out
        outputs[name] = without_ledger(out)
    assert outputs["pg"] == outputs["sqlite"] and len(outputs["pg"]) > 50
    code, batch = on_pg("score", "--engine", "duckdb", "--as-of", AS_OF)
    assert code == 0 and without_ledger(batch) == outputs["pg"], batch
    listed = [json.loads(line) for line in outputs["pg"] if '"lists":[{' in line.replace(" ", "")]
    for subject in [json.loads(outputs["pg"][0])["subject"]] + [d["subject"] for d in listed[:3]]:
        explained = [
            run("explain", subject, "--as-of", AS_OF, "--json") for run in (on_pg, on_sqlite)
        ]
        assert explained[0][0] == 0, explained[0][1]
        assert one_document(explained[0][1]) == one_document(explained[1][1])


def test_every_command_on_postgres(pg_url: str, tmp_path: Path) -> None:
    run = runner_for(tmp_path / "data", pg_url)
    assert run("init")[0] == 0
    assert run("source", "add", "court", "--items", "judicial.*")[0] == 0
    rows = [row(reference=f"C-{i}", subject=ORG if i % 2 else PERSON) for i in range(6)]
    code, out = run("ingest", str(write_csv(tmp_path / "a.csv", rows)), "--source", "court")
    assert code == 0 and "6 accepted" in out, out
    for args in (
        ("verify",),
        ("checkpoint",),
        ("proof", "inclusion", "4"),
        ("proof", "consistency", "3", "8"),
        ("explain", PERSON, "--as-of", AS_OF),
        ("simulate", "--rulebook", "gov-default", "--as-of", AS_OF),
        ("erase", "4", "--reason", "retention period over"),
        ("verify",),
        ("migrate",),
    ):
        code, out = run(*args)
        assert code == 0, (args, out)


def test_two_ingests_at_once_never_collide(pg_url: str, tmp_path: Path) -> None:
    run = runner_for(tmp_path / "data", pg_url)
    assert run("init")[0] == 0
    assert run("source", "add", "court", "--items", "judicial.*")[0] == 0
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data"), "CREDENCE_DB_URL": pg_url}
    env["CREDENCE_BATCH_SIZE"] = "50"  # many transactions each, interleaving
    for attempt in range(5):
        files = [
            write_csv(
                tmp_path / f"{attempt}-{side}.csv",
                [row(reference=f"{attempt}-{side}-{i}") for i in range(400)],
            )
            for side in ("a", "b")
        ]
        procs = [
            subprocess.Popen(
                [CREDENCE, "ingest", str(f), "--source", "court"],
                env={**env, "PATH": "/usr/bin:/bin"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for f in files
        ]
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0 and "400 accepted" in out, out
    code, out = run("verify")
    assert code == 0 and "(4000 records)" in out, out


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/x"
    code, out = runner_for(tmp_path / "data", url)("init")
    assert code == 2, out
    assert out.count("\n") == 1 and "database x at 127.0.0.1:1" in out and "hunter2" not in out
    code, out = runner_for(tmp_path / "data", "postgresql+psycopg2://u@h/x")("init")
    assert code == 2 and "pip install 'psycopg2-binary'" in out, out
