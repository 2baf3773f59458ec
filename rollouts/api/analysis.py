"""`AnalysisTemplate`, `ClusterAnalysisTemplate` and `AnalysisRun`: metrics and providers.

A template lists metrics (what to measure, how often, which results pass) and the
arguments its queries take (`{{args.NAME}}`). An AnalysisRun is a template made concrete:
the Rollout controller creates it with the arguments filled in or referenced, the analysis
controller (`analysis/`) measures and records the results in its status
(`rollouts.api.analysis_status`). Providers: `prometheus`, `web`, `job`, and `judge` (ours,
not Argo's: a canary-vs-baseline statistical judge, `JudgeMetric`); Argo's others
(`UNSUPPORTED_PROVIDERS`) are declared only so that a metric using one can be refused.

A metric's scalar settings (`count`, `interval`, the limits, provider timeouts) may be
`{{args.NAME}}` placeholders (`IntOrArg`, `DurationOrArg`): they are checked once the
run has substituted its arguments (`analysis.args`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict

from rollouts.api import defaults
from rollouts.api.analysis_status import AnalysisRunStatus
from rollouts.api.common import (
    API_VERSION,
    ApiModel,
    Bool,
    FieldRef,
    Int,
    KeyValue,
    ObjectMeta,
)
from rollouts.api.duration import Duration
from rollouts.api.intstr import IntOrArg
from rollouts.api.placeholder import DurationOrArg

__all__ = [
    "EXTENSION_FIELD_NOTE",
    "JUDGE_DEFAULT_MARGINAL",
    "JUDGE_DEFAULT_MIN_SAMPLES",
    "JUDGE_DEFAULT_PASS",
    "JUDGE_DEFAULT_SIGNIFICANCE",
    "JUDGE_DEFAULT_STEP",
    "JUDGE_MAX_METRICS",
    "JUDGE_NAME",
    "UNSUPPORTED_PROVIDERS",
    "AnalysisRun",
    "AnalysisRunSpec",
    "AnalysisTemplate",
    "AnalysisTemplateSpec",
    "Argument",
    "BasicAuth",
    "BearerAuth",
    "ClusterAnalysisTemplate",
    "DryRun",
    "EmptyResult",
    "JobMetric",
    "JudgeDirection",
    "JudgeMetric",
    "JudgeQuery",
    "JudgeThresholds",
    "MeasurementRetention",
    "Metric",
    "MetricProvider",
    "PrometheusAuthentication",
    "PrometheusMetric",
    "SecretKeyRef",
    "ValueFrom",
    "WebMethod",
    "WebMetric",
]


class SecretKeyRef(ApiModel):
    """A key of a Secret in the run's namespace; its value never appears in logs or status."""

    name: str
    key: str


class ValueFrom(ApiModel):
    """Where a template argument's value comes from (exactly one of the two)."""

    secret_key_ref: SecretKeyRef | None = None
    field_ref: FieldRef | None = None


class Argument(ApiModel):
    """A template argument; without `value`/`valueFrom` the Rollout must supply it."""

    name: str
    value: str | None = None
    value_from: ValueFrom | None = None


class BasicAuth(ApiModel):
    username: str
    password: str


class BearerAuth(ApiModel):
    token: str


class PrometheusAuthentication(ApiModel):
    """Credentials for Prometheus; use `{{args.NAME}}` with a secretKeyRef argument."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "sigv4": "AWS SigV4 signing is not implemented",
        "oauth2": "OAuth2 client credentials are not implemented",
    }

    basic_auth: BasicAuth | None = None
    bearer: BearerAuth | None = None


class PrometheusMetric(ApiModel):
    """An instant PromQL query; the result is a list of floats (vector) or a float (scalar)."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "rangeQuery": "range queries are not implemented; use an instant query",
    }

    address: str | None = None
    query: str | None = None
    timeout: IntOrArg | None = None
    """Seconds to wait for an answer (or `{{args.NAME}}`)."""
    insecure: Bool | None = None
    headers: list[KeyValue] | None = None
    authentication: PrometheusAuthentication | None = None


class WebMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"


