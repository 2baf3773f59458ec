"""The CLI on blue-green Rollouts (rollout_view, rollout_controls), from literal objects
that follow the blue-green status contract: `status.blueGreen.activeSelector` /
`previewSelector`, a BlueGreenPause pause condition, no step index, no canary status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.cli.rollout_controls import (
    Patch,
    abort_patch,
    promote_patches,
    retry_patch,
    undo_patch,
)
from rollouts.cli.rollout_view import (
    actual_weight,
    render_list,
    render_tree,
    replica_set_tags,
    scale_down_delay,
    set_weight,
    status_line,
    strategy_name,
    waiting_for,
)

NOW = datetime(2026, 12, 3, 13, 0, 0, tzinfo=UTC)
BLUE, GREEN = "58c4f7d9c", "6f7c9d8b5"


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rollout(status: dict[str, Any] | None = None, **blue_green: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "shop", "uid": "uid-demo", "generation": 2,
                     "creationTimestamp": ago(3600)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {"metadata": {"labels": {"app": "demo"}},
                         "spec": {"containers": [{"name": "app", "image": "demo:green"}]}},
            "strategy": {"blueGreen": {"activeService": "demo-active",
                                       "previewService": "demo-preview",
                                       "autoPromotionEnabled": False, **blue_green}},
        },
        "status": {"observedGeneration": "2", "currentPodHash": GREEN, "stableRS": BLUE,
                   **(status or {})},
    }


PAUSED = {
    "phase": "Paused", "message": "BlueGreenPause", "controllerPause": True,
    "pauseConditions": [{"reason": "BlueGreenPause", "startTime": ago(20)}],
    "blueGreen": {"activeSelector": BLUE, "previewSelector": GREEN},
    "replicas": 4, "updatedReplicas": 2, "readyReplicas": 4, "availableReplicas": 4,
    "selector": f"app=demo,rollouts-pod-template-hash={BLUE}",
}


def replica_set(pod_hash: str, revision: int, image: str, replicas: int = 2,
                annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": f"demo-{pod_hash}", "creationTimestamp": ago(60 * revision),
                     "labels": {"app": "demo", "rollouts-pod-template-hash": pod_hash},
                     "annotations": {"rollout.argoproj.io/revision": str(revision),
                                     **(annotations or {})},
                     "ownerReferences": [{"kind": "Rollout", "name": "demo",
                                          "uid": "uid-demo", "controller": True}]},
        "spec": {"replicas": replicas,
                 "template": {"metadata": {"labels": {
                     "app": "demo", "rollouts-pod-template-hash": pod_hash}},
                     "spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas},
    }


ACTIVE_RS = replica_set(BLUE, 1, "demo:blue")
PREVIEW_RS = replica_set(GREEN, 2, "demo:green")


def pod(name: str, pod_hash: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": ago(30),
                         "labels": {"rollouts-pod-template-hash": pod_hash}},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": True, "restartCount": 0}]}}


PRE_RUN = {"metadata": {"name": f"demo-{GREEN}-2-pre", "creationTimestamp": ago(15),
                        "labels": {"rollouts-pod-template-hash": GREEN,
                                   "rollout-type": "PrePromotion"}},
           "status": {"phase": "Successful", "metricResults": [
               {"name": "smoke", "phase": "Successful", "successful": 1, "failed": 0}]}}


class TestTags:
    def test_paused_for_promotion_the_old_set_is_stable_and_active_the_new_one_preview(
            self) -> None:
        paused = rollout(PAUSED)
        assert replica_set_tags(paused, ACTIVE_RS) == ["stable", "active"]
        assert replica_set_tags(paused, PREVIEW_RS) == ["preview"]

    def test_after_promotion_the_new_set_is_active_and_once_analysed_stable(self) -> None:
        promoted = rollout({"phase": "Progressing",
                            "blueGreen": {"activeSelector": GREEN, "previewSelector": GREEN}})
        assert replica_set_tags(promoted, PREVIEW_RS) == ["active"]  # active wins, as Argo
        assert replica_set_tags(promoted, ACTIVE_RS) == ["stable"]
        healthy = rollout({"phase": "Healthy", "stableRS": GREEN,
                           "blueGreen": {"activeSelector": GREEN, "previewSelector": GREEN}})
        assert replica_set_tags(healthy, PREVIEW_RS) == ["stable", "active"]
        assert replica_set_tags(healthy, ACTIVE_RS) == []

    def test_without_a_preview_service_there_is_no_preview_tag(self) -> None:
        no_preview = rollout({**PAUSED, "blueGreen": {"activeSelector": BLUE}})
        assert replica_set_tags(no_preview, PREVIEW_RS) == []

    def test_a_canary_keeps_stable_and_canary(self) -> None:
        canary = rollout(PAUSED)
        canary["spec"]["strategy"] = {"canary": {"steps": [{"pause": {}}]}}
        assert replica_set_tags(canary, ACTIVE_RS) == ["stable"]
        assert replica_set_tags(canary, PREVIEW_RS) == ["canary"]

    @pytest.mark.parametrize(("deadline", "shown"), [
        (NOW + timedelta(seconds=25), "delay:25s"),
        (NOW + timedelta(seconds=150), "delay:2m30s"),
        (NOW - timedelta(seconds=1), "delay:passed"),
    ])
    def test_a_set_waiting_out_its_scale_down_delay_shows_it(
            self, deadline: datetime, shown: str) -> None:
        old = replica_set(BLUE, 1, "demo:blue", annotations={
            "scale-down-deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert scale_down_delay(old, NOW) == shown
        assert scale_down_delay(ACTIVE_RS, NOW) == ""


class TestHeaderAndTree:
    def render(self) -> list[str]:
        pods = [pod(f"demo-{BLUE}-a", BLUE), pod(f"demo-{BLUE}-b", BLUE),
                pod(f"demo-{GREEN}-a", GREEN), pod(f"demo-{GREEN}-b", GREEN)]
        return render_tree(rollout(PAUSED), [ACTIVE_RS, PREVIEW_RS], pods, [PRE_RUN],
                           NOW).splitlines()

    def test_the_header_says_blue_green_and_marks_images_without_step_lines(self) -> None:
        lines = self.render()
        assert lines[:8] == [
            "Name:            demo",
            "Namespace:       shop",
            "Status:          ॥ Paused   (BlueGreenPause)",
            "Strategy:        BlueGreen",
            "Images:          demo:blue (stable, active)",
            "                 demo:green (preview)",
            "Replicas:        Desired 2  Current 4  Updated 2  Ready 4  Available 4",
            "Waiting for:     promote (`rollouts promote demo`)",
        ]
        assert not any(line.lstrip().startswith(("Step:", "SetWeight:", "ActualWeight:"))
                       for line in lines)

    def test_replica_set_rows_carry_argos_tags(self) -> None:
        lines = self.render()
        width = next(line for line in lines if line.startswith("NAME ")).index("KIND")
        rows = {line[:width].split()[-1]: line[width:] for line in lines
                if line[:width].rstrip().endswith((BLUE, GREEN))}
        assert rows[f"demo-{BLUE}"].endswith("stable,active  2/2 ready")
        assert rows[f"demo-{GREEN}"].endswith("preview  2/2 ready")

    def test_the_pre_promotion_run_sits_under_its_revision(self) -> None:
        lines = self.render()
        width = next(line for line in lines if line.startswith("NAME ")).index("KIND")
        names = [line[:width].rstrip() for line in lines[lines.index("") + 3:]]
        assert names[:5] == ["├──# revision:2", f"│  ├──⧉ demo-{GREEN}",
                             f"│  │  ├──□ demo-{GREEN}-a", f"│  │  └──□ demo-{GREEN}-b",
                             f"│  └──\u03b1 demo-{GREEN}-2-pre"]

    def test_an_old_set_in_its_scale_down_delay(self) -> None:
        promoted = rollout({"phase": "Healthy", "stableRS": GREEN,
                            "blueGreen": {"activeSelector": GREEN, "previewSelector": GREEN}})
        old = replica_set(BLUE, 1, "demo:blue", annotations={
            "scale-down-deadline": (NOW + timedelta(seconds=25)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")})
        text = render_tree(promoted, [old, PREVIEW_RS], [], [], NOW)
        assert "delay:25s  2/2 ready" in text
        assert "stable,active  2/2 ready" in text
        assert "Images:          demo:green (stable, active)" in text


class TestStatusAndList:
    def test_status_line_has_no_step(self) -> None:
        assert status_line(rollout(PAUSED)) == "Paused - BlueGreenPause"
        assert status_line(rollout({"phase": "Healthy"})) == "Healthy"

    def test_no_weights(self) -> None:
        assert set_weight(rollout(PAUSED)) is None
        assert actual_weight(rollout(PAUSED), [ACTIVE_RS, PREVIEW_RS]) is None

    def test_the_list_shows_blue_green_with_no_step_or_weight(self) -> None:
        lines = render_list([rollout(PAUSED)], all_namespaces=False, wide=False,
                            now=NOW).splitlines()
        assert lines[1].split() == ["demo", "BlueGreen", "Paused", "-", "-", "4/4", "2", "2",
                                    "4"]

    def test_strategy_names(self) -> None:
        no_strategy = rollout()
        no_strategy["spec"]["strategy"] = {}
        assert (strategy_name(rollout()), strategy_name(no_strategy)) == ("BlueGreen", "")


class TestWaitingFor:
    def test_auto_promotion_seconds_count_down_and_promote_still_works(self) -> None:
        # Argo's controller: only autoPromotionEnabled false pauses, and then
        # autoPromotionSeconds ends the pause that long after its startTime.
        timed = rollout(PAUSED, autoPromotionSeconds=60)
        assert waiting_for(timed, NOW) == [
            "auto-promotion in 40s, or promote (`rollouts promote demo`)"]

    def test_without_auto_promotion_seconds_it_waits_for_promote(self) -> None:
        assert waiting_for(rollout(PAUSED), NOW) == ["promote (`rollouts promote demo`)"]
        # With auto-promotion on, the seconds count nothing (no pause is expected).
        on = rollout(PAUSED, autoPromotionEnabled=None, autoPromotionSeconds=60)
        assert waiting_for(on, NOW) == ["promote (`rollouts promote demo`)"]

    def test_pre_and_post_promotion_runs_are_named(self) -> None:
        running = rollout({"phase": "Progressing", "blueGreen": {
            "activeSelector": BLUE, "previewSelector": GREEN,
            "prePromotionAnalysisRunStatus": {"name": f"demo-{GREEN}-2-pre",
                                              "status": "Running"}}})
        assert waiting_for(running, NOW) == [f"pre-promotion analysis run demo-{GREEN}-2-pre "
                                             "(Running)"]
        post = rollout({"phase": "Progressing", "blueGreen": {
            "activeSelector": GREEN, "previewSelector": GREEN,
            "prePromotionAnalysisRunStatus": {"name": "p", "status": "Successful"},
            "postPromotionAnalysisRunStatus": {"name": f"demo-{GREEN}-2-post",
                                               "status": "Running"}}})
        assert waiting_for(post, NOW) == [f"post-promotion analysis run demo-{GREEN}-2-post "
                                          "(Running)"]

    def test_aborted_says_how_to_retry(self) -> None:
        aborted = rollout({"phase": "Degraded", "abort": True,
                           "message": "RolloutAborted: Rollout aborted update to revision 2",
                           "blueGreen": {"activeSelector": BLUE, "previewSelector": BLUE}})
        assert waiting_for(aborted, NOW)[0].endswith("`rollouts retry rollout demo`")


def status_patch(**fields: Any) -> Patch:
    return Patch({"status": fields}, "merge", "status")


class TestControls:
    def test_promote_clears_the_blue_green_pause(self) -> None:
        assert promote_patches(rollout(PAUSED)) == [status_patch(pauseConditions=None)]

    def test_promote_never_raises_a_step_index_on_blue_green(self) -> None:
        # Not paused (e.g. waiting for the preview pods): nothing to promote, even with
        # a stray currentStepIndex left from a canary spec.
        assert promote_patches(rollout({"phase": "Progressing"})) == []
        assert promote_patches(rollout({"phase": "Progressing", "currentStepIndex": 0})) == []

    def test_promote_resumes_a_rollout_paused_by_hand(self) -> None:
        by_hand = rollout(PAUSED)
        by_hand["spec"]["paused"] = True
        assert promote_patches(by_hand) == [Patch({"spec": {"paused": False}}),
                                            status_patch(pauseConditions=None)]

    def test_promote_full_sets_promote_full_until_the_new_hash_is_stable(self) -> None:
        assert promote_patches(rollout(PAUSED), full=True) == [status_patch(promoteFull=True)]
        done = rollout({"phase": "Healthy", "stableRS": GREEN})
        assert promote_patches(done, full=True) == []
        # The controller has not seen the latest spec yet: the old hashes prove nothing.
        unseen = rollout({"phase": "Healthy", "stableRS": GREEN, "observedGeneration": "1"})
        assert promote_patches(unseen, full=True) == [status_patch(promoteFull=True)]

    def test_abort_and_retry_are_the_same_patches_as_for_a_canary(self) -> None:
        assert abort_patch() == status_patch(abort=True)
        assert retry_patch() == status_patch(abort=False)

    def test_undo_during_the_preview_goes_back_to_the_active_revision(self) -> None:
        revision, patch = undo_patch(rollout(PAUSED), [ACTIVE_RS, PREVIEW_RS])
        assert revision == 1
        assert patch.patch_type == "json" and isinstance(patch.body, list)
        template = patch.body[0]["value"]
        assert template["spec"]["containers"][0]["image"] == "demo:blue"
        assert "rollouts-pod-template-hash" not in template["metadata"]["labels"]
