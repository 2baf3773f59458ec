"""An Application's status from one comparison: rows, health, sync, conditions, one patch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.app_status import (
    Observation,
    ResourceRow,
    app_health,
    build_rows,
    build_status,
    images_of,
    merge_conditions,
    merge_patch,
    transition_events,
)
from reconciler.health import Health
from reconciler.tracking import ResourceKey, resource_key, with_tracking
from rollouts.api.phases import HealthStatusCode, SyncStatusCode

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
APP = "shop"


def deployment(name: str = "web", image: str = "nginx:1", *, ready: bool = True,
               wave: int | None = None) -> dict[str, Any]:
    annotations = {"argocd.argoproj.io/sync-wave": str(wave)} if wave is not None else {}
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "web", "generation": 1,
                     "annotations": annotations},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "main", "image": image}]}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "availableReplicas": 1 if ready else 0},
    }
    return with_tracking(obj, APP)


def config_map(name: str) -> dict[str, Any]:
    return with_tracking({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name, "namespace": "web"}}, APP)


def hook_job(name: str, complete: bool = True) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    return with_tracking({"apiVersion": "batch/v1", "kind": "Job",
                          "metadata": {"name": name, "namespace": "web", "annotations": {
                              "argocd.argoproj.io/hook": "PreSync"}},
                          "status": {"conditions": conditions}}, APP)


def observation(rows: list[ResourceRow] | None, **fields: Any) -> Observation:
    return Observation(revision=fields.pop("revision", "abc"),
                       source={"repoURL": "git://x/apps", "path": "web"},
                       destination={"namespace": "web"}, source_type="Directory", rows=rows,
                       **fields)


class TestRows:
    def test_given_objects_in_sync_when_built_then_each_is_synced_with_its_health(self) -> None:
        live = deployment()
        rows = build_rows([deployment()], {resource_key(live): live}, [live],
                          {resource_key(live): False})
        assert [row.entry() for row in rows] == [{
            "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web",
            "name": "web", "status": "Synced", "health": {"status": "Healthy"}}]

    def test_a_missing_object_is_out_of_sync_and_missing(self) -> None:
        rows = build_rows([deployment()], {}, [], {})
        assert rows[0].status is SyncStatusCode.OUT_OF_SYNC
        assert rows[0].health is not None
        assert rows[0].health.status is HealthStatusCode.MISSING

    def test_a_tracked_object_that_left_git_requires_pruning(self) -> None:
        old = config_map("old")
        rows = build_rows([], {}, [old], {})
        assert rows[0].entry()["requiresPruning"] is True
        assert rows[0].status is SyncStatusCode.OUT_OF_SYNC

    def test_hooks_are_listed_from_the_live_side_and_never_count_for_health(self) -> None:
        desired_hook = hook_job("migrate", complete=False)
        live_hook = hook_job("migrate", complete=False)
        rows = build_rows([desired_hook], {}, [live_hook], {})
        assert [row.entry() for row in rows] == [{
            "group": "batch", "version": "v1", "kind": "Job", "namespace": "web",
            "name": "migrate", "health": {"status": "Progressing", "message": "Job is running"},
            "hook": True}]
        assert app_health(rows).status is HealthStatusCode.HEALTHY

    def test_rows_are_sorted_and_carry_their_wave(self) -> None:
        desired = [deployment("b", wave=2), config_map("a"), deployment("a")]
        rows = build_rows(desired, {}, [], {})
        assert [(r.key.kind, r.key.name, r.sync_wave) for r in rows] == [
            ("ConfigMap", "a", None), ("Deployment", "a", None), ("Deployment", "b", 2)]


class TestHealthAndImages:
    def test_app_health_is_the_worst_resource_with_its_message(self) -> None:
        progressing = deployment("slow", ready=False)
        healthy = deployment("fast")
        live = {resource_key(o): o for o in (progressing, healthy)}
        rows = build_rows([progressing, healthy], live, [], {})
        health = app_health(rows)
        assert health.status is HealthStatusCode.PROGRESSING
        assert health.message.startswith("apps/Deployment web/slow: Waiting for rollout")

    def test_images_come_from_every_pod_template_kind(self) -> None:
        cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"image": "busybox"}]}}}}}}
        pod = {"kind": "Pod", "spec": {"initContainers": [{"image": "init:1"}],
                                       "containers": [{"image": "nginx:1"}]}}
        assert images_of([deployment(image="nginx:1"), cron, pod, config_map("x")]) == [
            "busybox", "init:1", "nginx:1"]


class TestStatus:
    def test_a_first_comparison_writes_every_field_once(self) -> None:
        live = deployment()
        rows = build_rows([deployment()], {resource_key(live): live}, [live],
                          {resource_key(live): False})
        status = build_status({}, observation(rows, images=["nginx:1"]), operation_state=None,
                              history=None, now=NOW, refresh=False)
        assert status == {
            "sync": {"status": "Synced", "revision": "abc", "comparedTo": {
                "source": {"repoURL": "git://x/apps", "path": "web"},
                "destination": {"namespace": "web"}}},
            "resources": [rows[0].entry()],
            "health": {"status": "Healthy"},
            "summary": {"images": ["nginx:1"]},
            "sourceType": "Directory",
            "reconciledAt": "2024-05-01T12:00:00Z",
        }

    def test_given_nothing_changed_when_built_again_then_no_patch_and_no_new_timestamp(
            self) -> None:
        rows = build_rows([deployment()], {}, [], {})
        first = build_status({}, observation(rows), operation_state=None, history=None,
                             now=NOW, refresh=False)
        later = NOW + timedelta(seconds=30)
        again = build_status(first, observation(rows), operation_state=None, history=None,
                             now=later, refresh=False)
        assert merge_patch(first, again) == {}

    def test_a_resync_tick_refreshes_reconciled_at_alone(self) -> None:
        rows = build_rows([deployment()], {}, [], {})
        first = build_status({}, observation(rows), operation_state=None, history=None,
                             now=NOW, refresh=False)
        tick = build_status(first, observation(rows), operation_state=None, history=None,
                            now=NOW + timedelta(minutes=2), refresh=True)
        assert merge_patch(first, tick) == {"reconciledAt": "2024-05-01T12:02:00Z"}

    def test_the_pass_that_ends_an_operation_holds_reconciled_at(self) -> None:
        rows = build_rows([deployment()], {}, [], {})
        first = build_status({}, observation(rows), operation_state=None, history=None,
                             now=NOW, refresh=False)
        ended = build_status(first, observation(rows), operation_state={"phase": "Succeeded"},
                             history=None, now=NOW + timedelta(seconds=9), refresh=False,
                             hold=True)
        assert ended["reconciledAt"] == first["reconciledAt"]
        assert ended["operationState"] == {"phase": "Succeeded"}

    def test_a_failed_comparison_keeps_resources_and_health_and_says_why(self) -> None:
        rows = build_rows([deployment()], {}, [], {})
        good = build_status({}, observation(rows), operation_state=None, history=None,
                            now=NOW, refresh=False)
        failed = build_status(
            good, observation(None, conditions=[("ComparisonError", "bad YAML")]),
            operation_state=None, history=None, now=NOW, refresh=False)
        assert failed["sync"]["status"] == "Unknown"
        assert failed["resources"] == good["resources"]
        assert failed["health"] == good["health"]
        assert failed["conditions"] == [{"type": "ComparisonError", "message": "bad YAML",
                                         "lastTransitionTime": "2024-05-01T12:00:00Z"}]

    def test_operation_state_and_history_are_set_or_removed(self) -> None:
        state = {"phase": "Succeeded"}
        with_state = build_status({}, observation([]), operation_state=state,
                                  history=[{"id": 0}], now=NOW, refresh=False)
        assert with_state["operationState"] == state
        assert with_state["history"] == [{"id": 0}]
        without = build_status(with_state, observation([]), operation_state=None,
                               history=None, now=NOW, refresh=False)
        assert "operationState" not in without and "history" not in without

    def test_keys_we_do_not_own_are_kept(self) -> None:
        status = build_status({"controllerNamespace": "argocd"}, observation([]),
                              operation_state=None, history=None, now=NOW, refresh=False)
        assert status["controllerNamespace"] == "argocd"


class TestConditions:
    def test_an_unchanged_condition_keeps_its_transition_time(self) -> None:
        first = merge_conditions(None, [("ComparisonError", "x")], NOW)
        later = merge_conditions(first, [("ComparisonError", "x"), ("SyncError", "y")],
                                 NOW + timedelta(minutes=1))
        assert later == [
            {"type": "ComparisonError", "message": "x",
             "lastTransitionTime": "2024-05-01T12:00:00Z"},
            {"type": "SyncError", "message": "y", "lastTransitionTime": "2024-05-01T12:01:00Z"},
        ]

    def test_a_repeated_condition_is_listed_once(self) -> None:
        assert len(merge_conditions(None, [("A", "m"), ("A", "m")], NOW)) == 1


class TestPatchAndEvents:
    def test_merge_patch_sets_changes_and_nulls_removed_keys(self) -> None:
        old = {"a": 1, "b": {"c": 1, "d": 2}, "e": [1]}
        new = {"a": 1, "b": {"c": 2}, "e": [1, 2], "f": "x"}
        assert merge_patch(old, new) == {"b": {"c": 2, "d": None}, "e": [1, 2], "f": "x"}

    def test_sync_and_health_transitions_are_events(self) -> None:
        old = {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}
        new = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
        assert transition_events(old, new) == [
            ("Normal", "ResourceUpdated", "Updated sync status: OutOfSync -> Synced"),
            ("Normal", "ResourceUpdated", "Updated health status: Progressing -> Healthy")]
        assert transition_events(new, new) == []


def test_a_row_entry_leaves_out_what_is_empty() -> None:
    row = ResourceRow(ResourceKey("", "Namespace", "", "web"), "v1", SyncStatusCode.SYNCED,
                      Health(HealthStatusCode.HEALTHY))
    assert row.entry() == {"version": "v1", "kind": "Namespace", "name": "web",
                           "status": "Synced", "health": {"status": "Healthy"}}
