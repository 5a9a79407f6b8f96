"""`credence identity resolve` over a registry with one record waiting to be matched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credence.cli.main import app
from credence.ingest.pipeline import ingest_file
from credence.service import matches
from credence.service.keys import authenticate, issue_key
from credence.service.state import Service
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import PERSON


def test_resolve_reports_the_pending_match(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, today=dt.date(2026, 6, 1))
    registry, _ = Registry.init(settings)
    registry.add_source("psb", ["administrative.resident-registration"])
    registry.add_source("court", ["judicial.*"])
    register = tmp_path / "psb.jsonl"
    register.write_text(
        '{"reference": "R-1", "item": "administrative.resident-registration", '
        f'"subject": "{PERSON}", "occurred_on": "2020-01-01", '
        '"attributes": {"name": "张伟", "region": "110105"}}\n',
        encoding="utf-8",
    )
    assert ingest_file(registry, register, "psb").accepted == 1
    key, _ = issue_key(registry, "source", "court-api", source="court")
    service = Service(registry, settings)
    party = authenticate(registry, key)
    assert party is not None
    row = {
        "reference": "U-1",
        "item": "judicial.defaulter-listed",
        "occurred_on": "2026-03-05",
        "attributes": {"case_number": "(2026)京0105执9号"},
        "name": "Wei Zhang",
        "birth_date": "1980-01-01",
        "region": "110105",
    }
    assert matches.receive(service, party, {"records": [row]})["received"] == 1
    service.close()
    registry.close()
    result = CliRunner().invoke(app, ["identity", "resolve"], env={"CREDENCE_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert "considered 1 record(s)" in result.output
    assert "1 pending match(es) for review, 0 ambiguous" in result.output


def test_resolve_on_spark_without_pyspark_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import credence.identity.spark as spark

    monkeypatch.setattr(spark, "spark_available", lambda: False)
    env = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(app, ["identity", "resolve", "--engine", "spark"], env=env)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: identity resolution on Spark needs PySpark: install credence[spark] "
        "(pip install 'credence[spark]')"
    ]
    result = CliRunner().invoke(app, ["identity", "resolve", "--engine", "polars"], env=env)
    assert result.exit_code == 2
    assert "--engine must be one of duckdb, spark, not 'polars'" in result.output
