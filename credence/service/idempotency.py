"""Idempotency-Key (IETF httpapi-idempotency-key-header): retries return the first answer.

The first request with a key claims it (a row in `running` state, committed
before any work); when it finishes, its status and body are stored. Then:
the same key and the same body returns the stored answer; the same key with
a different body is refused (422); a request that arrives while the first is
still running is refused (409). Keys are per party (the API key), so two
parties never collide. A claim left `running` by a crashed process expires
after `STALE_SECONDS`, so a retry can go through; records are idempotent
in the ledger anyway (a resubmitted record is a duplicate, never a copy).

A key is kept for `CREDENCE_IDEMPOTENCY_HOURS` (24) from its first use, as
the draft lets a server publish: after that the same key is a new request,
and the service's sweep deletes expired keys, so the table holds a day of
keys rather than every key ever sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from credence.service.errors import Conflict, Invalid
from credence.store.database import write_transaction
from credence.store.schema import idempotency

STALE_SECONDS = 300
KEEP_SECONDS = 24 * 3600  # the default of CREDENCE_IDEMPOTENCY_HOURS
MAX_KEY = 255


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def request_hash(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


def claim(
    engine: sa.Engine, key_id: int, idem_key: str, digest: bytes, keep_seconds: int = KEEP_SECONDS
) -> Stored | None:
    """Claim `idem_key` for this request; the stored answer if it was already given
    (within `keep_seconds` of the key's first use: an older key is claimed afresh)."""
    if not idem_key or len(idem_key) > MAX_KEY or not idem_key.isprintable():
        raise Invalid(f"must be 1 to {MAX_KEY} printable characters", field="Idempotency-Key")
    now = _now()
    where = sa.and_(idempotency.c.key_id == key_id, idempotency.c.idem_key == idem_key)
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(idempotency).where(where)).first()
        if row is not None and _age(row.created_at, now) >= keep_seconds:
            conn.execute(sa.delete(idempotency).where(where))  # expired: a new request
            row = None
        if row is None:
            conn.execute(
                sa.insert(idempotency).values(
                    key_id=key_id,
                    idem_key=idem_key,
                    request_hash=digest,
                    state="running",
                    created_at=now.isoformat(),
                )
            )
            return None
        if bytes(row.request_hash) != digest:
            raise Invalid(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
            )
        if row.state == "done":
            return Stored(int(row.status), bytes(row.response))
        if _age(row.created_at, now) < STALE_SECONDS:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed; retry later",
                field="Idempotency-Key",
            )
        conn.execute(  # a claim abandoned by a crash: this request takes it over
            sa.update(idempotency).where(where).values(created_at=now.isoformat())
        )
        return None


def _age(created_at: str, now: dt.datetime) -> float:
    return (now - dt.datetime.fromisoformat(created_at)).total_seconds()


def expire(engine: sa.Engine, keep_seconds: int = KEEP_SECONDS) -> int:
    """Delete the keys first used more than `keep_seconds` ago; how many went.

    `created_at` is always UTC ISO 8601 in the same form, so the text compares
    as the time does.
    """
    cutoff = (_now() - dt.timedelta(seconds=keep_seconds)).isoformat()
    with write_transaction(engine) as conn:
        gone = conn.execute(sa.delete(idempotency).where(idempotency.c.created_at < cutoff))
        return int(gone.rowcount or 0)


def finish(engine: sa.Engine, key_id: int, idem_key: str, status: int, body: bytes) -> None:
    """Store the answer; a 5xx answer releases the key instead, so a retry may run again."""
    where = sa.and_(idempotency.c.key_id == key_id, idempotency.c.idem_key == idem_key)
    with write_transaction(engine) as conn:
        if status >= 500:
            conn.execute(sa.delete(idempotency).where(where))
        else:
            conn.execute(
                sa.update(idempotency)
                .where(where)
                .values(state="done", status=status, response=body)
            )
