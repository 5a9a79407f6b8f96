"""The inquiry log's writer thread: each row committed once, alone or in a group.

A lone inquiry (nothing else queued) once waited for ever: the thread only
committed when a second row arrived. These tests call `record` from plain
threads, as FastAPI's sync routes do.
"""

from __future__ import annotations

import threading
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
