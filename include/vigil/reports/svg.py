"""Small inline SVG charts: vertical bars (stacked or grouped), lines, horizontal bars.

Hand-written so reports stay one self-contained file with no dependency and no asset from
the network. Every piece of text is escaped here, since the result is inserted as markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Fmt = Callable[[float], str]

WIDTH = 760
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 44
FONT = 'font-family="system-ui, sans-serif" font-size="11"'

GREEN, RED, ORANGE, GREY, BLUE, PURPLE = (
    "#2e7d32",
    "#c62828",
    "#ef6c00",
    "#9e9e9e",
    "#1565c0",
    "#6a1b9a",
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


def plain(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def percent(value: float) -> str:
    return f"{value:.0f}%"


def millis(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 10 or value == 0 else f"{value:.1f} ms"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10**k at or above `value` (an axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    # 2.5 only from 25 up: below, counts would get ticks at 0.625.
    for step in (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10):
        if value <= step * power + 1e-9:
            return float(step * power)
    return float(10 * power)


def _open(title: str, width: int, height: int) -> list[str]:
    label = escape(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{label}" class="chart">',
        f"<title>{label}</title>",
        f'<text x="{LEFT}" y="14" {FONT} font-size="13" font-weight="600">{label}</text>',
    ]


def _legend(series: Sequence[Series], width: int) -> list[str]:
    parts, x = [], width - RIGHT
    for s in reversed(series):
        x -= 14 + 7 * len(s.name)
        parts.append(f'<rect x="{x}" y="20" width="10" height="10" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 14}" y="29" {FONT}>{escape(s.name)}</text>')
    return parts


def divisions(top: float) -> int:
    """How many steps the axis gets: four unless another count gives whole-number ticks
    (0-10 in fives of 2, not fours of 2.5)."""
    for n in (4, 5, 2):
        if top >= n and (top / n).is_integer():
            return n
    return 4 if top > 1 else 1


def _axes(top: float, fmt: Fmt, width: int, height: int) -> list[str]:
    """Horizontal grid lines with their values, and the baseline."""
    parts = []
    plot_h = height - TOP - BOTTOM
    steps = divisions(top)
    for i in range(steps + 1):
        value = top * i / steps
        y = height - BOTTOM - plot_h * i / steps
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" '
            f'stroke="{"#555" if i == 0 else "#ddd"}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" {FONT} text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def _x_labels(
    labels: Sequence[str], centers: Sequence[float], height: int, width: int = WIDTH
) -> list[str]:
    # A label ("Tue 17 Nov") needs ~60 px: at most 8 under a 720 px chart, or they overlap;
    # fewer under a smaller one (a scenario step's chart).
    room = max(2, round(8 * (width - LEFT - RIGHT) / (WIDTH - LEFT - RIGHT)))
    every = max(1, math.ceil(len(labels) / min(room, 8)))
    return [
        f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" {FONT} text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, (label, x) in enumerate(zip(labels, centers, strict=True))
        if i % every == 0
    ]


def _empty(parts: list[str], width: int, height: int) -> Markup:
    parts.append(
        f'<text x="{width / 2}" y="{height / 2}" {FONT} font-size="13" text-anchor="middle" '
        'fill="#777">no data in this window</text></svg>'
    )
    return Markup("".join(parts))


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Fmt = plain,
    stacked: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """One group of bars per label: stacked, or side by side."""
    parts = _open(title, width, height)
    totals = [
        sum(v or 0 for v in col) if stacked else max((v or 0 for v in col), default=0)
        for col in zip(*(s.values for s in series), strict=True)
    ]
    if not labels or not any(totals):
        return _empty(parts, width, height)
    top = nice_max(max(totals))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / len(labels)
    bar_w = slot * 0.7 / (1 if stacked else len(series))
    parts += _axes(top, fmt, width, height) + _legend(series, width)
    for i, label in enumerate(labels):
        base = float(height - BOTTOM)
        for j, s in enumerate(series):
            value = s.values[i] or 0
            h = plot_h * value / top
            x = LEFT + slot * i + slot * 0.15 + (0 if stacked else j * bar_w)
            y = base - h
            tip = escape(f"{label} — {s.name}: {fmt(value)}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.color}"><title>{tip}</title></rect>'
            )
            if stacked:
                base = y
    centers = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    parts += _x_labels(labels, centers, height, width)
    return Markup("".join([*parts, "</svg>"]))


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Fmt = plain,
    y_max: float | None = None,
    connect_gaps: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """One line per series. A None value (no data that day) breaks the line, or is
    stepped over with `connect_gaps` (sparse series: monthly runs on a daily axis)."""
    parts = _open(title, width, height)
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return _empty(parts, width, height)
    top = y_max if y_max is not None else nice_max(max(values))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / len(labels)
    centers = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    parts += _axes(top, fmt, width, height) + _legend(series, width)
    for s in series:
        points = [
            (centers[i], height - BOTTOM - plot_h * min(v, top) / top, labels[i], v)
            for i, v in enumerate(s.values)
            if v is not None
        ]
        gaps = [False] * len(points) if connect_gaps else [v is None for v in s.values]
        parts += _polylines(s, points, gaps)
        parts += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.color}">'
            f"<title>{escape(f'{label} — {s.name}: {fmt(v)}')}</title></circle>"
            for x, y, label, v in points
        ]
    parts += _x_labels(labels, centers, height, width)
    return Markup("".join([*parts, "</svg>"]))


def _polylines(
    s: Series, points: Sequence[tuple[float, float, str, float]], gaps: Sequence[bool]
) -> list[str]:
    """Segments of consecutive values: a day without data is a gap, not a dip to zero."""
    runs: list[list[str]] = [[]]
    point = iter(points)
    for gap in gaps:
        if gap:
            runs.append([])
        else:
            x, y, _, _ = next(point)
            runs[-1].append(f"{x:.1f},{y:.1f}")
    return [
        f'<polyline points="{" ".join(r)}" fill="none" stroke="{s.color}" stroke-width="2"/>'
        for r in runs
        if len(r) > 1
    ]


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    fmt: Fmt = plain,
    color: str = BLUE,
    width: int = WIDTH,
) -> Markup:
    """One horizontal bar per label, top to bottom, with its value at the end."""
    row, label_w = 22, 200
    height = TOP + row * max(len(labels), 1) + 10
    parts = _open(title, width, height)
    if not labels or not any(values):
        return _empty(parts, width, height)
    top = max(values)
    plot_w = width - label_w - RIGHT - 70
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        w = plot_w * value / top if top else 0
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" {FONT} text-anchor="end">{escape(short)}'
            f"<title>{escape(label)}</title></text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
            f"<title>{escape(f'{label}: {fmt(value)}')}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" {FONT}>{escape(fmt(value))}</text>'
        )
    return Markup("".join([*parts, "</svg>"]))
