"""Counters and histograms keyed by object, whose series leave with the object, and whose
text is rewritten only for the objects that changed.

A `Counter` with labels `namespace,name` keeps every label set it ever saw: over months
of short-lived Rollouts that is unbounded growth. `ObjectSeries` remembers which label
sets belong to which `(namespace, name)` and removes them on `forget` (hooked to the
informer's DELETED events). `ObjectMetrics`, a collector whose metrics live outside any
registry, also forgets at each scrape every object its `alive` check says is gone (an
observation may race with the deletion), so a deleted object's series are gone at the
next scrape.

The values stay in prometheus_client's `Counter` / `Histogram` children. Every
observation goes through `ObjectSeries.inc` / `observe`, which stamp the object (from
one increasing counter) after the value changed; a scrape writes again only the objects
whose stamp differs from the one their text was written at, and reuses the others'
text (see `exposition`). Hooks run on controller and informer threads and scrapes on
HTTP threads: the owned sets and stamps are under one lock, scrapes run one at a time
under another, and a stamp taken before the values are read can only make the next
scrape write an object once more, never keep a stale one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from rollouts.metrics.exposition import Family, RenderedFamily, number

__all__ = ["Alive", "ObjectMetrics", "ObjectSeries", "exposed"]

ObjectKey = tuple[str, str]
Alive = Callable[[str, str], bool]
"""`alive(namespace, name)`: does the object still exist (in the informer cache)?"""


class Series:
    """One label set of one metric: its prometheus_client child, and once written, the
    text of its lines up to each value."""

    __slots__ = ("child", "metric", "prefixes", "values")

    def __init__(self, metric: MetricWrapperBase, values: tuple[str, ...], child: Any) -> None:
        self.metric = metric
        self.values = values
        self.child = child
        self.prefixes: tuple[str, ...] = ()


class ObjectSeries:
    """Which label sets of which metrics belong to which object, and when each object
    last changed (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owned: dict[ObjectKey, dict[tuple[MetricWrapperBase, tuple[str, ...]], Series]] = {}
        self._stamps: dict[ObjectKey, int] = {}
        self._last_stamp = 0

    def _child(self, metric: MetricWrapperBase, values: tuple[str, ...]) -> Any:
        with self._lock:
            owned = self._owned.setdefault((values[0], values[1]), {})
            series = owned.get((metric, values))
            if series is None:
                series = owned[(metric, values)] = Series(metric, values,
                                                          metric.labels(*values))
            return series.child

    def _changed(self, key: ObjectKey) -> None:
        with self._lock:
            if key in self._owned:  # else forgotten meanwhile: nothing to write
                self._last_stamp += 1
                self._stamps[key] = self._last_stamp

    def inc(self, metric: MetricWrapperBase, namespace: str, name: str, *rest: str,
            amount: float = 1.0) -> None:
        """`metric.labels(namespace, name, *rest).inc(amount)`, remembered under the object."""
        self._child(metric, (namespace, name, *rest)).inc(amount)
        self._changed((namespace, name))

    def observe(self, metric: MetricWrapperBase, namespace: str, name: str, *rest: str,
                value: float) -> None:
        """`metric.labels(namespace, name, *rest).observe(value)`, remembered likewise."""
        self._child(metric, (namespace, name, *rest)).observe(value)
        self._changed((namespace, name))

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of the object."""
        with self._lock:
            self._stamps.pop((namespace, name), None)
            for metric, values in self._owned.pop((namespace, name), ()):
                with contextlib.suppress(KeyError):  # already gone
                    metric.remove(*values)

    def objects(self) -> list[ObjectKey]:
        with self._lock:
            return list(self._owned)

    def changes(self, known: Mapping[ObjectKey, int]
                ) -> list[tuple[ObjectKey, int, list[Series] | None]]:
        """Every observed object with its stamp, and its series unless `known` holds that
        stamp for it (None: its text is still current)."""
        with self._lock:
            return [(key, stamp, None if known.get(key) == stamp else
                     list(self._owned[key].values()))
                    for key, stamp in self._stamps.items()]


class _Exposed:
    """How one metric of an `ObjectMetrics` is served: its family, the samples each label
    set has (the same for all: a counter's total, a histogram's buckets, count and sum)
    and how their values are read. Used under the collector's render lock."""

    def __init__(self, metric: MetricWrapperBase, labels: Sequence[str]) -> None:
        described = next(iter(metric.describe()))
        self.metric = metric
        self.kind = described.type
        self.exact = described.type == "counter" and described.name in EXACT_COUNTER_NAMES
        self.family = Family(described.name, described.documentation,
                             "unknown" if self.exact else described.type, labels)
        self._shape: tuple[tuple[str, str | None], ...] = ()
        self._read: Callable[[Any], list[float]] | None = None

    def write(self, series: Series) -> str:
        """The lines of one label set (its values read now)."""
        if self._read is None:
            self._learn(series.child)
        assert self._read is not None
        if not series.prefixes:
            series.prefixes = tuple(self.family.prefix(series.values, suffix, le)
                                    for suffix, le in self._shape)
        return "".join([f"{prefix}{number(value)}\n" for prefix, value
                        in zip(series.prefixes, self._read(series.child), strict=True)])

    def _learn(self, child: Any) -> None:
        """The samples of a label set, from those prometheus_client gives the first one
        (no `_created`), and the fastest reader that gives the same values."""
        samples = [sample for family in child.collect() for sample in family.samples
                   if not sample.name.endswith("_created")]
        name = self.family.name
        self._shape = tuple(("" if self.exact else sample.name[len(name):],
                             sample.labels.get("le")) for sample in samples)
        self._read = _read_samples
        fast = _FAST_READERS.get(self.kind)
        if fast is not None:
            with contextlib.suppress(AttributeError, TypeError):
                if fast(child) == [sample.value for sample in samples]:
                    self._read = fast

    def samples(self) -> list[Sample]:
        """The samples prometheus_client gives the metric, as served (`exposed`)."""
        return [sample for family in self.metric.collect()
                for sample in exposed(family).samples]


class ObjectMetrics(Collector):
    """A collector of per-object counters/histograms, pruned of deleted objects at scrape.

    Subclasses create their metrics with `counter` / `histogram` (served in that order)
    and record through `self.series.inc` / `observe`.
    """

    def __init__(self, alive: Alive | None = None) -> None:
        self.series = ObjectSeries()
        self._alive = alive
        self._exposed: list[_Exposed] = []
        self._by_metric: dict[MetricWrapperBase, _Exposed] = {}
        self._render_lock = threading.Lock()
        self._blocks: dict[ObjectKey, tuple[int, tuple[str, ...]]] = {}
        self.written = 0
        """Objects written (not reused) by the last `collect` (for benchmarks)."""

    def counter(self, name: str, documentation: str, labels: Sequence[str]) -> Counter:
        metric = Counter(name, documentation, labels, registry=None)
        self._serve(metric, labels)
        return metric

    def histogram(self, name: str, documentation: str, labels: Sequence[str],
                  buckets: Sequence[float]) -> Histogram:
        metric = Histogram(name, documentation, labels, buckets=buckets, registry=None)
        self._serve(metric, labels)
        return metric

    def _serve(self, metric: MetricWrapperBase, labels: Sequence[str]) -> None:
        self._exposed.append(_Exposed(metric, labels))
        self._by_metric[metric] = self._exposed[-1]

    def metrics(self) -> tuple[MetricWrapperBase, ...]:
        """The metrics this collector serves, in order."""
        return tuple(exposed.metric for exposed in self._exposed)

    def forget(self, namespace: str, name: str) -> None:
        self.series.forget(namespace, name)

    def on_change(self, event_type: str, obj: dict[str, Any], _old: object = None) -> None:
        """An informer handler: drop the object's series when it is DELETED."""
        if event_type == "DELETED":
            meta = obj.get("metadata") or {}
            self.forget(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    def exists(self, namespace: str, name: str) -> bool:
        return self._alive is None or self._alive(namespace, name)

    def _block(self, owned: list[Series]) -> tuple[str, ...]:
        lines: dict[MetricWrapperBase, list[str]] = {}
        for series in owned:
            lines.setdefault(series.metric, []).append(self._by_metric[series.metric]
                                                       .write(series))
        return tuple("".join(lines.get(exposed.metric, ())) for exposed in self._exposed)

    def collect(self) -> Iterator[Metric]:
        if self._alive is not None:
            for namespace, name in self.series.objects():
                if not self._alive(namespace, name):
                    self.forget(namespace, name)
        columns: list[list[str]] = [[] for _ in self._exposed]
        with self._render_lock:
            previous, current = self._blocks, {}
            written = 0
            stamps = {key: stamp for key, (stamp, _) in previous.items()}
            for key, stamp, owned in self.series.changes(stamps):
                if owned is None:
                    block = previous[key][1]
                else:
                    block = self._block(owned)
                    written += 1
                current[key] = (stamp, block)
                for column, text in zip(columns, block, strict=True):
                    if text:
                        column.append(text)
            self._blocks = current
            self.written = written
        for exposed_metric, column in zip(self._exposed, columns, strict=True):
            family = exposed_metric.family
            yield RenderedFamily(family, family.header + "".join(column),
                                 exposed_metric.samples)


def _read_samples(child: Any) -> list[float]:
    """A child's sample values, through prometheus_client's `collect` (no `_created`)."""
    return [sample.value for family in child.collect() for sample in family.samples
            if not sample.name.endswith("_created")]


def _read_counter(child: Any) -> list[float]:
    return [child._value.get()]


def _read_histogram(child: Any) -> list[float]:
    """Cumulative buckets, count and sum, as `Histogram._child_samples` computes them."""
    values: list[float] = []
    total = 0.0
    for bucket in child._buckets:
        total += bucket.get()
        values.append(total)
    return [*values, total, child._sum.get()]


# A child's values read from prometheus_client's private fields, ~10 times faster than
# `collect()` (which builds a Metric and a Sample per value); used for a metric only
# when it returned what `collect()` did for its first label set (`_Exposed._learn`).
_FAST_READERS: dict[str, Callable[[Any], list[float]]] = {
    "counter": _read_counter, "histogram": _read_histogram}


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
