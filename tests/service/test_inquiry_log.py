"""The inquiry log's writer thread: each row committed once, alone or in a group.

A lone inquiry (nothing else queued) once waited for ever: the thread only
committed when a second row arrived. These tests call `record` from plain
threads, as FastAPI's sync routes do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from credence.service.inquiries import InquiryLog
from credence.store.schema import inquiries, metadata


def _log(tmp_path: Path) -> tuple[sa.Engine, InquiryLog]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'inq.db'}")
    metadata.create_all(engine, tables=[inquiries])
    return engine, InquiryLog(engine)


def _row(n: int) -> dict[str, object]:
    return {
        "subject": f"S{n}",
        "key_id": 1,
        "party": "auditor-1",
        "role": "auditor",
        "action": "read",
        "decision": "read",
    }


def test_a_lone_inquiry_is_committed_and_answered(tmp_path: Path) -> None:
    engine, log = _log(tmp_path)
    try:
        got: list[int] = []
        caller = threading.Thread(target=lambda: got.append(log.record(**_row(1))), daemon=True)
        caller.start()
        caller.join(timeout=10)
        assert not caller.is_alive(), "record() never returned"
        with engine.connect() as conn:
            stored = conn.execute(sa.select(inquiries.c.id, inquiries.c.subject)).all()
        assert [(got[0], "S1")] == [tuple(r) for r in stored]
    finally:
        log.close()


def test_concurrent_inquiries_each_get_one_row(tmp_path: Path) -> None:
    engine, log = _log(tmp_path)
    try:
        ids: list[int] = []
        lock = threading.Lock()

        def call(n: int) -> None:
            got = log.record(**_row(n))
            with lock:
                ids.append(got)

        callers = [threading.Thread(target=call, args=(n,), daemon=True) for n in range(40)]
        for t in callers:
            t.start()
        for t in callers:
            t.join(timeout=10)
        assert not any(t.is_alive() for t in callers)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(inquiries.c.id, inquiries.c.subject)).all()
        assert sorted(ids) == sorted(r[0] for r in stored)
        assert len(stored) == 40 == len(set(ids))
        assert {r[1] for r in stored} == {f"S{n}" for n in range(40)}
    finally:
        log.close()


def test_checks_on_the_event_loop_get_their_own_rows(tmp_path: Path) -> None:
    """Rows from the loop go to disk a group at a time; each id is that row's id.

    Many groups: the first check's group is in flight while the rest queue up.
    """
    engine, log = _log(tmp_path)

    async def many() -> list[int]:
        return list(await asyncio.gather(*(log.arecord(**_row(n)) for n in range(300))))

    try:
        ids = asyncio.run(many())
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.select(inquiries.c.id, inquiries.c.subject)).all())
        assert len(stored) == 300 == len(set(ids))
        assert [stored[i] for i in ids] == [f"S{n}" for n in range(300)]
    finally:
        log.close()


def test_an_event_loop_group_that_fails_answers_every_waiter(tmp_path: Path) -> None:
    """A row the table refuses (no subject) fails its group; nobody waits for ever."""
    engine, log = _log(tmp_path)

    async def both() -> list[object]:
        bad = {**_row(1), "subject": None}
        return list(
            await asyncio.gather(log.arecord(**bad), log.arecord(**_row(2)), return_exceptions=True)
        )

    try:
        got = asyncio.run(asyncio.wait_for(both(), timeout=10))
        assert all(isinstance(g, sa.exc.SQLAlchemyError | sqlite3.Error) for g in got), got
        with engine.connect() as conn:  # one statement, one transaction: nothing half-written
            assert conn.execute(sa.select(sa.func.count()).select_from(inquiries)).scalar() == 0
        assert isinstance(asyncio.run(log.arecord(**_row(3))), int)  # and the log goes on
    finally:
        log.close()


def test_the_wal_is_copied_into_the_database_after_checks_commit_on_the_loop(
    tmp_path: Path,
) -> None:
    """The loop's commits never checkpoint (that would stall every request); the writer
    thread copies the WAL into the database when it has nothing to write, so the WAL
    stays bounded. New rows live in the WAL until then: the file grows only then."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'inq.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    metadata.create_all(engine, tables=[inquiries])
    database = tmp_path / "inq.db"
    before = database.stat().st_size
    log = InquiryLog(engine)

    async def many() -> None:
        for start in range(0, 400, 50):
            await asyncio.gather(*(log.arecord(**_row(n)) for n in range(start, start + 50)))

    try:
        asyncio.run(many())
        deadline = time.monotonic() + 10
        while database.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert database.stat().st_size > before
    finally:
        log.close()
