"""Turning an engine's three result streams into assessments, subject by subject.

Each engine returns `scores`, `listings` and `reasons` ordered by subject;
they are merged here in one pass, so memory does not grow with the number of
subjects and every engine hands the same rows to the same Python code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from credence.core.assessment import (
    Assessment,
    Limit,
    ListingRow,
    Reason,
    assemble,
    score_limits,
)
from credence.core.rulebook import Rulebook

Row = tuple[Any, ...]


def _grouped(rows: Iterable[Row]) -> Iterator[tuple[str, list[Row]]]:
    for subject, group in groupby(rows, key=lambda r: r[0]):
        yield str(subject), list(group)


def _reasons(rows: list[Row]) -> tuple[list[Reason], int]:
    """A subject's top reasons, and how many scored records it has in all."""
    return [Reason(int(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows], int(rows[0][5])


def merge_results(
    rulebook: Rulebook,
    scores: Iterable[Row],  # (subject, score, records[, unclamped, cut per capped area...])
    listings: Iterable[Row],  # (subject, list, seq, start, extension)
    reasons: Iterable[Row],  # (subject, seq, item, start, points, scored records)
    as_of: dt.date,
    known_size: int | None,
    ledger: dict[str, Any] | None = None,
) -> Iterator[Assessment]:
    """Assessments for every subject in `scores`, in subject order."""
    cache: dict[Any, Any] = {}
    lists_iter = _grouped(listings)
    reasons_iter = _grouped(reasons)
    next_list = next(lists_iter, None)
    next_reason = next(reasons_iter, None)
    for row in scores:
        subject = str(row[0])
        score = None if row[1] is None else int(row[1])
        my_lists: list[ListingRow] = []
        while next_list is not None and next_list[0] <= subject:
            if next_list[0] == subject:
                my_lists = [ListingRow(r[1], int(r[2]), str(r[3]), int(r[4])) for r in next_list[1]]
            next_list = next(lists_iter, None)
        my_reasons: list[Reason] = []
        counted = 0
        while next_reason is not None and next_reason[0] <= subject:
            if next_reason[0] == subject:
                my_reasons, counted = _reasons(next_reason[1])
            next_reason = next(reasons_iter, None)
        limits: tuple[Limit, ...] = ()
        if len(row) > 3:
            unclamped = None if row[3] is None else int(row[3])
            limits = score_limits(rulebook, score, unclamped, row[4:])
        yield assemble(
            rulebook,
            subject,
            score,
            my_lists,
            my_reasons,
            as_of,
            known_size,
            cache,
            records=int(row[2]),
            reason_count=counted,
            limits=limits,
            ledger=ledger,
        )
