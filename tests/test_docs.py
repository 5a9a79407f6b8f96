"""Guardrails: generated docs are fresh, every setting is documented, the core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.catalogue_docs import catalogue_markdown
from credence.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
IO_MODULES = {
    "fastapi",
    "starlette",
    "sqlalchemy",
    "duckdb",
    "pyspark",
    "psycopg",
    "psycopg2",
    "httpx",
    "requests",
    "redis",
    "uvicorn",
    "sqlite3",
    "pyarrow",
    "socket",
    "urllib",
}


def test_catalogue_docs_are_fresh() -> None:
    expected = catalogue_markdown(load_catalogue(default_catalogue_path()))
    actual = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert actual == expected, "run: credence catalogue docs > docs/catalogue.md"


def test_every_setting_is_documented() -> None:
    documented = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`CREDENCE_{name.upper()}`" in documented, name


def test_core_imports_no_io_library() -> None:
    """credence.core is pure domain code: no web, database, engine or network client."""
    offenders = []
    for path in (ROOT / "credence" / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in IO_MODULES]
    assert offenders == []


def test_nothing_imports_the_cli() -> None:
    for path in (ROOT / "credence").rglob("*.py"):
        if "cli" in path.parts:
            continue
        assert "credence.cli" not in path.read_text(encoding="utf-8"), path


def test_readme_quick_start_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
