"""An assessment in words a person can act on: why, and what would change it.

Adverse-action notices must give the key factors; a due-process system
should also say what the person can do. So next to each reason this says
when it stops counting, next to each listing what would remove it, and next
to the score how many points the next grade or measure needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from credence.core.assessment import Assessment, Limit
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


def _limit_line(limit: Limit) -> str:
    if limit.rule == "cap":
        return (
            f"{limit.not_counted:+d} points of the {limit.area} area not counted: "
            f"the rulebook caps that area at {limit.at:+d}"
        )
    end = "maximum" if limit.not_counted > 0 else "minimum"
    return f"{limit.not_counted:+d} points not counted: the score is held at its {end} {limit.at}"


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
    if a.more_reasons:
        plural = "s" if a.more_reasons > 1 else ""
        lines.append(f"and {a.more_reasons} more scored record{plural}, none weighing more")
    return lines + [_limit_line(x) for x in a.limits]


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


def unassessed(a: Assessment) -> Assessment:
    """`a` without an outcome: what a subject with no record counting gets from explain.

    The store engine starts such a subject at the base score; presented as a
    grade (or with the measures it would bring) that would read as earned.
    """
    return replace(a, score=None, grade=None, lists=(), measures=(), limits=())


def explain_dict(a: Assessment, held: int) -> dict[str, Any]:
    """The assessment as `explain --json` prints it, saying how many records are held."""
    data = unassessed(a).to_dict() if a.records == 0 else a.to_dict()
    data["records_held"] = held
    data["no_records"] = held == 0
    return data


def _nothing_counts(rulebook: Rulebook, a: Assessment, held: int) -> list[str]:
    if held == 0:
        return [
            f"credence holds no records about {a.subject}",
            f"no assessment under '{rulebook.name}' as of {a.as_of}: nothing to assess, "
            "so no score or grade (a base score is a starting point, not a grade earned)",
        ]
    plural = "s" if held > 1 else ""
    return [
        f"subject {a.subject} ({a.kind.value}), as of {a.as_of}",
        f"credence holds {held} record{plural} about {a.subject}, but none counts under "
        f"'{rulebook.name}' on {a.as_of} (dated later, withdrawn or corrected, or of a kind "
        "it does not assess): not graded",
    ]


def _outcome_lines(rulebook: Rulebook, a: Assessment) -> list[str]:
    outcome = [f"subject {a.subject} ({a.kind.value}), as of {a.as_of}"]
    if a.score is not None and rulebook.score is not None:
        band = next(g for g in rulebook.score.grades if g.grade == a.grade)
        title = f" ({band.title})" if band.title else ""
        base = ""
        if not a.reasons and not a.limits and a.score == rulebook.score.base:
            base = "; no record moves it: this is the base score"
        outcome.append(f"score {a.score}, grade {a.grade}{title}{base}")
    elif rulebook.score is not None:
        outcome.append(
            f"not scored: '{rulebook.name}' scores only "
            + ", ".join(k.value for k in rulebook.score.subjects)
        )
    return outcome


def explain_lines(
    rulebook: Rulebook, a: Assessment, facts: dict[int, RecordFacts], held: int | None = None
) -> dict[str, list[str]]:
    """Sections of a readable explanation: outcome, reasons, lists, measures, what would change.

    `held` is how many records the registry holds about the subject at all; when
    none of them counts there is no outcome to explain, and the first line says why.
    """
    if a.records == 0 and held is not None:
        return {"outcome": _nothing_counts(rulebook, a, held)}
    measures = [
        f"{m.kind.value}: {m.title} [{m.name}] applied by {', '.join(m.agencies)}; "
        f"legal basis: {m.legal_basis}"
        for m in (rulebook.measures[name] for name in a.measures)
    ]
    return {
        "outcome": _outcome_lines(rulebook, a),
        "reasons": _reason_lines(rulebook, a),
        "lists": _listing_lines(rulebook, a, facts),
        "measures": measures,
        "would change": _score_lines(rulebook, a),
    }


def provenance_line(a: Assessment) -> str:
    """The footer: the rulebook, catalogue and ledger head a result was computed from."""
    rb, cat, head = a.rulebook, a.catalogue, a.ledger or {}
    ledger = f"ledger head size {head.get('size')}, root {head.get('root')}" if head else "ledger ?"
    return (
        f"rulebook {rb['name']} {rb['version']} ({rb['content_hash']}); "
        f"catalogue {cat['name']} {cat['version']} ({cat['hash']}); {ledger}"
    )
