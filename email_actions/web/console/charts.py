"""Charts for the console, drawn on the server as inline SVG: no script, no external library or CDN, and
readable without colour (every bar and point carries a <title> with its exact value, and every chart has
a table of the same figures next to it on its page).

Each function returns markup (`markupsafe.Markup`) to place in a template; labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#1f5fbf", "#e07b00", "#1e7d32", "#b3261e", "#6a3fb5", "#00838f")
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 24, 48

Number = int | float | Decimal


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number | None]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _format(value: float) -> str:
    # Two decimals at most, so a quarter tick reads exactly (1.25k, not 1.2k).
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= unit:
            return f"{value / unit:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}"


def _frame(title: str, top: float, body: list[str], series: Sequence[Series], labels: Sequence[str]) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6472">{_format(value)}</text>')
    parts.extend(body)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    every = max(1, len(labels) // 12)
    for index, label in enumerate(labels):
        if index % every == 0:
            x = LEFT + step * (index + 0.5)
            y = HEIGHT - BOTTOM + 16
            parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="#5b6472">{escape(label)}</text>')
    x = LEFT
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 7}" fill="#1d2430">{escape(item.name)}</text>')
        x += 24 + 7 * len(item.name)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in `parts` went through escape()


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series."""
    top = _nice_max(max((float(v) for s in series for v in s.values if v is not None), default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    group = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    body = []
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        for index, value in enumerate(item.values):
            if value is None:
                continue
            height = plot_h * float(value) / top
            x = LEFT + group * index + group * 0.1 + bar * s_index
            y = TOP + plot_h - height
            tip = f"{labels[index]} · {item.name}: {value}"
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
    return _frame(title, top, body, series, labels)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Lines over the labels (e.g. days), one per series; a gap where a value is None."""
    top = _nice_max(max((float(v) for s in series for v in s.values if v is not None), default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = []
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        points = []
        for index, value in enumerate(item.values):
            if value is None:
                continue
            x = LEFT + step * (index + 0.5)
            y = TOP + plot_h - plot_h * float(value) / top
            points.append(f"{x:.1f},{y:.1f}")
            tip = f"{labels[index]} · {item.name}: {value}"
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
        if len(points) > 1:
            body.insert(
                0,
                f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>',
            )
    return _frame(title, top, body, series, labels)


def funnel_chart(title: str, steps: Sequence[tuple[str, Number]]) -> Markup:
    """Horizontal bars shrinking step by step, each labelled with its count and share of the first step."""
    first = float(steps[0][1]) if steps and steps[0][1] else 0.0
    row = 34
    height = TOP + row * len(steps) + 8
    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    span = WIDTH - 260
    for index, (label, value) in enumerate(steps):
        share = float(value) / first if first else 0.0
        y = TOP + row * index
        parts.append(f'<text x="150" y="{y + 18}" text-anchor="end" fill="#1d2430">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar" x="160" y="{y + 4}" width="{max(span * share, 1):.1f}" height="{row - 10}" '
            f'fill="{PALETTE[0]}"><title>{escape(f"{label}: {value}")}</title></rect>'
        )
        parts.append(f'<text x="{168 + span * share:.1f}" y="{y + 18}" fill="#1d2430">{value} ({share:.0%})</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in `parts` went through escape()
