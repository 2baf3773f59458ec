"""Building requests: paths for every scope of kind, query parameters, content types."""

from __future__ import annotations

import pytest

from rollouts.kube import (
    ANALYSIS_RUN,
    CLUSTER_ANALYSIS_TEMPLATE,
    CONFIG_MAP,
    DEPLOYMENT,
    EVENT,
    INGRESS,
    JOB,
    LEASE,
    NAMESPACE,
    POD,
    ROLLOUT,
    Kind,
    PatchType,
    Verb,
    kind_for,
    request_for,
)


class TestKindPaths:
    def test_core_namespaced_object(self) -> None:
        assert POD.path("shop", "web-1") == "/api/v1/namespaces/shop/pods/web-1"

    def test_core_collection_in_all_namespaces(self) -> None:
        assert POD.path(None) == "/api/v1/pods"

    def test_group_kind_with_subresource(self) -> None:
        assert ROLLOUT.path("shop", "web", "status") == (
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status"
        )

    def test_cluster_scoped_kind_ignores_a_namespace(self) -> None:
        assert NAMESPACE.path("whatever", "shop") == "/api/v1/namespaces/shop"
        assert CLUSTER_ANALYSIS_TEMPLATE.path(None, "rate") == (
            "/apis/argoproj.io/v1alpha1/clusteranalysistemplates/rate"
        )

    def test_names_are_escaped(self) -> None:
        assert CONFIG_MAP.path("a", "x/y") == "/api/v1/namespaces/a/configmaps/x%2Fy"

    def test_a_namespaced_object_needs_its_namespace(self) -> None:
        with pytest.raises(ValueError, match="namespaced"):
            POD.path(None, "web-1")

    def test_a_subresource_needs_a_name(self) -> None:
        with pytest.raises(ValueError, match="needs an object name"):
            ROLLOUT.path("shop", None, "status")

    @pytest.mark.parametrize("bad", ["", ".", ".."])
    def test_empty_and_dot_names_are_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="not a valid name"):
            POD.path("shop", bad)

    def test_api_versions(self) -> None:
        assert POD.api_version == "v1"
        assert DEPLOYMENT.api_version == "apps/v1"
        assert ANALYSIS_RUN.api_version == "argoproj.io/v1alpha1"
        assert LEASE.api_version == "coordination.k8s.io/v1"
        assert JOB.api_version == "batch/v1"
        assert INGRESS.api_version == "networking.k8s.io/v1"
        assert EVENT.api_version == "v1"


class TestKindLookup:
    def test_known_kinds_are_found_by_api_version_and_kind(self) -> None:
        assert kind_for("argoproj.io/v1alpha1", "Rollout") is ROLLOUT
        assert kind_for("v1", "ConfigMap") is CONFIG_MAP
        assert kind_for("coordination.k8s.io/v1", "Lease") is LEASE

    def test_unknown_kinds_are_none(self) -> None:
        assert kind_for("example.com/v1", "Widget") is None
        assert kind_for("apps/v1beta1", "Deployment") is None

    def test_kinds_are_frozen_values(self) -> None:
        assert Kind("apps", "v1", "deployments", "Deployment") == DEPLOYMENT
        with pytest.raises(AttributeError):
            DEPLOYMENT.plural = "x"  # type: ignore[misc]


class TestReading:
    def test_get(self) -> None:
        r = request_for(Verb.GET, CONFIG_MAP, "shop", "settings")
        assert (r.method, r.path, r.query, r.body, r.content_type) == (
            "GET", "/api/v1/namespaces/shop/configmaps/settings", (), None, None,
        )
        assert r.url == r.path

    def test_list_with_selectors_and_paging(self) -> None:
        r = request_for(
            "list", POD, "shop", label_selector="app=web,tier!=db",
            field_selector="spec.nodeName=n1", limit=500, continue_token="abc",
        )
        assert r.path == "/api/v1/namespaces/shop/pods"
        assert dict(r.query) == {
            "labelSelector": "app=web,tier!=db", "fieldSelector": "spec.nodeName=n1",
            "limit": "500", "continue": "abc",
        }
        assert r.url.startswith(
            "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb%2Ctier%21%3Ddb"
        )

    def test_list_in_all_namespaces_ignores_a_name(self) -> None:
        assert request_for(Verb.LIST, ROLLOUT, None, "ignored").path == (
            "/apis/argoproj.io/v1alpha1/rollouts"
        )

    def test_watch_asks_for_bookmarks_from_a_resource_version(self) -> None:
        r = request_for(Verb.WATCH, ROLLOUT, None, resource_version="42", timeout_seconds=300)
        assert r.method == "GET"
        assert dict(r.query) == {
            "watch": "true", "allowWatchBookmarks": "true", "resourceVersion": "42",
            "timeoutSeconds": "300",
        }

    def test_get_needs_a_name(self) -> None:
        with pytest.raises(ValueError, match="needs the object's name"):
            request_for(Verb.GET, POD, "shop")


