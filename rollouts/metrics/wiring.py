"""Wires the metrics into the controllers `rollouts controller` runs; one call:

    controllers = instrument(controllers, REGISTRY)   # before Manager(controllers, ...)

For each controller it finds, it registers the scrape-time collectors over the
controller's informer caches, the per-object counters/histograms (whose series are
dropped on the informer's DELETED events), hands the controller its hooks, and wraps it
in `MeasuredController`, which times every reconcile and, once bound, reports its
queue's wait and depth (`queue_metrics`, one collector for all):

- `rollouts`: `RolloutCollector`, `RolloutMetrics` (`on_event` counts Events and times
  steps), and `AnalysisRunCollector` when no analysis controller runs (as in Argo, the
  rollouts controller alone already exports the runs it sees);
- `analysis`: `AnalysisRunCollector` over its runs, `AnalysisRunMetrics`;
- `notifications` (duck-typed): its `metrics` collector (deliveries, evaluations);
- `reconciler` (duck-typed, see `app_metrics`): `ApplicationCollector` over its `apps`
  informer, `AppMetrics` (syncs counted from the informer, unless the controller
  declares `app_metrics` to count them itself), `GitMetrics` set on its `git_metrics`
  attribute when it declares one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from prometheus_client import CollectorRegistry

from rollouts.controller import RolloutController
from rollouts.metrics.analysis_collector import AnalysisRunCollector
from rollouts.metrics.app_metrics import ApplicationCollector, AppMetrics, GitMetrics
from rollouts.metrics.controller_hooks import AnalysisRunMetrics, RolloutMetrics
from rollouts.metrics.object_series import Alive
from rollouts.metrics.queue_metrics import QueueMetrics
from rollouts.metrics.rollout_collector import RolloutCollector
from rollouts.runtime import Controller, ReconcileResult, Timers, WorkQueue
from rollouts.runtime.interfaces import InformerLike
from rollouts.runtime.queue import split_key

__all__ = ["MeasuredController", "instrument"]

ReconcileObserver = Callable[[str, str, float, bool], None]
"""`observe(namespace, name, seconds, failed)`."""


class _Cache(Protocol):
    """What the wiring reads of an informer."""

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]: ...

    def add_handler(self, handler: Any) -> None: ...


def _alive(cache: _Cache) -> Alive:
    return lambda namespace, name: cache.get(namespace or None, name) is not None


class MeasuredController:
    """`inner`, with each reconcile's duration and failure reported to `observe`."""

    def __init__(self, inner: Controller, observe: ReconcileObserver,
                 queues: QueueMetrics | None = None) -> None:
        self.inner = inner
        self._observe = observe
        self._queues = queues
        self.started = False
        """True from the first reconcile on: this process acts (standbys never reconcile)."""

    @property
    def name(self) -> str:
        return self.inner.name

    def informers(self) -> Sequence[InformerLike]:
        return self.inner.informers()

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        if self._queues is not None:
            self._queues.watch(self.name, queue)
        self.inner.bind(queue, timers)

    def reconcile(self, key: str, /) -> ReconcileResult:
        self.started = True
        started = time.perf_counter()
        failed = True
        try:
            result = self.inner.reconcile(key)
            failed = False
            return result
        finally:
            self._report(key, time.perf_counter() - started, failed)

    def _report(self, key: str, seconds: float, failed: bool) -> None:
        try:
            namespace, name = split_key(key)
        except ValueError:
            return
        self._observe(namespace, name, seconds, failed)


def _analysis_runs_of(controller: Controller) -> _Cache | None:
    if controller.name != "analysis":
        return None
    runs = getattr(controller, "runs", None)
    return runs if runs is not None and hasattr(runs, "list") else None


def instrument(controllers: Sequence[Controller], registry: CollectorRegistry
               ) -> list[Controller]:
    """Register the metrics of `controllers` in `registry`; returns them, timed."""
    wrapped: list[Controller] = []
    analysis_cache = next((c for c in map(_analysis_runs_of, controllers) if c), None)
    queues = QueueMetrics()
    registry.register(queues)
    for controller in controllers:
        if isinstance(controller, RolloutController):
            rollout_metrics = RolloutMetrics(_alive(controller.rollouts))
            controller.rollouts.add_handler(rollout_metrics.on_change)
            controller.on_event = rollout_metrics.event
            registry.register(RolloutCollector(controller.rollouts.list))
            registry.register(rollout_metrics)
            if analysis_cache is None:
                registry.register(AnalysisRunCollector(controller.analysis_runs.list))
            wrapped.append(MeasuredController(controller, rollout_metrics.reconciled, queues))
        elif (runs := _analysis_runs_of(controller)) is not None:
            run_metrics = AnalysisRunMetrics(_alive(runs))
            runs.add_handler(run_metrics.on_change)
            registry.register(AnalysisRunCollector(runs.list))
            registry.register(run_metrics)
            wrapped.append(MeasuredController(controller, run_metrics.reconciled, queues))
        elif controller.name == "reconciler" and _applications_of(controller) is not None:
            wrapped.append(_instrument_reconciler(controller, registry, queues))
        elif controller.name == "notifications" and hasattr(controller, "metrics"):
            # Its own counters (rollouts.notifications.metrics); no per-object series.
            registry.register(getattr(controller, "metrics"))  # noqa: B009 (duck-typed)
            wrapped.append(controller)
        else:
            wrapped.append(controller)
    return wrapped


def _applications_of(controller: Controller) -> _Cache | None:
    for attribute in ("apps", "applications"):
        cache = getattr(controller, attribute, None)
        if cache is not None and hasattr(cache, "list") and hasattr(cache, "add_handler"):
            return cast(_Cache, cache)
    return None


def _instrument_reconciler(controller: Controller, registry: CollectorRegistry,
                           queues: QueueMetrics) -> Controller:
    applications = _applications_of(controller)
    assert applications is not None
    counts_itself = hasattr(controller, "app_metrics")
    app_metrics = AppMetrics(_alive(applications), from_status=not counts_itself)
    git_metrics = GitMetrics()
    applications.add_handler(app_metrics.on_change)
    registry.register(ApplicationCollector(applications.list))
    registry.register(app_metrics)
    registry.register(git_metrics)
    if counts_itself:
        setattr(controller, "app_metrics", app_metrics)  # noqa: B010 (duck-typed)
    if hasattr(controller, "git_metrics"):
        setattr(controller, "git_metrics", git_metrics)  # noqa: B010 (duck-typed)
    measured = MeasuredController(controller, app_metrics.reconciled, queues)
    app_metrics.acting = lambda: measured.started
    return measured
