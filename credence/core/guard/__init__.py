"""The prohibited-input guard: principle 2 of the design, as code.

No catalogue item, rule or record may use political opinion or speech,
religion or belief, ethnicity, health or genetics, biometrics, sexual life,
trade-union membership, or the conduct of other people. Two checks serve
the catalogue, the rulebook and ingestion alike: a declared prohibited
category is refused outright, and every text (names, titles, descriptions,
legal bases, attribute names and values) is searched with a curated
multilingual lexicon (English with inflections and synonyms, Chinese,
pinyin) after normalisation, so that rewording, another script or another
field does not get a prohibited item through. How well it does that is
measured on labelled probes (tests/core/guard_probes.yaml) and reported in
docs/security.md.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from credence.core.guard.lexicon import load_lexicon
from credence.core.guard.matcher import Context, Scan, may_hit
from credence.core.guard.normalise import fold, variants


@dataclass(frozen=True, slots=True)
class ProhibitedUse:
    """Why a piece of text or a declared category is refused."""

    category: str
    term: str

    def __str__(self) -> str:
        return f"refers to {self.category} ({self.term!r}), a prohibited category"


def _organisations_only(subjects: Iterable[str] | None) -> bool:
    if subjects is None:
        return False
    if isinstance(subjects, tuple):  # a catalogue item's kinds: the same few tuples
        return _tuple_is_organisations_only(subjects)
    return {str(s) for s in subjects} == {"organisation"}


@functools.lru_cache(maxsize=64)
def _tuple_is_organisations_only(subjects: tuple[str, ...]) -> bool:
    """Cached: ingest asks it for every attribute value of every record."""
    return {str(s) for s in subjects} == {"organisation"}


@functools.lru_cache(maxsize=8192)
def _scan_text(text: str, organisations_only: bool) -> ProhibitedUse | None:
    lex = load_lexicon()
    ctx = Context(organisations_only=organisations_only)
    for variant in variants(fold(text)):
        if not may_hit(lex, variant):
            continue
        hit = Scan(lex, variant).refusal(ctx)
        if hit is not None:
            return ProhibitedUse(hit.category, hit.term)
    return None


def find_prohibited(*texts: str, subjects: Iterable[str] | None = None) -> ProhibitedUse | None:
    """The first prohibited use found in any of `texts`, or None.

    `subjects` are the kinds of subject the item (list, measure) applies to;
    when they are organisations only, ordinary sector words ("drug",
    "medical", "union") are read as about the organisation's trade. Without
    them the guard assumes the text may be about a person.
    """
    organisations_only = _organisations_only(subjects)
    for text in texts:
        if text:
            found = _scan_text(text, organisations_only)
            if found is not None:
                return found
    return None


def _key(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def check_declared_categories(categories: Iterable[str]) -> ProhibitedUse | None:
    """Refuse an item or rule that declares it uses a prohibited category."""
    names = list(load_lexicon().categories)
    for declared in categories:
        key = _key(declared)
        for name in names:
            parts = [_key(p) for p in name.split(" or ")]
            if key == _key(name) or key in parts:
                return ProhibitedUse(name, declared)
        found = find_prohibited(declared)
        if found:
            return found
    return None


def prohibited_categories() -> dict[str, tuple[str, ...]]:
    """Each prohibited category with examples of the strong English terms that reveal it."""
    return dict(load_lexicon().categories)


__all__ = ["ProhibitedUse", "check_declared_categories", "find_prohibited", "prohibited_categories"]
