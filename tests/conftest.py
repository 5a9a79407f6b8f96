"""Shared fixtures: a fresh registry in a temporary directory, and row builders.

The default test run needs nothing running; PostgreSQL, Spark and browser
tests carry markers (see pyproject.toml) and run in CI.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
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

# The PostgreSQL server of the `postgres` tier; CREDENCE_TEST_PG_HOST/PORT point elsewhere.
PG_HOST = os.environ.get("CREDENCE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CREDENCE_TEST_PG_PORT", "5432"))
PG_USERS = ("postgres", "root")  # trust authentication: the first that connects


def _pg_admin() -> tuple[Any, str]:
    """An autocommit connection to the server's `postgres` database, and its user."""
    import psycopg

    reasons = []
    for user in PG_USERS:
        try:
            conn = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", autocommit=True,
                connect_timeout=5,
            )  # fmt: skip
            return conn, user
        except psycopg.OperationalError as exc:
            reasons.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable ({'; '.join(reasons)})")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test.

    Each test gets its own database (`credence_t_<hex>`), so tests never see
    each other's rows and may run in parallel. Skips only when the server is
    unreachable; for tests marked `postgres`.
    """
    admin, user = _pg_admin()
    name = f"credence_t_{secrets.token_hex(6)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
        # FORCE (PostgreSQL 13+) terminates the sessions still attached and waits
        # for them to go; a separate pg_terminate_backend only signals them, so a
        # DROP straight after it could still find one there (a flaky teardown).
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


# Ledger entries the `registry` fixture makes before any record: the signing key's
# issue and the two sources' registrations.
GOVERNANCE = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", batch_size=1000)


def new_registry(settings: Settings) -> Registry:
    """A new registry with the two sources the tests submit as (court, police)."""
    reg, _ = Registry.init(settings)
    reg.add_source("court", ["judicial.*"])
    reg.add_source("police", ["administrative.traffic-*", "administrative.drunk-driving"])
    return reg


def registry_for(
    request: pytest.FixtureRequest, settings: Settings, when: str, copy: str
) -> Registry:
    """The registry of a module whose tests start from one prepared registry: for a test
    using fixture `when`, its own copy of the closed registry whose data directory fixture
    `copy` gives (built once; ingesting it, or exporting its snapshot in a child process,
    took 0.5-1.5 s a test), opened at `settings.data_dir`; for any other test a new one.
    Everything a registry holds is under its data directory."""
    if when not in request.fixturenames:
        return new_registry(settings)
    shutil.copytree(request.getfixturevalue(copy), settings.data_dir)
    return Registry.open(settings)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    reg = new_registry(settings)
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
