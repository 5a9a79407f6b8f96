"""The categories of data that credence refuses to collect or score.

Principle 2 of the design: no catalogue item, rule or record may use
political opinion or speech, religion or belief, ethnicity, health or
genetics, biometrics, sexual life, trade-union membership, or the conduct of
other people. The guard is shared by the catalogue and the rulebook so that
the same words are refused wherever they appear. It works two ways: an item
may declare the data categories it uses (a declared prohibited category is
refused outright), and every name and title is scanned for terms that reveal
one, so that a prohibited item cannot slip through by not declaring it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROHIBITED_CATEGORIES: dict[str, tuple[str, ...]] = {
    "political opinion or speech": (
        "political",
        "politics",
        "speech",
        "protest",
        "petition",
        "dissent",
        "demonstration",
        "party-membership",
        "online-comment",
        "post-content",
        "rumour",
        "rumor",
        "criticism",
        "vote",
        "voting",
    ),
    "religion or belief": (
        "religion",
        "religious",
        "belief",
        "faith",
        "worship",
        "church",
        "mosque",
        "temple",
        "prayer",
        "sect",
        "cult",
        "falun",
    ),
    "ethnicity": ("ethnic", "ethnicity", "race", "racial", "minority-nationality", "uyghur"),
    "health or genetics": (
        "health",
        "medical",
        "disease",
        "illness",
        "diagnosis",
        "disability",
        "mental",
        "genetic",
        "genome",
        "dna",
        "hiv",
        "pregnan",
    ),
    "biometrics": ("biometric", "fingerprint", "face", "facial", "iris", "gait", "voiceprint"),
    "sexual life": ("sexual", "sexuality", "lgbt", "homosexual", "sex-life"),
    "trade-union membership": ("trade-union", "union-membership", "labour-union", "labor-union"),
    "the conduct of other people": (
        "friend",
        "friends",
        "family",
        "relative",
        "relatives",
        "contact",
        "contacts",
        "associate",
        "associates",
        "social-network",
        "spouse",
        "parent",
        "child",
        "children",
        "neighbour",
        "neighbor",
        "classmate",
        "kinship",
    ),
}

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ProhibitedUse:
    """Why a piece of text or a declared category is refused."""

    category: str
    term: str

    def __str__(self) -> str:
        return f"refers to {self.category} ({self.term!r}), a prohibited category"


def _normalise(text: str) -> str:
    return "-".join(t for t in _TOKEN_SPLIT.split(text.lower()) if t)


def find_prohibited(*texts: str) -> ProhibitedUse | None:
    """Return the first prohibited term found in any of `texts`, or None.

    Terms match whole hyphen-joined words ("face" matches "face-scan" but not
    "surface"), and stems ending in a partial word ("pregnan") match prefixes.
    """
    for text in texts:
        norm = f"-{_normalise(text)}-"
        for category, terms in PROHIBITED_CATEGORIES.items():
            for term in terms:
                if f"-{term}-" in norm or (term.endswith("an") and f"-{term}" in norm):
                    return ProhibitedUse(category, term)
    return None


def check_declared_categories(categories: list[str]) -> ProhibitedUse | None:
    """Refuse an item or rule that declares it uses a prohibited category."""
    for declared in categories:
        norm = _normalise(declared)
        for category in PROHIBITED_CATEGORIES:
            if norm == _normalise(category) or norm in _normalise(category).split("-or-"):
                return ProhibitedUse(category, declared)
        found = find_prohibited(declared)
        if found:
            return found
    return None
