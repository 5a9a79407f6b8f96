"""Text normalisation and tokenisation for the guard.

A word list is beaten by writing the word differently, not by writing a
different word; so before anything is matched, every text is brought to one
form: full-width letters folded (NFKC), invisible characters dropped,
look-alike Cyrillic and Greek letters mapped to Latin, accents stripped
(so "zōngjiào" is "zongjiao"), camelCase and snake_case split, letters
spelt out one at a time ("R.E.L.I.G.I.O.N") joined, and digits or symbols
standing for letters ("re1igion", "pr0test") read as letters in a variant.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

_CONFUSABLES = str.maketrans(
    "АВЕКМНОРСТХаеорсуіјѕһԁʏΑΒΕΗΙΚΜΝΟΡΤΥΧαεικνορτυχ",
    "ABEKMHOPCTXaeopcyijshdyABEHIKMNOPTYXaeiknoptux",
)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LEET = re.compile(r"(?<=[a-z])[0-9@$!|]+(?=[a-z])")
_LEET_MAPS = (
    str.maketrans("0134578@$!|", "oieastbasil"),
    str.maketrans("0134578@$!|", "oleastbasil"),
)
_TONES = re.compile(r"(?<=[a-z])[1-5](?=[a-z]|\b)")
_LATIN = re.compile(r"[a-z]+")
_CAMEL_ANY = re.compile(r"[a-z][A-Z]|[A-Z][A-Z][a-z]")  # where _CAMEL can split
_REWRITES = (  # compounds whose second half is a little word the matcher would drop
    (re.compile(r"\bin[\s_-]+laws?\b"), "inlaw"),
    (re.compile(r"\bsit[\s_-]+ins?\b"), "sitin"),
    (re.compile(r"\bco[\s_-]+(?=[a-z])"), "co"),
    (re.compile(r"\bsect\.\s*(?=\d)"), "section "),
)
# Any of them: a text none matches is left as it is by all (each rewrite only on a match).
_REWRITE_ANY = re.compile("|".join(pattern.pattern for pattern, _ in _REWRITES))
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[^{_CJK}a-z0-9]+(?=[{_CJK}])")
_LITTLE = (
    "a an the of to in on for by with and or at from as s is are was were be been who that "
    "which its it into per under about than this these those has have had"
)
STOPWORDS = frozenset(_LITTLE.split(" "))


@dataclass(frozen=True, slots=True)
class Token:
    """One Latin word: its form, the forms it may be an inflection of, and its place."""

    form: str
    lemmas: frozenset[str]
    index: int  # position among all tokens, for windows and runs
    start: int  # character offsets in the normalised text, for adjacency
    end: int


class _Dropping(dict[int, int | None]):
    """A str.translate table deleting the characters `drop` selects, filled in as they are met.

    Ingest folds thousands of distinct names; a table looked up in C costs a
    fraction of a Python test per character. Bounded: past the limit (only
    input spanning much of Unicode gets there) a character is tested, not stored.
    """

    _LIMIT = 65_536

    def __init__(self, drop: Callable[[str], bool]) -> None:
        super().__init__()
        self.drop = drop

    def __missing__(self, code: int) -> int | None:
        kept = None if self.drop(chr(code)) else code
        if len(self) < self._LIMIT:
            self[code] = kept
        return kept


_FORMAT = _Dropping(lambda ch: unicodedata.category(ch) == "Cf")
_COMBINING = _Dropping(lambda ch: unicodedata.combining(ch) != 0)


def fold(text: str) -> str:
    """NFKC, no invisible characters, no accents, Latin look-alikes mapped, camelCase split."""
    if not text.isascii():  # ASCII has no compatibility forms, format, look-alike or accent
        text = unicodedata.normalize("NFKC", text).translate(_FORMAT)
        text = text.translate(_CONFUSABLES)
        decomposed = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize("NFC", decomposed.translate(_COMBINING))
    if _CAMEL_ANY.search(text):
        text = _CAMEL.sub(" ", text)
    text = text.lower()
    if _REWRITE_ANY.search(text):
        for pattern, replacement in _REWRITES:
            text = pattern.sub(replacement, text)
    return text


def variants(folded: str) -> list[str]:
    """The folded text, plus readings of digits and symbols inside words as letters."""
    out = [folded]
    if _LEET.search(folded):
        for table in _LEET_MAPS:
            out.append(_LEET.sub(functools.partial(_as_letters, table), folded))
    if _TONES.search(folded):
        out.append(_TONES.sub("", folded))
    return out


def _as_letters(table: dict[int, int], match: re.Match[str]) -> str:
    return match.group(0).translate(table)


def join_cjk(folded: str) -> str:
    """CJK has no spaces: drop separators put between characters to split a term ("宗 教")."""
    return _CJK_GAP.sub("", folded)


def lemmas(form: str) -> frozenset[str]:
    """The form and the base forms it may inflect: plurals, -ed, -ing (no derivations).

    Derivations ("religious", "ethnicity") are listed in the lexicon or caught by a
    prefix there; stripping them here would make "relatives" match "related".
    """
    out = {form}
    n = len(form)
    if n > 4 and form.endswith("ies"):
        out.add(form[:-3] + "y")
    if n > 3 and form.endswith("es"):
        out.add(form[:-2])
    if n > 3 and form.endswith("s") and not form.endswith("ss"):
        out.add(form[:-1])
    for suffix in ("ing", "ed"):
        if n > len(suffix) + 2 and form.endswith(suffix):
            base = form[: -len(suffix)]
            out.update((base, base + "e"))
            if len(base) > 2 and base[-1] == base[-2]:
                out.add(base[:-1])
    return frozenset(out)


def words(folded: str) -> list[str]:
    """The forms of `tokenise(folded)`, without the rest of a Token (for the guard's quick test)."""
    forms: list[str] = _LATIN.findall(folded)
    if all(len(form) > 1 for form in forms):  # no single letters: nothing to join
        return forms
    return [form for form, _, _ in _joined_letters(folded)]


def tokenise(folded: str) -> list[Token]:
    """Latin words, with runs of single letters ("r e l i g i o n") joined into one."""
    return [Token(f, lemmas(f), k, s, e) for k, (f, s, e) in enumerate(_joined_letters(folded))]


def _joined_letters(folded: str) -> list[tuple[str, int, int]]:
    """(form, start, end) of each Latin word, runs of three or more single letters as one."""
    raw = [(m.group(0), m.start(), m.end()) for m in _LATIN.finditer(folded)]
    merged: list[tuple[str, int, int]] = []
    i = 0
    while i < len(raw):
        j = i
        while j < len(raw) and len(raw[j][0]) == 1:
            j += 1
        if j - i >= 3:
            merged.append(("".join(r[0] for r in raw[i:j]), raw[i][1], raw[j - 1][2]))
            i = j
        else:
            merged.append(raw[i])
            i += 1
    return merged
