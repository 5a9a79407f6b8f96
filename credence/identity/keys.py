"""Comparable keys for names, birth dates and regions (pure functions, no I/O).

A Chinese name and its pinyin transliteration must compare equal, and so
must "Wang Xiaoming" and "Xiaoming Wang": the name key is the pinyin (or
Latin) tokens, lower-cased, stripped of tones, hyphens and punctuation, in
sorted order. A Chinese name's given name is one token (王小明 -> "wang
xiaoming"), as the national standard for romanising names writes it
(GB/T 28039-2011); a hyphenated Latin given name ("Xiao-ming") is joined.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u4e00-\u9fff]")
_SPLIT = re.compile(r"[\s,;/·.]+")
# Surnames of two characters (compound surnames) that stay one token.
_COMPOUND = frozenset(
    {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "尉迟", "长孙"}
)


def _fold(text: str) -> str:
    """Lower case, accents and tone marks removed, only letters a-z kept."""
    plain = unicodedata.normalize("NFKD", text)
    return "".join(c for c in plain.lower() if "a" <= c <= "z")


def _pinyin(han: str) -> list[str]:
    """A Chinese name as pinyin tokens: the surname, then the given name as one token."""
    han = "".join(_HAN.findall(han))
    cut = 2 if han[:2] in _COMPOUND else 1
    surname, given = han[:cut], han[cut:]
    syllables = [
        lazy_pinyin(part, style=Style.NORMAL, v_to_u=True) for part in (surname, given) if part
    ]
    return [_fold("".join(s)) for s in syllables]


def name_tokens(name: str) -> list[str]:
    """The name's tokens, sorted: Chinese through pinyin, Latin as written."""
    if _HAN.search(name):
        tokens = _pinyin(name)
    else:
        tokens = [_fold(t) for t in _SPLIT.split(name.replace("-", "").replace("'", ""))]
    return sorted(t for t in tokens if t)


@lru_cache(maxsize=200_000)
def name_key(name: str) -> str:
    """The comparable form of a name: sorted tokens joined by one space.

    Cached: names repeat (王伟 many thousand times), and pinyin costs ~0.1 ms.
    """
    return " ".join(name_tokens(name))


@lru_cache(maxsize=200_000)
def organisation_key(name: str) -> str:
    """An organisation's name as one run of letters and digits (pinyin for Chinese)."""
    plain = "".join(lazy_pinyin(name, style=Style.NORMAL, v_to_u=True, errors="default"))
    return "".join(c for c in unicodedata.normalize("NFKD", plain.lower()) if c.isalnum())


def prefecture(region: str) -> str:
    """The prefecture of a GB/T 2260 region code (its first four digits)."""
    return region[:4]


@dataclass(frozen=True, slots=True)
class Identity:
    """One side of a comparison: a reference identity or an unidentified record.

    `regions` are the region codes the side may agree on: for a reference
    person, the residence in the population register and the region of
    registration encoded in their resident ID; for a record, its address's
    region.
    """

    uid: str  # the subject key (reference; "#n" may follow for a second name) or intake id
    name: str
    birth_date: str | None  # ISO date; None for organisations
    regions: tuple[str, ...]

    def row(self) -> dict[str, object]:
        """The columns the model compares."""
        key = name_key(self.name) if self.birth_date else organisation_key(self.name)
        return {
            "unique_id": self.uid,
            "name_key": key,
            "birth_date": self.birth_date,
            "birth_year": self.birth_date[:4] if self.birth_date else None,
            "regions": sorted(set(self.regions)),
            "prefectures": sorted({prefecture(r) for r in self.regions}),
        }
