"""The AnalysisRun state machine: pure functions of (run, now), no I/O, no clock.

The analysis controller runs this loop for each run, writing the status once at the end::

    plan = plan_run(run, now)                  # what is due, the status to build on
    status = plan.status
    for name in plan.due:                      # measure (providers do the I/O)
        status = record(run, status, name, outcome_of(provider.measure(...)), now)
    plan = plan_run({**run, "status": status}, now)   # settle the run; next wake-up
    stop the measurements of plan.cancelled (delete their Jobs), both plans' lists
    write(plan.status); timers.at(key, plan.next_wake) unless plan.done

Everything derives from the stored status (`startedAt`, each measurement's `finishedAt`
and `resumeAt`), so after a restart the same plan comes out: nothing lives in memory.

Rules (Argo Rollouts'; the choices where Argo is vague or where we differ follow):

- A metric is **due** when it has no measurement yet and its `initialDelay` has passed
  since `status.startedAt`; when its last measurement finished `interval` ago (10 s after
  an Error, or when no interval is set); when its in-flight measurement (a Job) reached
  `resumeAt`. A metric that has taken `count` measurements (errors do not count) is done.
- A **measurement** is judged by `MetricRules.judge` (condition error: Error; failure
  condition true or success condition false: Failed; both given, neither true:
  Inconclusive; else Successful); provider errors are Error measurements. Ours: a metric
  with `emptyResult` gives a measurement without data (`[]`, null, NaN) that phase
  instead (Argo, and ours unset: the conditions judge it, so `result[0]` on `[]` is an
  Error and NaN fails a comparison).
- A **metric** is Failed when failed > failureLimit, Inconclusive when inconclusive >
  inconclusiveLimit, Error when consecutiveError > consecutiveErrorLimit, Successful
  when `count` measurements are done.
- The **run** is Running until every metric (dry-run ones too) completed, and then the
  worst of its non-dry-run metrics. A non-dry-run metric ending Failed, Error or
  Inconclusive ends the run at once: the other metrics are terminated (Successful,
  as Argo does; in-flight measurements become "Metric Terminated"). `spec.terminate`
  ends the run the same way, Successful unless a metric already went wrong.

Choices:

- A bad metric ends the run in the same plan (Argo notices one reconcile later).
- After an Error the next attempt is 10 s later whatever the interval (Argo's code).
  A metric is due once `finishedAt + interval <= now` (Argo: strictly after).
- A spec that cannot run (types, Argo's metric rules, unknown fields, a condition that
  does not parse, an unsubstituted `{{args.X}}`) ends the run in Error at once with
  "Analysis spec invalid: <field>: <problem>"; Argo would error each measurement of a
  condition that does not parse.
- Limits below 0 mean "no limit" (Argo 1.8's `failureLimit: -1`). When several limits
  are exceeded at once, Error beats Inconclusive beats Failed (Argo's order).
- Metric results are created at the first plan (Pending, counters 0); counters are
  always written. `runSummary` is always written, `dryRunSummary` with dry-run metrics.
- An outcome that arrives for a completed run or metric is dropped.
- Messages are Argo's words: `Metric "x" assessed Failed due to failed (1) >
  failureLimit (0)`, plus `: "Error Message: <last measurement message>"` when there is
  one; "Run Terminated"; "Metric Terminated".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analysis.decide_outcome import MeasurementOutcome, Outcome
from analysis.decide_rules import InvalidRun, MetricRules, RunRules, read_rules
from analysis.decide_status import (
    COUNTERS,
    counters,
    format_value,
    in_flight,
    last_measurement,
    measurements,
    metric_result,
    parse_time,
    phase_of,
    stamp,
)
from rollouts.api import AnalysisPhase

__all__ = [
    "METRIC_TERMINATED",
    "RUN_TERMINATED",
    "MeasurementOutcome",
    "Outcome",
    "RunPlan",
    "plan_run",
    "record",
]

RUN_TERMINATED = "Run Terminated"
METRIC_TERMINATED = "Metric Terminated"
_BAD = frozenset({AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE})


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What to do for a run now, and the status to continue from."""

    due: list[str]
    """Metrics to measure now (or whose in-flight measurement to look at again)."""
    status: dict[str, Any]
    """The new status: started, metric results initialised, phases assessed."""
    next_wake: datetime | None
    """The earliest later time something becomes due; None when nothing will."""
    done: bool
    """The run has completed (its phase is final); nothing more will happen."""
    cancelled: list[str] = field(default_factory=list)
    """Metrics whose in-flight measurement this plan terminated (delete their Jobs)."""

    @property
    def phase(self) -> AnalysisPhase:
        return phase_of(self.status) or AnalysisPhase.PENDING


