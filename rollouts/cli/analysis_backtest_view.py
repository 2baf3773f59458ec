"""How `rollouts analysis backtest` shows its findings: text, JSON and the chart. Pure.

Text, per analysis played: the window and how runs were started, per metric its
measurements (consecutive ones with the same verdict folded into one line with their
value range, or one line each with `--verbose`), the runs by phase, where the analysis
would first have failed (the run and its message, and the first Failed or Error
measurement), the metrics that cannot be backtested; then one summary line for all.
JSON holds the same, with every measurement and every run.

Neighbours: `rollouts.cli.analysis_backtest` (the command, all the I/O),
`analysis.backtest` (the simulation and the SVG).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from analysis.backtest import (
    Backtest,
    ChartMetric,
    Point,
    SimulatedRun,
    Window,
    format_span,
    render_svg,
    thresholds,
)
from rollouts.api import AnalysisPhase
from rollouts.api.common import format_time as _time

__all__ = ["Played", "chart", "render_json", "render_text", "summary_counts", "verdict"]

_PHASES = (AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED, AnalysisPhase.INCONCLUSIVE,
           AnalysisPhase.ERROR)


@dataclass(frozen=True)
class Played:
    """One analysis played over the window (a template, or one of a Rollout's analyses)."""

    label: str
    """What was played: `AnalysisTemplate error-ratio (t.yaml)`, `Rollout checkout step 2`."""
    metrics: Sequence[dict[str, Any]]
    """The metrics played, arguments substituted (for their conditions)."""
    result: Backtest | None
    """None when no metric could be backtested."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Metrics that cannot be backtested, with why."""
    args: str = ""


def verdict(played: Sequence[Played]) -> AnalysisPhase:
    return AnalysisPhase.worst(p.result.verdict for p in played if p.result is not None)


def summary_counts(played: Sequence[Played]) -> dict[str, int]:
    counts = {"measurements": 0, **{phase.value.lower(): 0 for phase in _PHASES}}
    for item in played:
        for points in (item.result.points.values() if item.result else ()):
            for point in points:
                counts["measurements"] += 1
                key = point.phase.value.lower()
                counts[key] = counts.get(key, 0) + 1
    return counts


def render_text(played: Sequence[Played], window: Window, *, queries: int, probes: int,
                seconds: float, verbose: bool = False) -> str:
    lines: list[str] = []
    for item in played:
        lines.extend(_section(item, window, verbose))
        lines.append("")
    counts = summary_counts(played)
    lines.append(
        f"summary: {verdict(played).value}; {counts['measurements']} measurements "
        f"({counts['successful']} successful, {counts['failed']} failed, "
        f"{counts['inconclusive']} inconclusive, {counts['error']} error); {queries} "
        f"queries ({probes} to check Prometheus first) in {seconds:.1f}s")
    return "\n".join(lines)


def _section(item: Played, window: Window, verbose: bool) -> list[str]:
    lines = [f"{item.label}: {_time(window.start)} .. {_time(window.end)}"]
    if item.args:
        lines.append(f"  args: {item.args}")
    result = item.result
    if result is None:
        lines.append("  nothing to backtest: no prometheus metric")
    else:
        lines.append("  " + _how(result, window))
        for metric in item.metrics:
            name = str(metric.get("name"))
            lines.append(f"  metric {name}: {_conditions(metric)}")
            points = result.points.get(name, ())
            rows = [[p] for p in points] if verbose else _folded(points)
            lines.extend("    " + _row(group) for group in rows)
            if not points:
                lines.append("    (never measured)")
        tally = result.tally()
        order = [phase.value for phase in _PHASES]
        shown = ", ".join(f"{count} {phase}" for phase, count in sorted(
            tally.items(), key=lambda item: [*order, item[0]].index(item[0])))
        lines.append(f"  runs: {len(result.runs)}: {shown}")
        failure = result.first_failure
        if failure is not None:
            lines.append(f"  first failure: the run started {_time(failure.started)} ended "
                         f"{failure.phase.value} at {_time(failure.finished or failure.started)}"
                         + (f": {failure.message}" if failure.message else ""))
        point = result.first_failed_point
        if point is not None:
            lines.append(f"  first failed measurement: {point.metric} at {_time(point.at)}: "
                         f"{point.phase.value}, value {point.value or '-'}"
                         + (f" ({point.message})" if point.message else ""))
        lines.append(f"  verdict: {result.verdict.value}")
    for name, why in item.skipped.items():
        lines.append(f"  not backtestable: {name}: {why}")
    return lines


def _how(result: Backtest, window: Window) -> str:
    if result.continuous:
        return ("runs that never end by themselves (a metric has an interval and no "
                "count): one from --from on each metric's interval until it fails or --to "
                f"comes, the next at the next {format_span(window.every)} step after one failed: "
                f"{len(result.runs)} runs")
    length = result.nominal_length or timedelta()
    return (f"a run started every {format_span(window.every)} from --from while it can finish by "
            f"--to (a run takes {format_span(length)} without errors): {len(result.runs)} runs")


def _conditions(metric: dict[str, Any]) -> str:
    parts = [f"{key} {metric[key]}" for key in ("successCondition", "failureCondition")
             if metric.get(key)]
    if metric.get("emptyResult"):
        parts.append(f"emptyResult {metric['emptyResult']}")
    if parts:
        return ", ".join(parts)
    provider = metric.get("provider")
    if isinstance(provider, dict) and isinstance(provider.get("judge"), dict):
        return "no conditions (the judge's score against its thresholds decides)"
    return "no conditions (every value passes)"


def _folded(points: Sequence[Point]) -> list[list[Point]]:
    groups: list[list[Point]] = []
    for point in points:
        if groups and groups[-1][-1].phase is point.phase:
            groups[-1].append(point)
        else:
            groups.append([point])
    return groups


def _row(group: list[Point]) -> str:
    first, last = group[0], group[-1]
    when = _time(first.at) if len(group) == 1 else f"{_time(first.at)} .. {_time(last.at)}"
    numbers = [p.number for p in group if p.number is not None]
    if len(group) == 1:
        shown = f"{first.number:.6g}" if first.number is not None else (first.value or "-")
    elif numbers and min(numbers) == max(numbers):
        shown = f"{numbers[0]:.6g}"
    elif numbers:
        shown = f"{min(numbers):.6g} .. {max(numbers):.6g}"
    else:
        shown = first.value or "-"
    count = f"{len(group)} x " if len(group) > 1 else ""
    message = f" ({first.message})" if first.message else ""
    return f"{when}  {count}{first.phase.value}  {shown}{message}"


def render_json(played: Sequence[Played], window: Window, *, queries: int, probes: int,
                seconds: float) -> dict[str, Any]:
    return {
        "verdict": verdict(played).value,
        "window": {"from": _time(window.start), "to": _time(window.end),
                   "every": format_span(window.every)},
        "analyses": [_json_item(item) for item in played],
        "summary": {**summary_counts(played), "queries": queries, "probes": probes,
                    "seconds": round(seconds, 3)},
    }


def _json_item(item: Played) -> dict[str, Any]:
    result = item.result
    data: dict[str, Any] = {"label": item.label, "args": item.args,
                            "notBacktestable": [{"metric": name, "reason": why}
                                                for name, why in item.skipped.items()]}
    if result is None:
        return {**data, "verdict": None}
    failure, point = result.first_failure, result.first_failed_point
    return {
        **data,
        "verdict": result.verdict.value,
        "continuous": result.continuous,
        "runCounts": result.tally(),
        "firstFailure": None if failure is None else _json_run(failure),
        "firstFailedMeasurement": None if point is None else _json_point(point),
        "measurements": {name: [_json_point(p) for p in points]
                         for name, points in result.points.items()},
        "runs": [_json_run(run) for run in result.runs],
    }


def _json_run(run: SimulatedRun) -> dict[str, Any]:
    return {"startedAt": _time(run.started), "phase": run.phase.value,
            "finishedAt": _time(run.finished) if run.finished else None,
            "message": run.message, "cut": run.cut}


def _json_point(point: Point) -> dict[str, Any]:
    return {"metric": point.metric, "at": _time(point.at), "phase": point.phase.value,
            "value": point.value, "message": point.message}


def chart(played: Sequence[Played], window: Window, title: str) -> str:
    """The SVG: one panel per backtested metric of every analysis played."""
    panels = []
    for item in played:
        if item.result is None:
            continue
        failure = item.result.first_failure
        for metric in item.metrics:
            name = str(metric.get("name"))
            success, failed = metric.get("successCondition"), metric.get("failureCondition")
            panels.append(ChartMetric(
                title=f"{item.label}: {name}" if len(played) > 1 else name,
                points=item.result.points.get(name, ()),
                success=thresholds(success), failure=thresholds(failed),
                success_condition=success, failure_condition=failed,
                first_failure=None if failure is None else (failure.finished or failure.started)))
    return render_svg(title, window.start, window.end, panels)

