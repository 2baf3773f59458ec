"""The canary planner with a traffic router (pure: tests/unit/canary_sim.py applies the
router writes to an in-memory store the way an API server would)."""

from __future__ import annotations

from typing import Any

from rollouts.core.observed import SCALE_DOWN_DEADLINE_ANNOTATION
from rollouts.traffic.base import ObjectKey
from tests.unit.canary_sim import Sim, rollout

SPLIT = ObjectKey("split.smi-spec.io", "v1alpha4", "trafficsplits", "TrafficSplit", "ns",
                  "web")
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50},
                               {"pause": {}}]


def _sim(steps: list[dict[str, Any]] | None = None, replicas: int = 4, **canary: Any) -> Sim:
    sim = Sim(rollout(STEPS if steps is None else steps, replicas=replicas,
                      canaryService="canary", stableService="stable",
                      trafficRouting={"smi": {}}, **canary))
    sim.services = {"canary": None, "stable": None}
    sim.settle()
    return sim


def _weight(sim: Sim) -> dict[str, int]:
    backends = sim.router_objects[SPLIT]["spec"]["backends"]
    return {b["service"]: int(b["weight"]) for b in backends}


def _promote(sim: Sim) -> None:
    sim.raw["status"].pop("pauseConditions", None)


def test_first_deployment_routes_nothing_to_the_canary() -> None:
    sim = _sim()
    stable = sim.status["stableRS"]
    assert sim.status["phase"] == "Healthy"
    assert _weight(sim) == {"canary": 0, "stable": 100}
    assert sim.services == {"canary": stable, "stable": stable}
    assert sim.status["canary"]["weights"]["verified"] is True


def test_the_canary_gets_the_weights_share_of_pods_and_the_stable_stays_full() -> None:
    sim = _sim()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    assert sim.status["currentStepIndex"] == 1 and sim.status["phase"] == "Paused"
    assert sim.counts() == {stable: 4, canary: 1}  # ceil(4 * 20 / 100), stable at 100 %
    assert _weight(sim) == {"canary": 20, "stable": 80}
    assert sim.services == {"canary": canary, "stable": stable}
    weights = sim.status["canary"]["weights"]
    assert weights["canary"] == {"weight": 20, "serviceName": "canary",
                                 "podTemplateHash": canary}
    assert weights["verified"] is True

    _promote(sim)
    sim.settle()
    assert sim.status["currentStepIndex"] == 3
    assert sim.counts() == {stable: 4, canary: 2}
    assert _weight(sim) == {"canary": 50, "stable": 50}


def test_the_weight_moves_only_once_the_canary_service_selects_the_canary_pods() -> None:
    sim = _sim()
    sim.set_image("app:2")
    sim.reconcile()  # creates the canary ReplicaSet
    sim.reconcile()  # points the canary Service; the weight waits for the pin
    assert _weight(sim)["canary"] == 0
    sim.settle()
    assert _weight(sim)["canary"] == 20


def test_completion_sends_everything_to_the_new_pods_then_delays_the_old_stable() -> None:
    sim = _sim()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    for _ in range(2):
        _promote(sim)
        sim.settle()
    assert sim.status["stableRS"] == canary and sim.status["phase"] == "Healthy"
    assert _weight(sim) == {"canary": 0, "stable": 100}
    assert sim.services == {"canary": canary, "stable": canary}
    assert sim.counts() == {stable: 4, canary: 4}, "the old stable waits 30 s (default)"
    old = next(rs for rs in sim.replica_sets.values()
               if rs["metadata"]["labels"]["rollouts-pod-template-hash"] == stable)
    assert SCALE_DOWN_DEADLINE_ANNOTATION in old["metadata"]["annotations"]
    sim.advance(30)
    sim.settle()
    assert sim.counts() == {stable: 0, canary: 4}


def test_abort_puts_the_weight_back_to_zero_at_once_and_scales_the_canary_later() -> None:
    sim = _sim(abortScaleDownDelaySeconds=10)
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    sim.raw["status"]["abort"] = True
    sim.reconcile()
    assert _weight(sim) == {"canary": 0, "stable": 100}
    assert sim.services["canary"] == stable
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert sim.counts() == {stable: 4, canary: 1}
    sim.advance(10)
    sim.settle()
    assert sim.counts() == {stable: 4, canary: 0}

    sim.raw["status"]["abort"] = False  # retry
    sim.settle()
    assert sim.status["currentStepIndex"] == 1
    assert _weight(sim) == {"canary": 20, "stable": 80}


def test_promote_full_goes_to_100_then_completes() -> None:
    sim = _sim()
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    sim.raw["status"]["promoteFull"] = True
    sim.settle()
    assert sim.status["stableRS"] == canary
    assert "TrafficWeightUpdated" in sim.reasons()
    assert any("canary weight 100" in message for _, message in sim.events)


def test_set_canary_scale_decouples_pods_from_weight() -> None:
    steps: list[dict[str, Any]] = [
        {"setCanaryScale": {"replicas": 3}}, {"setWeight": 10}, {"pause": {}},
        {"setCanaryScale": {"matchTrafficWeight": True}}, {"pause": {}}]
    sim = _sim(steps, replicas=10)
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    assert sim.status["currentStepIndex"] == 2
    assert sim.counts() == {stable: 10, canary: 3}
    assert _weight(sim)["canary"] == 10
    _promote(sim)
    sim.settle()
    assert sim.status["currentStepIndex"] == 4
    assert sim.counts() == {stable: 10, canary: 1}


