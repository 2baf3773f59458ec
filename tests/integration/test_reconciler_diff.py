"""`diff_object` against the real API server: what is drift, and what is not.

Each test applies objects with our field manager (as a sync would), changes them the way
people and controllers do (kubectl patch, an HPA, status writes), and asks the diff.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.diff import IgnoreRule, ObjectDiff, apply_body, diff_object, sync_body
from reconciler.diff_settled import already_applied
from reconciler.tracking import with_tracking
from rollouts.kube import CONFIG_MAP, DEPLOYMENT, ROLLOUT, SECRET, KubeClient, kind_for

if TYPE_CHECKING:
    from tests.conftest import TestCluster

MANAGER = "rollouts-reconciler"


def deployment(namespace: str, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    return with_tracking({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": image,
                                         "ports": [{"containerPort": 80}]}]},
            },
            **spec,
        },
    }, "shop")


@pytest.fixture
def kube(cluster: TestCluster) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield client
    client.close()


def applied(kube: KubeClient, desired: dict[str, Any]) -> dict[str, Any]:
    """Apply as the sync does (our manager, forced) and return the live object."""
    kind = kube.discover_kind(desired["apiVersion"], desired["kind"])
    namespace = desired["metadata"].get("namespace")
    return kube.apply(kind, namespace, sync_body(desired, None), MANAGER, force=True)


def live_of(kube: KubeClient, desired: dict[str, Any]) -> dict[str, Any]:
    kind = kube.discover_kind(desired["apiVersion"], desired["kind"])
    return kube.get(kind, desired["metadata"].get("namespace"), desired["metadata"]["name"])


def diff(kube: KubeClient, desired: dict[str, Any], *rules: IgnoreRule) -> ObjectDiff:
    """The diff as the controller computes it; every call also checks that skipping the
    dry run of a settled object (`reconciler.diff_settled`) gives the server's verdict."""
    live = live_of(kube, desired)
    result = diff_object(kube, desired, live, field_manager=MANAGER, ignore=list(rules))
    asked = diff_object(kube, desired, live, field_manager=MANAGER, ignore=list(rules),
                        skip_settled=False)
    assert (result.changed, result.error, result.foreign_fields) == \
        (asked.changed, asked.error, asked.foreign_fields)
    if live is not None and already_applied(apply_body(desired), live, MANAGER):
        assert not asked.changed, asked.unified
    return result


def kubectl_patch(cluster: TestCluster, namespace: str, what: str, patch: dict[str, Any],
                  *flags: str) -> None:
    cluster.kubectl_run("-n", namespace, "patch", what, "-p", json.dumps(patch), *flags)


def removed(result: ObjectDiff, text: str) -> bool:
    """Whether the unified diff has a `-` line (the live side) containing `text`."""
    return any(line.startswith("-") and not line.startswith("---") and text in line
               for line in result.unified.splitlines())


def added(result: ObjectDiff, text: str) -> bool:
    return any(line.startswith("+") and not line.startswith("+++") and text in line
               for line in result.unified.splitlines())


IMAGE_PATCH = {"spec": {"template": {"spec": {"containers": [{"name": "main",
                                                               "image": "nginx:2"}]}}}}


class TestSettledObjectsNeedNoDryRun:
    """An object our manager applied as Git says is in sync without asking the server;
    any change to it (by a person, or in Git) goes back to the dry run."""

    def test_a_config_map_and_a_deployment_just_applied(self, cluster: TestCluster,
                                                        kube: KubeClient, namespace: str
                                                        ) -> None:
        config = with_tracking({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "settings", "namespace": namespace},
                                "data": {"a": "1", "b": "two"}}, "shop")
        web = deployment(namespace)
        del web["spec"]["template"]["spec"]["containers"][0]["ports"]
        for desired in (config, web):
            applied(kube, desired)
            assert already_applied(apply_body(desired), live_of(kube, desired), MANAGER)
            assert not diff(kube, desired).changed

        kubectl_patch(cluster, namespace, "configmap/settings", {"data": {"a": "2"}})
        assert not already_applied(apply_body(config), live_of(kube, config), MANAGER)
        assert diff(kube, config).changed
        kubectl_patch(cluster, namespace, "deployment/web", IMAGE_PATCH)
        assert diff(kube, web).changed

        less = copy.deepcopy(config)
        del less["data"]["b"]  # Git dropped a field we applied: the apply removes it
        applied(kube, config)
        assert not already_applied(apply_body(less), live_of(kube, less), MANAGER)
        assert diff(kube, less).changed
        assert kube.get(CONFIG_MAP, namespace, "settings")["data"] == {"a": "1", "b": "two"}


