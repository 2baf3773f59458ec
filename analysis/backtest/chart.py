"""The backtest chart: measured values over time against the thresholds, as SVG text. Pure.

One panel per metric. The first value of each measurement (`result[0]`, or the scalar)
is a dot coloured by how it was judged (green Successful, red Failed, amber
Inconclusive, grey Error), joined by a thin line; a measurement without a number (an
error, no data) is a tick under the axis in its colour. The success condition's
thresholds are dashed green lines, the failure condition's dashed red ones (read by
`analysis.backtest.thresholds`); a condition that is not a simple comparison draws no
line and the panel says so. A red vertical line marks when the analysis would first have
failed.

Written by hand (no plotting library): the picture is small, and SVG is text.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from analysis.backtest.simulate import Point
from analysis.backtest.thresholds import Thresholds
from rollouts.api import AnalysisPhase

__all__ = ["COLOURS", "ChartMetric", "render_svg"]

WIDTH = 960
PANEL_HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 42, 46
COLOURS = {
    AnalysisPhase.SUCCESSFUL: "#2e7d32",
    AnalysisPhase.FAILED: "#c62828",
    AnalysisPhase.INCONCLUSIVE: "#ef8f00",
    AnalysisPhase.ERROR: "#757575",
}
_SUCCESS_LINE, _FAILURE_LINE = "#2e7d32", "#c62828"
_AXIS_LIMIT = sys.float_info.max / 8
"""The value axis stays within this either side of zero: Prometheus may answer 1e308
beside -1e308, whose difference overflows the scale; such values sit at the panel's edge."""


@dataclass(frozen=True, slots=True)
class ChartMetric:
    """One panel: a metric's measurements and what its conditions compare them with."""

    title: str
    points: Sequence[Point]
    success: Thresholds
    failure: Thresholds
    success_condition: str | None = None
    failure_condition: str | None = None
    first_failure: datetime | None = None


