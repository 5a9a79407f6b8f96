"""The inquiry log: every look at a person, written durably before the answer leaves.

A check must be logged before it is answered, and a durable write (fsync)
costs milliseconds. One writer thread takes every inquiry waiting and
commits them in one transaction (group commit), so under load many checks
share one fsync while each still waits for its own row to be on disk.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from credence.store.database import write_transaction
from credence.store.schema import inquiries

_MAX_GROUP = 512


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class _Pending:
    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    inquiry_id: int | None = None
    error: BaseException | None = None


class InquiryLog:
    """Durable, group-committed inquiry rows; `record` blocks until its row is committed."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="inquiry-log", daemon=True)
        self._thread.start()

    def record(self, **row: Any) -> int:
        """Commit one inquiry (subject, key_id, party, role, action, purpose, decision, ...)."""
        pending = _Pending({"at": now_iso(), **row})
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.inquiry_id is not None
        return pending.inquiry_id

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < _MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with write_transaction(self.engine) as conn:
                ids = conn.execute(
                    sa.insert(inquiries).returning(inquiries.c.id, sort_by_parameter_order=True),
                    [p.row for p in group],
                ).scalars()
                for pending, inquiry_id in zip(group, ids, strict=True):
                    pending.inquiry_id = int(inquiry_id)
        except BaseException as exc:  # every waiter learns its row was not written
            for pending in group:
                pending.error = exc
        finally:
            for pending in group:
                pending.done.set()


def inquiries_about(engine: sa.Engine, subject: str, limit: int = 200) -> list[dict[str, Any]]:
    """The latest inquiries about `subject`, newest first, as the person sees them."""
    query = (
        sa.select(
            inquiries.c.id,
            inquiries.c.at,
            inquiries.c.party,
            inquiries.c.role,
            inquiries.c.action,
            inquiries.c.purpose,
            inquiries.c.decision,
            inquiries.c.rulebook,
        )
        .where(inquiries.c.subject == subject)
        .order_by(inquiries.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