class TestNoDrift:
    def test_an_object_just_applied_is_in_sync_despite_defaulted_fields(
        self, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace)
        live = applied(kube, desired)
        assert live["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"  # defaulted

        result = diff(kube, desired)
        assert result.live_exists and not result.changed, result.unified
        assert result.unified == "" and result.error is None
        assert result.predicted is not None
        assert result.predicted["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"

    def test_a_service_with_a_server_allocated_cluster_ip_is_in_sync(
        self, kube: KubeClient, namespace: str
    ) -> None:
        desired = with_tracking({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }, "shop")
        live = applied(kube, desired)
        assert live["spec"]["clusterIP"]
        assert live["spec"]["ports"][0]["protocol"] == "TCP"

        result = diff(kube, desired)
        assert not result.changed, result.unified

    def test_replicas_set_by_another_manager_are_not_drift_when_git_leaves_them_out(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace)
        applied(kube, desired)
        kubectl_patch(cluster, namespace, "deployment/web", {"spec": {"replicas": 3}},
                      "--type=merge", "--field-manager=hpa-controller")

        result = diff(kube, desired)
        assert not result.changed, result.unified
        assert result.foreign_paths == []

    def test_status_written_by_a_controller_is_not_drift(
        self, kube: KubeClient, namespace: str
    ) -> None:
        desired = with_tracking({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "main", "image": "nginx"}]}},
                "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            },
        }, "shop")
        applied(kube, desired)
        kube.patch_status(ROLLOUT, namespace, "web",
                          {"status": {"phase": "Paused", "message": "CanaryPauseStep"}})

        result = diff(kube, desired)
        assert live_of(kube, desired)["status"]["phase"] == "Paused"
        assert not result.changed, result.unified

    def test_a_kind_unknown_to_the_client_is_discovered_and_compared(
        self, kube: KubeClient, namespace: str
    ) -> None:
        desired = with_tracking({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "reader", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        }, "shop")
        assert kind_for(desired["apiVersion"], desired["kind"]) is None
        applied(kube, desired)

        assert not diff(kube, desired).changed


