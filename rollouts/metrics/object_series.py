"""Counters and histograms keyed by object, whose series leave with the object.

A `Counter` with labels `namespace,name` keeps every label set it ever saw: over months
of short-lived Rollouts that is unbounded growth. `ObjectSeries` remembers which label
sets belong to which `(namespace, name)` and removes them on `forget` (hooked to the
informer's DELETED events). `ObjectMetrics`, a collector whose metrics live outside any
registry, also forgets at each scrape every object its `alive` check says is gone (an
observation may race with the deletion), so a deleted object's series are gone at the
next scrape.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["Alive", "ObjectMetrics", "ObjectSeries", "exposed"]

ObjectKey = tuple[str, str]
Alive = Callable[[str, str], bool]
"""`alive(namespace, name)`: does the object still exist (in the informer cache)?"""


class ObjectSeries:
    """Which label sets of which metrics belong to which object (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: dict[ObjectKey, set[tuple[MetricWrapperBase, tuple[str, ...]]]] = {}

    def child(self, metric: MetricWrapperBase, namespace: str, name: str, *rest: str) -> Any:
        """`metric.labels(namespace, name, *rest)`, remembered under the object."""
        values = (namespace, name, *rest)
        with self._lock:
            self._owned.setdefault((namespace, name), set()).add((metric, values))
            return metric.labels(*values)

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of the object."""
        with self._lock:
            for metric, values in self._owned.pop((namespace, name), ()):
                with contextlib.suppress(KeyError):  # already gone
                    metric.remove(*values)

    def objects(self) -> list[ObjectKey]:
        with self._lock:
            return list(self._owned)


class ObjectMetrics(Collector):
    """A collector of per-object counters/histograms, pruned of deleted objects at scrape."""

    def __init__(self, alive: Alive | None = None) -> None:
        self.series = ObjectSeries()
        self._alive = alive

    def metrics(self) -> Iterable[MetricWrapperBase]:
        """The metrics this collector serves (subclasses list theirs)."""
        return ()

    def forget(self, namespace: str, name: str) -> None:
        self.series.forget(namespace, name)

    def on_change(self, event_type: str, obj: dict[str, Any], _old: object = None) -> None:
        """An informer handler: drop the object's series when it is DELETED."""
        if event_type == "DELETED":
            meta = obj.get("metadata") or {}
            self.forget(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    def exists(self, namespace: str, name: str) -> bool:
        return self._alive is None or self._alive(namespace, name)

    def collect(self) -> Iterator[Metric]:
        if self._alive is not None:
            for namespace, name in self.series.objects():
                if not self._alive(namespace, name):
                    self.forget(namespace, name)
        for metric in self.metrics():
            for family in metric.collect():
                yield exposed(family)


# Counters Argo Rollouts names without `_total` (Go's client adds no suffix); served
# untyped under their exact name, since prometheus_client appends `_total` to counters.
EXACT_COUNTER_NAMES = frozenset({"rollout_reconcile_error", "analysis_run_reconcile_error"})


def exposed(family: Metric) -> Metric:
    """`family` as served: no `_created` samples (no dashboard reads them, and they double
    the output), and Argo's exact name for the counters in `EXACT_COUNTER_NAMES`."""
    samples = [s for s in family.samples if not s.name.endswith("_created")]
    if family.type == "counter" and family.name in EXACT_COUNTER_NAMES:
        exact = Metric(family.name, family.documentation, "unknown")
        exact.samples = [s._replace(name=family.name) for s in samples]
        return exact
    family.samples = samples
    return family
