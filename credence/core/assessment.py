"""Assessments: what a rulebook decides about one subject, and why.

Engines compute the data-heavy part (points per record, totals, listing
records) in SQL; everything after that is here, in plain Python shared by
every engine: grade bands, lists entered by score or grade, which measures
follow, the dates a listing ends. Keeping that step in one place is what
makes "identical results on every engine" a property of the code rather
than of testing alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from credence.core.cutoffs import listing_period
from credence.core.ids import SubjectKind
from credence.core.rulebook import ResolvedList, Rulebook
from credence.core.rulebook_model import MeasureSpec

MAX_REASONS = 4  # as in adverse-action notices: the key factors, not the whole file


def subject_kind(subject: str) -> SubjectKind:
    """The kind of a canonical subject key (`ric:` is a person; other schemes organisations)."""
    return SubjectKind.PERSON if subject.startswith("ric:") else SubjectKind.ORGANISATION


def subject_region(subject: str) -> str:
    """The province-level region code (2 digits) embedded in a resident ID or USCC, or ''."""
    scheme, _, ident = subject.partition(":")
    if scheme == "ric":
        return ident[:2]
    if scheme == "uscc":
        return ident[2:4]
    return ""


@dataclass(frozen=True, slots=True)
class Reason:
    """One record's contribution to a score."""

    seq: int
    item: str
    date: str
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "item": self.item, "date": self.date, "points": self.points}


@dataclass(frozen=True, slots=True)
class Limit:
    """A bound of the rulebook that changed a total, shown so that no point vanishes unseen.

    `rule` is "cap" (an area's points held at the cap `at`) or "scale" (the
    score held at the scale's minimum or maximum `at`); `not_counted` is what
    the bound left out (negative: penalties beyond the cap that did not count).
    """

    rule: str
    area: str | None
    at: int
    not_counted: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "area": self.area,
            "at": self.at,
            "not_counted": self.not_counted,
        }


@dataclass(frozen=True, slots=True)
class ListingRow:
    """One listing record still in force, as an engine returns it."""

    list: str
    seq: int
    start: str
    extension: int  # units of extension granted, before the rulebook's maximum


@dataclass(frozen=True)
class Listing:
    """A subject's membership of one list."""

    list: str
    colour: str
    since: str | None
    until: str | None
    records: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "list": self.list,
            "colour": self.colour,
            "since": self.since,
            "until": self.until,
            "records": list(self.records),
        }


@dataclass(frozen=True)
class Assessment:
    """A subject's score, grade, lists, measures and reasons under one rulebook."""

    subject: str
    kind: SubjectKind
    score: int | None
    grade: str | None
    lists: tuple[Listing, ...]
    measures: tuple[str, ...]
    reasons: tuple[Reason, ...]
    rulebook: dict[str, str]
    catalogue: dict[str, str]
    as_of: str
    known_size: int | None = None
    records: int = 0  # the subject's records that count under the rulebook on as_of
    more_reasons: int = 0  # scored records beyond the MAX_REASONS shown
    limits: tuple[Limit, ...] = ()
    ledger: dict[str, Any] | None = None  # {"size", "root"} of the signed head scored

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind.value,
            "score": self.score,
            "grade": self.grade,
            "records": self.records,
            "lists": [lst.to_dict() for lst in self.lists],
            "measures": list(self.measures),
            "reasons": [r.to_dict() for r in self.reasons],
            "more_reasons": self.more_reasons,
            "limits": [x.to_dict() for x in self.limits],
            "rulebook": self.rulebook,
            "catalogue": self.catalogue,
            "ledger": self.ledger,
            "as_of": self.as_of,
            "known_size": self.known_size,
        }


# --- the Python half of the computation ------------------------------------------------------


def _record_listing(rulebook: Rulebook, lst: ResolvedList, rows: list[ListingRow]) -> Listing:
    since = min(r.start for r in rows)
    until = max(listing_end(rulebook, lst, r) for r in rows)
    seqs = tuple(sorted(r.seq for r in rows))
    return Listing(lst.name, lst.spec.colour, since, until.isoformat(), seqs)


def listing_end(rulebook: Rulebook, lst: ResolvedList, row: ListingRow) -> dt.date:
    """The earlier of the listing's end and the end of its record's publicity."""
    start = dt.date.fromisoformat(row.start)
    ends = listing_period(lst, row.extension).add_to(start)
    # Exact for lists with one entry item (every preset); with several, the longest publicity.
    public = [rulebook.publicity[c].add_to(start) for c in lst.entry_items]
    return min(ends, max(public)) if public else ends


