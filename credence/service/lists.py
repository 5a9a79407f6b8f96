"""The public red and black lists: organisations by name, people only as counts.

Who is on which list follows from assessing every subject under the live
rulebook as of today. That is a whole-registry run (the store engine's
`assess_all`), so it is done in the background once per (live rulebook,
ledger size, day) and shared; the page filters and pages through the result
in memory. People never leave this module by name: only their count per list.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credence.core.ids import SubjectKind
from credence.engines.store import StoreEngine

if TYPE_CHECKING:
    from credence.service.background import Run
    from credence.service.state import Service

PAGE_SIZE = 50
REFRESH_SECONDS = 60.0  # at most one new count a minute while records keep arriving
SCORE_BAND = 50  # width of the score distribution's bars


@dataclass
class PublicLists:
    """Organisations on each list (with dates and names), and how many people."""

    size: int = 0  # the ledger size it was computed at
    entries: list[dict[str, Any]] = field(default_factory=list)
    organisations: Counter[str] = field(default_factory=Counter)
    people: Counter[str] = field(default_factory=Counter)
    grades: Counter[str] = field(default_factory=Counter)  # organisations' grades
    scores: Counter[int] = field(default_factory=Counter)  # organisations by score band


def lists_run(service: Service) -> tuple[Run, bool]:
    """Today's lists under the live rulebook, and whether a newer count is on its way.

    Computed in the background. While records keep arriving, the last count
    is shown (with its ledger size) and a new one starts at most every
    REFRESH_SECONDS, so a busy registry is not assessed again for each record.
    """
    live = service.live()
    head = service.ledger_head()
    today = service.today()
    size = int(head["size"])

    def same_day(key: Hashable) -> bool:
        return (
            isinstance(key, tuple) and key[:2] == ("lists", live.content_hash) and key[3] == today
        )

    shown = service.jobs.latest_done(same_day)
    if shown is not None and (
        shown.result.size == size or time.monotonic() - (shown.finished or 0) < REFRESH_SECONDS
    ):
        return shown, shown.result.size != size

    def work() -> PublicLists:
        with StoreEngine(service.engine, live, today, ledger=head) as engine:
            return _collect(service, engine, size)

    run = service.jobs.get_or_start(("lists", live.content_hash, size, today), live.name, work)
    if run.state != "done" and shown is not None:
        return shown, True
    return run, False


def history_run(service: Service) -> Run:
    """How many organisations and people were on each list at each month end (and today),
    recomputed once a day from the records held, in the background."""
    from credence.portal.views import HISTORY_MONTHS, month_ends

    live = service.live()
    today = service.today()
    days = month_ends(today, HISTORY_MONTHS)

    def work() -> dict[str, Any]:
        points: list[dict[str, int]] = []
        for day in days:
            with StoreEngine(service.engine, live, day) as engine:
                counts: Counter[str] = Counter()
                for found in engine.assess_all():
                    for listing in found.lists:
                        counts[listing.list] += 1
            points.append(dict(counts))
        names = [r.spec.name for r in live.lists.values()]
        return {
            "days": [d.isoformat() for d in days],
            "lists": {n: [p.get(n, 0) for p in points] for n in names},
        }

    return service.jobs.get_or_start(("history", live.content_hash, today), live.name, work)


def _collect(service: Service, engine: StoreEngine, size: int) -> PublicLists:
    out = PublicLists(size=size)
    names = service.names()
    for found in engine.assess_all():
        if found.kind is SubjectKind.ORGANISATION and found.score is not None:
            out.grades[found.grade or "not graded"] += 1
            out.scores[found.score // SCORE_BAND * SCORE_BAND] += 1
        if not found.lists:
            continue
        if found.kind is not SubjectKind.ORGANISATION:
            for listing in found.lists:
                out.people[listing.list] += 1
            continue
        registered = names.get(found.subject)
        code = found.subject.removeprefix("uscc:")
        for listing in found.lists:
            out.organisations[listing.list] += 1
            out.entries.append(
                {
                    "uscc": code,
                    "name": registered.name if registered else None,
                    "region": (registered.region if registered else None) or code[2:8],
                    "list": listing.list,
                    "colour": listing.colour,
                    "since": listing.since,
                    "until": listing.until,
                    "records": list(listing.records),
                }
            )
    out.entries.sort(key=lambda e: (e["list"], e["since"] or "", e["uscc"]), reverse=False)
    return out


def page_of(lists: PublicLists, list_name: str, region: str, page: int) -> dict[str, Any]:
    """One page of entries, filtered by list and region (empty: all)."""
    chosen = [
        e
        for e in lists.entries
        if (not list_name or e["list"] == list_name) and (not region or e["region"] == region)
    ]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return {
        "entries": chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "total": len(chosen),
        "page": page,
        "pages": pages,
        "regions": sorted({e["region"] for e in lists.entries}),
    }
