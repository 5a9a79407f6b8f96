"""Finding organisations by name: the latest business registration of each, searched in memory.

The market regulator's `administrative.business-registration` records give
each organisation its registered name (Chinese), its Latin transliteration
and its region; the latest registration of an organisation that still
counts (not replaced by a correction, not suppressed) is its current name.

Search is a substring match over names folded to a search key (lower case,
spaces and punctuation removed), so "xin yuan", "Xinyuan" and "鑫源" all find
朝阳鑫源贸易有限公司 / "Chaoyang Xinyuan Maoyi Youxian Gongsi". The keys of
every organisation sit in one string, so a search is a few C-speed `str.find`
calls, however many organisations there are: a million names take about 60
MB and a search well under 100 ms. The index is built once from the store and
then brought up to date from the ledger's new entries (seq > the last seen),
so it never misses a registration and never re-reads the whole store.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from credence.store.schema import records, suppressions

if TYPE_CHECKING:
    from credence.service.state import Service

REGISTRATION = "administrative.business-registration"
_FOLD_AWAY = re.compile(r"[\s\-_.,·•'’()（）&/\\]+")
_SEP = "\n"  # cannot occur in a key: whitespace is folded away
MAX_RESULTS = 50


def search_key(text: str) -> str:
    """`text` folded for matching: NFKC (full-width to half-width), lower case, no spaces or
    punctuation."""
    return _FOLD_AWAY.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True, slots=True)
class Registration:
    """An organisation's current registered name."""

    subject: str
    name: str
    name_latin: str | None
    region: str | None
    seq: int  # the registration record it comes from


class NameIndex:
    """Every organisation's current name, and substring search over them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_subject: dict[str, Registration] = {}
        self._order: list[str] = []  # subjects in the order of their keys in _haystack
        self._haystack = ""
        self._starts: list[int] = []  # offset of each subject's key in _haystack
        self._stale = False
        self.last_seq = -1

    def __len__(self) -> int:
        return len(self._by_subject)

    def get(self, subject: str) -> Registration | None:
        return self._by_subject.get(subject)

    def refresh(self, service: Service) -> None:
        """Read the registrations newer than the last seen, and any correction of an older one."""
        with self._lock:
            size = int(service.ledger_head()["size"])
            if size - 1 <= self.last_seq:
                return
            found = _registrations_after(service, self.last_seq)
            for reg in found:
                self._by_subject[reg.subject] = reg
            withdrawn = _withdrawn_after(service, self.last_seq)
            self._drop_withdrawn(withdrawn)
            if found or withdrawn or self.last_seq < 0:
                self._rebuild()
            self.last_seq = size - 1

    def search(self, query: str, limit: int = MAX_RESULTS) -> tuple[list[Registration], bool]:
        """Organisations whose name or Latin name contains `query` (folded); (first `limit`,
        whether there were more)."""
        key = search_key(query)
        if not key:
            return [], False
        haystack, starts, order = self._haystack, self._starts, self._order
        hits: list[Registration] = []
        seen: set[int] = set()
        at = haystack.find(key)
        while at != -1:
            index = _entry_of(starts, at)
            if index not in seen:
                seen.add(index)
                if len(hits) == limit:
                    return hits, True
                hits.append(self._by_subject[order[index]])
            at = haystack.find(key, at + 1)
        return hits, False

    def _drop_withdrawn(self, withdrawn: set[int]) -> None:
        """Forget names whose registration was corrected away or suppressed (an earlier
        registration of the same organisation is not brought back until the next restart)."""
        if withdrawn:
            for subject in [s for s, r in self._by_subject.items() if r.seq in withdrawn]:
                del self._by_subject[subject]

    def _rebuild(self) -> None:
        order = sorted(self._by_subject)
        parts: list[str] = []
        starts: list[int] = []
        offset = 0
        for subject in order:
            reg = self._by_subject[subject]
            key = search_key(reg.name) + "|" + search_key(reg.name_latin or "")
            starts.append(offset)
            parts.append(key)
            offset += len(key) + len(_SEP)
        self._order, self._starts, self._haystack = order, starts, _SEP.join(parts)


def _entry_of(starts: list[int], at: int) -> int:
    """The index of the entry whose key holds offset `at` (binary search)."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= at:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _registrations_after(service: Service, after: int) -> list[Registration]:
    """Registrations with seq > `after`, oldest first (a later one supersedes an earlier)."""
    query = (
        sa.select(records.c.seq, records.c.subject, records.c.attributes)
        .where(records.c.item == REGISTRATION, records.c.seq > after)
        .order_by(records.c.seq)
    )
    out: list[Registration] = []
    with service.engine.connect() as conn:
        for seq, subject, attributes in conn.execute(query):
            values: dict[str, Any] = orjson.loads(attributes) if attributes else {}
            name = values.get("name")
            if not isinstance(name, str):
                continue
            latin, region = values.get("name_latin"), values.get("region")
            out.append(
                Registration(
                    subject,
                    name,
                    latin if isinstance(latin, str) else None,
                    region if isinstance(region, str) else None,
                    int(seq),
                )
            )
    return out


def _withdrawn_after(service: Service, after: int) -> set[int]:
    """Records corrected or revoked, or suppressed, by ledger entries after `after` (both
    read by primary-key range: only what is new)."""
    corrected = sa.select(records.c.corrects_seq).where(
        records.c.seq > after, records.c.corrects_seq.is_not(None)
    )
    suppressed = sa.select(suppressions.c.record_seq).where(suppressions.c.seq > after)
    with service.engine.connect() as conn:
        found = {int(s) for (s,) in conn.execute(corrected)}
        found.update(int(s) for (s,) in conn.execute(suppressed))
    return found
