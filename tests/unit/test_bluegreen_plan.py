"""The blue-green planner's decisions, stage by stage (pure: see tests/unit/canary_sim.py).

The same behaviours run against the real control plane in
tests/integration/test_bluegreen_*.py; here time is moved, not slept.
"""

from __future__ import annotations

import copy
from typing import Any

from rollouts.core.observed import EPHEMERAL_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION
from tests.unit.canary_sim import Sim, blue_green_rollout

TEMPLATE = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "check", "namespace": "ns"},
            "spec": {"metrics": [{"name": "m", "provider": {"job": {"spec": {}}}}]}}
ANALYSIS = {"templates": [{"templateName": "check"}]}


def _deployed(**blue_green: Any) -> Sim:
    sim = Sim(blue_green_rollout(**blue_green),
              services={"active": None, "preview": None},
              templates={"check": TEMPLATE})
    sim.settle()
    return sim


def _promote(sim: Sim) -> None:
    sim.raw["status"].pop("pauseConditions", None)


def _abort(sim: Sim) -> None:
    sim.raw["status"]["abort"] = True


def test_first_deployment_is_active_at_once_and_healthy() -> None:
    sim = _deployed()
    status = sim.status
    first = status["currentPodHash"]
    assert status["phase"] == "Healthy"
    assert status["stableRS"] == first
    assert sim.services == {"active": first, "preview": first}
    assert status["blueGreen"] == {"activeSelector": first, "previewSelector": first}
    assert sim.counts() == {first: 3}
    assert "currentStepIndex" not in status


def test_with_auto_promotion_the_preview_comes_up_then_active_switches_and_old_waits() -> None:
    sim = _deployed(scaleDownDelaySeconds=30)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.services == {"active": green, "preview": green}
    assert sim.status["stableRS"] == green
    assert sim.status["phase"] == "Healthy"
    assert sim.counts() == {blue: 3, green: 3}, "the old set waits for its scale-down delay"
    old = next(rs for rs in sim.replica_sets.values() if blue in rs["metadata"]["name"])
    assert SCALE_DOWN_DEADLINE_ANNOTATION in old["metadata"]["annotations"]
    assert sim.last is not None and f"scale-down-{old['metadata']['name']}" in sim.last.wake_at

    sim.advance(29)
    sim.settle()
    assert sim.counts()[blue] == 3
    sim.advance(1)
    sim.settle()
    assert sim.counts() == {blue: 0, green: 3}
    assert "SwitchService" in sim.reasons()


def test_without_auto_promotion_it_pauses_until_promoted() -> None:
    sim = _deployed(autoPromotionEnabled=False)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.status["phase"] == "Paused"
    assert sim.status["message"] == "BlueGreenPause"
    assert sim.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    assert sim.services == {"active": blue, "preview": green}
    assert sim.status["blueGreen"]["activeSelector"] == blue
    assert sim.status["blueGreen"]["previewSelector"] == green

    sim.advance(3600)
    sim.settle()
    assert sim.services["active"] == blue, "no promotion without promote"

    _promote(sim)
    sim.settle()
    assert sim.services == {"active": green, "preview": green}
    assert sim.status["phase"] == "Healthy" and sim.status["stableRS"] == green


def test_auto_promotion_seconds_promote_after_the_pause_began() -> None:
    sim = _deployed(autoPromotionEnabled=False, autoPromotionSeconds=20)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    assert sim.status["phase"] == "Paused"
    assert sim.last is not None and "auto-promotion" in sim.last.wake_at
    sim.advance(19.5)
    sim.settle()
    assert sim.services["active"] == blue
    sim.advance(0.5)
    sim.settle()
    assert sim.services["active"] == sim.status["currentPodHash"]


def test_preview_replica_count_then_full_size_before_the_switch() -> None:
    sim = _deployed(autoPromotionEnabled=False, previewReplicaCount=1, replicas=4)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.counts() == {blue: 4, green: 1}
    _promote(sim)
    sim.reconcile()
    assert sim.services["active"] == blue, "never switch before the new set is full"
    sim.settle()
    assert sim.counts()[green] == 4
    assert sim.services["active"] == green


def test_pre_promotion_analysis_failure_aborts_and_scales_the_preview_down_later() -> None:
    sim = _deployed(prePromotionAnalysis=ANALYSIS, abortScaleDownDelaySeconds=10)
    blue = sim.status["stableRS"]
    sim.run_phases["-pre"] = "Failed"
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    status = sim.status
    assert status["phase"] == "Degraded" and status["abort"] is True
    assert status["message"].startswith("RolloutAborted: pre-promotion AnalysisRun")
    assert sim.services == {"active": blue, "preview": blue}
    assert sim.counts() == {blue: 3, green: 3}
    sim.advance(10)
    sim.settle()
    assert sim.counts() == {blue: 3, green: 0}


def test_pre_promotion_analysis_success_opens_the_gate() -> None:
    sim = _deployed(prePromotionAnalysis=ANALYSIS)
    sim.run_phases["-pre"] = "Successful"
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.services["active"] == green
    pre = sim.status["blueGreen"]["prePromotionAnalysisRunStatus"]
    assert pre["status"] == "Successful" and pre["name"].endswith("-pre")


