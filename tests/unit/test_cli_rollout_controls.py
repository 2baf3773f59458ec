"""The controls' patches (rollouts.cli.rollout_controls): what each command sends."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.cli.errors import UsageProblem
from rollouts.cli.rollout_controls import (
    Patch,
    abort_patch,
    parse_image_assignments,
    pause_patch,
    promote_patches,
    restart_patch,
    retry_patch,
    rollout_template,
    set_image_patch,
    undo_patch,
)
from rollouts.core.observed import HASH_LABEL, pod_template_hash

STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]


def rollout(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "shop", "uid": "uid-demo"},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {
                    "initContainers": [{"name": "setup", "image": "busybox:1"}],
                    "containers": [{"name": "app", "image": "demo:blue"},
                                   {"name": "proxy", "image": "envoy:1"}],
                },
            },
            "strategy": {"canary": {"steps": STEPS}},
            **spec,
        },
        "status": status or {},
    }


def status_patch(**fields: Any) -> Patch:
    return Patch({"status": fields}, "merge", "status")


class TestPromote:
    def test_a_pause_of_the_controller_is_cleared_so_it_moves_on_one_step(self) -> None:
        paused = rollout({"currentStepIndex": 1, "pauseConditions": [
            {"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]})
        assert promote_patches(paused) == [status_patch(pauseConditions=None)]

    def test_a_rollout_paused_by_hand_is_resumed_without_skipping_a_step(self) -> None:
        assert promote_patches(rollout({"currentStepIndex": 0}, paused=True)) == [
            Patch({"spec": {"paused": False}})]

    def test_paused_by_hand_and_by_the_controller_clears_both(self) -> None:
        both = rollout({"currentStepIndex": 1, "pauseConditions": [{"reason": "x"}]},
                       paused=True)
        assert promote_patches(both) == [Patch({"spec": {"paused": False}}),
                                         status_patch(pauseConditions=None)]

    def test_waiting_on_a_set_weight_step_skips_it(self) -> None:
        assert promote_patches(rollout({"currentStepIndex": 2})) == [
            status_patch(currentStepIndex=3)]

    def test_nothing_to_promote_past_the_last_step_or_before_the_controller_saw_it(
            self) -> None:
        assert promote_patches(rollout({"currentStepIndex": 4})) == []
        assert promote_patches(rollout()) == []

    def test_full_sets_promote_full_and_resumes_a_paused_rollout(self) -> None:
        assert promote_patches(rollout({"currentStepIndex": 1}), full=True) == [
            status_patch(promoteFull=True)]
        assert promote_patches(rollout({}, paused=True), full=True) == [
            Patch({"spec": {"paused": False}}), status_patch(promoteFull=True)]

    def test_status_patches_go_to_the_status_subresource_spec_patches_do_not(self) -> None:
        assert status_patch().subresource == "status"
        assert pause_patch().subresource is None


def test_abort_retry_pause_restart_bodies() -> None:
    assert abort_patch() == status_patch(abort=True)
    assert retry_patch() == status_patch(abort=False)
    assert pause_patch() == Patch({"spec": {"paused": True}})
    now = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    assert restart_patch(now) == Patch({"spec": {"restartAt": "2026-03-04T05:06:08Z"}})


def test_a_pod_created_in_the_same_second_as_the_restart_is_older_than_restart_at() -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    body = restart_patch(now).body
    assert isinstance(body, dict)
    restart_at = body["spec"]["restartAt"]
    pod_created = "2026-03-04T05:06:07Z"  # creation timestamps are whole seconds
    assert pod_created < restart_at


class TestSetImage:
    def test_assignments_are_parsed(self) -> None:
        assert parse_image_assignments(("app=demo:green", "*=x/y:1@sha256:ab")) == [
            ("app", "demo:green"), ("*", "x/y:1@sha256:ab")]

    @pytest.mark.parametrize("bad", ["demo:green", "=img", "app=", "app = x"])
    def test_bad_syntax_says_how_to_write_it(self, bad: str) -> None:
        with pytest.raises(UsageProblem, match="write NAME=IMAGE"):
            parse_image_assignments([bad])

    def test_a_named_container_is_patched_at_its_index_guarded_by_a_name_test(self) -> None:
        patch = set_image_patch(rollout(), [("proxy", "envoy:2")])
        assert patch.patch_type == "json"
        assert patch.body == [
            {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "proxy"},
            {"op": "replace", "path": "/spec/template/spec/containers/1/image",
             "value": "envoy:2"},
        ]

    def test_star_sets_every_container_init_containers_included(self) -> None:
        patch = set_image_patch(rollout(), [("*", "all:1")])
        paths = [op["path"] for op in patch.body if op["op"] == "replace"]  # type: ignore[index]
        assert paths == ["/spec/template/spec/initContainers/0/image",
                         "/spec/template/spec/containers/0/image",
                         "/spec/template/spec/containers/1/image"]

    def test_an_unknown_container_is_named_with_the_existing_ones(self) -> None:
        with pytest.raises(UsageProblem) as raised:
            set_image_patch(rollout(), [("web", "x:1")])
        assert str(raised.value) == (
            "rollout 'demo' has no container 'web'; its containers: app, proxy (init: setup)")

    def test_a_workload_ref_rollout_is_sent_to_its_deployment(self) -> None:
        ref = rollout(workloadRef={"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "web"})
        del ref["spec"]["template"]
        with pytest.raises(UsageProblem, match=r"set the image there.*deployment/web"):
            set_image_patch(ref, [("app", "x:1")])


def replica_set(revision: int, pod_hash: str, image: str, owner: str = "uid-demo",
                created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"demo-{pod_hash}", "creationTimestamp": created,
            "labels": {"app": "demo", "rollouts-pod-template-hash": pod_hash},
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Rollout", "name": "demo", "uid": owner}],
        },
        "spec": {"template": {
            "metadata": {"labels": {"app": "demo", "rollouts-pod-template-hash": pod_hash}},
            "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


class TestUndo:
    HISTORY = [replica_set(1, "h1", "demo:1"), replica_set(2, "h2", "demo:2"),
               replica_set(3, "h3", "demo:3"), replica_set(9, "hx", "other", owner="uid-x")]

    def test_default_is_the_previous_revision_without_our_hash_label(self) -> None:
        revision, patch = undo_patch(rollout({"currentPodHash": "h3"}), self.HISTORY)
        assert revision == 2
        assert patch == Patch([{"op": "replace", "path": "/spec/template", "value": {
            "metadata": {"labels": {"app": "demo"}},
            "spec": {"containers": [{"name": "app", "image": "demo:2"}]}}}], "json")

    def test_previous_is_relative_to_the_current_pod_hash_not_the_newest(self) -> None:
        revision, _ = undo_patch(rollout({"currentPodHash": "h2"}), self.HISTORY)
        assert revision == 1

    def test_to_revision_picks_that_one(self) -> None:
        revision, patch = undo_patch(rollout({"currentPodHash": "h3"}), self.HISTORY, 1)
        assert revision == 1
        assert "demo:1" in str(patch.body)

    def test_an_unknown_revision_lists_the_owned_ones(self) -> None:
        with pytest.raises(UsageProblem) as raised:
            undo_patch(rollout({"currentPodHash": "h3"}), self.HISTORY, 9)
        assert str(raised.value) == "rollout 'demo' has no revision 9; its revisions: 1, 2, 3"

    def test_nothing_older_than_the_first_revision(self) -> None:
        with pytest.raises(UsageProblem, match="no revision before 1"):
            undo_patch(rollout({"currentPodHash": "h1"}), self.HISTORY)

    def test_no_replica_sets_at_all(self) -> None:
        with pytest.raises(UsageProblem, match="no ReplicaSets"):
            undo_patch(rollout(), [])


class TestTemplateRecovery:
    """The API server fills defaults into a ReplicaSet's template; undo takes them out
    again when that gives back the ReplicaSet's own pod hash (so the controller finds it)."""

    WRITTEN: dict[str, Any] = {  # as the user wrote it in the Rollout
        "metadata": {"labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "app", "image": "demo:1",
                                 "ports": [{"containerPort": 8080}],
                                 "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}]}}

    @staticmethod
    def defaulted(template: dict[str, Any]) -> dict[str, Any]:
        """What the API server stores in a ReplicaSet made from `template`."""
        stored = copy.deepcopy(template)
        stored["metadata"]["labels"][HASH_LABEL] = pod_template_hash(template)
        stored["metadata"]["creationTimestamp"] = None
        stored["spec"].update({"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                               "schedulerName": "default-scheduler", "securityContext": {},
                               "terminationGracePeriodSeconds": 30})
        for container in stored["spec"]["containers"]:
            container.update({"imagePullPolicy": "IfNotPresent", "resources": {},
                              "terminationMessagePath": "/dev/termination-log",
                              "terminationMessagePolicy": "File"})
            for port in container.get("ports", []):
                port["protocol"] = "TCP"
            probe = container.get("readinessProbe")
            if probe:
                probe.update({"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                              "failureThreshold": 3})
                probe["httpGet"]["scheme"] = "HTTP"
        return stored

    def test_the_written_template_comes_back_exactly(self) -> None:
        stored = {"spec": {"template": self.defaulted(self.WRITTEN)}}
        assert rollout_template(stored) == self.WRITTEN

    def test_role_metadata_and_anti_affinity_the_controller_added_are_left_out(self) -> None:
        stored = self.defaulted(self.WRITTEN)
        stored["metadata"]["labels"]["role"] = "preview"
        stored["spec"]["affinity"] = {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchExpressions": [
                    {"key": HASH_LABEL, "operator": "In", "values": ["old"]}]}}]}}
        replica_set = {
            "metadata": {"annotations": {
                "rollout.argoproj.io/ephemeral-metadata": '{"labels":{"role":"preview"}}'}},
            "spec": {"template": stored}}
        assert rollout_template(replica_set) == self.WRITTEN

    def test_when_the_hash_does_not_confirm_it_the_stored_template_is_used(self) -> None:
        written = copy.deepcopy(self.WRITTEN)
        written["spec"]["restartPolicy"] = "Always"  # a default the user wrote out
        stored = self.defaulted(written)
        recovered = rollout_template({"spec": {"template": stored}})
        assert recovered["spec"]["restartPolicy"] == "Always"
        assert recovered["spec"]["containers"][0]["resources"] == {}
        assert HASH_LABEL not in recovered["metadata"]["labels"]
