"""Rules of valid analysis specs (templates and runs) that a schema cannot say.

The metric rules are Argo's (count >= failureLimit, interval needed when count > 1, one
provider per metric, ...). Values still holding an `{{args.NAME}}` placeholder are checked
once the run substitutes them, not here.

A metric using one of Argo's providers that we do not implement (`datadog`, `newRelic`,
...) is an error, not a warning: such a run could only end in Error, aborting the rollout
mid-way. `unsupported_metric_providers(template)` gives the same messages for a template
as the API server sends it (a dict); it is meant for the Rollout controller, to refuse a
Rollout that references such a template before it starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from rollouts.api.analysis import (
    EXTENSION_FIELD_NOTE,
    UNSUPPORTED_PROVIDERS,
    AnalysisRun,
    AnalysisRunSpec,
    AnalysisTemplate,
    AnalysisTemplateSpec,
    ClusterAnalysisTemplate,
    Metric,
    WebMethod,
)
from rollouts.api.errors import Problem, Severity, child_path
from rollouts.api.intstr import IntOrArg
from rollouts.api.podtemplate import job_spec_problems
from rollouts.api.rules_judge import connection_problems, judge_problems

__all__ = ["analysis_problems", "unsupported_metric_providers"]

_SUPPORTED = "use prometheus, web or job"


def analysis_problems(
    obj: AnalysisTemplate | ClusterAnalysisTemplate | AnalysisRun,
) -> list[Problem]:
    return list(_spec_problems(obj.spec, "spec", is_run=isinstance(obj, AnalysisRun)))


def unsupported_metric_providers(template: Mapping[str, Any]) -> list[str]:
    """Why `template` (an AnalysisTemplate or ClusterAnalysisTemplate as a dict) cannot run.

    One message per metric whose provider is one of Argo's that we do not implement,
    `spec.metrics[0].provider.datadog: the datadog provider is not supported; use
    prometheus, web or job`; empty when every provider is ours. Looks at nothing else
    and never raises, whatever the shape of `template`.
    """
    spec = template.get("spec") if isinstance(template, Mapping) else None
    metrics = spec.get("metrics") if isinstance(spec, Mapping) else None
    if not isinstance(metrics, list):
        return []
    messages: list[str] = []
    for index, metric in enumerate(metrics):
        provider = metric.get("provider") if isinstance(metric, Mapping) else None
        if not isinstance(provider, Mapping):
            continue
        for name in UNSUPPORTED_PROVIDERS:
            if provider.get(name) is not None:
                path = child_path(child_path(child_path("spec.metrics", index), "provider"), name)
                messages.append(f"{path}: {_unsupported_provider(name)}")
    return messages


def _unsupported_provider(name: str) -> str:
    return f"the {name} provider is not supported; {_SUPPORTED}"


def _spec_problems(
    spec: AnalysisTemplateSpec | AnalysisRunSpec, path: str, *, is_run: bool
) -> Iterator[Problem]:
    metrics_path = child_path(path, "metrics")
    if not spec.metrics:
        yield Problem(metrics_path, "required: at least one metric")
    seen: set[str] = set()
    for index, metric in enumerate(spec.metrics):
        metric_path = child_path(metrics_path, index)
        if not metric.name:
            yield Problem(child_path(metric_path, "name"), "required: a name for the metric")
        elif metric.name in seen:
            yield Problem(
                child_path(metric_path, "name"), f"metric name {metric.name!r} is used twice"
            )
        seen.add(metric.name)
        yield from _metric_problems(metric, metric_path)
    yield from _argument_problems(spec, child_path(path, "args"))
    names = [metric.name for metric in spec.metrics]
    # A template's rule may target metrics of a template it is merged with, so only a
    # run (which holds every merged metric) treats a rule that matches nothing as an error.
    severity = Severity.ERROR if is_run else Severity.WARNING
    for field, rules in (
        ("dryRun", [rule.metric_name for rule in spec.dry_run or []]),
        ("measurementRetention", [rule.metric_name for rule in spec.measurement_retention or []]),
    ):
        for index, pattern in enumerate(rules):
            rule_path = child_path(child_path(child_path(path, field), index), "metricName")
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                yield Problem(rule_path, f"{pattern!r} is not a valid regular expression: {error}")
                continue
            if not any(compiled.search(name) for name in names):
                yield Problem(rule_path, f"{pattern!r} matches no metric of this spec", severity)
    for index, rule in enumerate(spec.measurement_retention or []):
        if rule.limit < 1:
            yield Problem(
                child_path(child_path(child_path(path, "measurementRetention"), index), "limit"),
                f"must be at least 1, not {rule.limit}",
            )


def _metric_problems(metric: Metric, path: str) -> Iterator[Problem]:
    provider_path = child_path(path, "provider")
    kinds = metric.provider.kinds
    if not kinds:
        yield Problem(provider_path, "required: exactly one of prometheus, web or job")
    elif len(kinds) > 1:
        yield Problem(
            provider_path,
            f"a metric has exactly one provider, this one has {', '.join(kinds)}: "
            "split it into one metric each",
        )
    for name in metric.provider.unsupported:
        yield Problem(child_path(provider_path, name), _unsupported_provider(name))
    interval = None if metric.interval is None else metric.interval.value
    if interval is not None and interval.nanoseconds <= 0:
        yield Problem(child_path(path, "interval"), f"must be positive, not {interval}")
    initial_delay = None if metric.initial_delay is None else metric.initial_delay.value
    if initial_delay is not None and initial_delay.is_negative:
        yield Problem(child_path(path, "initialDelay"), f"must not be negative ({initial_delay})")
    count = _literal(metric.count)
    limits = {
        "failureLimit": _literal(metric.failure_limit),
        "inconclusiveLimit": _literal(metric.inconclusive_limit),
        "consecutiveErrorLimit": _literal(metric.consecutive_error_limit),
    }
    if count is not None and count < 0:
        yield Problem(child_path(path, "count"), f"must be 0 or more, not {count}")
    for field, limit in limits.items():
        # -1 means "no limit" (Argo 1.8); anything lower is a mistake.
        if limit is not None and limit < -1:
            yield Problem(child_path(path, field),
                          f"must be 0 or more (or -1 for no limit), not {limit}")
    if count is not None and count > 0:
        for field in ("failureLimit", "inconclusiveLimit"):
            limit = limits[field]
            if limit is not None and count < limit:
                yield Problem(
                    child_path(path, "count"),
                    f"must be at least {field} ({limit}), is {count}: the limit could never be "
                    "passed",
                )
    if count is not None and count > 1 and metric.interval is None:
        yield Problem(
            child_path(path, "interval"),
            f"required when count > 1 ({count}): how long to wait between measurements",
        )
    if metric.empty_result is not None:
        yield Problem(
            child_path(path, "emptyResult"),
            f"{EXTENSION_FIELD_NOTE}: a measurement without data ([], null or NaN) is "
            f"{metric.empty_result.value} here; without the field, as in Argo, the "
            "conditions judge it",
            Severity.NOTE,
        )
    provider = metric.provider
    if provider.prometheus is not None:
        prometheus_path = child_path(provider_path, "prometheus")
        if not provider.prometheus.query:
            yield Problem(child_path(prometheus_path, "query"), "required: the PromQL query to run")
        yield from connection_problems(provider.prometheus.timeout,
                                       provider.prometheus.authentication, prometheus_path)
    if provider.web is not None:
        web, web_path = provider.web, child_path(provider_path, "web")
        if not web.url:
            yield Problem(child_path(web_path, "url"), "required: the URL to request")
        if web.body is not None and web.method not in (WebMethod.POST, WebMethod.PUT):
            yield Problem(child_path(web_path, "body"), "is only sent with method POST or PUT")
        timeout = _literal(web.timeout_seconds)
        if timeout is not None and timeout <= 0:
            yield Problem(
                child_path(web_path, "timeoutSeconds"), "must be a positive number of seconds"
            )
    if provider.job is not None:
        yield from job_spec_problems(
            provider.job.spec, child_path(child_path(provider_path, "job"), "spec")
        )
    if provider.judge is not None:
        yield from judge_problems(provider.judge, child_path(provider_path, "judge"))


def _literal(value: IntOrArg | None) -> int | None:
    return None if value is None else value.value


def _argument_problems(
    spec: AnalysisTemplateSpec | AnalysisRunSpec, path: str
) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, arg in enumerate(spec.args or []):
        arg_path = child_path(path, index)
        if not arg.name:
            yield Problem(child_path(arg_path, "name"), "required: the argument's name")
        elif arg.name in seen:
            yield Problem(child_path(arg_path, "name"), f"argument {arg.name!r} is declared twice")
        seen.add(arg.name)
        if arg.value is not None and arg.value_from is not None:
            yield Problem(arg_path, "set value or valueFrom, not both")
        source = arg.value_from
        if source is not None and (source.secret_key_ref is None) == (source.field_ref is None):
            yield Problem(
                child_path(arg_path, "valueFrom"), "set exactly one of secretKeyRef or fieldRef"
            )
