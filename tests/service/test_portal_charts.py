"""Server-side SVG charts and the history's days, checked against hand-worked values."""

from __future__ import annotations

import datetime as dt
import re

from credence.portal.charts import bar_chart, line_chart
from credence.portal.views import month_ends


def test_bars_are_proportional_to_their_values() -> None:
    svg = str(bar_chart(["a", "b"], [1, 3], "Two bars"))
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2
    assert abs(heights[1] / heights[0] - 3) < 0.01  # drawn to 0.1 px
    assert 'role="img"' in svg and 'aria-label="Two bars"' in svg


def test_labels_are_escaped() -> None:
    svg = str(bar_chart(["<b>&"], [1], "T<"))
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and 'aria-label="T&lt;"' in svg


def test_a_line_skips_missing_points_and_spans_the_axis() -> None:
    svg = str(line_chart(["d1", "d2", "d3"], [100, None, 0], "Line", low=0, high=100))
    ys = [float(y) for y in re.findall(r'<circle [^>]*cy="([\d.]+)"', svg)]
    assert len(ys) == 2
    # 100 sits at the top of the plot (y = 16), 0 at its bottom (220 - 28 = 192)
    assert ys == [16.0, 192.0]


def test_month_ends_are_the_last_days_of_the_previous_months_then_today() -> None:
    days = month_ends(dt.date(2026, 3, 15), 3)
    assert days == [
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 15),
    ]
