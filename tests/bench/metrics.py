"""Benchmark: the size of /metrics and the time to render it, with 1,000 Rollouts and
1,000 AnalysisRuns in the caches.

No cluster: the collectors are built over 1,000 synthetic Rollouts (canary, mid-update,
status as our controller writes it) and 1,000 AnalysisRuns (two metrics each, ten
measurements per metric), each with a resourceVersion as informer objects have, and
every hook fires as after one finished update of every Rollout (its Events, four
finished steps, one update duration, a reconcile; a reconcile per run), so the counters
and histograms hold what a steady state holds.

What is timed is `rollouts.metrics.exposition.render(registry)`, the call the
controller's /metrics handler makes (`rollouts.runtime.health`), in four situations:

- cold: the first render of a freshly built registry (every object's text written);
- warm: nothing changed since the previous render (every object's text reused);
- some changed: before each render, 10% of the Rollouts and runs get a new
  resourceVersion and one reconcile each (as informer events and hooks would);
- all changed: the same for every Rollout and run (the most a steady scrape can cost).

How many objects each render wrote again is counted by the collectors and reported, so
the figures say where the time went; Prometheus's parse is not included.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from prometheus_client import CollectorRegistry

from rollouts.metrics.analysis_collector import AnalysisRunCollector
from rollouts.metrics.controller_hooks import AnalysisRunMetrics, RolloutMetrics
from rollouts.metrics.exposition import render
from rollouts.metrics.rollout_collector import RolloutCollector
from tests.bench.report import latency_rows, record

OBJECTS = 1_000
COLD_BUILDS = 5
WARM_RENDERS = 200
CHANGED_RENDERS = 100
SOME_CHANGED = 0.1


def _rollout(index: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": f"team-{index % 20}", "name": f"service-{index}",
                     "resourceVersion": str(10_000 + index)},
        "spec": {"replicas": 5, "strategy": {"canary": {"steps": [
            {"setWeight": 20}, {"pause": {}}, {"analysis": {}}, {"setWeight": 60}]}}},
        "status": {"phase": "Progressing", "replicas": 6, "availableReplicas": 5,
                   "updatedReplicas": 1, "currentStepIndex": 2,
                   "conditions": [{"type": "Progressing", "status": "True",
                                   "reason": "RolloutStepCompleted"}],
                   "canary": {"weights": {"canary": {"weight": 20},
                                          "stable": {"weight": 80}}}},
    }


def _run(index: int) -> dict[str, Any]:
    measurements = [{"phase": "Successful", "value": f"[0.9{n}]"} for n in range(10)]
    return {
        "metadata": {"namespace": f"team-{index % 20}", "name": f"service-{index}-7c9d-3-2",
                     "resourceVersion": str(20_000 + index),
                     "labels": {"rollouts.argoproj.io/rollout": f"service-{index}"}},
        "spec": {"metrics": [
            {"name": "success-rate", "successCondition": "result[0] >= 0.95",
             "provider": {"prometheus": {"query": "q"}}},
            {"name": "latency", "failureCondition": "result[0] > 0.5",
             "provider": {"web": {"url": "http://x"}}}]},
        "status": {"phase": "Running", "metricResults": [
            {"name": "success-rate", "phase": "Running", "measurements": measurements},
            {"name": "latency", "phase": "Running", "measurements": measurements}]},
    }


@dataclass
class Scene:
    """The registry /metrics renders, and the objects and hooks behind it."""

    registry: CollectorRegistry
    rollouts: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    rollout_metrics: RolloutMetrics
    run_metrics: AnalysisRunMetrics
    rollout_collector: RolloutCollector
    run_collector: AnalysisRunCollector
    versions: int = 100_000

    def change(self, fraction: float) -> None:
        """What informer events and hooks do to the first `fraction` of the objects:
        each Rollout and run a new dict with a new resourceVersion, and one reconcile."""
        count = round(len(self.rollouts) * fraction)
        for objects, metrics in ((self.rollouts, self.rollout_metrics),
                                 (self.runs, self.run_metrics)):
            for index in range(count):
                self.versions += 1
                meta = {**objects[index]["metadata"], "resourceVersion": str(self.versions)}
                objects[index] = {**objects[index], "metadata": meta}
                metrics.reconciled(meta["namespace"], meta["name"], 0.02, failed=False)

    def written(self) -> int:
        """Objects whose text the last render wrote again (all four collectors)."""
        return (self.rollout_collector.blocks.written + self.run_collector.blocks.written
                + self.rollout_metrics.written + self.run_metrics.written)


def build(objects: int = OBJECTS) -> Scene:
    """Every collector and hook over `objects` Rollouts and runs."""
    rollouts = [_rollout(i) for i in range(objects)]
    runs = [_run(i) for i in range(objects)]
    registry = CollectorRegistry()
    rollout_metrics = RolloutMetrics(lambda _ns, _name: True)
    run_metrics = AnalysisRunMetrics(lambda _ns, _name: True)
    rollout_collector = RolloutCollector(lambda: rollouts)
    run_collector = AnalysisRunCollector(lambda: runs)
    for collector in (rollout_collector, run_collector, rollout_metrics, run_metrics):
        registry.register(collector)
    for rollout, run in zip(rollouts, runs, strict=True):
        meta, run_meta = rollout["metadata"], run["metadata"]
        rollout_metrics.event(rollout, "Normal", "RolloutUpdated")
        for _step in range(4):
            rollout_metrics.event(rollout, "Normal", "RolloutStepCompleted")
        rollout_metrics.event(rollout, "Normal", "RolloutCompleted")
        rollout_metrics.reconciled(meta["namespace"], meta["name"], 0.02, failed=False)
        run_metrics.reconciled(run_meta["namespace"], run_meta["name"], 0.2, failed=False)
    return Scene(registry, rollouts, runs, rollout_metrics, run_metrics, rollout_collector,
                 run_collector)


def _timed(scene: Scene, renders: int, before: Callable[[], None]
           ) -> tuple[list[float], list[int], bytes]:
    """Seconds of each of `renders` renders (`before()` untimed ahead of each), the
    objects each wrote again, and the last body."""
    seconds: list[float] = []
    written: list[int] = []
    body = b""
    for _ in range(renders):
        before()
        started = time.perf_counter()
        body = render(scene.registry)
        seconds.append(time.perf_counter() - started)
        written.append(scene.written())
    return seconds, written, body


def _written_row(situation: str, written: list[int], objects: int) -> dict[str, Any]:
    return {"figure": f"{situation}: objects written again per render (of {objects})",
            "n": len(written), "value": f"{min(written)}-{max(written)}"
            if min(written) != max(written) else str(written[0]), "unit": "objects"}


def run(objects: int = OBJECTS, cold_builds: int = COLD_BUILDS,
        warm_renders: int = WARM_RENDERS, changed_renders: int = CHANGED_RENDERS) -> None:
    load_start = os.getloadavg()[0]
    cold: list[float] = []
    cold_written: list[int] = []
    for _ in range(cold_builds):
        scene = build(objects)
        seconds, written, body = _timed(scene, 1, lambda: None)
        cold += seconds
        cold_written += written
    warm, warm_written, body = _timed(scene, warm_renders, lambda: None)
    some, some_written, _ = _timed(scene, changed_renders, lambda: scene.change(SOME_CHANGED))
    every, every_written, _ = _timed(scene, changed_renders, lambda: scene.change(1.0))
    load_end = os.getloadavg()[0]
    series = sum(1 for line in body.decode().splitlines() if not line.startswith("#"))
    total = 4 * objects  # Rollouts and runs, each in a gauge and a counter collector
    some_label = f"{SOME_CHANGED:.0%} of objects changed"
    rows = [
        {"figure": f"/metrics size, {objects} Rollouts + {objects} AnalysisRuns",
         "n": 1, "value": f"{len(body) / 1024:.0f}", "unit": "KiB"},
        {"figure": "series exported", "n": 1, "value": str(series), "unit": "series"},
        *latency_rows("render, cold (first render of a new registry)", cold),
        _written_row("cold", cold_written, total),
        *latency_rows("render, warm (nothing changed)", warm),
        _written_row("warm", warm_written, total),
        *latency_rows(f"render, {some_label}", some),
        _written_row(some_label, some_written, total),
        *latency_rows("render, every object changed", every),
        _written_row("every object changed", every_written, total),
    ]
    for row in rows:
        print(f"{row['figure']}: {row['value']} {row['unit']} (n={row['n']})")
    record("metrics", "/metrics with 1,000 Rollouts and 1,000 AnalysisRuns", rows,
           "Synthetic objects in memory (no cluster): 2 metrics x 10 measurements per run; "
           "per Rollout the series of one finished update (4 steps timed, one update "
           "duration, its Events, a reconcile), per run a reconcile. Timed: "
           "`rollouts.metrics.exposition.render(registry)`, the call the /metrics handler "
           "makes; each object's text is kept and written again only when its "
           "resourceVersion (gauges) or its counters/histograms (a reconcile) changed, "
           "as the 'objects written again' rows count (an object counts once in its "
           "gauge collector and once in its counter collector). A changed object is a "
           "new dict with a new resourceVersion plus one reconcile, done before the "
           "timed render. Prometheus's parse is not included. Load average (1 min) at "
           f"start {load_start:.1f}, at end {load_end:.1f}.",
           {"prometheus_client": version("prometheus-client")},
           {"objects": f"{objects} Rollouts + {objects} AnalysisRuns",
            "series": str(series),
            "renders": f"cold {cold_builds} (one per new registry), warm {warm_renders}, "
                       f"changed {changed_renders} each"})


if __name__ == "__main__":
    run()
