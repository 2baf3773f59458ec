"""A small SVG line chart, drawn by the benchmark itself (no plotting library here).

`panel(...)` draws one chart as a group at the origin (log-scaled x when asked: the
Rollout counts 100, 1,000, 10,000 are decades apart), `svg(panels, title)` lays panels
side by side into one document. Pure string building; `__main__` writes
docs/bench-scale.svg with it.

Neighbours: `__main__` (the caller); tests/unit/test_bench_compare_chart.py checks the
structure (one polyline per series, a marker per point, axis labels, points inside the
plot area).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 360, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 30, 30, 44
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (x, y), x ascending


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 10)]
    while ticks[-1] < high - step * 1e-9:  # the last tick covers `high`
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:g}"


def panel(title: str, x_label: str, y_label: str, series: Sequence[Series], *,
          log_x: bool = True) -> str:
    """One chart as an SVG `<g class="panel">`, WIDTH x HEIGHT from the origin."""
    xs = [px for s in series for px, _ in s.points]
    ys = [py for s in series for _, py in s.points]
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    if log_x:
        low_exp = math.floor(math.log10(min(xs))) if xs else 2
        high_exp = math.ceil(math.log10(max(xs))) if xs else 4
        high_exp = max(high_exp, low_exp + 1)
        x_ticks = [10.0 ** e for e in range(low_exp, high_exp + 1)]
        x0, x1 = math.log10(x_ticks[0]), math.log10(x_ticks[-1])
    else:
        x_ticks = nice_ticks(min(xs, default=0), max(xs, default=1))
        x0, x1 = x_ticks[0], x_ticks[-1]
    y_ticks = nice_ticks(0, max(ys, default=1) or 1)
    y_top = y_ticks[-1]

    def to_x(value: float) -> float:
        position = math.log10(value) if log_x else value
        return left + (position - x0) / (x1 - x0) * (right - left)

    def to_y(value: float) -> float:
        return bottom - value / y_top * (bottom - top)

    out = ['<g class="panel">',
           f'<text x="{WIDTH / 2:g}" y="18" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{escape(title)}</text>',
           f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" '
           'stroke="#333"/>',
           f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" '
           'stroke="#333"/>']
    for tick in x_ticks:
        px = to_x(tick)
        out.append(f'<text class="xtick" x="{px:.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'font-size="10">{_label(tick)}</text>')
    for tick in y_ticks:
        py = to_y(tick)
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text class="ytick" x="{left - 4}" y="{py + 3:.1f}" text-anchor="end" '
                   f'font-size="10">{_label(tick)}</text>')
    out.append(f'<text class="xlabel" x="{(left + right) / 2:g}" y="{HEIGHT - 8}" '
               f'text-anchor="middle" font-size="11">{escape(x_label)}</text>')
    out.append(f'<text class="ylabel" x="12" y="{(top + bottom) / 2:g}" text-anchor="middle" '
               f'font-size="11" transform="rotate(-90 12 {(top + bottom) / 2:g})">'
               f'{escape(y_label)}</text>')
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(f"{to_x(px):.1f},{to_y(py):.1f}" for px, py in s.points)
        out.append(f'<polyline class="series" data-name="{escape(s.name)}" points="{coords}" '
                   f'fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py in s.points:
            out.append(f'<circle class="point" cx="{to_x(px):.1f}" cy="{to_y(py):.1f}" r="3" '
                       f'fill="{colour}"><title>{escape(s.name)}: {_label(px)} -&gt; '
                       f'{py:.3g}</title></circle>')
    out.append("</g>")
    return "\n".join(out)


def svg(panels: Sequence[str], title: str, legend: Sequence[str], footnote: str = ""
        ) -> str:
    """Panels side by side under `title` and one legend (series names in the panels'
    order, so colours match), with an optional footnote line."""
    width = WIDTH * max(1, len(panels))
    height = HEIGHT + 50 + (20 if footnote else 0)
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{width / 2:g}" y="20" text-anchor="middle" font-size="15">'
            f'{escape(title)}</text>']
    x = 8.0
    for index, name in enumerate(legend):
        colour = COLOURS[index % len(COLOURS)]
        body.append(f'<line x1="{x:g}" y1="36" x2="{x + 16:g}" y2="36" stroke="{colour}" '
                    'stroke-width="2"/>')
        body.append(f'<text class="legend" x="{x + 20:g}" y="40" font-size="12">'
                    f'{escape(name)}</text>')
        x += 40 + 7 * len(name)
    body += [f'<g transform="translate({WIDTH * i},50)">\n{p}\n</g>'
             for i, p in enumerate(panels)]
    if footnote:
        body.append(f'<text x="8" y="{height - 6}" font-size="10" fill="#555">'
                    f'{escape(footnote)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"
