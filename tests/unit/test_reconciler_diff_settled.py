"""`already_applied`: when the server's dry run can be skipped (reconciler.diff_settled).

The integration tests (`tests/integration/test_reconciler_diff.py`) check its verdict
against the real API server's dry run; these cover the cases it must refuse.
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.diff_settled import already_applied

M = "rollouts-reconciler"


def body() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "main", "image": "nginx:1", "args": ["-v"]}]}},
                     "finalizers_like": ["a", "b"]}}


FIELDS: dict[str, Any] = {"f:metadata": {"f:labels": {"f:app": {}}},
          "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
              'k:{"name":"main"}': {".": {}, "f:name": {}, "f:image": {}, "f:args": {}}}}},
                     "f:finalizers_like": {'v:"a"': {}, 'v:"b"': {}}}}


def live(fields: Any = None, **changes: Any) -> dict[str, Any]:
    obj = body()
    obj["metadata"].update(uid="u", resourceVersion="7", managedFields=[
        {"manager": M, "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
         "fieldsV1": FIELDS if fields is None else fields},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
         "subresource": "status", "fieldsV1": {"f:status": {"f:replicas": {}}}}])
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/x")
    obj["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"  # defaulted
    obj["status"] = {"replicas": 2}
    for path, value in changes.items():
        target = obj
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        target[last] = value
    return obj


def test_an_object_applied_as_it_is_with_defaults_added_is_settled() -> None:
    assert already_applied(body(), live(), M)


def test_a_value_changed_since_is_not() -> None:
    assert not already_applied(body(), live(**{"spec.replicas": 3}), M)
    changed = live()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert not already_applied(body(), changed, M)


def test_strict_types_true_is_not_one_and_a_string_is_not_a_number() -> None:
    desired = body()
    desired["spec"]["replicas"] = True
    assert not already_applied(desired, live(**{"spec.replicas": 1}), M)
    desired["spec"]["replicas"] = "2"
    assert not already_applied(desired, live(), M)


def test_a_field_we_own_that_git_dropped_is_not() -> None:
    desired = body()
    del desired["metadata"]["labels"]
    assert not already_applied(desired, live(), M)


def test_a_field_git_sets_that_we_do_not_own_is_not() -> None:
    fields = copy.deepcopy(FIELDS)
    del fields["f:spec"]["f:replicas"]  # an HPA's, say: the dry run tells foreign fields
    assert not already_applied(body(), live(fields), M)


def test_list_items_must_be_named_one_to_one() -> None:
    desired = body()
    desired["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "x"})
    obj = live()
    obj["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "x"})
    assert not already_applied(desired, obj, M)  # no k:{"name":"side"} entry
    # a key the desired item leaves out (a defaulted port protocol) cannot be matched
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:template"]["f:spec"]["f:containers"] = {
        'k:{"name":"main","protocol":"TCP"}': {".": {}, "f:name": {}, "f:image": {},
                                               "f:args": {}}}
    assert not already_applied(body(), live(fields), M)


def test_another_manager_entry_version_or_operation_is_not_trusted() -> None:
    obj = live()
    obj["metadata"]["managedFields"][0]["apiVersion"] = "apps/v1beta1"
    assert not already_applied(body(), obj, M)
    obj = live()
    obj["metadata"]["managedFields"][0]["operation"] = "Update"
    assert not already_applied(body(), obj, M)
    obj = live()
    obj["metadata"]["managedFields"].append(dict(obj["metadata"]["managedFields"][0],
                                                 operation="Update"))
    assert not already_applied(body(), obj, M)
    assert not already_applied(body(), live(), "someone-else")


def test_nulls_and_a_missing_live_field_are_not() -> None:
    desired = body()
    desired["spec"]["paused"] = None
    assert not already_applied(desired, live(), M)
    obj = live()
    del obj["metadata"]["labels"]
    assert not already_applied(body(), obj, M)


def test_an_atomic_value_must_be_equal_not_just_contain_what_git_says() -> None:
    desired = body()
    desired["spec"]["selector"] = {"app": "web"}
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:selector"] = {}  # atomic: an apply replaces the whole map
    obj = live(fields, **{"spec.selector": {"app": "web"}})
    assert already_applied(desired, obj, M)
    obj = live(fields, **{"spec.selector": {"app": "web", "tier": "front"}})
    assert not already_applied(desired, obj, M)


def test_a_list_item_another_manager_added_is_not_settled() -> None:
    obj = live()
    obj["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    assert not already_applied(body(), obj, M)
