"""The Application controller's metrics, fed through plain callables and small hooks.

    app_info{name,namespace,repo,dest_namespace,sync_status,health_status} 1
        at scrape time from `list_applications()` (the controller's informer cache)
    app_sync_total{name,namespace,phase}    counter: finished sync operations
    app_reconcile{name,namespace}           histogram, seconds
    git_request_total{repo,request_type}    counter: `ls-remote` and `fetch`
    git_request_duration_seconds{repo,request_type}  histogram

`repo` never carries credentials (`https://user:token@host/r` -> `https://host/r`).
Per-Application series leave with the Application (`AppMetrics.forget`, or its `alive`
check at scrape).

What the Application controller (`reconciler.controller`) needs to do, handed these by
`rollouts.metrics.wiring` (which duck-types it):

- nothing for `app_info` (read from its `apps` informer), `app_reconcile` (the wiring
  times its `reconcile`) and `app_sync_total`: a sync is counted when the informer sees
  `status.operationState` reach Succeeded, Failed or Error (`finished_operation`), in
  the replica that reconciles (a standby, which never reconciles, counts nothing);
- for `git_request_*`: declare `self.git_metrics: GitMetrics | None = None` (the wiring
  sets it) and time each `git ls-remote` / `git fetch`, e.g. through a `GitSource`
  callback:

      with git_metrics.timed(repo_url, "ls-remote"):   # or "fetch"
          ...run git...

  (`observe(repo_url, request_type, seconds)` if timing is done already);
- to count syncs itself instead, declare `self.app_metrics = None` and call
  `app_metrics.synced(namespace, name, phase)` when an operation ends: the informer
  path is then off, so nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rollouts.metrics.exposition import Family
from rollouts.metrics.object_blocks import ObjectBlocks, Row
from rollouts.metrics.object_series import Alive, ObjectMetrics, exposed
from rollouts.metrics.values import redact_repo

__all__ = ["AppMetrics", "ApplicationCollector", "GitMetrics", "finished_operation"]

APP_RECONCILE_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # Argo CD's
GIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0)  # Argo CD's
APP_INFO_LABELS = ["name", "namespace", "repo", "dest_namespace", "sync_status",
                   "health_status"]
FINISHED_PHASES = ("Succeeded", "Failed", "Error")


def finished_operation(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """The phase of the operation that ended between two versions of an Application.

    None unless `new` holds a finished operation that `old` did not (a different
    phase, start or finish time): re-reading the same finished operation counts nothing.
    """
    after = (new.get("status") or {}).get("operationState") or {}
    phase = after.get("phase")
    if phase not in FINISHED_PHASES:
        return None
    before = ((old or {}).get("status") or {}).get("operationState") or {}
    same = all(before.get(k) == after.get(k) for k in ("phase", "startedAt", "finishedAt"))
    return None if same else str(phase)


def _repo(spec: dict[str, Any]) -> str:
    source = spec.get("source") or next(iter(spec.get("sources") or []), None) or {}
    return redact_repo(source.get("repoURL") if isinstance(source, dict) else "")


APP_INFO = Family("app_info", "Information about application.", "gauge", APP_INFO_LABELS)


def application_series(app: dict[str, Any]) -> Iterator[Row]:
    """The `app_info` series of one Application."""
    meta = app.get("metadata") or {}
    spec = app.get("spec") or {}
    status = app.get("status") or {}
    yield 0, (
        str(meta.get("name") or ""), str(meta.get("namespace") or ""), _repo(spec),
        str((spec.get("destination") or {}).get("namespace") or ""),
        str((status.get("sync") or {}).get("status") or "Unknown"),
        str((status.get("health") or {}).get("status") or "Unknown"),
    ), 1


class ApplicationCollector(Collector):
    """`app_info` over `list_applications()` (Application dicts); each Application's
    line is kept until its resourceVersion changes (`ObjectBlocks`)."""

    def __init__(self, list_applications: Callable[[], list[dict[str, Any]]]) -> None:
        self._list = list_applications
        self.blocks = ObjectBlocks((APP_INFO,), application_series)

    def describe(self) -> Iterator[Metric]:
        yield APP_INFO.metric()

    def collect(self) -> Iterator[Metric]:
        yield from self.blocks.collect(self._list())


class AppMetrics(ObjectMetrics):
    """`app_sync_total` and `app_reconcile`, per Application.

    With `from_status`, `on_change` (an informer handler) counts finished operations
    while `acting()` says this process reconciles (only the leader does; the wiring
    sets it from the reconcile wrapper).
    """

    def __init__(self, alive: Alive | None = None, *, from_status: bool = False,
                 acting: Callable[[], bool] = lambda: True) -> None:
        super().__init__(alive)
        self.from_status = from_status
        self.acting = acting
        self.syncs = self.counter("app_sync_total", "Number of application syncs.",
                                  ("namespace", "name", "phase"))
        self.reconcile = self.histogram("app_reconcile",
                                        "Application reconciliation performance.",
                                        ("namespace", "name"), APP_RECONCILE_BUCKETS)

    def synced(self, namespace: str, name: str, phase: str) -> None:
        """A sync operation of the Application ended in `phase` (Succeeded, Failed, Error)."""
        if self.exists(namespace, name):
            self.series.inc(self.syncs, namespace, name, phase)

    def reconciled(self, namespace: str, name: str, seconds: float, failed: bool) -> None:
        if self.exists(namespace, name):
            self.series.observe(self.reconcile, namespace, name, value=seconds)

    def on_change(self, event_type: str, obj: dict[str, Any], old: object = None) -> None:
        super().on_change(event_type, obj, old)
        if event_type != "MODIFIED" or not (self.from_status and self.acting()):
            return
        phase = finished_operation(old if isinstance(old, dict) else None, obj)
        if phase is not None:
            meta = obj.get("metadata") or {}
            self.synced(str(meta.get("namespace") or ""), str(meta.get("name") or ""), phase)


class GitMetrics(Collector):
    """Git requests by repository and type; bounded by the number of repositories."""

    def __init__(self) -> None:
        self.requests = Counter("git_request_total",
                                "Number of git requests performed by the reconciler.",
                                ("repo", "request_type"), registry=None)
        self.duration = Histogram("git_request_duration_seconds",
                                  "Git request duration seconds.", ("repo", "request_type"),
                                  buckets=GIT_BUCKETS, registry=None)

    def observe(self, repo: str, request_type: str, seconds: float) -> None:
        """One request of `request_type` (`ls-remote`, `fetch`) to `repo` took `seconds`."""
        labels = (redact_repo(repo), request_type)
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(max(0.0, seconds))

    @contextmanager
    def timed(self, repo: str, request_type: str) -> Iterator[None]:
        """Observe the time the block took (also when it raises: a failed fetch counts)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.observe(repo, request_type, time.monotonic() - started)

    def collect(self) -> Iterator[Metric]:
        for metric in (self.requests, self.duration):
            for family in metric.collect():
                yield exposed(family)
