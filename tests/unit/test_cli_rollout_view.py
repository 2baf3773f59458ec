"""What the CLI shows of a Rollout (rollouts.cli.rollout_view): pure text from literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.cli.rollout_view import (
    actual_weight,
    age,
    effective_phase,
    render_list,
    render_tree,
    set_weight,
    status_line,
    waiting_for,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
STEPS = [{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"analysis": {"templates": [
    {"templateName": "success-rate"}]}}, {"setWeight": 50}, {"pause": {}}]


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rollout(step: int = 1, steps: list[dict[str, Any]] | None = None,
            status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "demo", "namespace": "default", "uid": "u1", "generation": 2,
                     "creationTimestamp": ago(3600)},
        "spec": {
            "replicas": 5,
            "template": {"spec": {"containers": [{"name": "app",
                                                  "image": "argoproj/rollouts-demo:green"}]}},
            "strategy": {"canary": {"steps": STEPS if steps is None else steps}},
            **spec,
        },
        "status": {"phase": "Progressing", "observedGeneration": "2", "currentStepIndex": step,
                   "stableRS": "58c4f7d9c", "currentPodHash": "6f7c9d8b5", **(status or {})},
    }


def replica_set(pod_hash: str, revision: int, image: str, replicas: int,
                available: int | None = None) -> dict[str, Any]:
    ready = replicas if available is None else available
    return {
        "metadata": {"name": f"demo-{pod_hash}", "creationTimestamp": ago(60 * revision),
                     "labels": {"rollouts-pod-template-hash": pod_hash},
                     "annotations": {"rollout.argoproj.io/revision": str(revision)}},
        "spec": {"replicas": replicas,
                 "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready},
    }


STABLE = replica_set("58c4f7d9c", 1, "argoproj/rollouts-demo:blue", 4)
CANARY = replica_set("6f7c9d8b5", 2, "argoproj/rollouts-demo:green", 1)


class TestPhase:
    def test_a_spec_change_not_yet_observed_is_progressing_whatever_the_status(self) -> None:
        stale = rollout(status={"phase": "Healthy", "observedGeneration": "1"})
        assert effective_phase(stale) == (
            "Progressing", "waiting for the controller to observe generation 2")

    def test_no_phase_yet(self) -> None:
        fresh = rollout(status={"phase": None})
        assert effective_phase(fresh)[0] == "Progressing"

    def test_status_line_carries_message_and_step(self) -> None:
        paused = rollout(status={"phase": "Paused", "message": "CanaryPauseStep"})
        assert status_line(paused) == "Paused - CanaryPauseStep (step 1/5)"
        assert status_line(rollout(5, status={"phase": "Healthy"})) == "Healthy"


class TestWeights:
    @pytest.mark.parametrize(("step", "status", "weight"), [
        (0, {}, 20), (2, {}, 20), (3, {}, 50), (4, {}, 50), (5, {}, 100),
        (1, {"abort": True}, 0), (1, {"promoteFull": True}, 100)])
    def test_set_weight_is_the_last_set_weight_at_or_before_the_step(
            self, step: int, status: dict[str, Any], weight: int) -> None:
        assert set_weight(rollout(step, status=status)) == weight

    def test_blue_green_has_no_weights(self) -> None:
        blue_green = rollout()
        blue_green["spec"]["strategy"] = {"blueGreen": {"activeService": "a"}}
        assert set_weight(blue_green) is None
        assert actual_weight(blue_green, [STABLE]) is None

    @pytest.mark.parametrize(("canary", "stable", "weight"), [
        (1, 4, 20),   # 1 * 100 / 5
        (1, 2, 33),   # 100 / 3 rounds down
        (2, 0, 100),
        (0, 0, 0),    # nothing available: 0, not a division by zero
    ])
    def test_actual_weight_without_a_router_is_the_share_of_available_pods(
            self, canary: int, stable: int, weight: int) -> None:
        sets = [replica_set("6f7c9d8b5", 2, "g", 2, canary),
                replica_set("58c4f7d9c", 1, "b", 4, stable)]
        assert actual_weight(rollout(), sets) == weight

    def test_actual_weight_with_a_router_is_what_the_controller_recorded(self) -> None:
        routed = rollout(status={"canary": {"weights": {"canary": {"weight": 10}}}})
        routed["spec"]["strategy"]["canary"]["trafficRouting"] = {"nginx": {
            "stableIngress": "demo"}}
        assert actual_weight(routed, [STABLE, CANARY]) == 10


class TestWaitingFor:
    def test_a_timed_pause_counts_down_from_its_start_time(self) -> None:
        paused = rollout(1, status={"phase": "Paused", "pauseConditions": [
            {"reason": "CanaryPauseStep", "startTime": ago(18)}]})
        assert waiting_for(paused, NOW) == ["pause ends in 42s"]
        assert waiting_for(paused, NOW + timedelta(seconds=100)) == ["pause ends in 0s"]

    def test_an_indefinite_pause_waits_for_promote(self) -> None:
        paused = rollout(4, status={"pauseConditions": [
            {"reason": "CanaryPauseStep", "startTime": ago(5)}]})
        assert waiting_for(paused, NOW) == ["promote (`rollouts promote demo`)"]

    def test_an_analysis_step_names_its_run_and_phase(self) -> None:
        running = rollout(2, status={"canary": {"currentStepAnalysisRunStatus": {
            "name": "demo-6f7c9d8b5-2-2", "status": "Running"}}})
        assert waiting_for(running, NOW) == ["analysis run demo-6f7c9d8b5-2-2 (Running)"]

    def test_paused_by_hand_says_how_to_resume(self) -> None:
        assert waiting_for(rollout(0, paused=True), NOW)[0].startswith(
            "resume with `rollouts promote demo`")

    def test_a_set_weight_step_waits_for_canary_pods(self) -> None:
        assert waiting_for(rollout(0), NOW) == [
            "canary pods for setWeight 20 to become available"]

    def test_degraded_shows_the_message_and_aborted_how_to_retry(self) -> None:
        degraded = rollout(status={"phase": "Degraded", "message": "ProgressDeadlineExceeded"})
        assert waiting_for(degraded, NOW) == ["ProgressDeadlineExceeded"]
        aborted = rollout(status={"phase": "Degraded", "abort": True,
                                  "message": "RolloutAborted: analysis failed"})
        assert waiting_for(aborted, NOW) == [
            "aborted (RolloutAborted: analysis failed): start over with "
            "`rollouts retry rollout demo`"]

    def test_healthy_waits_on_nothing(self) -> None:
        assert waiting_for(rollout(5, status={"phase": "Healthy"}), NOW) == []


def pod(name: str, pod_hash: str, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": ago(30),
                         "labels": {"rollouts-pod-template-hash": pod_hash}},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": 0}]}}


RUN = {"metadata": {"name": "demo-6f7c9d8b5-2-2", "creationTimestamp": ago(10),
                    "labels": {"rollouts-pod-template-hash": "6f7c9d8b5"}},
       "status": {"phase": "Running", "metricResults": [
           {"name": "success-rate", "phase": "Running", "successful": 3, "failed": 0,
            "measurements": [{"phase": "Successful", "value": "0.98"},
                             {"phase": "Successful", "value": "0.99"}]}]}}


class TestTree:
    def render(self) -> list[str]:
        paused = rollout(1, status={
            "phase": "Paused", "message": "CanaryPauseStep", "replicas": 5,
            "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": ago(18)}]})
        pods = [pod("demo-6f7c9d8b5-abc", "6f7c9d8b5"),
                *(pod(f"demo-58c4f7d9c-{i}", "58c4f7d9c") for i in range(4)),
                pod("unrelated", "zzz")]
        return render_tree(paused, [STABLE, CANARY], pods, [RUN], NOW).splitlines()

    def test_the_header_summarises_status_weights_images_and_what_it_waits_for(self) -> None:
        lines = self.render()
        assert lines[:11] == [
            "Name:            demo",
            "Namespace:       default",
            "Status:          ॥ Paused   (CanaryPauseStep)",
            "Strategy:        Canary",
            "  Step:          1/5",
            "  SetWeight:     20",
            "  ActualWeight:  20",
            "Images:          argoproj/rollouts-demo:blue (stable)",
            "                 argoproj/rollouts-demo:green (canary)",
            "Replicas:        Desired 5  Current 5  Updated 1  Ready 5  Available 5",
            "Waiting for:     pause ends in 42s",
        ]

    def test_the_tree_groups_sets_pods_and_runs_by_revision_newest_first(self) -> None:
        lines = self.render()
        tree = lines[lines.index("") + 1:]
        assert tree[0].split() == ["NAME", "KIND", "STATUS", "AGE", "INFO"]
        width = tree[0].index("KIND")
        names = [line[:width].rstrip() for line in tree[1:]]
        assert names == [
            "⟳ demo",
            "├──# revision:2",
            "│  ├──⧉ demo-6f7c9d8b5",
            "│  │  └──□ demo-6f7c9d8b5-abc",
            "│  └──\u03b1 demo-6f7c9d8b5-2-2",
            "└──# revision:1",
            "   └──⧉ demo-58c4f7d9c",
            "      ├──□ demo-58c4f7d9c-0",
            "      ├──□ demo-58c4f7d9c-1",
            "      ├──□ demo-58c4f7d9c-2",
            "      └──□ demo-58c4f7d9c-3",
        ]

    def test_rows_carry_kind_status_and_info(self) -> None:
        lines = self.render()
        width = next(line for line in lines if line.startswith("NAME ")).index("KIND")
        rows = {line[:width].split()[-1]: line[width:] for line in lines
                if "demo-6f7c9d8b5" in line[:width]}
        assert rows["demo-6f7c9d8b5"].startswith("ReplicaSet   ✔ Healthy")
        assert rows["demo-6f7c9d8b5"].endswith("canary  1/1 ready")
        assert rows["demo-6f7c9d8b5-abc"].startswith("Pod          ✔ Running")
        assert rows["demo-6f7c9d8b5-abc"].endswith("ready 1/1")
        assert rows["demo-6f7c9d8b5-2-2"].endswith("◌ Running  10s  ✔ 3 ✖ 0  "
                                                   "(last: success-rate=0.99)")

    def test_a_rollout_without_replica_sets_shows_its_template_images(self) -> None:
        lines = render_tree(rollout(0, status={"phase": None}), [], [], [], NOW).splitlines()
        assert "Images:          argoproj/rollouts-demo:green" in lines
        assert lines[-1].startswith("⟳ demo")


class TestList:
    ROLLOUTS = [rollout(1, status={"phase": "Paused", "replicas": 5, "readyReplicas": 4,
                                   "updatedReplicas": 1, "availableReplicas": 4}),
                {**rollout(), "metadata": {"name": "api", "namespace": "shop", "generation": 1}}]

    def test_the_table_has_argo_columns(self) -> None:
        lines = render_list(self.ROLLOUTS[:1], all_namespaces=False, wide=False,
                            now=NOW).splitlines()
        assert lines[0].split() == ["NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY",
                                    "DESIRED", "UP-TO-DATE", "AVAILABLE"]
        assert lines[1].split() == ["demo", "Canary", "Paused", "1/5", "20", "4/5", "5", "1",
                                    "4"]

    def test_all_namespaces_puts_the_namespace_first_and_wide_adds_columns(self) -> None:
        lines = render_list(self.ROLLOUTS, all_namespaces=True, wide=True,
                            now=NOW).splitlines()
        assert lines[0].split()[0] == "NAMESPACE"
        assert lines[0].split()[-3:] == ["AGE", "IMAGES", "MESSAGE"]
        assert [line.split()[:2] for line in lines[1:]] == [["default", "demo"],
                                                            ["shop", "api"]]


@pytest.mark.parametrize(("seconds", "text"), [
    (42, "42s"), (190, "3m10s"), (95 * 60, "95m"), (5 * 3600 + 720, "5h12m"),
    (30 * 3600, "30h"), (76 * 3600, "3d4h"), (12 * 86400, "12d")])
def test_age_reads_like_kubectl(seconds: int, text: str) -> None:
    assert age(ago(seconds), NOW) == text
