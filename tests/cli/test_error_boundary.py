"""The error boundary: every failure is plain lines and an exit code, never a secret.

Resident IDs, salts and SQL parameters must stay out of messages and,
with --debug, out of tracebacks too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from credence.cli.failures import INTERNAL, USER, explain, redact
from credence.cli.main import app
from tests.conftest import row, write_csv

FAKE_ID = "11010519800101123X"  # shaped like a resident ID
SALT = bytes(range(16))
Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    runner = CliRunner()
    base = {"CREDENCE_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str, **env: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={**base, **env})
        return result.exit_code, result.stderr

    return invoke


@pytest.fixture
def court(run: Run, tmp_path: Path) -> Path:
    assert run("init")[0] == 0
    assert run("source", "add", "court", "--items", "judicial.*")[0] == 0
    return write_csv(tmp_path / "a.csv", [row(), row(reference="C-2")])


def _secrets_absent(out: str) -> None:
    for secret in (FAKE_ID, SALT.hex(), repr(SALT), FAKE_ID[:17]):
        assert secret not in out


def _raise_deep(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("lookup failed", FAKE_ID, SALT)

    monkeypatch.setattr("credence.store.registry.Registry.sources", broken)


def test_internal_error_is_two_lines_and_exit_3(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("init")[0] == 0
    _raise_deep(monkeypatch)
    code, out = run("source", "list")
    assert code == INTERNAL == 3
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith("error: RuntimeError while source list: ")
    assert "--debug" in lines[1]
    assert "Traceback" not in out
    _secrets_absent(out)


def test_debug_shows_the_traceback_with_values_masked(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("init")[0] == 0
    _raise_deep(monkeypatch)
    for args, env in (
        (("--debug", "source", "list"), {}),
        (("source", "list"), {"CREDENCE_DEBUG": "1"}),
    ):
        code, out = run(*args, **env)
        assert code == 3
        assert "Traceback (most recent call last)" in out and "def broken" not in out
        assert "RuntimeError" in out
        _secrets_absent(out)


def _failing_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real IntegrityError from the registry's engine, its parameters holding secrets."""

    def append(appender: Any, *args: Any) -> None:
        with appender.engine.connect() as conn:
            conn.exec_driver_sql(
                "INSERT INTO meta (key, value) VALUES (?, ?)", ("schema", f"{FAKE_ID}:{SALT.hex()}")
            )

    monkeypatch.setattr("credence.ingest.pipeline._append", append)


@pytest.mark.parametrize("debug", [False, True])
def test_database_error_never_shows_parameters(
    run: Run, court: Path, monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    _failing_insert(monkeypatch)
    args = ["--debug"] if debug else []
    code, out = run(*args, "ingest", str(court), "--source", "court")
    assert code == 3, out
    assert "IntegrityError while ingest: UNIQUE constraint failed: meta.key" in out
    assert ("Traceback" in out) is debug
    if debug:
        assert "SQL parameters hidden" in out
    _secrets_absent(out)


def test_an_error_made_without_hide_parameters_is_stripped() -> None:
    exc = sa.exc.IntegrityError(
        "INSERT INTO records (subject, salt) VALUES (?, ?)",
        (f"ric:{FAKE_ID}", SALT),
        sqlite3.IntegrityError("UNIQUE constraint failed: records.subject"),
    )
    assert FAKE_ID in str(exc)  # what SQLAlchemy would have printed
    failure = explain(exc, "ingest", 30)
    assert failure.code == INTERNAL
    assert failure.lines[0] == (
        "IntegrityError while ingest: UNIQUE constraint failed: records.subject"
    )
    _secrets_absent(redact(str(exc)))


def test_a_locked_registry_is_a_plain_line_and_exit_2(run: Run, court: Path) -> None:
    holder = sqlite3.connect(court.parent / "data" / "credence.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        code, out = run("ingest", str(court), "--source", "court", CREDENCE_LOCK_TIMEOUT="0.3")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == USER == 2, out
    assert out.strip() == (
        "error: the registry is locked by another process (a write has waited 0.3 s); "
        "try again when it finishes, or raise CREDENCE_LOCK_TIMEOUT"
    )
    code, out = run("ingest", str(court), "--source", "court")
    assert code == 0, out


def test_environment_failures_are_user_errors() -> None:
    full = sa.exc.OperationalError(
        "INSERT", {}, sqlite3.OperationalError("database or disk is full")
    )
    assert explain(full, "ingest", 30).lines == (
        "the disk is full: free some space and run the same command again",
    )
    denied = PermissionError(13, "Permission denied", "/srv/data/credence.db")
    failure = explain(denied, "init", 30)
    assert failure.code == USER and "/srv/data/credence.db" in failure.lines[0]


def test_usage_errors_keep_click_behaviour(run: Run) -> None:
    code, out = run("ingest", "no-such-file.csv", "--source", "court")
    assert code == 2 and "Traceback" not in out


def test_redact_masks_ids_salts_and_keys_but_not_paths() -> None:
    text = redact(
        f"subject ric:{FAKE_ID} salt {SALT.hex()} {SALT!r} "
        "key MCowBQYDK2VwAyEAx7q2Lr0v0JcB1+3e4aFz9kqzB1pTt9F8n0d8c3mPq9Q= "
        "file /work/data/a-1.csv row 12 field amount"
    )
    assert text == (
        "subject ric:<redacted> salt <redacted> b'<redacted>' key <key> "
        "file /work/data/a-1.csv row 12 field amount"
    )