class TestDrift:
    def test_an_image_changed_with_kubectl_is_drift(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace)
        applied(kube, desired)
        kubectl_patch(cluster, namespace, "deployment/web", IMAGE_PATCH)

        result = diff(kube, desired)
        assert result.changed and result.error is None
        assert removed(result, "image: nginx:2") and added(result, "image: nginx:1")
        assert result.unified.startswith("--- live\n+++ desired")
        assert "dnsPolicy" not in result.unified  # only the fields we apply are shown

    def test_a_new_image_in_git_is_drift(self, kube: KubeClient, namespace: str) -> None:
        applied(kube, deployment(namespace))
        result = diff(kube, deployment(namespace, image="nginx:3"))
        assert result.changed
        assert added(result, "image: nginx:3")

    def test_a_label_removed_from_git_is_drift(self, kube: KubeClient, namespace: str) -> None:
        desired = deployment(namespace)
        desired["metadata"]["labels"]["team"] = "checkout"
        applied(kube, desired)
        del desired["metadata"]["labels"]["team"]

        result = diff(kube, desired)
        assert result.changed and removed(result, "team: checkout")

    def test_a_missing_object_is_drift(self, kube: KubeClient, namespace: str) -> None:
        desired = deployment(namespace)
        result = diff_object(kube, desired, None, field_manager=MANAGER)
        assert result.changed and not result.live_exists and result.predicted is None
        assert added(result, "image: nginx:1") and not removed(result, "")

    def test_a_refused_dry_run_is_drift_with_the_servers_reason(
        self, kube: KubeClient, namespace: str
    ) -> None:
        applied(kube, deployment(namespace))
        changed_selector = deployment(namespace)
        changed_selector["spec"]["selector"]["matchLabels"]["tier"] = "front"
        changed_selector["spec"]["template"]["metadata"]["labels"]["tier"] = "front"

        result = diff(kube, changed_selector)
        assert result.changed and result.error is not None
        assert "immutable" in result.error

    def test_secret_values_never_appear_in_the_diff(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = with_tracking({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "stringData": {"password": "hunter2"},
        }, "shop")
        applied(kube, desired)
        assert not diff(kube, desired).changed
        kubectl_patch(cluster, namespace, "secret/creds",
                      {"stringData": {"password": "swordfish"}})

        result = diff(kube, desired)
        assert result.changed
        assert "hunter2" not in result.unified and "swordfish" not in result.unified
        assert "aHVudGVyMg" not in result.unified and "c3dvcmRmaXNo" not in result.unified
        # Argo CD's masks: desired's value 8 `+`, a different live value 12.
        assert "-  password: ++++++++++++" in result.unified.splitlines()
        assert "+  password: ++++++++" in result.unified.splitlines()
        assert kube.get(SECRET, namespace, "creds")["data"]["password"] == "c3dvcmRmaXNo"


class TestControllersAreNotFoughtOver:
    def test_replicas_taken_by_an_hpa_stay_with_it_even_when_git_sets_them(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace, replicas=1)
        applied(kube, desired)
        kubectl_patch(cluster, namespace, "deployment/web", {"spec": {"replicas": 4}},
                      "--type=merge", "--field-manager=hpa-controller")

        result = diff(kube, desired)
        assert not result.changed, result.unified
        assert result.foreign_paths == ["spec.replicas"]

        body = sync_body(desired, result)
        assert "replicas" not in body["spec"]
        kube.apply(DEPLOYMENT, namespace, body, MANAGER, force=True)
        assert kube.get(DEPLOYMENT, namespace, "web")["spec"]["replicas"] == 4
        assert not diff(kube, desired).changed

    def test_a_person_changing_a_field_is_still_drift_after_a_controller_wrote(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace, replicas=1)
        applied(kube, desired)
        kubectl_patch(cluster, namespace, "deployment/web", {"spec": {"replicas": 2}},
                      "--type=merge")  # kubectl-patch: a person

        result = diff(kube, desired)
        assert result.changed and result.foreign_paths == []
        assert removed(result, "replicas: 2") and added(result, "replicas: 1")

    def test_an_object_we_never_applied_is_taken_over_whole(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = deployment(namespace, replicas=1)
        created = copy.deepcopy(desired)
        created["spec"]["replicas"] = 2
        writer = KubeClient.from_kubeconfig(str(cluster.kubeconfig),
                                            field_manager="some-installer")
        writer.create(DEPLOYMENT, namespace, created)
        writer.close()

        result = diff(kube, desired)
        assert result.changed and result.foreign_paths == []


class TestIgnoreDifferences:
    def _patched(self, cluster: TestCluster, kube: KubeClient, namespace: str
                 ) -> dict[str, Any]:
        desired = deployment(namespace)
        applied(kube, desired)
        kubectl_patch(cluster, namespace, "deployment/web", IMAGE_PATCH)
        assert diff(kube, desired).changed
        return desired

    def test_a_json_pointer_hides_an_image_change(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = self._patched(cluster, kube, namespace)
        rule = IgnoreRule(group="apps", kind="Deployment",
                          json_pointers=("/spec/template/spec/containers/0/image",))
        assert not diff(kube, desired, rule).changed

    def test_a_jq_expression_hides_an_image_change(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = self._patched(cluster, kube, namespace)
        rule = IgnoreRule(group="apps", kind="Deployment", jq_path_expressions=(
            '.spec.template.spec.containers[] | select(.name == "main") | .image',))
        assert not diff(kube, desired, rule).changed

    def test_fields_of_an_ignored_manager_are_hidden(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = self._patched(cluster, kube, namespace)
        rule = IgnoreRule(group="apps", kind="Deployment",
                          managed_fields_managers=("kubectl-patch",))
        assert not diff(kube, desired, rule).changed

    def test_a_rule_for_another_kind_or_name_hides_nothing(
        self, cluster: TestCluster, kube: KubeClient, namespace: str
    ) -> None:
        desired = self._patched(cluster, kube, namespace)
        pointer = ("/spec/template/spec/containers/0/image",)
        assert diff(kube, desired, IgnoreRule(kind="Deployment", json_pointers=pointer)).changed
        assert diff(kube, desired, IgnoreRule(group="apps", kind="Deployment", name="other",
                                              json_pointers=pointer)).changed
        assert not diff(kube, desired, IgnoreRule(group="*", kind="*",
                                                  json_pointers=pointer)).changed

