"""The tracking annotation: which live objects an Application owns (and may prune)."""

from __future__ import annotations

from typing import Any

from reconciler.tracking import (
    TRACKING_ANNOTATION,
    ResourceKey,
    TrackingId,
    is_tracked_by,
    parse_tracking_id,
    resource_key,
    tracking_id,
    with_tracking,
)


def service(namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "guestbook-ui", "namespace": namespace}}


def test_a_core_object_has_an_empty_group() -> None:
    assert tracking_id("guestbook", service()) == "guestbook:/Service:default/guestbook-ui"
    assert resource_key(service()) == ResourceKey("", "Service", "default", "guestbook-ui")


def test_a_grouped_and_a_cluster_scoped_object() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "shop"}}
    assert tracking_id("shop", deployment) == "shop:apps/Deployment:shop/web"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:reader"}}
    value = tracking_id("infra", role)
    assert value == "infra:rbac.authorization.k8s.io/ClusterRole:/system:reader"
    assert parse_tracking_id(value) == TrackingId(
        "infra", ResourceKey("rbac.authorization.k8s.io", "ClusterRole", "", "system:reader"))


def test_parsing_round_trips_and_refuses_garbage() -> None:
    assert parse_tracking_id("guestbook:/Service:default/guestbook-ui") == TrackingId(
        "guestbook", ResourceKey("", "Service", "default", "guestbook-ui"))
    for garbage in ("", "guestbook", "guestbook:Service:default/x", "a:/Service:default",
                    "a:/:default/x", ":/Service:default/x", "a:/Service:default/"):
        assert parse_tracking_id(garbage) is None, garbage


def test_an_object_is_tracked_only_by_the_app_its_id_names() -> None:
    tracked = with_tracking(service(), "guestbook")
    assert tracked["metadata"]["annotations"][TRACKING_ANNOTATION] == \
        "guestbook:/Service:default/guestbook-ui"
    assert is_tracked_by(tracked, "guestbook")
    assert not is_tracked_by(tracked, "other")
    assert not is_tracked_by(service(), "guestbook")
    assert "annotations" not in service()["metadata"], "with_tracking copies"


def test_a_copied_annotation_does_not_make_an_object_ours() -> None:
    # A Deployment's ReplicaSets inherit its annotations, tracking id included.
    deployment = with_tracking({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "web", "namespace": "shop"}}, "shop")
    replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": "web-5d8f", "namespace": "shop",
                                "annotations": deployment["metadata"]["annotations"]}}
    assert is_tracked_by(deployment, "shop")
    assert not is_tracked_by(replica_set, "shop")


def test_an_object_copied_to_another_namespace_is_not_ours() -> None:
    tracked = with_tracking(service("default"), "guestbook")
    tracked["metadata"]["namespace"] = "elsewhere"
    assert not is_tracked_by(tracked, "guestbook")


def test_a_generate_name_hook_is_keyed_by_its_prefix() -> None:
    hook = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "upgrade-sql-schema", "namespace": "db"}}
    assert resource_key(hook) == ResourceKey("batch", "Job", "db", "upgrade-sql-schema")
    assert str(resource_key(hook)) == "batch/Job db/upgrade-sql-schema"
    assert str(ResourceKey("", "Namespace", "", "shop")) == "Namespace shop"
