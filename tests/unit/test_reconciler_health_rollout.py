"""Rollout health as Argo CD's Lua check computes it, blue-green included: the phase
surfaced once the spec is observed (Paused -> Suspended), and Argo CD's older rules when
there is no phase (a blue-green rollout Progressing until the active Service cuts over)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.health import Health, resource_health
from rollouts.api.phases import HealthStatusCode as H

BLUE, GREEN = "58c4f7d9c", "6f7c9d8b5"


def rollout(status: dict[str, Any], strategy: str = "blueGreen", generation: int = 2,
            **spec: Any) -> dict[str, Any]:
    strategies = {"blueGreen": {"activeService": "a", "previewService": "p",
                                "autoPromotionEnabled": False},
                  "canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "generation": generation},
            "spec": {"replicas": 2, "strategy": {strategy: strategies[strategy]}, **spec},
            "status": {"observedGeneration": generation, **status}}


# What the blue-green controller writes at each point of an update (the contract).
PREVIEW = {"currentPodHash": GREEN, "stableRS": BLUE, "replicas": 4, "updatedReplicas": 2,
           "availableReplicas": 4,
           "blueGreen": {"activeSelector": BLUE, "previewSelector": GREEN}}
PAUSED = {**PREVIEW, "phase": "Paused", "message": "BlueGreenPause", "controllerPause": True,
          "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-12-03T13:00:00Z"}]}
SWITCHED = {**PREVIEW, "blueGreen": {"activeSelector": GREEN, "previewSelector": GREEN}}
DONE = {**SWITCHED, "stableRS": GREEN, "replicas": 2}


class TestWithAPhase:
    @pytest.mark.parametrize(("status", "expected"), [
        (PAUSED, Health(H.SUSPENDED, "BlueGreenPause")),
        ({**PREVIEW, "phase": "Progressing", "message": "waiting for preview"},
         Health(H.PROGRESSING, "waiting for preview")),
        ({**SWITCHED, "phase": "Progressing", "message": "post-promotion analysis"},
         Health(H.PROGRESSING, "post-promotion analysis")),
        ({**PREVIEW, "phase": "Degraded", "abort": True,
          "message": "RolloutAborted: Rollout aborted update to revision 2"},
         Health(H.DEGRADED, "RolloutAborted: Rollout aborted update to revision 2")),
        ({**DONE, "phase": "Healthy"}, Health(H.HEALTHY)),
    ])
    def test_the_phase_is_surfaced(self, status: dict[str, Any], expected: Health) -> None:
        assert resource_health(rollout(status)) == expected

    def test_a_spec_not_yet_observed_is_progressing_whatever_the_phase(self) -> None:
        stale = rollout({**DONE, "phase": "Healthy", "observedGeneration": 1})
        assert resource_health(stale) == Health(
            H.PROGRESSING, "Waiting for rollout spec update to be observed")
        # Argo CD: an observedGeneration above the generation, or a pre-v0.10 hash, is seen.
        assert resource_health(rollout({**DONE, "phase": "Healthy",
                                         "observedGeneration": "7b5f9c"})).status is H.HEALTHY
        assert resource_health(rollout({**DONE, "phase": "Healthy",
                                         "observedGeneration": 3})).status is H.HEALTHY

    def test_a_workload_ref_waits_for_the_workload_generation(self) -> None:
        ref = rollout({**DONE, "phase": "Healthy", "workloadObservedGeneration": "4"},
                      workloadRef={"kind": "Deployment", "name": "web"})
        ref["metadata"]["annotations"] = {"rollout.argoproj.io/workload-generation": "5"}
        assert resource_health(ref).status is H.PROGRESSING
        ref["status"]["workloadObservedGeneration"] = "5"
        assert resource_health(ref).status is H.HEALTHY


class TestWithoutAPhase:
    @pytest.mark.parametrize(("status", "expected"), [
        (PAUSED | {"phase": None}, Health(H.SUSPENDED, "Rollout is paused")),
        (PREVIEW, Health(H.PROGRESSING, "active service cutover pending")),
        (SWITCHED, Health(H.PROGRESSING, "waiting for analysis to complete")),
        (DONE, Health(H.HEALTHY)),
        # v0.7 rollouts had no stableRS: the cutover alone makes them healthy.
        ({**SWITCHED, "stableRS": None}, Health(H.HEALTHY)),
        ({**PREVIEW, "blueGreen": None}, Health(H.PROGRESSING,
                                                "active service cutover pending")),
    ])
    def test_blue_green_waits_for_the_active_service_then_for_analysis(
            self, status: dict[str, Any], expected: Health) -> None:
        assert resource_health(rollout(status)) == expected

    def test_blue_green_does_not_wait_for_old_replicas_to_go(self) -> None:
        # Argo CD checks old replicas for canaries only (the scale-down delay is long).
        assert resource_health(rollout({**DONE, "replicas": 4})).status is H.HEALTHY

    @pytest.mark.parametrize(("status", "message"), [
        ({**PREVIEW, "updatedReplicas": 1},
         "Waiting for roll out to finish: More replicas need to be updated"),
        ({**PREVIEW, "availableReplicas": 1},
         "Waiting for roll out to finish: updated replicas are still becoming available"),
        ({"replicas": 2}, "Waiting for rollout to finish: status has not been reconciled."),
    ])
    def test_replica_counts_come_first(self, status: dict[str, Any], message: str) -> None:
        assert resource_health(rollout(status)) == Health(H.PROGRESSING, message)

    @pytest.mark.parametrize("condition", [
        {"type": "InvalidSpec", "status": "True", "message": "bad spec"},
        {"type": "Progressing", "reason": "RolloutAborted", "message": "bad spec"},
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "bad spec"},
    ])
    def test_conditions_make_it_degraded(self, condition: dict[str, Any]) -> None:
        broken = rollout({**PREVIEW, "conditions": [condition]})
        assert resource_health(broken) == Health(H.DEGRADED, "bad spec")

    def test_a_canary_waits_for_old_replicas_and_its_steps(self) -> None:
        canary = {"currentPodHash": GREEN, "stableRS": BLUE, "replicas": 3,
                  "updatedReplicas": 2, "availableReplicas": 3}
        assert resource_health(rollout(canary, "canary")).message == (
            "Waiting for roll out to finish: old replicas are pending termination")
        assert resource_health(rollout({**canary, "replicas": 2}, "canary")).message == (
            "Waiting for rollout to finish steps")
        done = {**canary, "replicas": 2, "canary": {"stableRS": GREEN}, "stableRS": None}
        assert resource_health(rollout(done, "canary")) == Health(H.HEALTHY)
