"""A check's work does not grow with the registry's corrections.

The store engine's `held` leaves out corrected records. It found them by
reading every correction and suppression in the registry (and indexing them)
once a call, so a check cost time in proportion to how many corrections the
whole registry held: 33-35 ms a check with 60,000 of them, against 0.16 ms
now (benchmarks/RESULTS.md, session 24). Here the work is counted in SQLite
virtual-machine steps (a progress handler), not timed: the same subject's
check must take the same number of steps after other subjects' records are
corrected by the thousand, and still leave out its own corrected record.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from stdnum.cn import ric

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.core.rulebook import load_rulebook, resolve_rulebook_path
from credence.engines.store import StoreEngine
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import write_jsonl
from tests.rulebook.helpers import INGEST_TODAY, rec

AS_OF = dt.date(2026, 11, 1)


def _person(i: int) -> str:
    """The i-th of a run of valid resident IDs (born on distinct days from 1970)."""
    born = dt.date(1970, 1, 1) + dt.timedelta(days=i)
    base = f"110101{born:%Y%m%d}123"
    # stdnum's calc_check_digit takes the whole number, check place included (ignored).
    return "ric:" + base + ric.calc_check_digit(base + "0")


SUBJECT = _person(0)


def _steps(engine: StoreEngine, registry: Registry, subject: str) -> tuple[int, Any]:
    """SQLite VM steps (in hundreds) of one check of `subject`, and its assessment."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0  # go on

    with registry.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.set_progress_handler(tick, 100)
        try:
            found = engine.assess(subject, conn=conn)
        finally:
            raw.set_progress_handler(None, 0)
    return counted[0], found


def _ingest(registry: Registry, root: Path, name: str, rows: list[dict[str, Any]]) -> None:
    report = ingest_file(registry, write_jsonl(root / name, rows), "all", today=INGEST_TODAY)
    assert report.accepted == len(rows), report


def test_a_checks_work_does_not_grow_with_other_subjects_corrections(tmp_path: Path) -> None:
    registry, _ = Registry.init(Settings(data_dir=tmp_path / "data"))
    registry.add_source("all", ["*"])
    try:
        _ingest(
            registry,
            tmp_path,
            "own.jsonl",
            [
                rec("administrative.traffic-red-light", SUBJECT, "2026-03-01", "S-1"),
                rec("administrative.traffic-red-light", SUBJECT, "2026-03-02", "S-2"),
                rec("revocation", SUBJECT, "2026-04-01", "S-3", corrects="S-1"),
            ],
        )
        rulebook = load_rulebook(
            resolve_rulebook_path("gov-default"), load_catalogue(default_catalogue_path())
        )
        engine = StoreEngine(registry.engine, rulebook, AS_OF)
        before, first = _steps(engine, registry, SUBJECT)
        others = [_person(i) for i in range(1, 1001)]
        rows = [
            rec("administrative.traffic-minor", s, "2026-02-01", f"O-{i}-{k}")
            for i, s in enumerate(others)
            for k in range(2)
        ]
        rows += [
            rec("revocation", s, "2026-05-01", f"X-{i}-{k}", corrects=f"O-{i}-{k}")
            for i, s in enumerate(others)
            for k in range(2)
        ]
        _ingest(registry, tmp_path, "others.jsonl", rows)
        with registry.engine.connect() as conn:
            corrections = conn.execute(
                sa.text("SELECT count(*) FROM records WHERE corrects_seq IS NOT NULL")
            ).scalar_one()
        assert corrections == 2001
        after, second = _steps(engine, registry, SUBJECT)
    finally:
        registry.close()
    # One red light counts, the other was revoked; gov-default scores no person.
    assert (first.records, first.score, second.records, second.score) == (1, None, 1, None)
    assert second.to_dict() | {"ledger": None} == first.to_dict() | {"ledger": None}
    assert before > 0
    assert after <= before + 2, (before, after)  # 2,001 corrections elsewhere: no more work
