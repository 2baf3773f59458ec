"""ignoreDifferences: which objects a rule matches, JSON pointers and the jq subset."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.diff_ignore import (
    IgnoreRule,
    delete_paths,
    jq_paths,
    parse_jq,
    pointer_path,
    remove_ignored,
)
from reconciler.tracking import ResourceKey
from rollouts.api.application import ResourceIgnoreDifferences


def pod_spec() -> dict[str, Any]:
    return {
        "metadata": {"annotations": {"example.com/hash": "abc", "keep": "me"}},
        "spec": {
            "replicas": 3,
            "containers": [
                {"name": "main", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "istio-proxy", "image": "proxy:1"},
                {"name": "logger", "image": "log:1", "env": [{"name": "B", "value": "2"}]},
            ],
        },
        "webhooks": [{"clientConfig": {"caBundle": "x"}}, {"name": "no-config"}],
    }


class TestJsonPointers:
    def test_pointers_resolve_to_paths(self) -> None:
        obj = pod_spec()
        assert pointer_path(obj, "/spec/replicas") == ("spec", "replicas")
        assert pointer_path(obj, "/spec/containers/1/image") == ("spec", "containers", 1,
                                                                 "image")
        assert pointer_path(obj, "/metadata/annotations/example.com~1hash") == (
            "metadata", "annotations", "example.com/hash")
        obj["metadata"]["annotations"]["a~b"] = "c"
        assert pointer_path(obj, "/metadata/annotations/a~0b") == ("metadata", "annotations",
                                                                   "a~b")

    def test_a_pointer_to_nothing_names_nothing(self) -> None:
        obj = pod_spec()
        for pointer in ("/spec/missing", "/spec/containers/9", "/spec/containers/x", "",
                        "spec/replicas"):
            assert pointer_path(obj, pointer) is None, pointer


class TestJq:
    @pytest.mark.parametrize(("expr", "paths"), [
        (".spec.replicas", [("spec", "replicas")]),
        (".spec.containers[0].image", [("spec", "containers", 0, "image")]),
        (".spec.containers[-1].name", [("spec", "containers", 2, "name")]),
        ('.metadata.annotations["example.com/hash"]',
         [("metadata", "annotations", "example.com/hash")]),
        ('.metadata.annotations."example.com/hash"',
         [("metadata", "annotations", "example.com/hash")]),
        (".spec.containers[].env", [("spec", "containers", 0, "env"),
                                    ("spec", "containers", 2, "env")]),
        (".webhooks[]?.clientConfig.caBundle", [("webhooks", 0, "clientConfig", "caBundle")]),
        ('.spec.containers[] | select(.name == "istio-proxy")', [("spec", "containers", 1)]),
        ('.spec.containers[] | select(.name != "main") | .image',
         [("spec", "containers", 1, "image"), ("spec", "containers", 2, "image")]),
        ('.spec.containers[] | select(.env[].name == "B") | .env',
         [("spec", "containers", 2, "env")]),
        (".spec.missing.deeper", []),
        (".metadata.annotations[]", [("metadata", "annotations", "example.com/hash"),
                                     ("metadata", "annotations", "keep")]),
    ])
    def test_supported_expressions(self, expr: str, paths: list[tuple[Any, ...]]) -> None:
        assert jq_paths(pod_spec(), parse_jq(expr)) == paths

    def test_select_compares_numbers_booleans_and_null(self) -> None:
        items = {"items": [{"n": 1, "on": True}, {"n": 2}]}
        assert jq_paths(items, parse_jq(".items[] | select(.n == 2)")) == [("items", 1)]
        assert jq_paths(items, parse_jq(".items[] | select(.on == true)")) == [("items", 0)]
        assert jq_paths(items, parse_jq(".items[] | select(.on == null)")) == [("items", 1)]

    @pytest.mark.parametrize(("expr", "says"), [
        ("spec.replicas", "must start with '.'"),
        (".spec | map(.x)", "cannot read"),
        (".spec.containers[] | select(.name)", "select() takes"),
        (".spec.containers[] select(.name == \"a\")", "put '|' before select()"),
        (".spec |", "ends with '|'"),
        (".spec.replicas + 1", "cannot read"),
    ])
    def test_anything_else_is_refused_with_a_hint(self, expr: str, says: str) -> None:
        with pytest.raises(ValueError, match="jq path") as refused:
            parse_jq(expr)
        assert says in str(refused.value)


class TestDeletion:
    def test_list_items_are_deleted_by_their_original_indexes(self) -> None:
        obj = pod_spec()
        trimmed = delete_paths(obj, [("spec", "containers", 0), ("spec", "containers", 2),
                                     ("spec", "replicas")])
        assert [c["name"] for c in trimmed["spec"]["containers"]] == ["istio-proxy"]
        assert "replicas" not in trimmed["spec"]
        assert len(obj["spec"]["containers"]) == 3, "a copy is returned"

    def test_rules_remove_their_pointers_and_expressions(self) -> None:
        rule = IgnoreRule(kind="Pod", json_pointers=("/spec/replicas",),
                          jq_path_expressions=('.spec.containers[] | select(.name == '
                                               '"istio-proxy")', ".metadata.annotations.keep"))
        trimmed = remove_ignored(pod_spec(), [rule])
        assert "replicas" not in trimmed["spec"]
        assert [c["name"] for c in trimmed["spec"]["containers"]] == ["main", "logger"]
        assert trimmed["metadata"]["annotations"] == {"example.com/hash": "abc"}
        assert remove_ignored(pod_spec(), []) == pod_spec()

    def test_a_rule_never_removes_the_whole_object(self) -> None:
        assert remove_ignored(pod_spec(), [IgnoreRule(kind="Pod",
                                                      jq_path_expressions=(".",))]) == pod_spec()


class TestMatching:
    def test_group_kind_name_and_namespace(self) -> None:
        web = ResourceKey("apps", "Deployment", "shop", "web")
        assert IgnoreRule(group="apps", kind="Deployment").matches(web)
        assert IgnoreRule(group="apps", kind="Deployment", name="web",
                          namespace="shop").matches(web)
        assert not IgnoreRule(kind="Deployment").matches(web), "no group means the core group"
        assert not IgnoreRule(group="apps", kind="Deployment", name="api").matches(web)
        assert not IgnoreRule(group="apps", kind="Deployment", namespace="x").matches(web)
        assert IgnoreRule(group="*", kind="*").matches(web)
        assert IgnoreRule(group="app?", kind="Deploy*").matches(web)
        assert IgnoreRule(kind="Service").matches(ResourceKey("", "Service", "shop", "web"))

    def test_built_from_the_application_spec_and_checked_at_once(self) -> None:
        spec = ResourceIgnoreDifferences.model_validate({
            "group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"],
            "jqPathExpressions": [".spec.template.spec.containers[].image"],
            "managedFieldsManagers": ["kube-controller-manager"]})
        rule = IgnoreRule.from_api(spec)
        assert rule == IgnoreRule(
            group="apps", kind="Deployment", json_pointers=("/spec/replicas",),
            jq_path_expressions=(".spec.template.spec.containers[].image",),
            managed_fields_managers=("kube-controller-manager",))
        bad = ResourceIgnoreDifferences.model_validate({"kind": "Deployment",
                                                        "jqPathExpressions": ["spec"]})
        with pytest.raises(ValueError, match="must start with"):
            IgnoreRule.from_api(bad)
