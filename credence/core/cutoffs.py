"""Date cut-offs: calendar arithmetic done once in Python, so SQL only compares strings.

"Is this record still public on the as-of date?" means start + period >
as_of. Adding calendar months is where engines disagree (SQLite rolls 31
January + 1 month over to 3 March; DuckDB clamps to 28 February), so no
engine adds dates at all: for each period we find, once, the earliest start
date that is still inside it on the as-of date, and the generated SQL
compares ISO date strings with `>=`. Because `Period.add_to` never decreases
as the start date grows, that comparison is exactly the same test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from credence.core.periods import Period
from credence.core.rulebook import ResolvedList, Rulebook

_SEARCH_YEARS = 120  # no period in a rulebook is longer than this


def earliest_start(ends: Callable[[dt.date], dt.date], as_of: dt.date) -> dt.date:
    """The earliest start `s` with `ends(s) > as_of`, for a non-decreasing `ends`."""
    lo = as_of.toordinal() - 366 * _SEARCH_YEARS  # ends(lo) <= as_of
    hi = as_of.toordinal() + 1  # ends(hi) > as_of for any positive period
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if ends(dt.date.fromordinal(mid)) > as_of:
            hi = mid
        else:
            lo = mid
    return dt.date.fromordinal(hi)


def period_cutoff(period: Period, as_of: dt.date) -> str:
    """Records starting on or after this date are still inside `period` on `as_of`."""
    return earliest_start(period.add_to, as_of).isoformat()


def half_life_ppm(months_old: int, half_life_months: int) -> int:
    """The share of points left after `months_old` whole months, in millionths."""
    return round(1_000_000 * 2 ** (-months_old / half_life_months))


def _add_units(period: Period, units: int, unit_of: Period) -> Period:
    """`period` plus `units` of `unit_of`'s unit, as one calendar period."""
    if units == 0:
        return period

    def in_small(p: Period) -> tuple[int, str]:
        if p.unit in ("day", "week"):
            return p.count * (7 if p.unit == "week" else 1), "day"
        return p.count * (12 if p.unit == "year" else 1), "month"

    count, unit = in_small(period)
    step, step_unit = in_small(Period(1, unit_of.unit))
    assert unit == step_unit, "validated: duration and extension use the same kind of unit"
    return Period(count + units * step, unit)


def listing_period(lst: ResolvedList, extension: int) -> Period:
    """How long a listing lasts with `extension` units granted (capped at the maximum)."""
    assert lst.spec.duration is not None
    duration = Period.parse(lst.spec.duration)
    if lst.spec.extension is None:
        return duration
    cap = Period.parse(lst.spec.extension.max)
    return _add_units(duration, min(extension, cap.count), cap)


@dataclass(frozen=True)
class Cutoffs:
    """Every date comparison one rulebook needs for one as-of date."""

    as_of: str
    public_from: dict[str, str]  # item -> earliest start still public
    keep_from: dict[str, str]  # item -> earliest start whose points have not expired
    # half-life months -> [(earliest start of age band k, ppm for band k)], k = 0, 1, ...
    ladders: dict[int, list[tuple[str, int]]]
    listing_from: dict[str, list[str]]  # list -> cutoff with 0, 1, ... units of extension


def months(period: Period) -> int:
    """Whole calendar months in a month- or year-based period."""
    assert period.unit in ("month", "year"), "validated: half-lives are in months or years"
    return period.count * (12 if period.unit == "year" else 1)


def months_covering(period: Period) -> int:
    """The fewest whole months that are never shorter than `period`."""
    if period.unit in ("month", "year"):
        return months(period)
    days = period.count * (7 if period.unit == "week" else 1)
    return -(-days // 28)  # a month has at least 28 days


def compute_cutoffs(rulebook: Rulebook, as_of: dt.date) -> Cutoffs:
    """The cut-off dates for `rulebook` on `as_of`."""
    public_from = {code: period_cutoff(p, as_of) for code, p in rulebook.publicity.items()}
    keep_from: dict[str, str] = {}
    ladders: dict[int, list[tuple[str, int]]] = {}
    longest = max(months_covering(p) for p in rulebook.publicity.values())
    for code, rule in rulebook.item_rules.items():
        if rule.ageing.expires_after:
            keep_from[code] = period_cutoff(Period.parse(rule.ageing.expires_after), as_of)
        if rule.ageing.half_life:
            half = months(Period.parse(rule.ageing.half_life))
            if half not in ladders:
                # Band k holds records between k and k+1 whole months old.
                ladders[half] = [
                    (period_cutoff(Period(k + 1, "month"), as_of), half_life_ppm(k, half))
                    for k in range(longest + 1)
                ]
    listing_from: dict[str, list[str]] = {}
    for name, lst in rulebook.lists.items():
        if not lst.by_record:
            continue
        most = Period.parse(lst.spec.extension.max).count if lst.spec.extension else 0
        listing_from[name] = [period_cutoff(listing_period(lst, k), as_of) for k in range(most + 1)]
    return Cutoffs(as_of.isoformat(), public_from, keep_from, ladders, listing_from)
