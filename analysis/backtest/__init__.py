"""Backtests: how an analysis would have decided over past data (`rollouts analysis backtest`).

`backtest(run, window, measure)` plays an AnalysisRun with the live state machine
(`analysis.decide`) on a simulated clock, `measure(metric, at)` answering what a metric
would have measured at a past instant; `window(...)` reads `--from`/`--to`/`--every`;
`thresholds(condition)` finds the numbers a simple condition compares with; and
`render_svg(...)` draws the measured values against them. All pure: the queries are the
caller's (`rollouts.cli.analysis_backtest`).
"""

from analysis.backtest.chart import ChartMetric, render_svg
from analysis.backtest.simulate import (
    MAX_INSTANTS,
    MAX_STEPS,
    Backtest,
    Measure,
    Point,
    SimulatedRun,
    TooMuchWork,
    backtest,
    first_number,
)
from analysis.backtest.thresholds import Thresholds, thresholds
from analysis.backtest.window import BadWindow, Window, parse_every, parse_instant, window

__all__ = [
    "MAX_INSTANTS",
    "MAX_STEPS",
    "Backtest",
    "BadWindow",
    "ChartMetric",
    "Measure",
    "Point",
    "SimulatedRun",
    "Thresholds",
    "TooMuchWork",
    "Window",
    "backtest",
    "first_number",
    "parse_every",
    "parse_instant",
    "render_svg",
    "thresholds",
    "window",
]
