"""The command line as a user drives it (in-process, Typer's test runner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from tests.conftest import ORG, ORG_LETTER, PERSON, row, write_csv


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


def test_id_check_prints_canonical_forms_and_reasons(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("id", "check", PERSON.lower(), ORG_LETTER)
    assert code == 0
    assert f"ok\t{PERSON}" in out and f"ok\t{ORG_LETTER}" in out
    code, out = run("id", "check", ORG, "uscc:91110000600037341P")
    assert code == 1
    assert "invalid\tcheck character should be 'L'" in out


def test_commands_need_init(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("source", "list")
    assert code == 2 and "run `credence init` first" in out


def test_init_source_ingest_verify(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("init")[0] == 0
    code, out = run("init")
    assert code == 0 and "already initialised" in out
    code, out = run("source", "add", "court", "--items", "judicial.*")
    assert code == 0 and "registered source court: 9 items" in out
    code, out = run("source", "add", "bad", "--items", "political.*")
    assert code == 2 and "matches no catalogue item" in out
    path = write_csv(tmp_path / "a.csv", [row(), row(reference="C-2", subject="ric:1")])
    code, out = run("ingest", str(path), "--source", "court")
    assert code == 0, out
    assert "2 rows: 1 accepted, 0 already held, 1 rejected" in out
    assert "a.csv.rejects.csv" in out
    code, out = run("ingest", str(path), "--source", "court")
    assert "0 accepted, 1 already held, 1 rejected" in out
    code, out = run("verify")
    assert code == 0 and "ok: 3 entries (1 records" in out
    code, out = run("source", "list")
    assert "court\tjudicial.*\t9 items" in out


def test_catalogue_check_refuses_prohibited_items(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "items:\n"
        "  - code: social.prayer-attendance\n"
        "    title: Prayer attendance\n"
        "    area: social\n"
        "    subjects: [person]\n"
        "    polarity: positive\n"
        "    severity: minor\n"
        "    legal_basis: None whatsoever\n"
        "    publicity: 1 year\n"
        "    visibility: public\n"
    )
    code, out = run("catalogue", "check", str(bad))
    assert code == 2
    assert "bad.yaml:2: item 'social.prayer-attendance' refers to religion or belief" in out


def test_invalid_setting_fails_at_start(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init"], env={"CREDENCE_BATCH_SIZE": "lots"})
    assert result.exit_code == 2
    assert "CREDENCE_BATCH_SIZE" in result.output


def test_synth_then_ingest_every_source(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from credence.synth.city import read_manifest

    out_dir = tmp_path / "city"
    code, out = run(
        "synth",
        "--subjects",
        "300",
        "--seed",
        "3",
        "--out",
        str(out_dir),
        "--format",
        "csv",
        "--records-per-subject",
        "5",
    )
    assert code == 0, out
    manifest = read_manifest(out_dir)
    run("init")
    total_rejected = 0
    for spec in manifest.sources:
        run("source", "add", spec.name, "--items", *spec.patterns)
        code, out = run("ingest", str(out_dir / spec.file), "--source", spec.name)
        assert code == 0, out
        total_rejected += int(
            out.split(" accepted, ")[1].split(" already held, ")[1].split(" rejected")[0]
        )
    assert total_rejected == manifest.bad_rows
    assert run("verify")[0] == 0
