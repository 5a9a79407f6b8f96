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

from credence.core.assessment import Assessment, ListingRow, Reason, assemble
from credence.core.rulebook import Rulebook

Row = tuple[Any, ...]


def _grouped(rows: Iterable[Row]) -> Iterator[tuple[str, list[Row]]]:
    for subject, group in groupby(rows, key=lambda r: r[0]):
        yield str(subject), list(group)


def merge_results(
    rulebook: Rulebook,
    scores: Iterable[Row],  # (subject, score)
    listings: Iterable[Row],  # (subject, list, seq, start, extension)
    reasons: Iterable[Row],  # (subject, seq, item, start, points)
    as_of: dt.date,
    known_size: int | None,
) -> Iterator[Assessment]:
    """Assessments for every subject in `scores`, in subject order."""
    cache: dict[Any, Any] = {}
    lists_iter = _grouped(listings)
    reasons_iter = _grouped(reasons)
    next_list = next(lists_iter, None)
    next_reason = next(reasons_iter, None)
    for subject, score in scores:
        subject = str(subject)
        my_lists: list[ListingRow] = []
        while next_list is not None and next_list[0] <= subject:
            if next_list[0] == subject:
                my_lists = [ListingRow(r[1], int(r[2]), str(r[3]), int(r[4])) for r in next_list[1]]
            next_list = next(lists_iter, None)
        my_reasons: list[Reason] = []
        while next_reason is not None and next_reason[0] <= subject:
            if next_reason[0] == subject:
                my_reasons = [
                    Reason(int(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in next_reason[1]
                ]
            next_reason = next(reasons_iter, None)
        yield assemble(
            rulebook,
            subject,
            None if score is None else int(score),
            my_lists,
            my_reasons,
            as_of,
            known_size,
            cache,
        )
