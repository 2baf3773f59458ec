"""The notification controller's counters, under Argo CD's names where it has them:

    argocd_notifications_deliveries_total{trigger,service,succeeded}   every attempt
    argocd_notifications_trigger_eval_total{name,triggered}            condition results
    notifications_given_up_total{trigger,service}                      ours: deliveries
                                                                       abandoned after the
                                                                       retry bound (or an
                                                                       error no retry fixes)

`service` is the service's name from the ConfigMap (Argo's label holds the same). No
object names in labels: the series stay few whatever the number of Applications.

Neighbours: `NotificationController.metrics` is one of these; `rollouts.metrics.wiring`
registers it with the process's registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["NotificationMetrics"]


class NotificationMetrics(Collector):
    """Counters kept by the controller, exposed when registered."""

    def __init__(self) -> None:
        self.deliveries = Counter("argocd_notifications_deliveries", "Number of delivered "
                                  "notifications (each attempt).",
                                  ["trigger", "service", "succeeded"], registry=None)
        self.evaluations = Counter("argocd_notifications_trigger_eval", "Number of trigger "
                                   "evaluations.", ["name", "triggered"], registry=None)
        self.given_up = Counter("notifications_given_up", "Notifications given up after "
                                "their retries, or after an error no retry can fix.",
                                ["trigger", "service"], registry=None)

    def delivered(self, trigger: str, service: str, succeeded: bool) -> None:
        self.deliveries.labels(trigger, service, "true" if succeeded else "false").inc()

    def evaluated(self, trigger: str, triggered: bool) -> None:
        self.evaluations.labels(trigger, "true" if triggered else "false").inc()

    def gave_up(self, trigger: str, service: str) -> None:
        self.given_up.labels(trigger, service).inc()

    def collect(self) -> Iterator[Metric]:
        yield from self.deliveries.collect()
        yield from self.evaluations.collect()
        yield from self.given_up.collect()
