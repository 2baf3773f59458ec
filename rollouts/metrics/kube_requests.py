"""`rollouts_kube_requests_total{verb}`: API requests this process has sent, by verb.

Read at scrape time from the client's own counters, so benchmarks (and operators) can
see how many requests a step costs and whether an idle controller only watches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class KubeRequestsCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "rollouts_kube_requests", "Kubernetes API requests sent, by verb.", labels=["verb"])
        for verb, count in sorted(self._counts().items()):
            family.add_metric([verb], count)
        yield family