def render_svg(title: str, start: datetime, end: datetime,
               metrics: Sequence[ChartMetric]) -> str:
    """The chart as an SVG document (one panel per metric, the time axis from start to end)."""
    height = TOP + PANEL_HEIGHT * max(len(metrics), 1) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for index, metric in enumerate(metrics):
        parts.extend(_panel(metric, start, end, TOP + index * PANEL_HEIGHT))
    parts.extend(_legend(height))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(metric: ChartMetric, start: datetime, end: datetime, top: int) -> list[str]:
    plot_top, plot_bottom = top + 26, top + PANEL_HEIGHT - BOTTOM
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    numbers = [p.number for p in metric.points if p.number is not None]
    lines = [*metric.success.values, *metric.failure.values]
    low, high = _range([*numbers, *lines])
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return plot_left + (plot_right - plot_left) * (moment - start).total_seconds() / span

    def y(value: float) -> float:
        value = min(max(value, low), high)
        return plot_bottom - (plot_bottom - plot_top) * ((value - low) / (high - low))

    out = [f'<g class="metric" data-metric="{escape(metric.title)}">',
           f'<text x="{plot_left}" y="{top + 16}" font-size="13" font-weight="bold">'
           f'{escape(metric.title)}</text>',
           f'<rect x="{plot_left}" y="{plot_top}" width="{plot_right - plot_left}" '
           f'height="{plot_bottom - plot_top}" fill="none" stroke="#999"/>']
    out.append(f'<text x="{plot_right}" y="{top + 16}" text-anchor="end" fill="#555">'
               f'{escape(_caption(metric))}</text>')
    for tick in _ticks(low, high):
        out.append(f'<line x1="{plot_left}" x2="{plot_right}" y1="{y(tick):.1f}" '
                   f'y2="{y(tick):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{plot_left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                   f'{_number(tick)}</text>')
    for moment in _time_ticks(start, end):
        out.append(f'<line x1="{x(moment):.1f}" x2="{x(moment):.1f}" y1="{plot_bottom}" '
                   f'y2="{plot_bottom + 4}" stroke="#999"/>')
        out.append(f'<text x="{x(moment):.1f}" y="{plot_bottom + 28}" text-anchor="middle">'
                   f'{_time_label(moment, end - start)}</text>')
    for values, colour, kind in ((metric.success.values, _SUCCESS_LINE, "success"),
                                 (metric.failure.values, _FAILURE_LINE, "failure")):
        for value in values:
            out.append(f'<line class="threshold {kind}" data-value="{value!r}" '
                       f'x1="{plot_left}" x2="{plot_right}" y1="{y(value):.1f}" '
                       f'y2="{y(value):.1f}" stroke="{colour}" stroke-dasharray="6 4"/>')
            out.append(f'<text x="{plot_right - 4}" y="{y(value) - 4:.1f}" text-anchor="end" '
                       f'fill="{colour}">{kind} {_number(value)}</text>')
    drawn = [(x(p.at), y(p.number), p) for p in metric.points if p.number is not None]
    if len(drawn) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in drawn)
        out.append(f'<polyline points="{path}" fill="none" stroke="#90a4ae" '
                   'stroke-width="1"/>')
    for px, py, point in drawn:
        out.append(f'<circle class="point {point.phase.value}" cx="{px:.1f}" cy="{py:.1f}" '
                   f'r="2.2" fill="{COLOURS.get(point.phase, "#000")}"/>')
    for point in metric.points:
        if point.number is None:
            px = x(point.at)
            out.append(f'<line class="point {point.phase.value} novalue" x1="{px:.1f}" '
                       f'x2="{px:.1f}" y1="{plot_bottom + 6}" y2="{plot_bottom + 14}" '
                       f'stroke="{COLOURS.get(point.phase, "#000")}" stroke-width="2"/>')
    if metric.first_failure is not None and start <= metric.first_failure <= end:
        fx = x(metric.first_failure)
        out.append(f'<line class="first-failure" x1="{fx:.1f}" x2="{fx:.1f}" '
                   f'y1="{plot_top}" y2="{plot_bottom}" stroke="{_FAILURE_LINE}" '
                   'stroke-width="1.5"/>')
        out.append(f'<text x="{fx + 4:.1f}" y="{plot_bottom - 6}" fill="{_FAILURE_LINE}">'
                   f'first failure {_time_label(metric.first_failure, end - start)}</text>')
    out.append("</g>")
    return out


def _legend(height: int) -> list[str]:
    out = []
    x = WIDTH - RIGHT - 4 * 100
    for phase, colour in COLOURS.items():
        out.append(f'<circle cx="{x}" cy="{height - 14}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{x + 8}" y="{height - 10}">{phase.value}</text>')
        x += 100
    return out


def _caption(metric: ChartMetric) -> str:
    conditions = [text for text in (
        f"success: {metric.success_condition}" if metric.success_condition else "",
        f"failure: {metric.failure_condition}" if metric.failure_condition else "") if text]
    caption = "; ".join(conditions) or "no conditions"
    if not (metric.success.simple and metric.failure.simple):
        caption += " (not a simple comparison: values and verdicts only)"
    return caption if len(caption) <= 140 else caption[:137] + "..."


def _range(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low = max(min(values), -_AXIS_LIMIT)
    high = min(max(values), _AXIS_LIMIT)
    if math.isclose(low, high):
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _ticks(low: float, high: float) -> list[float]:
    """About five round values between low and high."""
    raw = (high - low) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    count = int((high - first) / step) + 1
    return [first + step * index for index in range(max(count, 0))]


def _time_ticks(start: datetime, end: datetime) -> list[datetime]:
    span = end - start
    steps = [timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)]
    step = next((s for s in steps if span / s <= 8), timedelta(days=math.ceil(span.days / 8)))
    moment = datetime.fromtimestamp(
        math.ceil(start.timestamp() / step.total_seconds()) * step.total_seconds(), start.tzinfo)
    ticks = []
    while moment <= end:
        ticks.append(moment)
        moment += step
    return ticks


def _time_label(moment: datetime, span: timedelta) -> str:
    return moment.strftime("%m-%d %H:%M" if span > timedelta(days=1) else "%H:%M")


def _number(value: float) -> str:
    return f"{value:.6g}"
