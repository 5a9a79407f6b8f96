"""The guard's lexicon, loaded once from `lexicon.yaml` into lookup tables.

The words live in a data file so that a reviewer can read and extend them
without reading code; this module only compiles them: English entries are
indexed by their first word (or its first three letters for a prefix),
Chinese terms become one regular expression, and phrases written as one
word ("bloodtype", "tradeunion") are indexed whole.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any

import yaml

from credence.core.guard.normalise import STOPWORDS, Token, fold, lemmas


class Strength(Enum):
    STRONG = "strong"  # refused wherever it appears
    WEAK = "weak"  # refused unless organisation-only or allow-listed
    SECTOR = "sector"  # weak, and cleared by a law or agency frame


@dataclass(frozen=True, slots=True)
class Word:
    """One word of an entry: matched as a lemma, a prefix or an exact form."""

    kind: str  # "lemma", "prefix" or "exact"
    text: str

    def matches(self, token: Token) -> bool:
        if self.kind == "prefix":
            return token.form.startswith(self.text)
        if self.kind == "exact":
            return token.form == self.text
        return self.text in token.lemmas

    def matches_text(self, text: str) -> bool:
        """Like `matches`, for a piece of a joined identifier."""
        if self.kind == "prefix":
            return text.startswith(self.text)
        return text == self.text if self.kind == "exact" else self.text in lemmas(text)


@dataclass(frozen=True, slots=True)
class Entry:
    """A term or phrase of one category."""

    category: str
    words: tuple[Word, ...]
    strength: Strength
    label: str


@dataclass(frozen=True, slots=True)
class Term:
    """A Chinese or pinyin term, matched as a string."""

    category: str
    text: str
    strength: Strength


def _word(raw: str) -> Word:
    if raw.endswith("*"):
        if len(raw) < 4:
            raise ValueError(f"guard lexicon: prefix {raw!r} is too short")
        return Word("prefix", raw[:-1])
    if raw.startswith("="):
        return Word("exact", raw[1:])
    return Word("lemma", raw)


def parse_phrase(text: str, strict: bool) -> tuple[Word, ...]:
    """The words of a lexicon phrase; little words are dropped, as in matched text."""
    raw = [w for w in re.split(r"[\s\-]+", fold(text).strip()) if w]
    kept = [w for w in raw if w.lstrip("=").rstrip("*") not in STOPWORDS]
    if strict and len(raw) > 1 and len(kept) < 2:  # "in law" would become "law"
        raise ValueError(f"guard lexicon: {text!r} is a little word and one other")
    return tuple(_word(w) for w in kept)


@dataclass
class Lexicon:
    """Every table the matcher looks in."""

    by_lemma: dict[str, list[Entry]]
    by_prefix: dict[str, list[Entry]]
    joined: dict[str, Entry]
    allow: list[tuple[Word, ...]]
    cjk: list[Term]
    cjk_pattern: re.Pattern[str]
    cjk_allow: re.Pattern[str]
    pinyin: list[Term]
    frames: frozenset[str]
    frames_zh: re.Pattern[str]
    persons: frozenset[str]
    persons_zh: re.Pattern[str]
    field_words: frozenset[str]
    head_words: frozenset[str]
    organisation_law: frozenset[str]
    categories: dict[str, tuple[str, ...]]
    # Allow phrases by their first word, built on first use: a text's tokens are then
    # checked against the few phrases that can start at them, not against all of them.
    _allow_by_word: dict[str, list[tuple[Word, ...]]] | None = None
    _allow_by_prefix: dict[str, list[tuple[Word, ...]]] | None = None
    _allow_short: list[tuple[Word, ...]] | None = None
    _pinyin_any: re.Pattern[str] | None = None  # any pinyin term, to skip texts with none
    _cjk_by_text: dict[str, Term] | None = None
    # Words that start no entry and are no compound of one (matcher.may_hit), by form.
    quiet_words: dict[str, bool] = field(default_factory=dict)

    def pinyin_any(self) -> re.Pattern[str]:
        """One pattern matching wherever any pinyin term occurs (built on first use).

        Only ever searched for whether a term occurs, so it is written as a
        trie ("fa(?:lun(?:gong)?|...)"): seven times faster than trying 180
        alternatives at every letter.
        """
        if self._pinyin_any is None:
            self._pinyin_any = _any_of([t.text for t in self.pinyin])
        return self._pinyin_any

    def cjk_by_text(self) -> dict[str, Term]:
        if self._cjk_by_text is None:
            self._cjk_by_text = {t.text: t for t in self.cjk}
        return self._cjk_by_text

    def add(self, entry: Entry) -> None:
        first = entry.words[0]
        if first.kind == "prefix":
            self.by_prefix[first.text[:3]].append(entry)
        else:
            self.by_lemma[first.text].append(entry)
        if len(entry.words) > 1 and all(w.kind != "prefix" for w in entry.words):
            joined = "".join(w.text for w in entry.words)
            if len(joined) >= 6:
                self.joined.setdefault(joined, entry)

    def candidates(self, token: Token) -> list[Entry]:
        """Entries whose first word may match `token`."""
        found = [e for lemma in token.lemmas for e in self.by_lemma.get(lemma, ())]
        found.extend(self.by_prefix.get(token.form[:3], ()))
        return found

    def allow_candidates(self, token: Token) -> list[tuple[Word, ...]]:
        """Allow phrases whose first word may match `token` (a superset of those that do)."""
        if self._allow_by_word is None:
            self._index_allow()
        assert self._allow_by_word is not None and self._allow_by_prefix is not None
        assert self._allow_short is not None
        found = list(self._allow_short)
        for key in {token.form, *token.lemmas}:
            found.extend(self._allow_by_word.get(key, ()))
        found.extend(self._allow_by_prefix.get(token.form[:3], ()))
        return found

    def _index_allow(self) -> None:
        by_word: dict[str, list[tuple[Word, ...]]] = defaultdict(list)
        by_prefix: dict[str, list[tuple[Word, ...]]] = defaultdict(list)
        short: list[tuple[Word, ...]] = []
        for phrase in self.allow:
            if not phrase:
                continue
            first = phrase[0]
            if first.kind == "prefix":
                if len(first.text) >= 3:
                    by_prefix[first.text[:3]].append(phrase)
                else:
                    short.append(phrase)
            else:  # a lemma is in token.lemmas; an exact word is the token's form
                by_word[first.text].append(phrase)
        self._allow_by_word, self._allow_by_prefix = dict(by_word), dict(by_prefix)
        self._allow_short = short

    def single(self, text: str) -> Entry | None:
        """The one-word entry matching a piece of a joined identifier, if any."""
        if text in self.joined:
            return self.joined[text]
        pool = [e for lemma in lemmas(text) for e in self.by_lemma.get(lemma, ())]
        pool.extend(self.by_prefix.get(text[:3], ()))
        for entry in pool:
            if len(entry.words) == 1 and entry.words[0].matches_text(text):
                return entry
        return None


def _any_of(terms: list[str]) -> re.Pattern[str]:
    """A pattern that matches where one of `terms` starts (which one is not defined)."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}  # a term ends here
    return re.compile(_trie_pattern(trie) or r"(?!)")


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _alternation(terms: list[str]) -> re.Pattern[str]:
    ordered = sorted(set(terms), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered) or r"(?!)")


