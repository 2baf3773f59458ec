"""`diff_object` with a stand-in for the server's dry run: which fields are compared.

The integration test (tests/integration/test_reconciler_diff.py) runs the same rules
against the real API server; here each rule is pinned on literal objects.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.diff import (
    IgnoreRule,
    ObjectDiff,
    apply_body,
    diff_object,
    sync_body,
)
from reconciler.diff_fields import FieldSet
from reconciler.secret_mask import MASK
from rollouts.kube import DEPLOYMENT, Invalid, Kind, NotFound, Unavailable, kind_for

OURS = "rollouts-reconciler"
CONTAINERS: FieldSet = {'k:{"name":"main"}': {".": {}, "f:image": {}, "f:name": {}}}
APPLIED: FieldSet = {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {
    "f:containers": CONTAINERS}}}}
IMAGE_ONLY: FieldSet = {"f:spec": {"f:template": {"f:spec": {"f:containers": CONTAINERS}}}}


def deployment(image: str = "app:1", replicas: int | None = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "main",
                                                                  "image": image}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def server_object(image: str, replicas: int, *managers: tuple[str, FieldSet]
                  ) -> dict[str, Any]:
    """A Deployment as the server returns it: defaults, status, managedFields."""
    obj = deployment(image, replicas)
    obj["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    obj["status"] = {"replicas": replicas}
    obj["metadata"]["managedFields"] = [
        {"manager": name, "operation": "Apply" if name == OURS else "Update",
         "fieldsV1": fields} for name, fields in managers]
    return obj


def removed(result: ObjectDiff, text: str) -> bool:
    """Whether the unified diff has a `-` line (the live side) containing `text`."""
    return any(line.startswith("-") and not line.startswith("---") and text in line
               for line in result.unified.splitlines())


def added(result: ObjectDiff, text: str) -> bool:
    return any(line.startswith("+") and not line.startswith("+++") and text in line
               for line in result.unified.splitlines())


class FakeServer:
    """Answers the dry run with a prepared object, or raises a prepared error."""

    def __init__(self, predicted: dict[str, Any] | None = None,
                 error: Exception | None = None) -> None:
        self.predicted, self.error = predicted, error
        self.calls: list[dict[str, Any]] = []

    def discover_kind(self, api_version: str, kind: str) -> Kind:
        found = kind_for(api_version, kind)
        if found is None:
            raise NotFound(f"the API server serves no kind {kind} in {api_version}", 404)
        return found

    def apply(self, kind: Kind, namespace: str | None, body: dict[str, Any],
              field_manager: str, force: bool = True, dry_run: bool = False
              ) -> dict[str, Any]:
        self.calls.append({"kind": kind, "namespace": namespace, "body": body,
                           "field_manager": field_manager, "force": force,
                           "dry_run": dry_run})
        if self.error is not None:
            raise self.error
        assert self.predicted is not None
        return copy.deepcopy(self.predicted)


def run(desired: dict[str, Any], live: dict[str, Any] | None, predicted: dict[str, Any],
        *rules: IgnoreRule, **kwargs: Any) -> ObjectDiff:
    return diff_object(FakeServer(predicted), desired, live, field_manager=OURS,
                       ignore=list(rules), **kwargs)


class TestWhatIsCompared:
    def test_the_dry_run_is_a_forced_apply_with_our_manager(self) -> None:
        server = FakeServer(server_object("app:1", 2, (OURS, APPLIED)))
        desired = deployment()
        desired["status"] = {"replicas": 9}
        diff_object(server, desired, server_object("app:1", 2, (OURS, APPLIED)),
                    field_manager=OURS)
        (call,) = server.calls
        assert call["kind"] == DEPLOYMENT and call["namespace"] == "shop"
        assert call["field_manager"] == OURS and call["force"] and call["dry_run"]
        assert "status" not in call["body"]

    def test_defaults_and_status_are_not_drift(self) -> None:
        live = server_object("app:1", 2, (OURS, APPLIED))
        live["status"] = {"replicas": 0, "phase": "whatever"}
        result = run(deployment(), live, server_object("app:1", 2, (OURS, APPLIED)))
        assert not result.changed and result.unified == "" and result.error is None

    def test_a_changed_field_we_apply_is_drift(self) -> None:
        live = server_object("app:0", 2, (OURS, APPLIED))
        result = run(deployment(), live, server_object("app:1", 2, (OURS, APPLIED)))
        assert result.changed
        assert removed(result, "image: app:0") and added(result, "image: app:1")
        assert "imagePullPolicy" not in result.unified and "dnsPolicy" not in result.unified
        assert result.unified.splitlines()[:2] == ["--- live", "+++ desired"]

    def test_a_field_we_applied_before_and_git_dropped_is_drift(self) -> None:
        live = server_object("app:1", 5, (OURS, APPLIED))
        predicted = server_object("app:1", 5, (OURS, IMAGE_ONLY))
        del predicted["spec"]["replicas"]  # the apply would remove it
        result = run(deployment(replicas=None), live, predicted)
        assert result.changed and "-  replicas: 5" in result.unified.splitlines()

    def test_a_missing_object_is_drift_without_asking_the_server(self) -> None:
        server = FakeServer()
        result = diff_object(server, deployment(), None, field_manager=OURS)
        assert result.changed and not result.live_exists and server.calls == []
        assert added(result, "image: app:1") and not removed(result, "")


    def test_without_managed_fields_the_whole_object_but_status_is_compared(self) -> None:
        live, predicted = server_object("app:1", 2), server_object("app:1", 2)
        live["status"] = {"replicas": 0}
        live["metadata"] |= {"resourceVersion": "1", "managedFields": []}
        assert not run(deployment(), live, predicted).changed
        assert run(deployment(), live, server_object("app:2", 2)).changed


class TestOtherManagers:
    def test_a_controllers_field_is_foreign_not_drift(self) -> None:
        live = server_object("app:1", 7, (OURS, IMAGE_ONLY),
                             ("hpa-controller", {"f:spec": {"f:replicas": {}}}))
        result = run(deployment(replicas=2), live, server_object("app:1", 2, (OURS, APPLIED)))
        assert not result.changed, result.unified
        assert result.foreign_paths == ["spec.replicas"]
        assert "replicas" not in sync_body(deployment(replicas=2), result)["spec"]

    def test_a_person_taking_a_field_is_drift(self) -> None:
        live = server_object("app:1", 7, (OURS, IMAGE_ONLY),
                             ("kubectl-edit", {"f:spec": {"f:replicas": {}}}))
        result = run(deployment(replicas=2), live, server_object("app:1", 2, (OURS, APPLIED)))
        assert result.changed and result.foreign_paths == []

    def test_who_counts_as_a_person_can_be_chosen(self) -> None:
        live = server_object("app:1", 7, (OURS, IMAGE_ONLY),
                             ("hpa-controller", {"f:spec": {"f:replicas": {}}}))
        result = run(deployment(replicas=2), live, server_object("app:1", 2, (OURS, APPLIED)),
                     human_managers=("hpa",))
        assert result.changed

    def test_an_object_we_never_applied_has_no_foreign_fields(self) -> None:
        live = server_object("app:1", 7, ("installer", APPLIED))
        result = run(deployment(replicas=2), live, server_object("app:1", 2, (OURS, APPLIED)))
        assert result.changed and result.foreign_paths == []

    def test_an_ignored_managers_fields_are_hidden(self) -> None:
        live = server_object("app:9", 2, (OURS, {"f:spec": {"f:replicas": {}}}),
                             ("kubectl-set", IMAGE_ONLY))
        predicted = server_object("app:1", 2, (OURS, APPLIED))
        assert run(deployment(), live, predicted).changed
        rule = IgnoreRule(group="apps", kind="Deployment", managed_fields_managers=(
            "kubectl-set",))
        assert not run(deployment(), live, predicted, rule).changed

    def test_ignore_rules_for_other_objects_do_not_apply(self) -> None:
        live = server_object("app:9", 2, (OURS, APPLIED))
        predicted = server_object("app:1", 2, (OURS, APPLIED))
        pointer = ("/spec/template/spec/containers/0/image",)
        assert not run(deployment(), live, predicted,
                       IgnoreRule(group="apps", kind="Deployment",
                                  json_pointers=pointer)).changed
        assert run(deployment(), live, predicted,
                   IgnoreRule(group="apps", kind="StatefulSet", json_pointers=pointer)).changed


class TestRefusals:
    @pytest.mark.parametrize("error", [
        Invalid("Deployment.apps \"web\" is invalid: spec.selector: field is immutable"),
        NotFound("namespaces \"shop\" not found", 404),
    ])
    def test_a_refused_dry_run_is_drift_with_the_reason(self, error: Exception) -> None:
        live = server_object("app:1", 2, (OURS, APPLIED))
        result = diff_object(FakeServer(error=error), deployment(), live, field_manager=OURS)
        assert result.changed and result.live_exists and result.predicted is None
        assert result.error is not None and str(error) in result.error

    def test_a_kind_the_server_does_not_serve_is_reported(self) -> None:
        widget = {"apiVersion": "example.com/v1", "kind": "Widget",
                  "metadata": {"name": "w", "namespace": "shop"}}
        result = diff_object(FakeServer(), widget, widget, field_manager=OURS)
        assert result.changed and "serves no kind Widget" in (result.error or "")

    def test_an_object_without_a_namespace_cannot_be_addressed(self) -> None:
        desired = deployment()
        del desired["metadata"]["namespace"]
        live = copy.deepcopy(desired)
        result = diff_object(FakeServer(error=ValueError("Deployment is namespaced")),
                             desired, live, field_manager=OURS)
        assert result.changed and "cannot address" in (result.error or "")

    def test_an_unavailable_server_is_raised_for_a_retry(self) -> None:
        live = server_object("app:1", 2, (OURS, APPLIED))
        with pytest.raises(Unavailable):
            diff_object(FakeServer(error=Unavailable("connection refused")), deployment(),
                        live, field_manager=OURS)


class TestSecrets:
    DATA: FieldSet = {"f:data": {"f:password": {}, "f:user": {}}}

    def secret(self, password: str, *managers: tuple[str, FieldSet]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "shop",
                             "managedFields": [{"manager": m, "fieldsV1": f}
                                               for m, f in managers]},
                "data": {"password": password, "user": "YWRtaW4="}}

    def test_values_are_masked_and_a_change_still_shows(self) -> None:
        live = self.secret("b2xk", (OURS, self.DATA))
        result = run(self.secret("bmV3", (OURS, self.DATA)), live,
                     self.secret("bmV3", (OURS, self.DATA)))
        lines = result.unified.splitlines()
        assert result.changed
        # Argo CD's numbering: desired's value first (8), the live one differs (12).
        assert f"-  password: {MASK}++++" in lines and f"+  password: {MASK}" in lines
        assert f"   user: {MASK}" in lines
        assert "b2xk" not in result.unified and "bmV3" not in result.unified
        assert "YWRtaW4=" not in result.unified

    def test_a_new_secret_is_masked_too(self) -> None:
        desired = {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "creds", "namespace": "shop"},
                   "stringData": {"password": "hunter2"}}
        result = diff_object(FakeServer(), desired, None, field_manager=OURS)
        assert "hunter2" not in result.unified and MASK in result.unified


class TestBodies:
    def test_apply_body_drops_what_the_server_owns(self) -> None:
        desired = deployment()
        desired["status"] = {}
        desired["metadata"] |= {"resourceVersion": "7", "uid": "u", "creationTimestamp": None,
                                "managedFields": []}
        assert apply_body(desired) == deployment()
        assert "status" in desired, "a copy is returned"

    def test_string_data_is_folded_into_data(self) -> None:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "data": {"a": "YQ=="}, "stringData": {"b": "b"}}
        assert apply_body(secret)["data"] == {"a": "YQ==", "b": "Yg=="}
        assert "stringData" not in apply_body(secret)

    def test_sync_body_without_a_diff_is_the_apply_body(self) -> None:
        assert sync_body(deployment(), None) == deployment()
