"""The batch engine's DuckDB keeps to its memory limit and spills where it should."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from credence.engines.batch import connect


def test_spills_to_a_directory_of_its_own_under_the_temp_directory() -> None:
    con = connect("64MB")
    try:
        found = con.execute(
            "SELECT current_setting('temp_directory'), current_setting('memory_limit')"
        ).fetchone()
    finally:
        con.close()
    assert found is not None
    spill, limit = found
    assert Path(spill) == Path(tempfile.gettempdir()) / f"credence-duckdb-{os.getpid()}"
    assert limit.endswith("MiB") and float(limit.split()[0]) <= 64


def test_data_bigger_than_the_limit_spills_and_is_removed_on_close() -> None:
    con = connect("32MB", threads=1)
    spill = Path(tempfile.gettempdir()) / f"credence-duckdb-{os.getpid()}"
    try:
        # ~100 MB of strings held under a 32 MB limit: only possible by spilling.
        con.execute(
            "CREATE TEMP TABLE t AS SELECT repeat('x', 90) || CAST(range AS VARCHAR) AS s "
            "FROM range(1000000)"
        )
        rows = con.execute("SELECT count(DISTINCT s) FROM t").fetchone()
        spilled = sum(f.stat().st_size for f in spill.rglob("*") if f.is_file())
    finally:
        con.close()
    assert rows == (1_000_000,)
    assert spilled > 32 * 2**20
    assert not spill.exists() or not any(spill.iterdir())
