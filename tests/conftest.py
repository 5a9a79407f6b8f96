"""Shared fixtures: a fresh registry in a temporary directory, and row builders.

The default test run needs nothing running; PostgreSQL, Spark and browser
tests carry markers (see pyproject.toml) and run in CI.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from credence.core.ids import make_ric, make_uscc
from credence.settings import Settings
from credence.store.registry import Registry

PERSON = "ric:" + make_ric("11010519800101123")
PERSON_2 = "ric:" + make_ric("31010119900215456")
ORG = "uscc:" + make_uscc("91110000600037341")
ORG_LETTER = "uscc:" + make_uscc("N1110000600037341")

# Property tests stay short in the default run; HYPOTHESIS_PROFILE=long searches deeper.
hypothesis.settings.register_profile("credence", max_examples=150, deadline=None)
hypothesis.settings.register_profile("long", max_examples=5_000, deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "credence"))

# Ledger entries the `registry` fixture makes before any record: the signing key's
# issue and the two sources' registrations.
GOVERNANCE = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", batch_size=1000)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    reg, _ = Registry.init(settings)
    reg.add_source("court", ["judicial.*"])
    reg.add_source("police", ["administrative.traffic-*", "administrative.drunk-driving"])
    yield reg
    reg.close()


def row(**fields: Any) -> dict[str, Any]:
    """A valid court row, overridable field by field."""
    base: dict[str, Any] = {
        "item": "judicial.defaulter-listed",
        "subject": PERSON,
        "occurred_on": "2024-03-01",
        "reference": "(2024)京0105执1号",
        "decided_on": "2024-03-05",
        "attributes": {"case_number": "(2024)京0105执1号", "amount": 12000},
    }
    base["reference"] = "C-1"
    base.update(fields)
    return base


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {
                    k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
                    for k, v in r.items()
                }
            )
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys(k for r in rows for k in r))
    data = {
        c: [
            json.dumps(r[c], ensure_ascii=False) if isinstance(r.get(c), dict) else r.get(c)
            for r in rows
        ]
        for c in columns
    }
    pq.write_table(pa.table(data), path)
    return path


def read_rejects(path: Path) -> list[dict[str, str]]:
    rejects = path.with_name(path.name + ".rejects.csv")
    if not rejects.exists():
        return []
    with rejects.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
