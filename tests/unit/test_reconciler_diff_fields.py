"""FieldsV1 field sets: reading managedFields, set algebra, projection, dropping fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.diff_fields import (
    FieldSet,
    drop_fields,
    field_paths,
    intersect,
    manager_fields,
    managers_of,
    project,
    strip_self,
    subtract,
    union,
)

MAIN = 'k:{"name":"main"}'
PORT = 'k:{"containerPort":80,"protocol":"TCP"}'

# What the API server records for an applied Deployment (taken from a real server).
APPLIED: FieldSet = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:selector": {},
        "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
            MAIN: {".": {}, "f:image": {}, "f:name": {},
                   "f:ports": {PORT: {".": {}, "f:containerPort": {}}}}}}},
    },
}
HPA: FieldSet = {"f:spec": {"f:replicas": {}}}
STATUS: FieldSet = {"f:status": {"f:replicas": {}}}


def live_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "labels": {"app": "web", "pod-template-hash": "x"},
            "managedFields": [
                {"manager": "rollouts-reconciler", "operation": "Apply", "fieldsV1": APPLIED},
                {"manager": "hpa-controller", "operation": "Update", "fieldsV1": HPA,
                 "subresource": "scale"},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "fieldsV1": STATUS, "subresource": "status"},
            ],
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "dnsPolicy": "ClusterFirst",
                    "containers": [
                        {"name": "istio-proxy", "image": "proxy:1"},
                        {"name": "main", "image": "nginx:1", "imagePullPolicy": "IfNotPresent",
                         "ports": [{"containerPort": 80, "protocol": "TCP"},
                                   {"containerPort": 9090, "protocol": "TCP"}]},
                    ],
                },
            },
        },
        "status": {"replicas": 4},
    }


class TestManagedFields:
    def test_fields_per_manager_and_subresources(self) -> None:
        live = live_deployment()
        assert managers_of(live) == {"rollouts-reconciler", "hpa-controller",
                                     "kube-controller-manager"}
        assert manager_fields(live, "rollouts-reconciler") == APPLIED
        assert manager_fields(live, "hpa-controller") == HPA
        assert manager_fields(live, "hpa-controller", include_subresources=False) == {}
        assert manager_fields(live, "nobody") == {}
        assert manager_fields({"metadata": {}}, "x") == {}

    def test_entries_of_one_manager_are_united(self) -> None:
        live = {"metadata": {"managedFields": [
            {"manager": "m", "fieldsV1": {"f:spec": {"f:a": {}}}},
            {"manager": "m", "fieldsV1": {"f:spec": {"f:b": {}}}}]}}
        assert manager_fields(live, "m") == {"f:spec": {"f:a": {}, "f:b": {}}}


class TestAlgebra:
    def test_union_intersect_subtract(self) -> None:
        ours: FieldSet = {"f:spec": {"f:replicas": {}, "f:paused": {}}}
        assert union(ours, HPA) == ours
        assert intersect(ours, HPA) == HPA
        assert subtract(ours, HPA) == {"f:spec": {"f:paused": {}}}
        assert subtract(HPA, ours) == {}
        assert intersect(APPLIED, HPA) == {}

    def test_a_node_and_a_leaf_meet_on_the_node_itself(self) -> None:
        node: FieldSet = {"f:labels": {".": {}, "f:app": {}}}
        leaf: FieldSet = {"f:labels": {}}
        assert union(node, leaf) == node
        assert intersect(node, leaf) == {"f:labels": {".": {}}}
        assert intersect(leaf, node) == {"f:labels": {}}
        assert subtract(node, leaf) == {"f:labels": {"f:app": {}}}
        assert subtract(leaf, node) == {}
        assert subtract(leaf, {"f:labels": {"f:app": {}}}) == leaf

    def test_strip_self_keeps_only_leaves(self) -> None:
        assert strip_self({"f:a": {".": {}}, "f:b": {".": {}, "f:c": {}}}) == {
            "f:b": {"f:c": {}}}

    def test_readable_paths(self) -> None:
        assert field_paths(APPLIED) == [
            "metadata.labels.app", "spec.selector", "spec.template.metadata.labels.app",
            "spec.template.spec.containers[name=main].image",
            "spec.template.spec.containers[name=main].name",
            "spec.template.spec.containers[name=main].ports[containerPort=80,protocol=TCP]"
            ".containerPort",
        ]
        assert field_paths({"f:finalizers": {'v:"a"': {}}, "f:args": {"i:0": {}}}) == [
            'args[0]', 'finalizers[="a"]']


class TestProjection:
    def test_only_the_fields_of_the_set_remain(self) -> None:
        assert project(live_deployment(), APPLIED) == {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},  # atomic: whole value
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "main", "image": "nginx:1",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}},
            },
        }

    def test_a_missing_item_or_field_is_absent_from_the_projection(self) -> None:
        live = live_deployment()
        live["spec"]["template"]["spec"]["containers"].pop()
        del live["metadata"]["labels"]["app"]
        projected = project(live, APPLIED)
        assert projected["spec"]["template"]["spec"]["containers"] == []
        assert projected["metadata"] == {"labels": {}}

    def test_set_items_and_indexes(self) -> None:
        value = {"finalizers": ["a", "b"], "args": ["x", "y"]}
        fields: FieldSet = {"f:finalizers": {'v:"b"': {}}, "f:args": {"i:1": {}}}
        assert project(value, fields) == {"finalizers": ["b"], "args": ["y"]}

    def test_a_keyed_item_keeps_its_keys(self) -> None:
        value = [{"name": "main", "image": "a", "env": []}]
        assert project(value, {MAIN: {".": {}}}) == [{"name": "main"}]


class TestDropFields:
    def test_dropping_a_controllers_field_from_the_body_to_apply(self) -> None:
        body = {"spec": {"replicas": 3, "paused": False}}
        assert drop_fields(body, HPA) == {"spec": {"paused": False}}
        assert body["spec"]["replicas"] == 3, "a copy is returned"

    def test_containers_are_matched_by_key_and_emptied_maps_removed(self) -> None:
        body = {"metadata": {"labels": {"tier": "web"}}, "spec": {"template": {"spec": {
            "containers": [{"name": "main", "image": "a", "ports": [{"containerPort": 80}]},
                           {"name": "side", "image": "b"}]}}}}
        fields: FieldSet = {
            "f:metadata": {"f:labels": {"f:tier": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                MAIN: {".": {}, "f:ports": {PORT: {"f:containerPort": {}}}},
                'k:{"name":"side"}': {}}}}}}
        assert drop_fields(body, fields) == {"spec": {"template": {"spec": {
            "containers": [{"name": "main", "image": "a"}]}}}}


def members(fields: FieldSet, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The paths a field set holds: a leaf, or a node marked "."."""
    found: set[tuple[str, ...]] = set()
    for key, node in fields.items():
        if key == ".":
            continue
        path = (*prefix, key)
        if not node or "." in node:
            found.add(path)
        found |= members(node, path)
    return found


field_sets: st.SearchStrategy[FieldSet] = st.recursive(
    st.just({}),
    lambda children: st.dictionaries(st.sampled_from(["f:a", "f:b", 'k:{"name":"x"}', "."]),
                                     children, max_size=3).map(
        lambda d: {k: ({} if k == "." else v) for k, v in d.items()}),
    max_leaves=12,
).filter(lambda d: d != {} and d != {".": {}})


class TestAlgebraLaws:
    @given(field_sets, field_sets)
    def test_the_operations_are_set_operations_on_paths(self, a: FieldSet, b: FieldSet) -> None:
        assert members(union(a, b)) == members(a) | members(b)
        assert members(intersect(a, b)) == members(a) & members(b)
        assert members(subtract(a, b)) == members(a) - members(b)
