"""Finding organisations by name: the latest business registration of each, searched in memory.

The market regulator's `administrative.business-registration` records give
each organisation its registered name (Chinese), its Latin transliteration
and its region; the latest registration of an organisation that still
counts (not replaced by a correction, not suppressed) is its current name.

Search is a substring match over names folded to a search key (lower case,
spaces and punctuation removed), so "xin yuan", "Xinyuan" and "鑫源" all find
朝阳鑫源贸易有限公司 / "Chaoyang Xinyuan Maoyi Youxian Gongsi". The keys sit
joined in strings (Chinese names; Latin names; the Chinese names with Latin
letters or digits in them), each scanned by C-speed `str.find`: a key with
Chinese characters scans only the Chinese names (2 bytes a character), an
ASCII key only the other two (1 byte a character, mostly), never a 4-byte
mixed string. A million names take about 100 MB. The index is built once from the store and
then brought up to date from the ledger's new entries (seq > the last seen),
so it never misses a registration and never re-reads the whole store.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import sqlalchemy as sa

from credence.store.schema import records, suppressions

if TYPE_CHECKING:
    from credence.service.state import Service

REGISTRATION = "administrative.business-registration"
_FOLD_AWAY = re.compile(r"[\s\-_.,·•'’()（）&/\\]+")
_ASCII_ALNUM = re.compile(r"[a-z0-9]")
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
        self._order: list[str] = []  # subjects, in the order of their keys in the haystacks
        self._names = _Haystack([])  # Chinese names' keys (2 bytes a character)
        self._latin = _Haystack([])  # Latin names' keys (1 byte a character)
        self._names_ascii = _Haystack([])  # the few Chinese names' keys with ASCII in them
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
        # A pure-ASCII key can only be in a Latin name, or in the ASCII part of a Chinese
        # one; a key with Chinese characters only in a Chinese name. Each haystack keeps
        # its own narrow width, so a scan costs 1 or 2 bytes a character, not 4.
        stacks = (self._latin, self._names_ascii) if key.isascii() else (self._names,)
        order = self._order
        hits: list[Registration] = []
        seen: set[int] = set()
        for stack in stacks:
            for index in stack.entries_with(key):
                if index in seen:
                    continue
                seen.add(index)
                if len(hits) == limit:
                    return hits, True
                hits.append(self._by_subject[order[index]])
        return hits, False

    def _drop_withdrawn(self, withdrawn: set[int]) -> None:
        """Forget names whose registration was corrected away or suppressed (an earlier
        registration of the same organisation is not brought back until the next restart)."""
        if withdrawn:
            for subject in [s for s, r in self._by_subject.items() if r.seq in withdrawn]:
                del self._by_subject[subject]

    def _rebuild(self) -> None:
        order = sorted(self._by_subject)
        regs = [self._by_subject[subject] for subject in order]
        keys = [search_key(r.name) for r in regs]
        self._names = _Haystack(keys)
        self._latin = _Haystack([search_key(r.name_latin or "") for r in regs])
        with_ascii = [i for i, k in enumerate(keys) if _ASCII_ALNUM.search(k)]
        self._names_ascii = _Haystack([keys[i] for i in with_ascii], with_ascii)
        self._order = order


class _Haystack:
    """Keys joined into one string, and where each starts: substring search at C speed."""

    def __init__(self, keys: list[str], ids: list[int] | None = None) -> None:
        lengths = np.fromiter((len(k) + len(_SEP) for k in keys), dtype=np.int64, count=len(keys))
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(keys) else lengths
        self.text = _SEP.join(keys)
        self.ids = ids  # the entry each key belongs to, when not simply its position

    def entries_with(self, key: str) -> Iterator[int]:
        """Indices of the keys containing `key`, in order, each once."""
        text, starts = self.text, self.starts
        at = text.find(key)
        while at != -1:
            index = int(np.searchsorted(starts, at, side="right")) - 1
            yield index if self.ids is None else self.ids[index]
            nxt = int(starts[index + 1]) if index + 1 < len(starts) else len(text)
            at = text.find(key, nxt)  # on from the next key: one hit per key is enough


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
