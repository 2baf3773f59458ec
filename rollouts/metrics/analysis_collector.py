"""AnalysisRun gauges computed at scrape time from the AnalysisRun informer cache.

Argo Rollouts' names and labels:

    analysis_run_info{namespace,name,phase} 1
    analysis_run_metric_type{namespace,name,metric,type} 1
    analysis_run_metric_phase{namespace,name,metric,type,dry_run,phase}
        one series per phase (Pending, Running, Successful, Failed, Error,
        Inconclusive): 1 for the metric's current phase, 0 for the others

`type` is the provider (`Prometheus`, `Web`, `Job`); `dry_run` is `true`/`false`. Ours,
beyond Argo, so a dashboard can plot what was measured against what was required:

    analysis_run_measurement_value{namespace,name,rollout,metric}
        the metric's last measured value as a float (`[0.99]` -> 0.99); a metric
        whose last value is not a number (`[]`, a JSON object) has no series
    analysis_run_metric_threshold{namespace,name,rollout,metric,condition}
        the constant of a `successCondition`/`failureCondition` (`condition` is
        `success`/`failure`) that compares the result with one number

and, for a `judge` metric (our statistical canary judge), from its last judgement:

    analysis_run_judge_score{namespace,name,rollout,metric}        0..100
    analysis_run_judge_threshold{namespace,name,rollout,metric,threshold}
        the judge's `pass` and `marginal` thresholds (defaults 95 and 75)
    analysis_run_judge_p_value{namespace,name,rollout,metric,judge_metric}
    analysis_run_judge_effect_size{namespace,name,rollout,metric,judge_metric}
        each compared metric's Mann-Whitney p-value and relative median shift (none
        while it has too few samples); a judge compares at most 8, so a run adds at
        most 8 x 2 series per judge metric

`rollout` is the run's `rollouts.argoproj.io/rollout` label (or its owner), `""` for a
run made by hand. Each run's lines are kept as text until its resourceVersion changes
(`object_blocks`); a deleted run's series are gone at the next scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rollouts.metrics.exposition import Family
from rollouts.metrics.object_blocks import ObjectBlocks, Row
from rollouts.metrics.values import (
    condition_threshold,
    judge_numbers,
    judge_thresholds,
    measurement_value,
    metric_dry_run,
    owner_rollout,
    provider_type,
)

__all__ = ["FAMILIES", "PHASES", "AnalysisRunCollector", "run_series"]

PHASES = ("Pending", "Running", "Successful", "Failed", "Error", "Inconclusive")
NAMESPACE_NAME = ["namespace", "name"]


def _last_text(result: dict[str, Any]) -> object:
    """The stored value of the newest measurement that has one (an Error has none)."""
    for measurement in reversed(result.get("measurements") or []):
        if measurement.get("value") is not None:
            return measurement["value"]
    return None


def _last_value(result: dict[str, Any]) -> float | None:
    """The value of the newest measurement that has one (an Error has none)."""
    for measurement in reversed(result.get("measurements") or []):
        if measurement.get("value") is not None:
            return measurement_value(measurement["value"])
    return None


def _args(run: dict[str, Any]) -> dict[str, str]:
    return {str(arg.get("name")): str(arg["value"])
            for arg in (run.get("spec") or {}).get("args") or []
            if isinstance(arg, dict) and arg.get("value") is not None}


FAMILIES = (
    Family("analysis_run_info", "Information about analysis run.", "gauge",
           [*NAMESPACE_NAME, "phase"]),
    Family("analysis_run_metric_type",
           "Information on the type of a specific metric in the Analysis Runs", "gauge",
           [*NAMESPACE_NAME, "metric", "type"]),
    Family("analysis_run_metric_phase",
           "Information on the phase of a specific metric in the Analysis Run (1 for its "
           "current phase)", "gauge", [*NAMESPACE_NAME, "metric", "type", "dry_run", "phase"]),
    Family("analysis_run_measurement_value",
           "Last measured value of a metric of an analysis run.", "gauge",
           [*NAMESPACE_NAME, "rollout", "metric"]),
    Family("analysis_run_metric_threshold",
           "Constant of a metric's success or failure condition, when it compares the "
           "result with one number.", "gauge", [*NAMESPACE_NAME, "rollout", "metric",
                                                 "condition"]),
    Family("analysis_run_judge_score",
           "Score (0-100) of a judge metric's last judgement.", "gauge",
           [*NAMESPACE_NAME, "rollout", "metric"]),
    Family("analysis_run_judge_threshold",
           "Pass and marginal score thresholds of a judge metric.", "gauge",
           [*NAMESPACE_NAME, "rollout", "metric", "threshold"]),
    Family("analysis_run_judge_p_value",
           "Mann-Whitney U p-value of one metric compared by a judge metric.", "gauge",
           [*NAMESPACE_NAME, "rollout", "metric", "judge_metric"]),
    Family("analysis_run_judge_effect_size",
           "Relative median shift (canary against baseline) of one metric compared by a "
           "judge metric.", "gauge", [*NAMESPACE_NAME, "rollout", "metric", "judge_metric"]),
)
(INFO, TYPE, PHASE, VALUE, THRESHOLD, JUDGE_SCORE, JUDGE_THRESHOLD, JUDGE_P,
 JUDGE_EFFECT) = range(len(FAMILIES))


def run_series(run: dict[str, Any]) -> Iterator[Row]:
    """The series of one AnalysisRun, as rows of `FAMILIES`."""
    meta = run.get("metadata") or {}
    key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    status = run.get("status") or {}
    yield INFO, (*key, str(status.get("phase") or "")), 1
    rollout = owner_rollout(run)
    results = {str(r.get("name")): r for r in status.get("metricResults") or []
               if isinstance(r, dict)}
    args = _args(run)
    for metric in (run.get("spec") or {}).get("metrics") or []:
        name = str(metric.get("name") or "")
        kind = provider_type(metric)
        result = results.get(name)
        current = str((result or {}).get("phase") or "Pending")
        dry_run = "true" if metric_dry_run(run, name, result) else "false"
        yield TYPE, (*key, name, kind), 1
        for phase in PHASES:
            yield PHASE, (*key, name, kind, dry_run, phase), 1 if phase == current else 0
        value = _last_value(result) if result is not None else None
        if value is not None:
            yield VALUE, (*key, rollout, name), value
        for condition in ("success", "failure"):
            found = condition_threshold(metric.get(f"{condition}Condition"), args)
            if found is not None:
                yield THRESHOLD, (*key, rollout, name, condition), found[1]
        if kind == "Judge":
            yield from _judge_series((*key, rollout, name), metric, result)


def _judge_series(labels: tuple[str, ...], metric: dict[str, Any],
                  result: dict[str, Any] | None) -> Iterator[Row]:
    for threshold, number in judge_thresholds(metric).items():
        yield JUDGE_THRESHOLD, (*labels, threshold), number
    score, compared = judge_numbers(_last_text(result) if result is not None else None)
    if score is not None:
        yield JUDGE_SCORE, labels, score
    for judge_metric, p_value, effect in compared:
        if p_value is not None:
            yield JUDGE_P, (*labels, judge_metric), p_value
        if effect is not None:
            yield JUDGE_EFFECT, (*labels, judge_metric), effect


class AnalysisRunCollector(Collector):
    """Gauges over `list_runs()` (the informer's cached dicts); each run's text is kept
    until its resourceVersion changes (`ObjectBlocks`)."""

    def __init__(self, list_runs: Callable[[], list[dict[str, Any]]]) -> None:
        self._list = list_runs
        self.blocks = ObjectBlocks(FAMILIES, run_series)

    def describe(self) -> Iterator[Metric]:
        for family in FAMILIES:
            yield family.metric()

    def collect(self) -> Iterator[Metric]:
        yield from self.blocks.collect(self._list())
