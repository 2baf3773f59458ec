"""Benchmark: the size of /metrics and the time to render it, with 1,000 Rollouts and
1,000 AnalysisRuns in the caches.

No cluster: the collectors are built over 1,000 synthetic Rollouts (canary, mid-update,
status as our controller writes it) and 1,000 AnalysisRuns (two metrics each, ten
measurements per metric), and every hook fires as after one finished update of every
Rollout (its Events, four finished steps, one update duration, a reconcile; a
reconcile per run), so the counters and histograms hold what a steady state holds. The
figure is the median of N renders of `generate_latest()`, what one scrape costs the
controller.
"""

from __future__ import annotations

import os
import statistics
import time
from importlib.metadata import version
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from rollouts.metrics.analysis_collector import AnalysisRunCollector
from rollouts.metrics.controller_hooks import AnalysisRunMetrics, RolloutMetrics
from rollouts.metrics.rollout_collector import RolloutCollector
from tests.bench.report import record

OBJECTS = 1_000
ITERATIONS = 20


def _rollout(index: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": f"team-{index % 20}", "name": f"service-{index}"},
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


def build(objects: int = OBJECTS) -> CollectorRegistry:
    """A registry with every collector and hook over `objects` Rollouts and runs."""
    rollouts = [_rollout(i) for i in range(objects)]
    runs = [_run(i) for i in range(objects)]
    registry = CollectorRegistry()
    rollout_metrics = RolloutMetrics(lambda _ns, _name: True)
    run_metrics = AnalysisRunMetrics(lambda _ns, _name: True)
    for collector in (RolloutCollector(lambda: rollouts), AnalysisRunCollector(lambda: runs),
                      rollout_metrics, run_metrics):
        registry.register(collector)
    for rollout, run in zip(rollouts, runs, strict=True):
        meta, run_meta = rollout["metadata"], run["metadata"]
        rollout_metrics.event(rollout, "Normal", "RolloutUpdated")
        for _step in range(4):
            rollout_metrics.event(rollout, "Normal", "RolloutStepCompleted")
        rollout_metrics.event(rollout, "Normal", "RolloutCompleted")
        rollout_metrics.reconciled(meta["namespace"], meta["name"], 0.02, failed=False)
        run_metrics.reconciled(run_meta["namespace"], run_meta["name"], 0.2, failed=False)
    return registry


def run(iterations: int = ITERATIONS) -> None:
    registry = build()
    times: list[float] = []
    size = 0
    for _ in range(iterations):
        started = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - started)
        size = len(body)
    series = sum(1 for line in body.decode().splitlines() if not line.startswith("#"))
    rows = [
        {"figure": f"/metrics size, {OBJECTS} Rollouts + {OBJECTS} AnalysisRuns",
         "n": 1, "value": f"{size / 1024:.0f}", "unit": "KiB"},
        {"figure": "series exported", "n": 1, "value": str(series), "unit": "series"},
        {"figure": "render time (generate_latest, median)", "n": iterations,
         "value": f"{statistics.median(times) * 1000:.0f}", "unit": "ms"},
        {"figure": "render time (generate_latest, max)", "n": iterations,
         "value": f"{max(times) * 1000:.0f}", "unit": "ms"},
    ]
    for row in rows:
        print(f"{row['figure']}: {row['value']} {row['unit']}")
    record("metrics", "/metrics with 1,000 Rollouts and 1,000 AnalysisRuns", rows,
           "Synthetic objects in memory (no cluster): 2 metrics x 10 measurements per run; "
           "per Rollout the series of one finished update (4 steps timed, one update "
           "duration, its Events, a reconcile), per run a reconcile. The scrape cost is "
           "the render (almost all of it prometheus_client's text formatting, ~30 us per "
           "series); Prometheus's parse is not included. Load average during the run: "
           f"{os.getloadavg()[0]:.1f}.",
           {"prometheus_client": version("prometheus-client")})


if __name__ == "__main__":
    run()
