"""`make bench`'s table judges each figure against its target as the issue states it.

Cases and verdicts written out by hand, not read from the benchmarks: a bound of
"no wrong links" must be met by zero links (it once printed `< 0 links`, **no**, for 0),
and "under 4 GB" must not be met at exactly 4 GB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from table import Figure


@pytest.mark.parametrize(
    ("figure", "target", "met"),
    [
        (Figure("wrong links", 0, "links", no_more_than=0), "<= 0 links", True),
        (Figure("wrong links", 1, "links", no_more_than=0), "<= 0 links", False),
        (Figure("peak", 4096, "MiB", at_most=4096), "< 4,096 MiB", False),
        (Figure("peak", 538, "MiB", at_most=4096), "< 4,096 MiB", True),
        (Figure("scoring", 1.7, "s", floor=0.85, ratio_at_most=2.0), "<= 2x floor", True),
        (Figure("scoring", 1.8, "s", floor=0.85, ratio_at_most=2.0), "<= 2x floor", False),
        (
            Figure("ingest", 90_000, "rows/s", floor=100_000, ratio_at_least=0.8, at_least=100_000),
            ">= 0.8x floor; >= 100,000 rows/s",
            False,
        ),
        (Figure("floor alone", 13_713, "requests/s"), "-", None),
    ],
)
def test_target_and_verdict(figure: Figure, target: str, met: bool | None) -> None:
    assert figure.target == target
    assert figure.met is met
