"""The `judge` metric provider (ours, not Argo's): canary against baseline, statistically.

```yaml
provider:
  judge:
    address: http://prometheus.monitoring:9090   # else $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS
    window: 10m            # samples from [measurement time - window, measurement time]
    step: 1m               # their resolution (default 1m)
    significance: 0.05     # p-values below this are real differences (default)
    minSamples: 10         # per side, else the metric is NoData (default)
    thresholds: {pass: 95, marginal: 75}       # the score's (defaults)
    timeout: 30            # seconds for all the queries together (default 30, at most 60)
    # insecure, headers, authentication: as for prometheus
    metrics:
    - name: latency
      canary: histogram_quantile(0.99, sum by (le) (rate(
        http_duration_seconds_bucket{pod_template_hash="{{args.canary-hash}}"}[1m])))
      baseline: histogram_quantile(0.99, sum by (le) (rate(
        http_duration_seconds_bucket{pod_template_hash="{{args.baseline-hash}}"}[1m])))
      direction: increase  # increase | decrease | either (default)
      tolerance: 0.1       # relative median shift that is harmless (default 0)
      weight: 2            # default 1
      critical: true       # High/Low makes the score 0 (default false)
```

One measurement sends two range queries per metric (`/api/v1/query_range`, through the
`prometheus` provider's hardened client and the egress policy; all of them within one
`timeout`), pools each query's series into one sample, and hands the samples to the pure
judge (`analysis.judge`): Mann-Whitney U test, classification, score. The window ends at
the measurement's time (`MeasureContext.now`), so a replay at a past instant sees what a
live run would have seen then.

The value is the judgement (`{score, classification, metrics: [{name, classification,
pValue, effectSize}]}`), so conditions can gate on it (`result.score >= 90`); a metric
without `successCondition`/`failureCondition` takes the judge's verdict (Pass ->
Successful, Marginal or NoData -> Inconclusive, Fail -> Failed). Metadata: `samples`
(canary/baseline counts per metric), `reason`, `pValues` (three significant digits
without the value's 1e-12 floor, so a tiny p-value is still seen), Prometheus'
`warnings`. A query that fails is an Error measurement; a query that matches nothing
gives no samples (NoData), never an error.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from analysis.judge import JudgeSettings, judge_samples
from analysis.providers.base import MeasureContext, Outcome, scrub
from analysis.providers.prometheus import (
    PrometheusBacked,
    PrometheusRequest,
    QueryError,
    query_range,
    spec_secrets,
)
from rollouts.api import JudgeMetric
from rollouts.api.rules_judge import judge_problems

__all__ = ["JudgeProvider"]

PREFIX = "provider.judge"


class JudgeProvider(PrometheusBacked):
    """Judges canary against baseline from Prometheus range queries; see the module doc.
    Built as the `prometheus` provider is (`PrometheusBacked`: default address, egress)."""

    kind = "judge"

    def measure(self, context: MeasureContext) -> Outcome:
        spec = context.provider_spec("judge")
        secrets = spec_secrets(spec)
        try:
            judge, request = self._read(spec)
        except ValueError as exc:
            return Outcome(error=scrub(str(exc), secrets))
        settings = JudgeSettings.from_model(judge)
        end = context.now
        start = end - timedelta(seconds=judge.window.seconds)
        step = judge.step_or_default.seconds
        deadline = time.monotonic() + request.timeout
        samples: dict[str, tuple[list[float], list[float]]] = {}
        warnings: list[str] = []
        for metric in judge.metrics:
            sides: list[list[float]] = []
            for side, promql in (("canary", metric.canary), ("baseline", metric.baseline)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Outcome(error=f"{PREFIX}: the queries took longer than the timeout "
                                         f"({request.timeout:g}s); raise timeout or step")
                try:
                    series, said = query_range(replace(request, query=promql, timeout=remaining),
                                               start=start, end=end, step=step,
                                               egress=self.egress)
                except QueryError as exc:
                    return Outcome(error=scrub(f"{metric.name} {side}: {exc}", secrets))
                sides.append([value for values in series for value in values])
                warnings.extend(said)
            samples[metric.name] = (sides[0], sides[1])
        judgement = judge_samples(settings, samples)
        metadata = {"samples": judgement.samples, "reason": judgement.reason,
                    "pValues": ", ".join(
                        f"{v.rule.name} {v.comparison.p_value:.3g}" for v in judgement.metrics
                        if v.comparison is not None)}
        if warnings:
            metadata["warnings"] = ", ".join(f'"{w}"' for w in dict.fromkeys(warnings))
        return Outcome(value=judgement.value,
                       metadata={key: value for key, value in metadata.items() if value})

    def terminate(self, context: MeasureContext) -> None:
        """Nothing to stop: the queries finish within `measure`."""

    def _read(self, spec: dict[str, Any]) -> tuple[JudgeMetric, PrometheusRequest]:
        """The judge's settings, checked by the same rules as lint; `ValueError` naming the
        first bad field."""
        try:
            judge = JudgeMetric.model_validate(spec)
        except ValidationError as invalid:
            first = invalid.errors()[0]
            where = ".".join(str(part) for part in (PREFIX, *first["loc"]))
            raise ValueError(f"{where}: {first['msg']}") from None
        errors = [problem for problem in judge_problems(judge, PREFIX) if problem.is_error]
        if errors:
            raise ValueError(str(errors[0]))
        # The connection settings are the prometheus provider's; `query` is set per query.
        request = PrometheusRequest.from_spec({**spec, "query": judge.metrics[0].canary},
                                              self.default_address, prefix=PREFIX)
        return judge, request