def plan_run(run: Mapping[str, Any], now: datetime) -> RunPlan:
    """Start, settle and schedule `run` (an AnalysisRun as a dict) at time `now`."""
    now = _utc(now)
    status = _status_of(run)
    if _completed(status):
        return RunPlan(due=[], status=status, next_wake=None, done=True)
    try:
        rules = read_rules(run)
    except InvalidRun as invalid:
        _finish(status, AnalysisPhase.ERROR, f"Analysis spec invalid: {invalid}", now)
        return RunPlan(due=[], status=status, next_wake=None, done=True)
    _start(status, rules, now)
    cancelled = _settle(rules, status, now)
    if _completed(status):
        return RunPlan(due=[], status=status, next_wake=None, done=True, cancelled=cancelled)
    due, next_wake = _schedule(rules, status, now)
    return RunPlan(due=due, status=status, next_wake=next_wake, done=False, cancelled=cancelled)


def record(
    run: Mapping[str, Any],
    status: Mapping[str, Any],
    metric_name: str,
    outcome: MeasurementOutcome,
    now: datetime,
    *,
    redact: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The status after `outcome` of measuring `metric_name` at `now` (a new dict).

    `redact` masks secret argument values in what is stored from the outcome: the value
    (the condition still sees it unmasked) and the message of a condition that could not
    be evaluated. The outcome's `error` and `metadata` are the caller's to redact.

    Folds the outcome into its metric: the measurement, the counters, the metric's phase.
    The run as a whole (its phase, ending it when a metric went wrong, terminating the
    other metrics' in-flight measurements and reporting them in `RunPlan.cancelled`) is
    settled by `plan_run`, which the controller calls after recording, before writing.
    So every outcome of one pass is kept, and no cancellation goes unreported.

    An outcome for a run or metric that has already completed is dropped (it arrived
    after termination). Raises `KeyError` for a metric the spec does not have.
    """
    now = _utc(now)
    new_status = copy.deepcopy(dict(status))
    if _completed(new_status):
        return new_status
    try:
        rules = read_rules(run)
    except InvalidRun as invalid:
        _finish(new_status, AnalysisPhase.ERROR, f"Analysis spec invalid: {invalid}", now)
        return new_status
    metric = rules.metric(metric_name)
    if metric is None:
        raise KeyError(f"the run has no metric named {metric_name!r}")
    _start(new_status, rules, now)
    result = metric_result(new_status, metric_name)
    assert result is not None  # _start created it
    result_phase = phase_of(result)
    if result_phase is not None and result_phase.completed:
        return new_status
    _add_measurement(metric, result, outcome, now, redact)
    _assess_metrics(rules, new_status, terminating=False)
    return new_status


def _utc(moment: datetime) -> datetime:
    """`now` as an aware UTC time (a naive one is taken to be UTC, as Kubernetes times are)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _status_of(run: Mapping[str, Any]) -> dict[str, Any]:
    status = run.get("status")
    return copy.deepcopy(dict(status)) if isinstance(status, Mapping) else {}


def _completed(status: Mapping[str, Any]) -> bool:
    phase = phase_of(status)
    return phase is not None and phase.completed


def _start(status: dict[str, Any], rules: RunRules, now: datetime) -> None:
    """Set `startedAt` and phase on the first plan, and a result for every metric."""
    if parse_time(status.get("startedAt")) is None:
        status["startedAt"] = stamp(now)
    if phase_of(status) is None:
        status["phase"] = AnalysisPhase.RUNNING.value
    results = status.get("metricResults")
    if not isinstance(results, list):
        results = status["metricResults"] = []
    for metric in rules.metrics:
        if metric_result(status, metric.name) is None:
            fresh: dict[str, Any] = {"name": metric.name, "phase": AnalysisPhase.PENDING.value}
            if metric.dry_run:
                fresh["dryRun"] = True
            fresh.update(dict.fromkeys(COUNTERS, 0))
            results.append(fresh)


def _add_measurement(
    metric: MetricRules,
    result: dict[str, Any],
    outcome: MeasurementOutcome,
    now: datetime,
    redact: Callable[[str], str] | None,
) -> None:
    history = measurements(result)
    last = history[-1] if history else None
    if last is not None and in_flight(last):
        measurement = last  # a Job we were waiting for: its measurement is completed now
    else:
        started_at = getattr(outcome, "started_at", None)
        start = started_at if isinstance(started_at, datetime) else now
        measurement = {"phase": AnalysisPhase.RUNNING.value, "startedAt": stamp(start)}
        history.append(measurement)
    if outcome.metadata:
        merged = dict(measurement.get("metadata") or {})
        merged.update({str(key): str(value) for key, value in outcome.metadata.items()})
        measurement["metadata"] = merged
    measurement.pop("resumeAt", None)
    if outcome.pending:
        measurement["phase"] = AnalysisPhase.RUNNING.value
        if outcome.resume_at is not None:
            measurement["resumeAt"] = stamp(outcome.resume_at)
        result["measurements"] = history
        return
    message: str | None
    if outcome.error is not None:
        phase, message = AnalysisPhase.ERROR, outcome.error
    else:
        phase, message = metric.judge(outcome.value)
        measurement["value"] = format_value(outcome.value, redact)
        if message and redact is not None:
            message = redact(message)
    measurement["phase"] = phase.value
    measurement["finishedAt"] = stamp(now)
    if message:
        measurement["message"] = message
    result["measurements"] = history[-metric.retention :]
    _count(result, phase)


def _count(result: dict[str, Any], phase: AnalysisPhase) -> None:
    """Update the counters for one finished measurement (errors do not add to `count`)."""
    tally = counters(result)
    if phase is AnalysisPhase.ERROR:
        tally["error"] += 1
        tally["consecutiveError"] += 1
    else:
        tally["count"] += 1
        tally[phase.value.lower()] += 1
        tally["consecutiveError"] = 0
    result.update(tally)


def _settle(rules: RunRules, status: dict[str, Any], now: datetime) -> list[str]:
    """Assess every metric and the run; terminate the rest when the run must end.

    Returns the metrics whose in-flight measurement was terminated.
    """
    _assess_metrics(rules, status, terminating=rules.terminate)
    terminating = rules.terminate or any(
        phase_of(metric_result(status, metric.name)) in _BAD
        for metric in rules.metrics
        if not metric.dry_run
    )
    cancelled: list[str] = []
    if terminating:
        cancelled = _terminate_in_flight(rules, status, now)
        _assess_metrics(rules, status, terminating=True)
    _assess_run(rules, status, terminating, now)
    return cancelled


def _assess_metrics(rules: RunRules, status: dict[str, Any], *, terminating: bool) -> None:
    for metric in rules.metrics:
        result = metric_result(status, metric.name)
        if result is None:
            continue
        before = phase_of(result)
        after = _metric_phase(metric, result, terminating)
        if after is before:
            continue
        result["phase"] = after.value
        if not after.completed:
            continue
        last = last_measurement(result)
        message = str(last.get("message") or "") if last else ""
        verdict, reason = metric.verdict(counters(result))
        if metric.dry_run and verdict is not None:
            assessed = f"Metric assessed {verdict.value} due to {reason}"
            message = f'{assessed}: "Error Message: {message}"' if message else assessed
        if message:
            result["message"] = message
        else:
            result.pop("message", None)


def _metric_phase(
    metric: MetricRules, result: Mapping[str, Any], terminating: bool
) -> AnalysisPhase:
    """A metric's phase from its counters and last measurement (Argo's assessMetricStatus)."""
    phase = phase_of(result)
    if phase is not None and phase.completed:
        return phase  # final: a later plan never reopens a metric
    last = last_measurement(result)
    if last is None:
        return AnalysisPhase.SUCCESSFUL if terminating else AnalysisPhase.PENDING
    if in_flight(last):
        return AnalysisPhase.RUNNING
    tally = counters(result)
    verdict, _ = metric.verdict(tally)
    if verdict is not None:
        return verdict
    if metric.count_reached(tally) or terminating:
        return AnalysisPhase.SUCCESSFUL
    return AnalysisPhase.RUNNING


def _terminate_in_flight(rules: RunRules, status: dict[str, Any], now: datetime) -> list[str]:
    """End the in-flight measurements of unfinished metrics, as Argo does: Successful."""
    cancelled = []
    for metric in rules.metrics:
        result = metric_result(status, metric.name)
        result_phase = phase_of(result)
        if result is None or (result_phase is not None and result_phase.completed):
            continue
        last = last_measurement(result)
        if last is None or not in_flight(last):
            continue
        last.update(
            phase=AnalysisPhase.SUCCESSFUL.value,
            message=METRIC_TERMINATED,
            finishedAt=stamp(now),
        )
        last.pop("resumeAt", None)
        _count(result, AnalysisPhase.SUCCESSFUL)
        cancelled.append(metric.name)
    return cancelled


def _assess_run(rules: RunRules, status: dict[str, Any], terminating: bool, now: datetime) -> None:
    worst: AnalysisPhase | None = None
    message = RUN_TERMINATED if rules.terminate else ""
    everything_completed = True
    summary = dict.fromkeys(("count", "successful", "failed", "inconclusive", "error"), 0)
    dry_summary = dict(summary)
    for metric in rules.metrics:
        result = metric_result(status, metric.name) or {}
        phase = phase_of(result) or AnalysisPhase.PENDING
        tally = dry_summary if metric.dry_run else summary
        tally["count"] += 1
        if not phase.completed:
            everything_completed = False
            continue
        tally[phase.value.lower()] += 1
        if metric.dry_run:
            worst = worst or AnalysisPhase.SUCCESSFUL
            continue
        if worst is None or phase.severity > worst.severity:
            worst = phase
            _, reason = metric.verdict(counters(result))
            if phase in _BAD and reason:
                message = f'Metric "{metric.name}" assessed {phase.value} due to {reason}'
                if result.get("message"):
                    message += f': "Error Message: {result["message"]}"'
    status["runSummary"] = summary
    if dry_summary["count"]:
        status["dryRunSummary"] = dry_summary
    if terminating:
        _finish(status, worst or AnalysisPhase.SUCCESSFUL, message, now)
    elif everything_completed and worst is not None:
        _finish(status, worst, message, now)
    else:
        status["phase"] = AnalysisPhase.RUNNING.value
        status.pop("message", None)


def _finish(status: dict[str, Any], phase: AnalysisPhase, message: str, now: datetime) -> None:
    status["phase"] = phase.value
    if message:
        status["message"] = message
    else:
        status.pop("message", None)
    status.setdefault("completedAt", stamp(now))


def _schedule(
    rules: RunRules, status: dict[str, Any], now: datetime
) -> tuple[list[str], datetime | None]:
    """Which unfinished metrics are due at `now`, and the earliest later due time."""
    started = parse_time(status.get("startedAt")) or now
    due: list[str] = []
    next_wake: datetime | None = None
    for metric in rules.metrics:
        result = metric_result(status, metric.name)
        if result is None or (phase := phase_of(result)) is None or phase.completed:
            continue
        when = _due_at(metric, result, started, now)
        if when is None:
            continue
        if when <= now:
            due.append(metric.name)
        elif next_wake is None or when < next_wake:
            next_wake = when
    return due, next_wake


def _due_at(
    metric: MetricRules, result: Mapping[str, Any], started: datetime, now: datetime
) -> datetime | None:
    """When the metric's next measurement is due (None: never, it is done)."""
    last = last_measurement(result)
    if last is None:
        return started + metric.initial_delay if metric.initial_delay else started
    if in_flight(last):
        return parse_time(last.get("resumeAt")) or now
    if metric.count_reached(counters(result)):
        return None
    finished = parse_time(last.get("finishedAt")) or parse_time(last.get("startedAt"))
    if finished is None:
        return now
    return finished + metric.wait_after(phase_of(last) or AnalysisPhase.ERROR)
