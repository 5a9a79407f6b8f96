"""Pinyin syllables, to tell where a romanised Chinese term starts and ends.

Pinyin is written joined ("zongjiaoxinyang") or split ("zong jiao"), so a
term is looked for in the joined letters of neighbouring words; a match
counts only when what surrounds it inside its words is itself pinyin (or
empty), so "zongjiao" is found in "zongjiaoxinyang" but a short term is not
found inside an English word by accident.
"""

from __future__ import annotations

import functools

_INITIALS = ("", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x",
             "zh", "ch", "sh", "r", "z", "c", "s", "y", "w")  # fmt: skip
_FINALS = ("a", "e", "i", "u", "v", "ai", "ei", "ui", "ao", "ou", "iu", "ie", "ve", "ue",
           "er", "an", "en", "in", "un", "ang", "eng", "ing", "ong", "ia", "iao", "ian",
           "iang", "iong", "ua", "uo", "uai", "uan", "uang", "van", "vn")  # fmt: skip
SYLLABLES = frozenset(
    {i + f for i in _INITIALS for f in _FINALS} | {"bo", "po", "mo", "fo", "o", "wo", "yo"}
)
_LONGEST = max(len(s) for s in SYLLABLES)


@functools.lru_cache(maxsize=4096)
def is_pinyin(letters: str) -> bool:
    """Whether `letters` splits wholly into pinyin syllables (the empty string does)."""
    if not letters:
        return True
    return any(
        letters[:k] in SYLLABLES and is_pinyin(letters[k:])
        for k in range(min(_LONGEST, len(letters)), 0, -1)
    )
