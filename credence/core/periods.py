"""Calendar periods ("3 years", "3 months", "90 days") for publicity and listing.

Publicity periods are set in law in calendar units (public for 3 months or 3
years), so they are kept as calendar units, not converted to days, and added
to dates the way a clerk would: 29 February plus one year is 28 February.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(day|week|month|year)s?\s*$")


@dataclass(frozen=True, slots=True)
class Period:
    """A whole number of calendar units."""

    count: int
    unit: str  # "day", "week", "month" or "year"

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse "3 years"-style text; raise ValueError saying what is accepted."""
        match = _PERIOD.match(str(text).lower())
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{text!r} is not a period such as '90 days', '3 months' or '2 years'")
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"

    def add_to(self, start: dt.date) -> dt.date:
        """The date this period after `start` (month ends are clamped)."""
        if self.unit == "day":
            return start + dt.timedelta(days=self.count)
        if self.unit == "week":
            return start + dt.timedelta(weeks=self.count)
        months = self.count * (12 if self.unit == "year" else 1)
        year, month0 = divmod(start.month - 1 + months, 12)
        year += start.year
        day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
        return dt.date(year, month0 + 1, day)