_KEYS = {
    "words": Strength.STRONG,
    "weak": Strength.WEAK,
    "sector": Strength.SECTOR,
}


def _category(lex: Lexicon, name: str, spec: dict[str, Any]) -> None:
    for key, strength in _KEYS.items():
        for raw in spec.get(key, []):
            lex.add(Entry(name, parse_phrase(str(raw), strict=True), strength, str(raw)))
        for raw in spec.get(f"zh_{key}" if key != "words" else "zh", []):
            lex.cjk.append(Term(name, str(raw), strength))
        for raw in spec.get(f"pinyin_{key}" if key != "words" else "pinyin", []):
            lex.pinyin.append(Term(name, fold(str(raw)).replace(" ", ""), strength))
    lex.categories[name] = tuple(str(e) for e in spec.get("examples", ()))
    if spec.get("organisation_law"):
        lex.organisation_law = lex.organisation_law | {name}


def _words(data: dict[str, Any], key: str) -> frozenset[str]:
    """A list of words from the YAML, refused if YAML read any as something else: an
    unquoted `no` is the boolean False there, and str() of it would silently drop the word."""
    words = data[key]
    wrong = [w for w in words if not isinstance(w, str)]
    if wrong:
        raise ValueError(f"lexicon.yaml: {key} holds {wrong!r}, not words: quote them")
    return frozenset(words)


@functools.cache
def load_lexicon() -> Lexicon:
    """The shipped lexicon, compiled once per process."""
    text = (resources.files("credence.core.guard") / "lexicon.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    lex = Lexicon(
        by_lemma=defaultdict(list),
        by_prefix=defaultdict(list),
        joined={},
        allow=[parse_phrase(str(p), strict=True) for p in data["allow"]],
        cjk=[],
        cjk_pattern=re.compile(r"(?!)"),
        cjk_allow=_alternation([str(t) for t in data["allow_zh"]]),
        pinyin=[],
        frames=_words(data, "frames"),
        frames_zh=_alternation([str(t) for t in data["frames_zh"]]),
        persons=_words(data, "persons"),
        persons_zh=_alternation([str(t) for t in data["persons_zh"]]),
        field_words=_words(data, "field_words"),
        head_words=_words(data, "head_words"),
        organisation_law=frozenset(),
        categories={},
    )
    for name, spec in data["categories"].items():
        _category(lex, str(name), spec)
    lex.cjk_pattern = _alternation([t.text for t in lex.cjk])
    return lex
