"""Metrics of blue-green Rollouts: Argo's `rollout_info{strategy="blueGreen"}` and phases,
no weight or step series, and one rollout duration per update (no step durations)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rollouts.metrics.controller_hooks import RolloutMetrics
from rollouts.metrics.exposition import render
from rollouts.metrics.rollout_collector import RolloutCollector, metric_phase

BLUE, GREEN = "58c4f7d9c", "6f7c9d8b5"


def blue_green(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"replicas": 2, "strategy": {"blueGreen": {
            "activeService": "web-active", "previewService": "web-preview",
            "autoPromotionEnabled": False}}},
        "status": {"replicas": 4, "availableReplicas": 4, "updatedReplicas": 2,
                   "currentPodHash": GREEN, "stableRS": BLUE,
                   "blueGreen": {"activeSelector": BLUE, "previewSelector": GREEN},
                   **status},
    }


def scrape(*rollouts: dict[str, Any]) -> list[str]:
    registry = CollectorRegistry()
    registry.register(RolloutCollector(lambda: list(rollouts)))
    return [line for line in render(registry).decode().splitlines()
            if not line.startswith("#")]


def test_rollout_info_says_blue_green_with_no_router() -> None:
    lines = scrape(blue_green(phase="Paused", message="BlueGreenPause"))
    assert 'rollout_info{name="web",namespace="shop",phase="Paused",strategy="blueGreen",' \
           'traffic_router=""} 1.0' in lines
    assert 'rollout_info_replicas_desired{name="web",namespace="shop"} 2.0' in lines
    assert 'rollout_info_replicas_unavailable{name="web",namespace="shop"} 0.0' in lines


def test_no_weight_or_step_series_even_with_a_stale_canary_status() -> None:
    stale = blue_green(phase="Healthy", currentStepIndex=3,
                       canary={"weights": {"canary": {"weight": 100}}})
    lines = scrape(stale)
    assert not [line for line in lines
                if line.startswith(("rollout_canary_weight", "rollout_step"))]


def test_a_canary_beside_it_keeps_its_weight_and_step() -> None:
    canary = {"metadata": {"namespace": "shop", "name": "api"},
              "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
              "status": {"phase": "Paused", "currentStepIndex": 1,
                         "canary": {"weights": {"canary": {"weight": 20}}}}}
    lines = scrape(blue_green(phase="Paused"), canary)
    assert [line for line in lines if line.startswith(("rollout_canary_weight",
                                                       "rollout_step"))] == [
        'rollout_canary_weight{name="api",namespace="shop"} 20.0',
        'rollout_step{name="api",namespace="shop"} 1.0']


@pytest.mark.parametrize(("status", "phase"), [
    ({"phase": "Paused", "message": "BlueGreenPause",
      "pauseConditions": [{"reason": "BlueGreenPause"}]}, "Paused"),
    ({"phase": "Progressing"}, "Progressing"),
    ({"phase": "Healthy", "stableRS": GREEN}, "Completed"),
    ({"phase": "Degraded", "abort": True, "message": "RolloutAborted: x",
      "conditions": [{"type": "Progressing", "reason": "RolloutAborted"}]}, "Abort"),
    ({"phase": "Degraded", "conditions": [
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}, "Timeout"),
    ({"phase": "Degraded", "message": "InvalidSpec: x",
      "conditions": [{"type": "InvalidSpec", "status": "True"}]}, "InvalidSpec"),
])
def test_metric_phases_as_argo_computes_them(status: dict[str, Any], phase: str) -> None:
    assert metric_phase(blue_green(**status)) == phase


def test_an_update_is_timed_once_and_has_no_step_durations() -> None:
    now = [1000.0]
    web = blue_green(phase="Progressing")
    metrics = RolloutMetrics(lambda ns, name: True, clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(metrics)
    for reason, later in (("RolloutUpdated", 20.0), ("RolloutPaused", 40.0),
                          ("RolloutResumed", 5.0), ("SwitchService", 10.0),
                          ("RolloutCompleted", 0.0)):
        metrics.event(web, "Normal", reason)
        now[0] += later
    text = render(registry).decode()
    assert 'rollout_duration_seconds_count{name="web",namespace="shop"} 1.0' in text
    assert 'rollout_duration_seconds_sum{name="web",namespace="shop"} 75.0' in text
    assert "rollout_step_duration_seconds_count" not in text
    assert 'rollout_events_total{name="web",namespace="shop",reason="SwitchService",' \
           'type="Normal"} 1.0' in text