def _in_score_list(lst: ResolvedList, score: int | None, grade: str | None) -> bool:
    if score is None:
        return False
    entry = lst.spec.entry
    if entry.score_below is not None:
        return score < entry.score_below
    return grade in entry.grade_in


def _measure_applies(
    measure: MeasureSpec,
    kind: SubjectKind,
    score: int | None,
    grade: str | None,
    lists: frozenset[str] | set[str],
) -> bool:
    if measure.subjects and kind not in measure.subjects:
        return False
    when = measure.when
    if when.list is not None:
        return when.list in lists
    if score is None:
        return False
    if when.score_at_least is not None:
        return score >= when.score_at_least
    if when.score_below is not None:
        return score < when.score_below
    return grade in when.grade_in


def score_limits(
    rulebook: Rulebook, score: int | None, unclamped: int | None, cuts: Sequence[int]
) -> tuple[Limit, ...]:
    """The caps and scale ends that changed a score, from the engine's totals.

    `cuts` are, per capped area in the rulebook's order, the area's points
    minus its capped points; `unclamped` is the score before the scale's ends.
    """
    spec = rulebook.score
    if spec is None or score is None or (unclamped in (None, score) and not any(cuts)):
        return ()
    found: list[Limit] = []
    for (area, cap), cut in zip(spec.caps.items(), cuts, strict=False):
        bound = cap.min if cut < 0 else cap.max
        if cut and bound is not None:
            found.append(Limit("cap", area.value, bound, int(cut)))
    if unclamped is not None and unclamped != score:
        found.append(Limit("scale", None, score, unclamped - score))
    return tuple(found)


Outcome = tuple[str | None, tuple[str, ...], tuple[str, ...]]  # grade, score lists, measures


def outcome_for(
    rulebook: Rulebook, kind: SubjectKind, score: int | None, record_lists: frozenset[str]
) -> Outcome:
    """Grade, lists entered by score or grade, and measures: a function of few inputs."""
    grade = rulebook.grade_for(score) if score is not None else None
    by_score = tuple(
        name
        for name, lst in rulebook.lists.items()
        if not lst.by_record and kind in lst.spec.subjects and _in_score_list(lst, score, grade)
    )
    names = record_lists | set(by_score)
    measures = tuple(
        m.name for m in rulebook.measures.values() if _measure_applies(m, kind, score, grade, names)
    )
    return grade, by_score, measures


def assemble(
    rulebook: Rulebook,
    subject: str,
    score: int | None,
    listing_rows: Iterable[ListingRow],
    reasons: Iterable[Reason],
    as_of: dt.date,
    known_size: int | None,
    cache: dict[tuple[SubjectKind, int | None, frozenset[str]], Outcome] | None = None,
    *,
    records: int = 0,
    reason_count: int = 0,
    limits: tuple[Limit, ...] = (),
    ledger: dict[str, Any] | None = None,
) -> Assessment:
    """Turn an engine's rows for one subject into its assessment.

    `cache` (one per run) remembers outcomes by (kind, score, record lists):
    a batch has millions of subjects but only hundreds of distinct outcomes.
    `reason_count` is how many scored records the engine found (it returns
    only the top ones); `ledger` is one dict shared by the whole run.
    """
    kind = subject_kind(subject)
    if not rulebook.scores(kind):
        score = None
    by_list: dict[str, list[ListingRow]] = {}
    for row in listing_rows:
        by_list.setdefault(row.list, []).append(row)
    record_lists = frozenset(
        name
        for name in by_list
        if name in rulebook.lists and kind in rulebook.lists[name].spec.subjects
    )
    key = (kind, score, record_lists)
    outcome = cache.get(key) if cache is not None else None
    if outcome is None:
        outcome = outcome_for(rulebook, kind, score, record_lists)
        if cache is not None:
            cache[key] = outcome
    grade, by_score, measures = outcome
    listings: list[Listing] = []
    for name, lst in rulebook.lists.items():
        if name in record_lists:
            listings.append(_record_listing(rulebook, lst, by_list[name]))
        elif name in by_score:
            listings.append(Listing(name, lst.spec.colour, None, None))
    given = list(reasons)
    ranked = sorted(given, key=lambda r: (-abs(r.points), r.seq))[:MAX_REASONS]
    return Assessment(
        subject=subject,
        kind=kind,
        score=score,
        grade=grade,
        lists=tuple(listings),
        measures=measures,
        reasons=tuple(ranked),
        rulebook=rulebook.ref,
        catalogue=rulebook.catalogue.ref,
        as_of=as_of.isoformat(),
        known_size=known_size,
        records=records,
        more_reasons=max(reason_count, len(given)) - len(ranked),
        limits=limits if score is not None else (),
        ledger=ledger,
    )
