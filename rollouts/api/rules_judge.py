"""Rules of a `judge` metric (our statistical canary judge) that a schema cannot say.

`judge_problems(judge, path)` lists what is wrong with one `provider.judge` section, plus
one warning that says the provider is this project's extension: Argo Rollouts does not
know it, so a template using it works only with our analysis controller. Lint prints the
warning (exit 0; `--strict` makes it fail, as it should for a template meant for Argo);
the controller ignores warnings. `rules_analysis` calls this for every judge metric; the
provider (`analysis.providers.judge`) calls it again on the substituted spec, so a run
never measures with settings the rules refuse.
"""

from __future__ import annotations

from collections.abc import Iterator

from rollouts.api.analysis import (
    JUDGE_MAX_METRICS,
    JUDGE_NAME,
    JudgeMetric,
    PrometheusAuthentication,
)
from rollouts.api.errors import Problem, Severity, child_path
from rollouts.api.intstr import IntOrArg

__all__ = ["EXTENSION_NOTE", "MAX_POINTS", "connection_problems", "judge_problems"]

EXTENSION_NOTE = (
    "judge is a provider of this project, not of Argo Rollouts (which refuses this "
    "template); it runs only with the rollouts analysis controller"
)
MAX_POINTS = 11_000
"""Prometheus refuses a range query with more points per series than this."""


def judge_problems(judge: JudgeMetric, path: str) -> list[Problem]:
    """Everything wrong with `judge` (at `path`, e.g. `spec.metrics[0].provider.judge`),
    the extension note first."""
    return [Problem(path, EXTENSION_NOTE, Severity.WARNING), *_problems(judge, path)]


def _problems(judge: JudgeMetric, path: str) -> Iterator[Problem]:
    window = judge.window.seconds
    step = judge.step_or_default.seconds
    if window <= 0:
        yield Problem(child_path(path, "window"), f"must be positive, not {judge.window}")
    if step <= 0:
        yield Problem(child_path(path, "step"), f"must be positive, not {judge.step}")
    min_samples = judge.min_samples_or_default
    if min_samples < 3:
        yield Problem(child_path(path, "minSamples"),
                      f"must be at least 3 (the test says nothing with fewer), not {min_samples}")
    if window > 0 and step > 0:
        points = int(window // step) + 1
        if points > MAX_POINTS:
            yield Problem(child_path(path, "step"),
                          f"{judge.window} at {judge.step_or_default} is {points} samples a "
                          f"series; Prometheus answers at most {MAX_POINTS}: raise the step")
        elif points < min_samples:
            yield Problem(child_path(path, "window"),
                          f"{judge.window} at a {judge.step_or_default} step holds {points} "
                          f"samples, fewer than minSamples ({min_samples}): every metric would "
                          "be NoData; lengthen the window or shorten the step")
    significance = judge.significance_or_default
    if not 0 < significance < 1:
        yield Problem(child_path(path, "significance"),
                      f"must be between 0 and 1 (0.05 is usual), not {significance:g}")
    yield from connection_problems(judge.timeout, judge.authentication, path)
    thresholds = judge.thresholds_or_default
    passing, marginal = thresholds.pass_or_default, thresholds.marginal_or_default
    thresholds_path = child_path(path, "thresholds")
    for name, value in (("pass", passing), ("marginal", marginal)):
        if not 0 <= value <= 100:
            yield Problem(child_path(thresholds_path, name),
                          f"must be a score from 0 to 100, not {value:g}")
    if marginal > passing:
        yield Problem(thresholds_path,
                      f"marginal ({marginal:g}) must not be above pass ({passing:g})")
    yield from _metric_problems(judge, child_path(path, "metrics"))


def _metric_problems(judge: JudgeMetric, path: str) -> Iterator[Problem]:
    if not judge.metrics:
        yield Problem(path, "required: at least one metric with a canary and a baseline query")
    if len(judge.metrics) > JUDGE_MAX_METRICS:
        yield Problem(path, f"at most {JUDGE_MAX_METRICS} metrics per judge, this one has "
                            f"{len(judge.metrics)}: split them into several judge metrics")
    seen: set[str] = set()
    for index, metric in enumerate(judge.metrics):
        metric_path = child_path(path, index)
        if not JUDGE_NAME.match(metric.name):
            yield Problem(child_path(metric_path, "name"),
                          f"{metric.name!r} is not a short name (letters, digits, '-', '_', "
                          "'.'; at most 32 characters)")
        elif metric.name in seen:
            yield Problem(child_path(metric_path, "name"),
                          f"metric name {metric.name!r} is used twice in this judge")
        seen.add(metric.name)
        for side in ("canary", "baseline"):
            if not str(getattr(metric, side)).strip():
                yield Problem(child_path(metric_path, side), f"required: the {side}'s PromQL query")
        if metric.tolerance_or_default < 0:
            yield Problem(child_path(metric_path, "tolerance"),
                          f"must be 0 or more (a relative shift, 0.1 = 10%), not "
                          f"{metric.tolerance_or_default:g}")
        if metric.weight_or_default <= 0:
            yield Problem(child_path(metric_path, "weight"),
                          f"must be positive, not {metric.weight_or_default:g}")


def connection_problems(timeout: IntOrArg | None,
                        authentication: PrometheusAuthentication | None,
                        path: str) -> Iterator[Problem]:
    """The rules of a Prometheus connection (`provider.prometheus` and `provider.judge`
    share them): a literal timeout is positive; one of basicAuth or bearer."""
    seconds = None if timeout is None else timeout.value
    if seconds is not None and seconds <= 0:
        yield Problem(child_path(path, "timeout"), "must be a positive number of seconds")
    if (authentication is not None and authentication.basic_auth is not None
            and authentication.bearer is not None):
        yield Problem(child_path(path, "authentication"),
                      "set one of basicAuth or bearer, not both")
