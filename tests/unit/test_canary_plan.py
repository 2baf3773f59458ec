"""The canary planner's decisions, step by step (pure: see tests/unit/canary_sim.py)."""

from __future__ import annotations

from datetime import timedelta

from rollouts.core.observed import pod_template_hash
from tests.unit.canary_sim import Sim, rollout

DEMO_STEPS = [{"setWeight": 20}, {"pause": {"duration": "10s"}}, {"setWeight": 50},
              {"pause": {}}]


def _deployed(steps: list[dict[str, object]] | None = None, **canary: object) -> Sim:
    sim = Sim(rollout(steps if steps is not None else DEMO_STEPS, **canary))
    sim.settle()
    return sim


def _promote(sim: Sim) -> None:
    sim.raw["status"].pop("pauseConditions", None)


def test_first_deployment_goes_straight_to_stable_without_steps() -> None:
    sim = _deployed()
    status = sim.status
    assert status["phase"] == "Healthy"
    assert status["stableRS"] == status["currentPodHash"]
    assert status["currentStepIndex"] == 4
    assert list(sim.counts().values()) == [5]


def test_image_change_walks_the_steps_and_pauses_for_duration_then_promote() -> None:
    sim = _deployed()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    assert sim.status["phase"] == "Paused"
    assert sim.status["currentStepIndex"] == 1
    assert sim.counts() == {stable: 4, canary: 1}
    assert sim.status["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert sim.last is not None and "pause" in sim.last.wake_at

    sim.advance(9.5)
    sim.settle()
    assert sim.status["currentStepIndex"] == 1, "a 10s pause is not over after 9.5s"

    sim.advance(0.5)
    sim.settle()
    assert sim.status["currentStepIndex"] == 3
    assert sim.status["phase"] == "Paused"
    assert sim.counts() == {stable: 3, canary: 3}  # 50% of 5: 3/6 beats 2/5 and 3/5

    _promote(sim)
    sim.settle()
    assert sim.status["phase"] == "Healthy"
    assert sim.status["stableRS"] == canary
    assert sim.counts() == {stable: 0, canary: 5}
    assert sim.reasons().count("RolloutStepCompleted") == 4
    assert "RolloutCompleted" in sim.reasons()


def test_abort_returns_everything_to_stable_and_retry_starts_over() -> None:
    sim = _deployed()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    canary = sim.status["currentPodHash"]
    sim.raw["status"]["abort"] = True
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert sim.status["message"].startswith("RolloutAborted")
    assert sim.counts() == {stable: 5, canary: 0}
    assert sim.status["stableRS"] == stable

    sim.raw["status"]["abort"] = False
    sim.settle()
    assert sim.status["phase"] == "Paused"
    assert sim.status["currentStepIndex"] == 1
    assert sim.counts() == {stable: 4, canary: 1}
    assert "RolloutRetried" in sim.reasons()


def test_promote_full_skips_the_remaining_steps() -> None:
    sim = _deployed()
    sim.set_image("app:2")
    sim.settle()
    sim.raw["status"]["promoteFull"] = True
    sim.settle()
    assert sim.status["phase"] == "Healthy"
    assert sim.status["stableRS"] == sim.status["currentPodHash"]


def test_setting_the_stable_template_back_is_a_fast_rollback() -> None:
    sim = _deployed()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    sim.set_image("app:1")
    sim.settle()
    assert sim.status["currentPodHash"] == stable
    assert sim.status["phase"] == "Healthy"
    assert sim.counts()[stable] == 5
    assert sum(sim.counts().values()) == 5


def test_a_new_template_mid_rollout_replaces_the_canary() -> None:
    sim = _deployed()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.settle()
    first_canary = sim.status["currentPodHash"]
    sim.set_image("app:3")
    sim.settle()
    second = sim.status["currentPodHash"]
    assert second != first_canary
    assert sim.status["currentStepIndex"] == 1
    assert sim.counts() == {stable: 4, first_canary: 0, second: 1}


def test_analysis_step_outcomes() -> None:
    steps = [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "ok"}]}},
             {"setWeight": 60}]
    template = {"spec": {"metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}]}}

    def at_analysis(phase: str) -> Sim:
        sim = _deployed(steps)
        sim.templates["ok"] = template
        sim.set_image("app:2")
        sim.settle()
        assert sim.status["canary"]["currentStepAnalysisRunStatus"]["status"] == "Pending"
        sim.run_phases["-1"] = phase
        sim.settle()
        return sim

    assert at_analysis("Successful").status["phase"] == "Healthy"
    failed = at_analysis("Failed")
    assert failed.status["phase"] == "Degraded" and failed.status["abort"] is True
    assert "AnalysisRun" in failed.status["message"]
    assert at_analysis("Error").status["phase"] == "Degraded"
    inconclusive = at_analysis("Inconclusive")
    assert inconclusive.status["phase"] == "Paused"
    assert inconclusive.status["pauseConditions"][0]["reason"] == "InconclusiveAnalysisRun"
    _promote(inconclusive)
    inconclusive.settle()
    assert inconclusive.status["phase"] == "Healthy"


def test_missing_template_waits_and_names_it() -> None:
    steps = [{"analysis": {"templates": [{"templateName": "nope"}]}}]
    sim = _deployed(steps)
    sim.set_image("app:2")
    sim.settle()
    assert "AnalysisTemplate 'nope' not found" in sim.status["message"]
    assert sim.status["currentStepIndex"] == 0


def test_missing_service_is_invalid_and_creates_nothing() -> None:
    sim = Sim(rollout(DEMO_STEPS, canaryService="web-canary"))
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert "web-canary" in sim.status["message"]
    assert sim.replica_sets == {}


def test_services_are_pinned_to_pod_hashes() -> None:
    sim = Sim(rollout(DEMO_STEPS, canaryService="c", stableService="s"),
              services={"c": None, "s": None})
    sim.settle()
    stable = sim.status["stableRS"]
    assert sim.services == {"c": stable, "s": stable}
    sim.set_image("app:2")
    sim.settle()
    assert sim.services == {"c": sim.status["currentPodHash"], "s": stable}


def test_spec_paused_holds_the_step() -> None:
    sim = _deployed()
    sim.raw["spec"]["paused"] = True
    sim.set_image("app:2")
    sim.settle()
    assert sim.status["phase"] == "Paused"
    assert sim.status["currentStepIndex"] == 0


def test_progress_deadline_degrades_and_aborts_when_asked() -> None:
    sim = _deployed()
    sim.raw["spec"]["progressDeadlineSeconds"] = 60
    sim.raw["spec"]["progressDeadlineAbort"] = True
    sim.set_image("app:2")
    sim.reconcile()  # creates the canary ReplicaSet, which then never becomes available
    for rs in sim.replica_sets.values():
        rs["status"] = {"replicas": rs["spec"]["replicas"], "availableReplicas": 0}
    sim.reconcile()  # the last progress: counts changed
    sim.advance(59)
    sim.reconcile()
    assert sim.status["phase"] == "Progressing"
    sim.advance(2)
    sim.reconcile()
    assert sim.status["phase"] == "Degraded"
    assert "ProgressDeadlineExceeded" in sim.reasons()
    assert sim.status.get("abort") is True


def test_invalid_spec_names_the_field_and_creates_nothing() -> None:
    raw = rollout([{"setWeight": 120}])
    sim = Sim(raw)
    sim.reconcile()
    assert sim.status["phase"] == "Degraded"
    assert "setWeight" in sim.status["message"]
    assert sim.replica_sets == {}


def test_template_hash_ignores_our_own_label() -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}
    labelled = {"metadata": {"labels": {"app": "a", "rollouts-pod-template-hash": "x"}},
                "spec": {"containers": []}}
    assert pod_template_hash(template) == pod_template_hash(labelled)


def test_a_template_change_while_a_service_is_missing_still_walks_the_steps_later() -> None:
    sim = Sim(rollout(DEMO_STEPS, canaryService="canary", stableService="stable"),
              services={"canary": None, "stable": None})
    sim.settle()
    stable = sim.status["stableRS"]
    del sim.services["canary"]
    sim.set_image("app:2")
    sim.settle()
    assert sim.status["phase"] == "Degraded"
    assert "Service 'canary' not found" in sim.status["message"]
    assert sim.status["currentPodHash"] == stable, "nothing recorded while invalid"

    sim.services["canary"] = None
    sim.settle()
    assert sim.status["phase"] == "Paused" and sim.status["currentStepIndex"] == 1, (
        "the new revision starts at step 0 once the Service exists")


def test_the_canary_service_moves_to_the_canary_once_one_of_its_pods_is_available() -> None:
    sim = Sim(rollout(DEMO_STEPS, canaryService="canary", stableService="stable"))
    sim.services = {"canary": None, "stable": None}
    sim.settle()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    sim.reconcile()  # creates the canary ReplicaSet
    (canary_rs,) = [rs for rs in sim.replica_sets.values()
                    if rs["metadata"]["labels"]["rollouts-pod-template-hash"] != stable]
    canary_rs["status"]["availableReplicas"] = 0
    sim.reconcile()
    assert sim.services["canary"] == stable, "no canary pod can answer yet"
    canary_rs["status"]["availableReplicas"] = 1
    sim.reconcile()
    assert sim.services["canary"] == canary_rs["metadata"]["labels"]["rollouts-pod-template-hash"]


def test_a_restart_at_in_the_future_plans_a_wake_up_then_asks_for_pods() -> None:
    sim = _deployed()
    sim.raw["spec"]["restartAt"] = (sim.now + timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    plan = sim.reconcile()
    assert "restart" in plan.wake_at and not plan.needs_pods
    sim.advance(1)
    assert sim.reconcile().needs_pods, "once restartAt has come, the pods are read"