class WebMetric(ApiModel):
    """An HTTP request whose JSON answer (optionally narrowed by `jsonPath`) is the result."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "authentication": "OAuth2/SigV4 for web metrics is not implemented; use headers",
    }

    url: str | None = None
    method: WebMethod | None = None
    headers: list[KeyValue] | None = None
    body: str | None = None
    json_body: Any | None = None
    """A JSON value sent as the body (`application/json`); not with `body`."""
    json_path: str | None = None
    timeout_seconds: IntOrArg | None = None
    insecure: Bool | None = None


class JobMetric(ApiModel):
    """A Kubernetes Job (its `spec` is a plain JobSpec dict); success = the Job succeeded."""

    metadata: ObjectMeta | None = None
    """Labels and annotations for the Job (its name is chosen by the analysis controller)."""
    spec: dict[str, Any]


# --- judge: our statistical canary judge (an extension; Argo Rollouts has no such provider) ---

Number = Annotated[float, Strict()]
"""A number written as a YAML int or float (a string or a boolean is refused)."""

JUDGE_MAX_METRICS = 8
"""Metrics one judge compares (its measured value stays under the 1 KiB a status keeps)."""
JUDGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
"""A judge metric's name: a short label value."""
JUDGE_DEFAULT_STEP = "1m"
JUDGE_DEFAULT_SIGNIFICANCE = 0.05
JUDGE_DEFAULT_MIN_SAMPLES = 10
JUDGE_DEFAULT_PASS = 95.0
JUDGE_DEFAULT_MARGINAL = 75.0


class JudgeDirection(StrEnum):
    """Which change of a judge metric is bad (Kayenta's `direction`)."""

    INCREASE = "increase"
    """Higher canary values are worse (latency, errors)."""
    DECREASE = "decrease"
    """Lower canary values are worse (throughput, success ratio)."""
    EITHER = "either"
    """Any difference is worse."""


class JudgeQuery(ApiModel):
    """One metric the judge compares: a canary and a baseline PromQL query over the window."""

    name: str
    """Short name (letters, digits, `-`, `_`, `.`; at most 32): a label value when exported."""
    canary: str
    """PromQL whose samples over the window are the canary's (all series pooled)."""
    baseline: str
    """PromQL whose samples over the window are the baseline's."""
    direction: JudgeDirection | None = None
    """Which change is bad (default `either`)."""
    tolerance: Number | None = None
    """Largest harmless relative shift of the median (0.1 = 10%; default 0)."""
    weight: Number | None = None
    """Share of the score (default 1)."""
    critical: Bool | None = None
    """A High or Low classification makes the score 0 (and NoData holds the run)."""

    @property
    def direction_or_default(self) -> JudgeDirection:
        return self.direction or JudgeDirection.EITHER

    @property
    def tolerance_or_default(self) -> float:
        return 0.0 if self.tolerance is None else self.tolerance

    @property
    def weight_or_default(self) -> float:
        return 1.0 if self.weight is None else self.weight


class JudgeThresholds(ApiModel):
    """Score thresholds, as Kayenta's canary config and Argo's `kayenta.threshold`."""

    pass_: Number | None = Field(default=None, alias="pass")
    """A score at or above this is Successful (default 95)."""
    marginal: Number | None = None
    """A score at or above this (below `pass`) is Inconclusive, below it Failed (default 75)."""

    @property
    def pass_or_default(self) -> float:
        return JUDGE_DEFAULT_PASS if self.pass_ is None else self.pass_

    @property
    def marginal_or_default(self) -> float:
        return JUDGE_DEFAULT_MARGINAL if self.marginal is None else self.marginal


class JudgeMetric(ApiModel):
    """Canary against baseline with the Mann-Whitney U test (`analysis.judge`).

    The connection settings are those of `prometheus`; the queries are range queries over
    `[now - window, now]` at `step`."""

    address: str | None = None
    timeout: IntOrArg | None = None
    """Seconds for all the judge's queries together (default 30, at most 60)."""
    insecure: Bool | None = None
    headers: list[KeyValue] | None = None
    authentication: PrometheusAuthentication | None = None
    window: Duration
    """How far back the samples go from the measurement's time."""
    step: Duration | None = None
    """Sample resolution (default 1m); at least the range of any `rate()` in the queries."""
    significance: Number | None = None
    """A p-value below this counts as a real difference (default 0.05)."""
    min_samples: Int | None = None
    """Samples needed on each side, else the metric is NoData (default 10, at least 3)."""
    thresholds: JudgeThresholds | None = None
    metrics: list[JudgeQuery]

    @property
    def step_or_default(self) -> Duration:
        return self.step if self.step is not None else Duration.parse(JUDGE_DEFAULT_STEP)

    @property
    def significance_or_default(self) -> float:
        return JUDGE_DEFAULT_SIGNIFICANCE if self.significance is None else self.significance

    @property
    def min_samples_or_default(self) -> int:
        return JUDGE_DEFAULT_MIN_SAMPLES if self.min_samples is None else self.min_samples

    @property
    def thresholds_or_default(self) -> JudgeThresholds:
        return self.thresholds if self.thresholds is not None else JudgeThresholds()


