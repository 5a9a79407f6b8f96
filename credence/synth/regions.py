"""Real GB/T 2260 region codes for the synthetic city, with the years each was valid.

A synthetic resident ID is only useful if credence's own check accepts it,
and that check (python-stdnum's `get_birth_place`) refuses a region code
that did not exist in the holder's birth year (Chongwen district, 110103,
was merged away in 2010). So instead of keeping a copy of the code list
that could drift from the one the validator uses, this module reads the
same `cn/loc` database python-stdnum reads, and applies the same rule:
a code is valid in a year when any of its names is unrestricted or has a
`[start-end]` range containing that year.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from stdnum import numdb

HOME_PROVINCE = "11"  # the synthetic city is Beijing: courts 京0105..., districts 1101xx


@dataclass(frozen=True)
class RegionTable:
    """County-level codes and a (code x birth year) validity table.

    `valid[i, y - first_year]` says whether `codes[i]` was a valid birth
    place in year `y`; `home` marks the synthetic city's own districts.
    """

    codes: npt.NDArray[np.int32]
    valid: npt.NDArray[np.bool_]
    home: npt.NDArray[np.bool_]
    first_year: int
    last_year: int

    def valid_in(
        self, index: npt.NDArray[np.intp], year: npt.NDArray[np.int32]
    ) -> npt.NDArray[np.bool_]:
        """Whether each drawn code index was valid in the matching birth year."""
        out: npt.NDArray[np.bool_] = self.valid[index, year - self.first_year]
        return out


def _years_valid(county: str, first_year: int, last_year: int) -> npt.NDArray[np.bool_]:
    """Mirror of stdnum.cn.ric.get_birth_place's rule for one code, over a span of years."""
    years = np.arange(first_year, last_year + 1)
    ok = np.zeros(years.shape, dtype=bool)
    for name in county.split(","):
        if not name.startswith("["):
            return np.ones(years.shape, dtype=bool)
        start, end = name[1:].split("]")[0].split("-")
        ok |= (years >= (int(start) if start else first_year)) & (
            years <= (int(end) if end else last_year)
        )
    return ok


@lru_cache(maxsize=8)
def region_table(first_year: int, last_year: int) -> RegionTable:
    """County-level codes (not ending in 00) known to stdnum, valid in some year of the span."""
    # Walk the database python-stdnum's get_birth_place reads. Its lookup merges the
    # properties of every line matching a code, later lines winning; so does this.
    county_of: dict[str, str] = {}
    for _plen, province, _phigh, _props, children in numdb.get("cn/loc").prefixes:
        for _clen, low, high, cprops, _sub in children:
            for rest in range(int(low), int(high) + 1):
                if "county" in cprops:
                    county_of[f"{province}{rest:0{len(low)}d}"] = cprops["county"]
    codes: list[int] = []
    rows: list[npt.NDArray[np.bool_]] = []
    home: list[bool] = []
    for code, county in county_of.items():
        if len(code) != 6 or code.endswith("00"):
            continue  # province and prefecture totals, not places of birth
        ok = _years_valid(county, first_year, last_year)
        if ok.any():
            codes.append(int(code))
            rows.append(ok)
            home.append(code.startswith(HOME_PROVINCE))
    return RegionTable(
        codes=np.array(codes, dtype=np.int32),
        valid=np.stack(rows),
        home=np.array(home, dtype=bool),
        first_year=first_year,
        last_year=last_year,
    )
