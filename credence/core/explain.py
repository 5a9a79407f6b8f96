"""An assessment in words a person can act on: why, and what would change it.

Adverse-action notices must give the key factors; a due-process system
should also say what the person can do. So next to each reason this says
when it stops counting, next to each listing what would remove it, and next
to the score how many points the next grade or measure needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from credence.core.assessment import Assessment
from credence.core.periods import Period
from credence.core.rulebook import Rulebook


@dataclass(frozen=True)
class RecordFacts:
    """What explain needs to know about one record, from the store."""

    seq: int
    item: str
    start: str
    attributes: dict[str, Any]


def _title(rulebook: Rulebook, code: str) -> str:
    item = rulebook.catalogue.items.get(code)
    return item.title if item else code


def _reason_lines(rulebook: Rulebook, a: Assessment) -> list[str]:
    lines = []
    for r in a.reasons:
        public = rulebook.publicity.get(r.item)
        ends = public.add_to(dt.date.fromisoformat(r.date)).isoformat() if public else "?"
        rule = rulebook.item_rules.get(r.item)
        fading = ""
        if rule and rule.ageing.half_life:
            fading = f", halving every {rule.ageing.half_life}"
        elif rule and rule.ageing.expires_after:
            ends = min(ends, _after(rule.ageing.expires_after, r.date))
        lines.append(
            f"{r.points:+d}  {_title(rulebook, r.item)} (record #{r.seq}, {r.date}); "
            f"counts until {ends}{fading}"
        )
    return lines


def _after(period: str, start: str) -> str:
    return Period.parse(period).add_to(dt.date.fromisoformat(start)).isoformat()


def _listing_lines(rulebook: Rulebook, a: Assessment, facts: dict[int, RecordFacts]) -> list[str]:
    lines = []
    for listing in a.lists:
        lst = rulebook.lists[listing.list]
        head = f"{lst.spec.colour} list: {lst.spec.title}"
        if listing.since is None:
            lines.append(f"{head}, while the entry condition holds")
            continue
        lines.append(f"{head}, since {listing.since}, until {listing.until}")
        if lst.spec.exit is None:
            continue
        exit_titles = " or ".join(_title(rulebook, c) for c in lst.exit_items)
        for seq in listing.records:
            fact = facts.get(seq)
            key = fact.attributes.get(lst.spec.exit.match) if fact else None
            within = f" (the law allows {lst.spec.exit.within})" if lst.spec.exit.within else ""
            what = f"{lst.spec.exit.match} {key}" if key is not None else f"record #{seq}"
            effect = "remove this listing" if len(listing.records) == 1 else "end that case's entry"
            lines.append(f"  a record of '{exit_titles}' for {what} would {effect}{within}")
    return lines


def _score_lines(rulebook: Rulebook, a: Assessment) -> list[str]:
    score = rulebook.score
    if score is None or a.score is None:
        return []
    lines = []
    better = [(g.min, g.grade) for g in score.grades if g.min is not None and g.min > a.score]
    if better:
        least, grade = better[-1]  # the lowest band above the current score
        lines.append(f"+{least - a.score} points reaches grade {grade}")
    for measure in rulebook.measures.values():
        if measure.name in a.measures or (measure.subjects and a.kind not in measure.subjects):
            continue
        when = measure.when
        if when.score_at_least is not None and when.score_at_least > a.score:
            lines.append(f"+{when.score_at_least - a.score} points brings '{measure.title}'")
    for name, lst in rulebook.lists.items():
        if lst.by_record or name not in {x.list for x in a.lists}:
            continue
        entry = lst.spec.entry
        if entry.score_below is not None:
            lines.append(f"+{entry.score_below - a.score} points ends '{lst.spec.title}'")
            continue
        above = [g.min for g in score.grades if g.grade not in entry.grade_in and g.min is not None]
        if above:
            lines.append(f"+{min(above) - a.score} points ends '{lst.spec.title}'")
    return lines


def explain_lines(
    rulebook: Rulebook, a: Assessment, facts: dict[int, RecordFacts]
) -> dict[str, list[str]]:
    """Sections of a readable explanation: outcome, reasons, lists, measures, what would change."""
    outcome = [f"subject {a.subject} ({a.kind.value}), as of {a.as_of}"]
    if a.score is not None:
        band = (
            next(g for g in rulebook.score.grades if g.grade == a.grade) if rulebook.score else None
        )
        title = f" ({band.title})" if band and band.title else ""
        outcome.append(f"score {a.score}, grade {a.grade}{title}")
    elif rulebook.score is not None:
        outcome.append(
            f"not scored: '{rulebook.name}' scores only "
            + ", ".join(k.value for k in rulebook.score.subjects)
        )
    measures = [
        f"{m.kind.value}: {m.title} [{m.name}] applied by {', '.join(m.agencies)}; "
        f"legal basis: {m.legal_basis}"
        for m in (rulebook.measures[name] for name in a.measures)
    ]
    change = _score_lines(rulebook, a)
    return {
        "outcome": outcome,
        "reasons": _reason_lines(rulebook, a),
        "lists": _listing_lines(rulebook, a, facts),
        "measures": measures,
        "would change": change,
    }