UNSUPPORTED_PROVIDERS: tuple[str, ...] = (
    "kayenta",
    "datadog",
    "wavefront",
    "newRelic",
    "cloudWatch",
    "graphite",
    "influxdb",
    "skywalking",
    "plugin",
)
"""Argo's metric providers that we do not implement: a metric using one is an error."""


class MetricProvider(ApiModel):
    """Where a metric's value comes from: exactly one provider.

    Argo's other providers are declared (kept as written, so they dump back), but a metric
    using one is refused by the rules (`rollouts.api.rules_analysis`): it could never be
    measured, and finding that out mid-rollout would abort the rollout.
    """

    prometheus: PrometheusMetric | None = None
    web: WebMetric | None = None
    job: JobMetric | None = None
    judge: JudgeMetric | None = None
    """Ours, not Argo's: a statistical canary judge (`JudgeMetric`)."""
    kayenta: dict[str, Any] | None = None
    datadog: dict[str, Any] | None = None
    wavefront: dict[str, Any] | None = None
    new_relic: dict[str, Any] | None = None
    cloud_watch: dict[str, Any] | None = None
    graphite: dict[str, Any] | None = None
    influxdb: dict[str, Any] | None = None
    skywalking: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None

    @property
    def kinds(self) -> list[str]:
        """Every provider key present, ours and Argo's others (a valid metric has one)."""
        found = [
            name
            for name, value in (
                ("prometheus", self.prometheus),
                ("web", self.web),
                ("job", self.job),
                ("judge", self.judge),
            )
            if value is not None
        ]
        found.extend(self.unsupported)
        return found

    @property
    def unsupported(self) -> list[str]:
        """The keys of Argo providers we do not implement that are present (`datadog`)."""
        present = {
            "kayenta": self.kayenta,
            "datadog": self.datadog,
            "wavefront": self.wavefront,
            "newRelic": self.new_relic,
            "cloudWatch": self.cloud_watch,
            "graphite": self.graphite,
            "influxdb": self.influxdb,
            "skywalking": self.skywalking,
            "plugin": self.plugin,
        }
        return [name for name in UNSUPPORTED_PROVIDERS if present[name] is not None]

    @property
    def kind(self) -> Literal["prometheus", "web", "job", "judge"] | None:
        """The provider we will call, when exactly one of ours is set."""
        if len(self.kinds) != 1:
            return None
        if self.prometheus is not None:
            return "prometheus"
        if self.web is not None:
            return "web"
        if self.job is not None:
            return "job"
        if self.judge is not None:
            return "judge"
        return None


class EmptyResult(StrEnum):
    """What a measurement that found no data is (`Metric.emptyResult`, our extension).

    "No data" is a value of `[]` (a Prometheus query that matched no series), `null`, a
    NaN number, or a list holding only NaN (a ratio over no traffic, `0/0`). Without the
    setting the conditions judge it as Argo does: `result[0] >= 0.95` on `[]` cannot be
    evaluated (an Error measurement, so the metric ends in Error after
    `consecutiveErrorLimit` + 1 of them and the rollout aborts), and a NaN never passes a
    comparison (Failed with a success condition, Successful with only a failure one).
    """

    INCONCLUSIVE = "Inconclusive"
    """Hold: counts toward `inconclusiveLimit`; an Inconclusive run pauses the rollout."""
    FAILED = "Failed"
    """Counts toward `failureLimit`, as a value that failed the conditions."""
    ERROR = "Error"
    """Counts toward `consecutiveErrorLimit`, as a query that could not be answered."""


EXTENSION_FIELD_NOTE = ("a rollouts extension: Argo Rollouts does not have this field (its "
                        "CRD drops it, or refuses it under strict field validation)")
"""How lint marks the fields of ours that Argo Rollouts does not have: a note rather than a
warning, since without the field a template behaves as Argo's default (it only loses
the extension), unlike a provider Argo does not know (the judge's, a warning)."""


