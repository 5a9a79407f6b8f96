"""Array type aliases and calendar arithmetic shared by the city's generators.

The generator works on whole columns of numbers at once (a million subjects,
twenty million records), so dates are epoch days in int64 arrays and are
only turned into text when a feed is written. These helpers keep that
arithmetic in one place, free of the clock and of Python loops.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


def epoch_day(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def civil(days: Ints) -> tuple[Ints, Ints, Ints]:
    """Year, month and day of epoch days."""
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    years = months.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    month = (months - years).astype(np.int64) + 1
    dom = (d - months).astype(np.int64) + 1
    return year, month, dom
