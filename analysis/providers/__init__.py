"""Metric providers: where an AnalysisRun's measurements come from.

- `base`: the seam (`MeasureContext` in, `Outcome` out, the `MetricProvider` protocol,
  `provider_for`); a failed measurement is an `Outcome` with `error`, never an exception.
- `prometheus`: an instant PromQL query (vector/matrix -> list of floats, scalar -> float).
- `web`: an HTTP request whose JSON answer, narrowed by `jsonPath` (`jsonpath`), is the value.
- `job`: a Kubernetes Job per measurement; True when it completes, False when it fails.
- `judge` (ours, not Argo's): canary against baseline over a window of Prometheus range
  queries, Mann-Whitney U test per metric, Kayenta-style score (`analysis.judge`).
- `transport`: the one HTTP client of `web`, `prometheus` and `judge` (total deadline, size cap,
  same-origin redirects); `egress`: the networks they may not reach.

`default_providers(client)` gives the state machine one provider per kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.providers.base import (
    PROVIDER_KINDS,
    REDACTED,
    MeasureContext,
    MetricProvider,
    Outcome,
    provider_for,
)
from analysis.providers.egress import DEFAULT_DENY_NETWORKS, EgressDenied, EgressPolicy
from analysis.providers.job import JobProvider
from analysis.providers.judge import JudgeProvider
from analysis.providers.prometheus import PrometheusProvider
from analysis.providers.web import WebProvider
from rollouts.kube import KubeClient

__all__ = [
    "DEFAULT_DENY_NETWORKS",
    "PROVIDER_KINDS",
    "REDACTED",
    "EgressDenied",
    "EgressPolicy",
    "JobProvider",
    "JudgeProvider",
    "MeasureContext",
    "MetricProvider",
    "Outcome",
    "PrometheusProvider",
    "WebProvider",
    "default_providers",
    "provider_for",
]


def default_providers(
    client: KubeClient,
    *,
    prometheus_address: str | None = None,
    deny_networks: Sequence[str] | None = None,
) -> dict[str, MetricProvider]:
    """One provider per kind we implement, keyed as in `metric.provider` (`prometheus`, ...).

    `prometheus_address` is the address for metrics that give none (default: the
    `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS` environment variable; the judge's too).
    `deny_networks` (CIDRs) are the networks the web, prometheus and judge providers may
    not connect to; None means
    `DEFAULT_DENY_NETWORKS` (link-local, cloud metadata), an empty list denies nothing.
    Raises `ValueError` naming an entry that is not a network.
    """
    egress = EgressPolicy.from_networks(deny_networks)
    return {
        "prometheus": PrometheusProvider(default_address=prometheus_address, egress=egress),
        "web": WebProvider(egress=egress),
        "job": JobProvider(client),
        "judge": JudgeProvider(default_address=prometheus_address, egress=egress),
    }
