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
from collections.abc import Iterable
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
    as_of: str
    known_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind.value,
            "score": self.score,
            "grade": self.grade,
            "lists": [lst.to_dict() for lst in self.lists],
            "measures": list(self.measures),
            "reasons": [r.to_dict() for r in self.reasons],
            "rulebook": self.rulebook,
            "as_of": self.as_of,
            "known_size": self.known_size,
        }


# --- the Python half of the computation ------------------------------------------------------


def _record_listing(rulebook: Rulebook, lst: ResolvedList, rows: list[ListingRow]) -> Listing:
    since = min(r.start for r in rows)
    until = max(_listing_end(rulebook, lst, r) for r in rows)
    seqs = tuple(sorted(r.seq for r in rows))
    return Listing(lst.name, lst.spec.colour, since, until.isoformat(), seqs)


def _listing_end(rulebook: Rulebook, lst: ResolvedList, row: ListingRow) -> dt.date:
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


Outcome = tuple[str | None, tuple[str, ...], tuple[str, ...]]  # grade, score lists, measures


def _outcome(
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
) -> Assessment:
    """Turn an engine's rows for one subject into its assessment.

    `cache` (one per run) remembers outcomes by (kind, score, record lists):
    a batch has millions of subjects but only hundreds of distinct outcomes.
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
        outcome = _outcome(rulebook, kind, score, record_lists)
        if cache is not None:
            cache[key] = outcome
    grade, by_score, measures = outcome
    listings: list[Listing] = []
    for name, lst in rulebook.lists.items():
        if name in record_lists:
            listings.append(_record_listing(rulebook, lst, by_list[name]))
        elif name in by_score:
            listings.append(Listing(name, lst.spec.colour, None, None))
    ranked = sorted(reasons, key=lambda r: (-abs(r.points), r.seq))[:MAX_REASONS]
    return Assessment(
        subject=subject,
        kind=kind,
        score=score,
        grade=grade,
        lists=tuple(listings),
        measures=measures,
        reasons=tuple(ranked),
        rulebook=rulebook.ref,
        as_of=as_of.isoformat(),
        known_size=known_size,
    )