def test_post_promotion_failure_switches_active_back_to_the_stable_set() -> None:
    sim = _deployed(postPromotionAnalysis=ANALYSIS, scaleDownDelaySeconds=30)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.services["active"] == green
    assert sim.status["stableRS"] == blue, "stable only after post-promotion analysis"
    assert sim.counts()[blue] == 3
    sim.run_phases["-post"] = "Failed"
    sim.settle()
    assert sim.services == {"active": blue, "preview": blue}
    assert sim.status["phase"] == "Degraded"
    old = next(rs for rs in sim.replica_sets.values() if blue in rs["metadata"]["name"])
    assert SCALE_DOWN_DEADLINE_ANNOTATION not in old["metadata"].get("annotations", {})


def test_abort_then_retry_starts_over() -> None:
    sim = _deployed(autoPromotionEnabled=False)
    blue = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    _abort(sim)
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert sim.services == {"active": blue, "preview": blue}
    sim.raw["status"]["abort"] = False
    sim.settle()
    assert "RolloutRetried" in sim.reasons()
    assert sim.status["phase"] == "Paused"
    assert sim.services["preview"] == sim.status["currentPodHash"]


def test_ephemeral_metadata_moves_from_preview_to_active_on_promotion() -> None:
    sim = _deployed(autoPromotionEnabled=False, activeMetadata={"labels": {"role": "active"}},
                    previewMetadata={"labels": {"role": "preview"}})
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]

    def role(pod_hash: str) -> str | None:
        rs = next(r for r in sim.replica_sets.values() if pod_hash in r["metadata"]["name"])
        return rs["spec"]["template"]["metadata"]["labels"].get("role")

    blue = sim.status["stableRS"]
    assert (role(blue), role(green)) == ("active", "preview")
    _promote(sim)
    sim.settle()
    assert (role(blue), role(green)) == (None, "active"), (
        "the retired set's template loses its role (its pods are left as they are)")
    rs = next(r for r in sim.replica_sets.values() if green in r["metadata"]["name"])
    assert rs["metadata"]["annotations"][EPHEMERAL_ANNOTATION] == '{"labels":{"role":"active"}}'


def test_finished_runs_beyond_the_history_limits_are_deleted() -> None:
    sim = _deployed(prePromotionAnalysis=ANALYSIS)
    sim.raw["spec"]["analysis"] = {"successfulRunHistoryLimit": 2}
    sim.run_phases["-pre"] = "Successful"
    for image in range(2, 7):
        sim.set_image(f"app:{image}")
        sim.advance(1)
        sim.settle()
    current = sim.status["blueGreen"]["prePromotionAnalysisRunStatus"]["name"]
    assert current in sim.runs, "the run the status refers to is never collected"
    assert len(sim.runs) == 3, "the limit counts the runs besides the current one (Argo)"
    assert all(run["status"]["phase"] == "Successful" for run in sim.runs.values())


def _argo_made(sim: Sim, pod_hash: str, replicas: int) -> None:
    """A ReplicaSet as Argo Rollouts leaves it: its own hash, a defaulted template."""
    template = copy.deepcopy(sim.raw["spec"]["template"])
    template["metadata"]["labels"]["rollouts-pod-template-hash"] = pod_hash
    template["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    template["spec"]["restartPolicy"] = "Always"
    sim.replica_sets[f"web-{pod_hash}"] = {
        "metadata": {"name": f"web-{pod_hash}", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web", "rollouts-pod-template-hash": pod_hash},
                     "annotations": {"rollout.argoproj.io/revision": "1"}},
        "spec": {"replicas": replicas, "template": template},
        "status": {"replicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas}}
    defaulted = copy.deepcopy(template)
    defaulted["metadata"]["labels"]["rollouts-pod-template-hash"] = "ourhash"
    sim.defaulted = defaulted


def test_a_set_made_by_argo_for_the_same_template_is_kept_with_its_hash() -> None:
    sim = Sim(blue_green_rollout(), services={"active": "argo5f7c9", "preview": "argo5f7c9"})
    _argo_made(sim, "argo5f7c9", 3)
    sim.raw["status"] = {"stableRS": "argo5f7c9", "currentPodHash": "argo5f7c9",
                         "phase": "Healthy"}
    sim.settle()
    assert sim.counts() == {"argo5f7c9": 3}, "no new ReplicaSet, no scaling"
    assert sim.status["phase"] == "Healthy"
    assert sim.status["currentPodHash"] == "argo5f7c9"
    assert "NewReplicaSetCreated" not in sim.reasons()


def test_a_set_with_another_template_is_not_adopted() -> None:
    sim = Sim(blue_green_rollout(), services={"active": "argo5f7c9", "preview": "argo5f7c9"})
    _argo_made(sim, "argo5f7c9", 3)
    assert sim.defaulted is not None
    sim.defaulted["spec"]["containers"][0]["image"] = "app:2"
    sim.raw["status"] = {"stableRS": "argo5f7c9", "currentPodHash": "argo5f7c9"}
    sim.settle()
    assert "NewReplicaSetCreated" in sim.reasons()


def test_promote_after_a_successful_pre_promotion_analysis_switches() -> None:
    """Found by `rollouts plan`: the promotion checkpoint was written to a status section
    that recording the pre-promotion run had replaced, so a promote paused again."""
    sim = _deployed(autoPromotionEnabled=False, previewReplicaCount=1, replicas=3,
                    prePromotionAnalysis=ANALYSIS)
    sim.run_phases = {"-pre": "Successful"}
    sim.set_image("app:2")
    sim.settle()
    green = sim.status["currentPodHash"]
    assert sim.status["pauseConditions"][0]["reason"] == "BlueGreenPause"
    _promote(sim)
    sim.settle()
    assert sim.services == {"active": green, "preview": green}
    assert sim.status["stableRS"] == green
