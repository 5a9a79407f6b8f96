"""Ledger leaf bytes: a canonical commitment to a record, never the record itself.

A leaf must live as long as the log, but a record may have to be erased
(publicity over, or a court orders it). So the leaf holds only what may be
kept forever: its sequence number, the source, the item, the dates, a salted
hash of the full record and a keyed hash of the subject's ID. Delete the
record's content and salt and the salted hash reveals nothing, yet the tree
still verifies from the stored leaf hash. The byte layout (RFC 8785 JSON) is
documented in docs/ledger.md for auditors.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from credence.core.records import Record

LEAF_VERSION = 1
SALT_BYTES = 16


def record_hash(salt: bytes, content: bytes) -> str:
    """Hex SHA-256(salt || content): hides the record once the salt is deleted."""
    return hashlib.sha256(salt + content).hexdigest()


def salts(n: int) -> list[bytes]:
    """`n` fresh random salts, drawn from the OS in one call."""
    pool = os.urandom(SALT_BYTES * n)
    return [pool[i : i + SALT_BYTES] for i in range(0, len(pool), SALT_BYTES)]


def subject_hash(key: bytes, subject: str) -> str:
    """Hex HMAC-SHA256 of the canonical subject key under the registry's secret.

    Keyed, so that no one without the registry's key can test a guessed ID
    against the public leaves (resident IDs are guessable).
    """
    return hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()


class SubjectHasher:
    """subject_hash with a bounded cache: a log mentions the same subjects many times."""

    def __init__(self, key: bytes, limit: int = 1_000_000) -> None:
        self.key = key
        self.limit = limit
        self._cache: dict[str, str] = {}

    def __call__(self, subject: str) -> str:
        found = self._cache.get(subject)
        if found is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            found = self._cache[subject] = subject_hash(self.key, subject)
        return found


def record_leaf(seq: int, record: Record, rec_hash: str, subject_digest: str) -> bytes:
    """The leaf bytes for `record` at ledger position `seq` (RFC 8785 JSON).

    `rec_hash` is `record_hash(salt, record.content())`, passed in because the
    writer already holds the content bytes.

    Keys in sorted order; every value is ASCII and needs no escaping (codes,
    ISO dates, hex), so the f-string below is the canonical form; the tests
    compare it with the `rfc8785` package.
    """
    decided = f'"{record.decided_on}"' if record.decided_on is not None else "null"
    return (
        f'{{"decided_on":{decided},"item":"{record.item}","kind":"record",'
        f'"occurred_on":"{record.occurred_on}",'
        f'"record_hash":"{rec_hash}","seq":{seq},'
        f'"source":"{record.source}","subject_hash":"{subject_digest}","v":{LEAF_VERSION}}}'
    ).encode("ascii")