class TestWriting:
    def test_create_posts_to_the_collection(self) -> None:
        body = {"metadata": {"name": "settings"}}
        r = request_for(Verb.CREATE, CONFIG_MAP, "shop", "settings", body=body,
                        field_manager="rollouts-controller")
        assert (r.method, r.path, r.content_type) == (
            "POST", "/api/v1/namespaces/shop/configmaps", "application/json",
        )
        assert r.body is body
        assert dict(r.query) == {"fieldManager": "rollouts-controller"}

    def test_create_of_a_subresource_posts_to_the_object(self) -> None:
        r = request_for(Verb.CREATE, POD, "shop", "web-1", body={}, subresource="eviction")
        assert r.path == "/api/v1/namespaces/shop/pods/web-1/eviction"

    def test_create_of_a_cluster_scoped_object(self) -> None:
        r = request_for(Verb.CREATE, NAMESPACE, None, body={"metadata": {"name": "shop"}})
        assert r.path == "/api/v1/namespaces"

    def test_create_of_a_namespaced_object_needs_the_namespace(self) -> None:
        with pytest.raises(ValueError, match="ConfigMap is namespaced"):
            request_for(Verb.CREATE, CONFIG_MAP, None, body={})

    def test_replace_puts_the_object(self) -> None:
        r = request_for(Verb.REPLACE, LEASE, "kube-system", "leader", body={}, dry_run=True)
        assert (r.method, r.path) == (
            "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/leader",
        )
        assert dict(r.query) == {"dryRun": "All"}

    def test_server_side_apply(self) -> None:
        r = request_for(Verb.APPLY, DEPLOYMENT, "shop", "web", body={"spec": {}},
                        field_manager="rollouts-reconciler", force=True, dry_run=True)
        assert (r.method, r.content_type) == ("PATCH", "application/apply-patch+yaml")
        assert r.path == "/apis/apps/v1/namespaces/shop/deployments/web"
        assert r.query == (("dryRun", "All"), ("fieldManager", "rollouts-reconciler"),
                           ("force", "true"))

    def test_apply_without_force_leaves_force_out(self) -> None:
        r = request_for(Verb.APPLY, DEPLOYMENT, "shop", "web", body={}, field_manager="m")
        assert "force" not in dict(r.query)

    def test_apply_needs_a_field_manager(self) -> None:
        with pytest.raises(ValueError, match="field manager"):
            request_for(Verb.APPLY, DEPLOYMENT, "shop", "web", body={})

    @pytest.mark.parametrize(("patch_type", "content_type", "body"), [
        ("merge", "application/merge-patch+json", {"spec": {"paused": True}}),
        ("strategic", "application/strategic-merge-patch+json", {"spec": {}}),
        ("json", "application/json-patch+json", [{"op": "remove", "path": "/spec/paused"}]),
    ])
    def test_patch_content_types(self, patch_type: str, content_type: str, body: object) -> None:
        r = request_for(Verb.PATCH, ROLLOUT, "shop", "web", body=body, patch_type=patch_type)
        assert (r.method, r.content_type, r.body) == ("PATCH", content_type, body)
        assert PatchType(patch_type).content_type == content_type

    def test_status_patch_goes_to_the_status_subresource(self) -> None:
        r = request_for(Verb.PATCH, ROLLOUT, "shop", "web", body={"status": {"phase": "Paused"}},
                        subresource="status")
        assert r.path.endswith("/rollouts/web/status")
        assert r.content_type == "application/merge-patch+json"

    def test_a_json_patch_is_a_list_and_a_merge_patch_an_object(self) -> None:
        with pytest.raises(ValueError, match="list of operations"):
            request_for(Verb.PATCH, ROLLOUT, "shop", "web", body={}, patch_type="json")
        with pytest.raises(ValueError, match="is an object"):
            request_for(Verb.PATCH, ROLLOUT, "shop", "web", body=[], patch_type="merge")

    def test_an_unknown_patch_type_is_refused(self) -> None:
        with pytest.raises(ValueError):
            request_for(Verb.PATCH, ROLLOUT, "shop", "web", body={}, patch_type="yaml")

    def test_writes_need_a_body(self) -> None:
        with pytest.raises(ValueError, match="needs a body"):
            request_for(Verb.PATCH, ROLLOUT, "shop", "web")

    def test_delete_carries_the_propagation_policy(self) -> None:
        r = request_for(Verb.DELETE, JOB, "shop", "probe", propagation="Foreground")
        assert (r.method, r.path, r.content_type) == (
            "DELETE", "/apis/batch/v1/namespaces/shop/jobs/probe", "application/json",
        )
        assert r.body == {"apiVersion": "v1", "kind": "DeleteOptions",
                          "propagationPolicy": "Foreground"}

    def test_delete_with_a_uid_deletes_only_that_very_object(self) -> None:
        r = request_for(Verb.DELETE, JOB, "shop", "probe", propagation="Background", uid="u-1")
        assert r.body == {"apiVersion": "v1", "kind": "DeleteOptions",
                          "propagationPolicy": "Background", "preconditions": {"uid": "u-1"}}


def test_every_verb_names_its_http_method_and_counter() -> None:
    assert {v.value: v.method for v in Verb} == {
        "get": "GET", "list": "GET", "watch": "GET", "create": "POST", "replace": "PUT",
        "patch": "PATCH", "apply": "PATCH", "delete": "DELETE",
    }
