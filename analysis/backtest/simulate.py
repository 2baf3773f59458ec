"""Play an AnalysisRun over past instants: the live state machine with a simulated clock. Pure.

`backtest(run, window, measure)` drives `analysis.decide.plan_run` / `record` exactly as
the analysis controller does (plan, measure what is due, record, plan again, sleep until
`next_wake`), with `now` set to simulated instants instead of the wall clock, and with
`measure(metric, at)` answering "what would this metric have measured at `at`" (the CLI
passes a Prometheus instant query with `time=at`). So `count`, `interval`,
`initialDelay`, the three limits, `dryRun`, `emptyResult` and the 10 s retry after an
Error behave as they do live; nothing here re-implements them.

How the window is used (`--from`, `--to`, `--every`):

- **A run that ends by itself** (every metric has a `count`, or no `interval`, which
  means one measurement: the usual step analysis) is started again every `every` from
  `start`, as if a release had begun at each of those instants, while it can finish by
  `end` (its nominal length is the longest `initialDelay + (count - 1) * interval`).
  Each run follows its own metric clock. The answer is how many of those runs would have
  passed, and the first one that would have failed. A single-measurement metric is thus
  measured every `every`.
- **A run that never ends by itself** (a metric with an `interval` and no `count`: a
  background analysis) is started at `start` and measured on its own interval until it
  ends (it can only fail, error or be inconclusive) or `end` comes; at `end` it is
  terminated as a Rollout terminates its background run when it completes (Successful
  unless a metric already went wrong). After a run ended early the next one starts at
  the next `every` step (`start + k * every`) after it, as a retried rollout would, so
  the whole window is looked at and every episode counted, not only the first.

The same instant of the same metric is queried once and shared by every run that
measures it (runs started every minute with a 1-minute interval query each minute once).

Bounds: at most `MAX_INSTANTS` nominal instants per metric and `MAX_STEPS` measurements
over all runs, checked before any query (`TooMuchWork`); error retries can add instants,
so the queries per metric are capped again while playing.

Neighbours: `analysis.backtest.window` (the window), `analysis.backtest.thresholds` and
`analysis.backtest.chart` (the picture), `rollouts.cli.analysis_backtest` (I/O).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analysis.backtest.window import Window, format_span
from analysis.decide import MeasurementOutcome, plan_run, record
from analysis.decide_rules import MetricRules, RunRules, read_rules
from analysis.decide_status import format_value, last_measurement, metric_result, parse_time
from rollouts.api import AnalysisPhase

__all__ = [
    "MAX_INSTANTS",
    "MAX_STEPS",
    "Backtest",
    "Measure",
    "Point",
    "SimulatedRun",
    "TooMuchWork",
    "backtest",
    "first_number",
]

MAX_INSTANTS = 10_000
"""Most instants a metric may be measured at over the window."""
MAX_STEPS = 200_000
"""Most measurements over all simulated runs (the state machine's work, not queries)."""

Measure = Callable[[Mapping[str, Any], datetime], MeasurementOutcome]
"""`measure(metric, at)`: what the metric (args substituted) measured at instant `at`."""

_BAD = (AnalysisPhase.FAILED, AnalysisPhase.ERROR)


class TooMuchWork(ValueError):
    """The window asks for more instants or measurements than a backtest takes."""


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement instant of one metric: what was measured and how it was judged."""

    metric: str
    at: datetime
    phase: AnalysisPhase
    value: str | None
    """As the run stores it (`[0.01]`); None for a measurement that is an error."""
    number: float | None
    """The first value, for the chart (None: none, or not a number)."""
    message: str | None = None


@dataclass(frozen=True, slots=True)
class SimulatedRun:
    started: datetime
    phase: AnalysisPhase
    finished: datetime | None
    message: str
    cut: bool = False
    """Still running at the window's end and terminated there."""
    status: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Backtest:
    """What the runs over the window would have decided."""

    continuous: bool
    """True: runs that never end by themselves, one after another (the next at the next
    `every` step after one ended); False: a run started every `every`."""
    runs: tuple[SimulatedRun, ...]
    points: dict[str, tuple[Point, ...]]
    """Per metric, every instant it was measured at, in time order."""
    queries: int
    nominal_length: timedelta | None
    """How long a run that ends by itself takes without errors (None when continuous)."""

    @property
    def decided(self) -> tuple[SimulatedRun, ...]:
        """The runs that count: all but those cut at the window's end (a cut run of a
        repeated analysis did not get to finish)."""
        return tuple(run for run in self.runs if self.continuous or not run.cut)

    @property
    def verdict(self) -> AnalysisPhase:
        """The worst phase of the decided runs (Successful when all passed)."""
        return AnalysisPhase.worst(run.phase for run in self.decided)

    @property
    def first_failure(self) -> SimulatedRun | None:
        """The decided run that failed or errored first (by the time it ended)."""
        failed = [run for run in self.decided if run.phase in _BAD]
        return min(failed, key=lambda run: (run.finished or run.started, run.started),
                   default=None)

    @property
    def first_failed_point(self) -> Point | None:
        """The earliest Failed or Error measurement of any metric."""
        bad = [p for points in self.points.values() for p in points if p.phase in _BAD]
        return min(bad, key=lambda point: point.at, default=None)

    def tally(self) -> dict[str, int]:
        """Runs by phase (`Successful`, `Failed`, ...), and `cut`."""
        counts: dict[str, int] = {}
        for run in self.runs:
            key = "cut" if run.cut and not self.continuous else run.phase.value
            counts[key] = counts.get(key, 0) + 1
        return counts


def backtest(run: Mapping[str, Any], window: Window, measure: Measure, *,
             redact: Callable[[str], str] | None = None) -> Backtest:
    """Play `run` (an AnalysisRun as a dict, its metrics substituted) over `window`.

    `redact` masks secret argument values in what is kept of a measured value or a
    condition's message, as the controller's `record(..., redact=)` does.

    Raises `InvalidRun` (from `read_rules`) for a spec that cannot run and `TooMuchWork`
    when the window asks for too much.
    """
    rules = read_rules(run)
    continuous = any(metric.count is None for metric in rules.metrics)
    length = None if continuous else max(_nominal_length(m) for m in rules.metrics)
    starts = [window.start] if continuous else _starts(window, length or timedelta())
    if not starts:
        raise TooMuchWork(
            f"a run takes {format_span(length or timedelta())} (initialDelay + (count - 1) x "
            f"interval) and the window is {format_span(window.length)}: widen the window")
    _check_work(rules, window, starts, continuous)
    by_name = {str(m.get("name")): m for m in (run.get("spec") or {}).get("metrics") or []}
    player = _Player(run, by_name, measure, redact)
    runs = _one_after_another(player, window) if continuous else tuple(
        player.play(start, window.end) for start in starts)
    points = {metric.name: tuple(sorted(player.points.get(metric.name, {}).values(),
                                        key=lambda point: point.at))
              for metric in rules.metrics}
    return Backtest(continuous=continuous, runs=runs, points=points, queries=player.queries,
                    nominal_length=length)


def _one_after_another(player: _Player, window: Window) -> tuple[SimulatedRun, ...]:
    """Runs that never end by themselves: each starts at the first `every` step after the
    previous one ended, until one reaches the window's end."""
    runs: list[SimulatedRun] = []
    start = window.start
    while start <= window.end:
        played = player.play(start, window.end)
        runs.append(played)
        if played.cut or played.finished is None:
            break
        steps = (played.finished - window.start) // window.every + 1
        start = window.start + window.every * steps
    return tuple(runs)


class _Player:
    """Plays runs one after another, sharing one answer per (metric, instant)."""

    def __init__(self, run: Mapping[str, Any], metrics: dict[str, Mapping[str, Any]],
                 measure: Measure, redact: Callable[[str], str] | None) -> None:
        self.run = {key: value for key, value in run.items() if key != "status"}
        self.redact = redact
        self.metrics = metrics
        self.measure = measure
        self.answers: dict[tuple[str, datetime], MeasurementOutcome] = {}
        self.points: dict[str, dict[datetime, Point]] = {}
        self.per_metric: dict[str, int] = {}
        self.queries = 0

    def play(self, started: datetime, end: datetime) -> SimulatedRun:
        """One run from `started`, as the controller would reconcile it, until it ends or
        `end` comes (then it is terminated at `end`)."""
        now = started
        plan = plan_run(self.run, now)
        while not plan.done:
            status = plan.status
            for name in plan.due:
                status = record(self.run, status, name, self._answer(name, now), now,
                                redact=self.redact)
                self._note(name, now, status)
            plan = plan_run({**self.run, "status": status}, now)
            if plan.done:
                break
            wake = plan.next_wake
            if wake is None or wake > end:
                return self._cut(plan.status, started, end)
            now = wake
            plan = plan_run({**self.run, "status": plan.status}, now)
        return _finished(plan.status, started)

    def _answer(self, name: str, at: datetime) -> MeasurementOutcome:
        key = (name, at)
        known = self.answers.get(key)
        if known is not None:
            return known
        taken = self.per_metric.get(name, 0) + 1
        if taken > 2 * MAX_INSTANTS:  # error retries (10 s apart) beyond the nominal grid
            raise TooMuchWork(f"metric {name} needed more than {2 * MAX_INSTANTS} queries "
                              "(its measurements keep failing): shorten the window")
        self.per_metric[name] = taken
        self.queries += 1
        answer = self.measure(self.metrics[name], at)
        self.answers[key] = answer
        return answer

    def _note(self, name: str, at: datetime, status: dict[str, Any]) -> None:
        seen = self.points.setdefault(name, {})
        if at in seen:
            return
        result = metric_result(status, name)
        last = last_measurement(result) if result is not None else None
        if not last or last.get("phase") is None:
            return
        answer = self.answers[(name, at)]
        value = None if answer.error is not None else format_value(answer.value, self.redact)
        number = None if answer.error is not None else first_number(answer.value)
        message = last.get("message")
        seen[at] = Point(metric=name, at=at, phase=AnalysisPhase(str(last["phase"])),
                         value=value, number=number,
                         message=str(message) if message else None)

    def _cut(self, status: dict[str, Any], started: datetime, end: datetime) -> SimulatedRun:
        """Terminate the run at `end` (`spec.terminate`, as a Rollout ends its run)."""
        spec = {**(self.run.get("spec") or {}), "terminate": True}
        ended = plan_run({**self.run, "spec": spec, "status": status}, end)
        finished = _finished(ended.status, started)
        return SimulatedRun(started=started, phase=finished.phase, finished=finished.finished,
                            message=finished.message, cut=True, status=ended.status)


def _finished(status: dict[str, Any], started: datetime) -> SimulatedRun:
    phase = AnalysisPhase(str(status.get("phase") or AnalysisPhase.RUNNING.value))
    return SimulatedRun(started=started, phase=phase,
                        finished=parse_time(status.get("completedAt")),
                        message=str(status.get("message") or ""), status=status)


def first_number(value: object) -> float | None:
    """The value a chart draws: a number, the first of a list of numbers, or a judge's
    score (its value is `{score, classification, metrics}`)."""
    if isinstance(value, list):
        value = value[0] if value else None
    elif isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _nominal_length(metric: MetricRules) -> timedelta:
    """How long a metric with a count takes when nothing fails and nothing errors."""
    delay = metric.initial_delay or timedelta()
    count = metric.count or 1
    return delay + (metric.interval or timedelta()) * (count - 1)


def _starts(window: Window, length: timedelta) -> list[datetime]:
    starts: list[datetime] = []
    moment = window.start
    while moment + length <= window.end:
        starts.append(moment)
        moment += window.every
        if len(starts) > MAX_STEPS:
            break
    return starts


def _check_work(rules: RunRules, window: Window, starts: list[datetime],
                continuous: bool) -> None:
    """Refuse, before any query, a window that asks for too many instants or measurements."""
    steps = 0
    for metric in rules.metrics:
        per_run = _measurements_per_run(metric, window, continuous)
        too_many = (f"metric {metric.name} would be measured at more than {MAX_INSTANTS} "
                    "instants: shorten the window or raise --every")
        if per_run > MAX_INSTANTS:
            raise TooMuchWork(too_many)
        steps += per_run * len(starts)
        if steps > MAX_STEPS:
            runs = (f"more than {MAX_STEPS}" if len(starts) > MAX_STEPS  # _starts stops there
                    else str(len(starts)))
            raise TooMuchWork(
                f"{runs} runs would take more than {MAX_STEPS} measurements: "
                "shorten the window or raise --every")
        offsets = _offsets(metric, per_run)
        if len({start + offset for start in starts for offset in offsets}) > MAX_INSTANTS:
            raise TooMuchWork(too_many)


def _measurements_per_run(metric: MetricRules, window: Window, continuous: bool) -> int:
    """How many times one run measures the metric when nothing errors."""
    delay = metric.initial_delay or timedelta()
    interval = metric.interval
    if continuous and delay > window.length:
        return 0
    if metric.count is not None or interval is None:
        count = metric.count or 1
        if continuous and interval is not None:
            count = min(count, int((window.length - delay) / interval) + 1)
        return count
    return int((window.length - delay) / interval) + 1


def _offsets(metric: MetricRules, count: int) -> list[timedelta]:
    """When the metric measures, counted from its run's start (`count` times)."""
    delay = metric.initial_delay or timedelta()
    step = metric.interval or timedelta()
    return [delay + step * index for index in range(count)]

