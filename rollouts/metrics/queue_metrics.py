"""The work queues' own figures, under client-go's names, so the dashboards users keep
for Argo Rollouts' `workqueue_*` panels read ours:

    workqueue_queue_duration_seconds{name}   histogram: time a key waited, from being
                                             added (ready) to a worker taking it
    workqueue_depth{name}                    gauge: keys ready and not yet taken

`name` is the controller's name (`rollouts`, `analysis`, `reconciler`, ...). The buckets
are finer than client-go's powers of ten between 1 ms and 10 s, where a step's latency
is decided. How long a worker then takes is `rollout_reconcile` and its kin
(`controller_hooks`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rollouts.runtime import WorkQueue

__all__ = ["QUEUE_BUCKETS", "QueueMetrics"]

QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class QueueMetrics(Collector):
    """Registered once per process; `watch` each controller's queue as it is bound."""

    def __init__(self) -> None:
        self._waited = Histogram("workqueue_queue_duration_seconds",
                                 "How long in seconds an item stays in workqueue before "
                                 "being requested.", ["name"], buckets=QUEUE_BUCKETS,
                                 registry=None)
        self._queues: dict[str, WorkQueue] = {}

    def watch(self, name: str, queue: WorkQueue) -> None:
        queue.on_wait = self._waited.labels(name).observe
        self._queues[name] = queue

    def collect(self) -> Iterator[Metric]:
        yield from self._waited.collect()
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue",
                                  labels=["name"])
        for name, queue in sorted(self._queues.items()):
            depth.add_metric([name], queue.len())
        yield depth