def test_dynamic_stable_scale_shrinks_the_stable_only_after_the_weight_moved() -> None:
    sim = _sim(dynamicStableScale=True)
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    assert _weight(sim)["canary"] == 20
    assert sim.counts() == {stable: 4, canary: 1}  # ceil(4 * 80 / 100) = 4
    _promote(sim)
    sim.settle()
    assert _weight(sim)["canary"] == 50
    assert sim.counts() == {stable: 2, canary: 2}
    sim.raw["status"]["abort"] = True
    sim.reconcile()  # the stable (2 pods available) grows back; the weight waits for it
    assert _weight(sim)["canary"] == 50
    assert sim.services["canary"] == canary
    sim.settle()
    assert _weight(sim)["canary"] == 0
    assert sim.services["canary"] == stable
    assert sim.counts() == {stable: 4, canary: 0}  # no explicit delay: follows the weight


def test_a_kill_after_the_weight_write_neither_repeats_nor_skips_the_step() -> None:
    sim = _sim()
    sim.set_image("app:2")
    for _ in range(20):
        plan = sim.reconcile()
        if plan.router_writes and any(
                (w.patch or {}).get("spec", {}).get("backends") for w in plan.router_writes):
            break
    index = sim.status["currentStepIndex"]
    assert index == 0, "the pass that wrote the weight did not complete the step"
    # A restarted controller plans from the same state: no write is needed, the step ends.
    sim.settle()
    assert sim.status["currentStepIndex"] == 1
    assert sim.reasons().count("RolloutStepCompleted") == 1


def test_the_weight_of_a_step_waits_for_its_canary_pods_to_be_available() -> None:
    sim = _sim()
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    canary_rs = next(rs for rs in sim.replica_sets.values()
                     if rs["metadata"]["labels"]["rollouts-pod-template-hash"] == canary)
    _promote(sim)
    sim.reconcile()  # step 2 (pause) promoted -> step 3: setWeight 50
    sim.reconcile()  # scales the canary to 2 pods
    assert canary_rs["spec"]["replicas"] == 2
    canary_rs["status"]["availableReplicas"] = 1  # the second pod is not ready yet
    sim.reconcile()
    assert _weight(sim)["canary"] == 20, "50 % needs both canary pods available"
    assert sim.status["currentStepIndex"] == 2
    canary_rs["status"]["availableReplicas"] = 2
    sim.settle()
    assert _weight(sim)["canary"] == 50


EXPERIMENT_STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"experiment": {"templates": [{"name": "probe", "specRef": "canary", "weight": 5}]}},
    {"pause": {}}]


def _running_experiment(sim: Sim) -> dict[str, Any]:
    (experiment,) = sim.experiments.values()
    experiment["status"] = {"phase": "Running", "templateStatuses": [
        {"name": "probe", "serviceName": "web-probe", "podTemplateHash": "h1"}]}
    return experiment


def test_an_experiment_step_gives_its_templates_their_share_until_it_succeeds() -> None:
    sim = _sim(EXPERIMENT_STEPS)
    sim.set_image("app:2")
    sim.settle()
    assert sim.status["currentStepIndex"] == 1
    experiment = _running_experiment(sim)
    assert sim.status["canary"]["currentExperiment"] == experiment["metadata"]["name"]
    sim.settle()
    assert _weight(sim) == {"canary": 10, "web-probe": 5, "stable": 85}
    experiment["status"]["phase"] = "Successful"
    sim.settle()
    assert sim.status["currentStepIndex"] == 2
    assert _weight(sim) == {"canary": 10, "stable": 90}
    assert "currentExperiment" not in sim.status["canary"]


def test_a_failed_experiment_aborts_the_rollout() -> None:
    sim = _sim(EXPERIMENT_STEPS)
    sim.set_image("app:2")
    sim.settle()
    experiment = _running_experiment(sim)
    sim.settle()
    experiment["status"]["phase"] = "Failed"
    experiment["status"]["message"] = "analysis errors failed"
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert "Experiment" in sim.status["message"] and "Failed" in sim.status["message"]
    assert _weight(sim) == {"canary": 0, "stable": 100}


def test_an_abort_terminates_the_running_experiment() -> None:
    sim = _sim(EXPERIMENT_STEPS)
    sim.set_image("app:2")
    sim.settle()
    experiment = _running_experiment(sim)
    sim.raw["status"]["abort"] = True
    sim.settle()
    assert experiment["spec"].get("terminate") is True


def test_a_rollback_to_stable_with_dynamic_stable_scale_returns_traffic_as_the_stable_regrows(
) -> None:
    sim = _sim(dynamicStableScale=True)
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    _promote(sim)
    sim.settle()
    assert _weight(sim)["canary"] == 50 and sim.counts() == {stable: 2, canary: 2}
    stable_rs = next(rs for rs in sim.replica_sets.values()
                     if rs["metadata"]["labels"]["rollouts-pod-template-hash"] == stable)
    sim.set_image("app:1")  # back to the stable template
    sim.reconcile()  # the stable is asked for 4 pods
    stable_rs["status"]["availableReplicas"] = 3  # one of them not ready yet
    sim.reconcile()
    assert _weight(sim)["canary"] == 25, "the stable carries only 3 of 4 pods' share"
    assert sim.services["canary"] == canary, "the old canary keeps serving its share"
    assert sim.counts()[canary] == 2
    stable_rs["status"]["availableReplicas"] = 4
    sim.settle()
    assert _weight(sim)["canary"] == 0
    assert sim.services["canary"] == stable
    assert sim.counts() == {stable: 4, canary: 0}
    assert sim.status["phase"] == "Healthy"
