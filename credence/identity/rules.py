"""The hard rules applied after scoring: what may become a probabilistic match.

Splink's weight is evidence, not permission. A candidate becomes a match
only if (1) its match probability reaches THRESHOLD, (2) fields other than
the name agree: for a person the birth date and the region of the address
(the residence or the region of registration), both exactly; for an
organisation the region exactly; and (3) it is the only
candidate of its record that passes (1) and (2): two people who share a name,
a birth date and a region are told apart by nobody, so neither is linked.
Rule (2) is why name-only agreement never links, whatever the weights say.
A typo in a name still links (Jaro-Winkler >= 0.94); a typo in a birth date,
or an address in a neighbouring district, does not: in the synthetic test of
common names, people called 王伟 born days apart in the same district, or on
the same day in the next district, were linked wrongly when these were
allowed. Such records stay unmatched for a source to resend with an ID.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from credence.identity.model import ScoredPair

THRESHOLD = 0.99  # match probability; a weight of about 6.6 bits
_NAME_OK = frozenset({"exact", "close"})


@dataclass(frozen=True, slots=True)
class Link:
    """A record linked to a subject, with the evidence a person and an auditor see."""

    record: str
    subject: str
    match_weight: float
    match_probability: float
    levels: dict[str, str]

    @property
    def agreed(self) -> list[str]:
        """The fields that agreed (at any level better than disagreement)."""
        return sorted(f for f, level in self.levels.items() if level not in ("else", "missing"))

    def evidence(self) -> dict[str, object]:
        return {
            "agreed": self.agreed,
            "levels": dict(sorted(self.levels.items())),
            "match_weight": round(self.match_weight, 4),
            "match_probability": round(self.match_probability, 6),
            "threshold": THRESHOLD,
        }


def beyond_name(pair: ScoredPair, person: bool) -> bool:
    """Rule (2): agreement on fields other than the name, as the module says."""
    levels = pair.levels
    if levels["name"] not in _NAME_OK or levels["region"] != "same":
        return False
    return not person or levels["birth_date"] == "exact"


def decide(pairs: Iterable[ScoredPair], person: bool) -> tuple[list[Link], set[str]]:
    """The links to make, and the records left unlinked because they were ambiguous."""
    passing: dict[str, list[ScoredPair]] = defaultdict(list)
    for pair in pairs:
        if pair.match_probability >= THRESHOLD and beyond_name(pair, person):
            passing[pair.record].append(pair)
    links, ambiguous = [], set()
    for record, found in sorted(passing.items()):
        if len({p.reference for p in found}) > 1:
            ambiguous.add(record)
            continue
        p = found[0]
        links.append(Link(record, p.reference, p.match_weight, p.match_probability, p.levels))
    return links, ambiguous
