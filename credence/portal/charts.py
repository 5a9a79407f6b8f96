"""Charts drawn on the server as SVG: no script, no CDN, readable by screen readers.

Each chart carries a <title> and an aria-label, and the pages print the same
figures as a table beside it, so nothing is only in the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

_FONT = 'font-family="system-ui, \'Noto Sans CJK SC\', sans-serif" font-size="12"'


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    width: int = 520,
    height: int = 220,
) -> Markup:
    """Vertical bars, one per label, scaled to the largest value (zero-based axis)."""
    pad_left, pad_bottom, pad_top = 48, 28, 16
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    top = max(values, default=0) or 1
    n = max(len(values), 1)
    slot = plot_w / n
    parts = [_open(width, height, title), _axis(pad_left, pad_top, plot_h, top)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = pad_left + i * slot + slot * 0.15
        y = pad_top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{escape(label)}: {value:,.0f}</title></rect>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 10}" text-anchor="middle" {_FONT}>'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    title: str,
    low: float,
    high: float,
    width: int = 520,
    height: int = 220,
) -> Markup:
    """A line through the points that have a value, on a fixed axis from `low` to `high`."""
    pad_left, pad_bottom, pad_top = 48, 28, 16
    plot_w, plot_h = width - pad_left - 12, height - pad_bottom - pad_top
    span = (high - low) or 1
    n = max(len(values) - 1, 1)
    parts = [_open(width, height, title), _axis(pad_left, pad_top, plot_h, high, low)]
    points = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = pad_left + plot_w * i / n
        y = pad_top + plot_h * (1 - (value - low) / span)
        points.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="point">'
            f"<title>{escape(labels[i])}: {value:,.0f}</title></circle>"
        )
    if len(points) > 1:
        parts.insert(2, f'<polyline points="{" ".join(points)}" class="line" fill="none"/>')
    for i in (0, len(labels) - 1) if labels else ():
        x = pad_left + plot_w * i / n
        anchor = "start" if i == 0 else "end"
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="{anchor}" {_FONT}>'
            f"{escape(labels[i])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width: int, height: int, title: str) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}" class="chart"><title>{label}</title>'
    )


def _axis(left: int, top: int, plot_h: int, high: float, low: float = 0) -> str:
    bottom = top + plot_h
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>'
        f'<line x1="{left}" y1="{bottom}" x2="100%" y2="{bottom}" class="axis"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" {_FONT}>{high:,.0f}</text>'
        f'<text x="{left - 6}" y="{bottom}" text-anchor="end" {_FONT}>{low:,.0f}</text>'
    )