class Metric(ApiModel):
    """One metric: measured `count` times every `interval`, judged by the conditions.

    `emptyResult` is ours (see `EmptyResult`); Argo's manifests never set it and behave
    exactly as in Argo.
    """

    name: str
    interval: DurationOrArg | None = None
    initial_delay: DurationOrArg | None = None
    count: IntOrArg | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: IntOrArg | None = None
    inconclusive_limit: IntOrArg | None = None
    consecutive_error_limit: IntOrArg | None = None
    empty_result: EmptyResult | None = None
    """What a measurement without data is; None: the conditions judge it (Argo)."""
    provider: MetricProvider

    @property
    def placeholders(self) -> dict[str, int | str]:
        """The settings (camelCase, provider ones as `provider.web.timeoutSeconds`) still
        holding an `{{args.NAME}}` placeholder, with what is written."""
        settings: dict[str, IntOrArg | DurationOrArg | None] = {
            "interval": self.interval,
            "initialDelay": self.initial_delay,
            "count": self.count,
            "failureLimit": self.failure_limit,
            "inconclusiveLimit": self.inconclusive_limit,
            "consecutiveErrorLimit": self.consecutive_error_limit,
        }
        if self.provider.prometheus is not None:
            settings["provider.prometheus.timeout"] = self.provider.prometheus.timeout
        if self.provider.web is not None:
            settings["provider.web.timeoutSeconds"] = self.provider.web.timeout_seconds
        if self.provider.judge is not None:
            settings["provider.judge.timeout"] = self.provider.judge.timeout
        return {
            name: setting.raw
            for name, setting in settings.items()
            if setting is not None and setting.is_placeholder
        }

    @property
    def effective_count(self) -> int | None:
        """Measurements to take: `count`, else 1 without an interval, else None (until ended).

        Raises `SpecError` if `count` is still an unresolved `{{args...}}` placeholder.
        """
        if self.count is not None and self.count.resolved() != 0:
            return self.count.resolved()
        return 1 if self.interval is None else None

    @property
    def failure_limit_or_default(self) -> int:
        return _limit(self.failure_limit, defaults.FAILURE_LIMIT)

    @property
    def inconclusive_limit_or_default(self) -> int:
        return _limit(self.inconclusive_limit, defaults.INCONCLUSIVE_LIMIT)

    @property
    def consecutive_error_limit_or_default(self) -> int:
        return _limit(self.consecutive_error_limit, defaults.CONSECUTIVE_ERROR_LIMIT)


def _limit(value: IntOrArg | None, default: int) -> int:
    return default if value is None else value.resolved()


class DryRun(ApiModel):
    """Metrics (a regular expression on their names) whose verdict never decides the run."""

    metric_name: str


class MeasurementRetention(ApiModel):
    """How many measurements to keep for metrics whose names match `metricName` (a regex)."""

    metric_name: str
    limit: Int


class _AnalysisSpec(ApiModel):
    metrics: list[Metric]
    args: list[Argument] | None = None
    dry_run: list[DryRun] | None = None
    measurement_retention: list[MeasurementRetention] | None = None

    def metric(self, name: str) -> Metric | None:
        return next((metric for metric in self.metrics if metric.name == name), None)

    def is_dry_run(self, metric_name: str) -> bool:
        """Whether a `dryRun` rule matches the metric (Argo: unanchored regular expression)."""
        return any(_matches(rule.metric_name, metric_name) for rule in self.dry_run or [])

    def measurement_retention_limit(self, metric_name: str) -> int:
        """Measurements kept for the metric: the last matching rule's limit, else 10."""
        limit = defaults.MEASUREMENT_RETENTION_LIMIT
        for rule in self.measurement_retention or []:
            if _matches(rule.metric_name, metric_name):
                limit = rule.limit
        return limit

    def argument(self, name: str) -> Argument | None:
        return next((arg for arg in self.args or [] if arg.name == name), None)


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern == name


class AnalysisTemplateSpec(_AnalysisSpec):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "templates": "composing templates from other templates is not implemented",
    }


class AnalysisRunSpec(_AnalysisSpec):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "ttlStrategy": "finished AnalysisRuns are kept until their Rollout removes them",
    }

    terminate: Bool | None = None
    """Set by the Rollout controller to end the run early (e.g. the rollout completed)."""


class AnalysisTemplate(ApiModel):
    """Namespaced metrics recipe referenced by Rollouts (`templateName`)."""

    api_version: str = API_VERSION
    kind: Literal["AnalysisTemplate"] = "AnalysisTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AnalysisTemplateSpec


class ClusterAnalysisTemplate(ApiModel):
    """Cluster-wide AnalysisTemplate (referenced with `clusterScope: true`)."""

    api_version: str = API_VERSION
    kind: Literal["ClusterAnalysisTemplate"] = "ClusterAnalysisTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AnalysisTemplateSpec


class AnalysisRun(ApiModel):
    """One execution of one or more merged templates, with its measurements in `status`."""

    api_version: str = API_VERSION
    kind: Literal["AnalysisRun"] = "AnalysisRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AnalysisRunSpec
    status: AnalysisRunStatus | None = None
