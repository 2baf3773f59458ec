"""`KubeClient` against the real local control plane: CRUD, apply, status, errors, events."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from rollouts.kube import (
    CONFIG_MAP,
    EVENT,
    ROLLOUT,
    AlreadyExists,
    Conflict,
    Invalid,
    KubeClient,
    NotFound,
)

if TYPE_CHECKING:
    from tests.conftest import TestCluster

RECIPE: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "recipe"},
          "data": {"flour": "500g"}}


def minimal_rollout(name: str = "r") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
        },
    }


@pytest.fixture
def kube(cluster: TestCluster) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield client
    client.close()


class TestCrud:
    def test_a_config_map_from_create_to_delete(self, kube: KubeClient, namespace: str) -> None:
        created = kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE))
        assert created["metadata"]["namespace"] == namespace
        assert created["metadata"]["uid"]

        fetched = kube.get(CONFIG_MAP, namespace, "recipe")
        assert fetched["data"] == {"flour": "500g"}

        fetched["data"]["sugar"] = "100g"
        replaced = kube.replace(CONFIG_MAP, namespace, fetched)
        assert replaced["data"] == {"flour": "500g", "sugar": "100g"}

        patched = kube.patch(CONFIG_MAP, namespace, "recipe", {"data": {"sugar": None}})
        assert patched["data"] == {"flour": "500g"}
        json_patched = kube.patch(CONFIG_MAP, namespace, "recipe",
                                  [{"op": "add", "path": "/data/salt", "value": "5g"}], "json")
        assert json_patched["data"]["salt"] == "5g"

        listed = kube.list(CONFIG_MAP, namespace, field_selector="metadata.name=recipe")
        assert [i["metadata"]["name"] for i in listed.items] == ["recipe"]
        assert listed.items[0]["kind"] == "ConfigMap" and listed.resource_version

        assert kube.delete(CONFIG_MAP, namespace, "recipe") is True
        with pytest.raises(NotFound):
            kube.get(CONFIG_MAP, namespace, "recipe")
        assert kube.delete(CONFIG_MAP, namespace, "recipe") is False

    def test_list_selects_by_label(self, kube: KubeClient, namespace: str) -> None:
        for name, tier in [("a", "web"), ("b", "web"), ("c", "db")]:
            kube.create(CONFIG_MAP, namespace,
                        {"metadata": {"name": name, "labels": {"tier": tier}}})
        web = kube.list(CONFIG_MAP, namespace, label_selector="tier=web")
        assert sorted(i["metadata"]["name"] for i in web.items) == ["a", "b"]

    def test_dry_run_changes_nothing(self, kube: KubeClient, namespace: str) -> None:
        kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE), dry_run=True)
        with pytest.raises(NotFound):
            kube.get(CONFIG_MAP, namespace, "recipe")

    def test_requests_are_counted(self, kube: KubeClient, namespace: str) -> None:
        before = kube.requests_by_verb()
        kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE))
        kube.get(CONFIG_MAP, namespace, "recipe")
        after = kube.requests_by_verb()
        assert after.get("create", 0) - before.get("create", 0) == 1
        assert after.get("get", 0) - before.get("get", 0) == 1

    def test_discovery_finds_kinds_we_do_not_know(self, kube: KubeClient) -> None:
        role = kube.discover_kind("rbac.authorization.k8s.io/v1", "Role")
        assert (role.plural, role.namespaced) == ("roles", True)
        priority = kube.discover_kind("scheduling.k8s.io/v1", "PriorityClass")
        assert (priority.plural, priority.namespaced) == ("priorityclasses", False)
        assert kube.discover_kind("argoproj.io/v1alpha1", "Rollout") is ROLLOUT
        with pytest.raises(NotFound, match="is its CRD installed"):
            kube.discover_kind("apps/v1", "Widget")


class TestServerSideApply:
    def test_apply_twice_is_a_no_op(self, kube: KubeClient, namespace: str) -> None:
        first = kube.apply(CONFIG_MAP, namespace, copy.deepcopy(RECIPE), field_manager="chef")
        second = kube.apply(CONFIG_MAP, namespace, copy.deepcopy(RECIPE), field_manager="chef")
        assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        assert second["data"] == {"flour": "500g"}

    def test_another_managers_field_survives_our_apply(
        self, kube: KubeClient, namespace: str
    ) -> None:
        kube.apply(CONFIG_MAP, namespace, copy.deepcopy(RECIPE), field_manager="chef")
        kube.apply(CONFIG_MAP, namespace,
                   {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "recipe"}, "data": {"garnish": "basil"}},
                   field_manager="sous-chef")
        ours = copy.deepcopy(RECIPE)
        ours["data"]["flour"] = "450g"
        result = kube.apply(CONFIG_MAP, namespace, ours, field_manager="chef")
        assert result["data"] == {"flour": "450g", "garnish": "basil"}
        managers = {entry["manager"] for entry in result["metadata"]["managedFields"]}
        assert {"chef", "sous-chef"} <= managers

    def test_apply_dry_run_shows_the_result_without_writing(
        self, kube: KubeClient, namespace: str
    ) -> None:
        preview = kube.apply(CONFIG_MAP, namespace, copy.deepcopy(RECIPE),
                             field_manager="chef", dry_run=True)
        assert preview["data"] == {"flour": "500g"}
        with pytest.raises(NotFound):
            kube.get(CONFIG_MAP, namespace, "recipe")


class TestStatus:
    def test_patch_status_writes_the_status_subresource_only(
        self, kube: KubeClient, namespace: str
    ) -> None:
        created = kube.create(ROLLOUT, namespace, minimal_rollout())
        generation = created["metadata"]["generation"]
        patched = kube.patch_status(ROLLOUT, namespace, "r", {"status": {
            "phase": "Paused", "message": "waiting at step 1", "currentStepIndex": 1}})
        assert patched["status"]["phase"] == "Paused"
        assert patched["status"]["currentStepIndex"] == 1
        assert patched["metadata"]["generation"] == generation
        # A status written through the main resource is ignored by the server.
        kube.patch(ROLLOUT, namespace, "r", {"status": {"phase": "Degraded"}})
        assert kube.get(ROLLOUT, namespace, "r")["status"]["phase"] == "Paused"


class TestErrorsFromTheServer:
    def test_not_found(self, kube: KubeClient, namespace: str) -> None:
        with pytest.raises(NotFound, match='configmaps "nothing" not found') as caught:
            kube.get(CONFIG_MAP, namespace, "nothing")
        assert not caught.value.temporary and caught.value.status == 404

    def test_already_exists(self, kube: KubeClient, namespace: str) -> None:
        kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE))
        with pytest.raises(AlreadyExists, match="already exists"):
            kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE))

    def test_a_stale_write_is_a_conflict(self, kube: KubeClient, namespace: str) -> None:
        stale = kube.create(CONFIG_MAP, namespace, copy.deepcopy(RECIPE))
        kube.patch(CONFIG_MAP, namespace, "recipe", {"data": {"flour": "1kg"}})
        stale["data"]["flour"] = "2kg"
        with pytest.raises(Conflict) as caught:
            kube.replace(CONFIG_MAP, namespace, stale)
        assert caught.value.temporary and caught.value.status == 409

    def test_an_invalid_object_names_the_field(self, kube: KubeClient, namespace: str) -> None:
        with pytest.raises(Invalid) as caught:
            kube.create(CONFIG_MAP, namespace, {"metadata": {"name": "Not_A_Name"}})
        assert not caught.value.temporary
        assert "metadata.name" in [cause.field for cause in caught.value.causes]

    def test_the_rollout_schema_refuses_a_wrong_type(
        self, kube: KubeClient, namespace: str
    ) -> None:
        bad = minimal_rollout()
        bad["spec"]["replicas"] = "three"
        with pytest.raises(Invalid) as caught:
            kube.create(ROLLOUT, namespace, bad)
        assert "spec.replicas" in [cause.field for cause in caught.value.causes]


class TestEvents:
    def test_emit_event_records_an_event_about_the_object(
        self, kube: KubeClient, namespace: str
    ) -> None:
        rollout = kube.create(ROLLOUT, namespace, minimal_rollout())
        reason = f"Test{uuid.uuid4().hex[:6]}"
        assert kube.emit_event(rollout, "Warning", reason, "step 1 analysis failed") is True
        events = kube.list(EVENT, namespace,
                           field_selector=f"involvedObject.uid={rollout['metadata']['uid']}")
        (event,) = [e for e in events.items if e["reason"] == reason]
        assert event["type"] == "Warning"
        assert event["message"] == "step 1 analysis failed"
        assert event["involvedObject"]["kind"] == "Rollout"
        assert event["source"]["component"] == "rollouts-controller"
        assert event["count"] == 1

    def test_a_keyed_event_is_recorded_once(self, kube: KubeClient, namespace: str) -> None:
        rollout = kube.create(ROLLOUT, namespace, minimal_rollout())
        key = "00000000000004d2" + "ab" * 8
        assert kube.emit_event(rollout, "Normal", "AnalysisRunCreated", "Created", key=key)
        assert not kube.emit_event(rollout, "Normal", "AnalysisRunCreated", "Created", key=key)
        events = kube.list(EVENT, namespace,
                           field_selector=f"involvedObject.uid={rollout['metadata']['uid']}")
        assert [e["reason"] for e in events.items] == ["AnalysisRunCreated"]
