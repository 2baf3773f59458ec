"""What the ApplicationSet controller does to Applications, and the status it writes
(reconciler.appset.decide)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.appset.decide import (
    Failure,
    Owner,
    check_desired,
    is_owned,
    owner_reference,
    plan,
    requeues,
    status,
)
from reconciler.appset.spec import SyncPolicy, read_spec

OWNER = Owner("guestbook", "uid-appset")
NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def spec(policy: str | None = None, **more: Any) -> Any:
    raw: dict[str, Any] = {"generators": [{"list": {"elements": []}}],
                           "template": {"metadata": {"name": "x"}, "spec": {}}, **more}
    if policy:
        raw["syncPolicy"] = {"applicationsSync": policy}
    return read_spec(raw)


def app(name: str, path: str = "guestbook", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", **metadata},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example/apps.git", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": name}}}


def live(name: str, path: str = "guestbook", *, owned: bool = True, **metadata: Any
         ) -> dict[str, Any]:
    obj = app(name, path, uid=f"uid-{name}", resourceVersion="7", **metadata)
    if owned:
        obj["metadata"]["ownerReferences"] = [owner_reference(OWNER)]
    obj["status"] = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
    return obj


class TestPlan:
    def test_missing_applications_are_created_owned(self) -> None:
        result = plan([app("dev")], {}, owner=OWNER, spec=spec())
        [created] = result.creates
        assert created["metadata"]["ownerReferences"] == [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "name": "guestbook", "uid": "uid-appset", "controller": True,
            "blockOwnerDeletion": True}]
        assert is_owned(created, "uid-appset")
        assert not result.updates and not result.deletes

    def test_an_unchanged_application_is_left_alone(self) -> None:
        assert plan([app("dev")], {"dev": live("dev")}, owner=OWNER, spec=spec()).empty

    def test_a_changed_application_is_replaced_from_the_live_copy(self) -> None:
        current = live("dev", annotations={"argocd.argoproj.io/refresh": "hard",
                                           "team": "old"}, labels={"keep": "me"})
        current["operation"] = {"sync": {}}
        result = plan([app("dev", path="guestbook-v2")], {"dev": current}, owner=OWNER,
                      spec=spec())
        [updated] = result.updates
        assert updated["spec"]["source"]["path"] == "guestbook-v2"
        assert updated["metadata"]["resourceVersion"] == "7"  # a concurrent change: Conflict
        assert updated["metadata"]["annotations"] == {"argocd.argoproj.io/refresh": "hard"}
        assert "labels" not in updated["metadata"]  # not generated, not preserved
        assert updated["operation"] == {"sync": {}}
        assert "status" not in updated

    def test_preserved_fields_survive_an_update(self) -> None:
        current = live("dev", annotations={"team": "ops"}, labels={"keep": "me", "x": "y"},
                       finalizers=["post-delete-finalizer.argocd.argoproj.io/cleanup"])
        wanted = app("dev", path="v2", labels={"gen": "1"},
                     finalizers=["resources-finalizer.argocd.argoproj.io"])
        chosen = spec(preservedFields={"annotations": ["team"], "labels": ["keep"]})
        [updated] = plan([wanted], {"dev": current}, owner=OWNER, spec=chosen).updates
        assert updated["metadata"]["annotations"] == {"team": "ops"}
        assert updated["metadata"]["labels"] == {"gen": "1", "keep": "me"}
        assert updated["metadata"]["finalizers"] == [
            "resources-finalizer.argocd.argoproj.io",
            "post-delete-finalizer.argocd.argoproj.io/cleanup"]

    def test_applications_no_longer_generated_are_deleted_by_uid(self) -> None:
        result = plan([app("dev")], {"dev": live("dev"), "old": live("old")}, owner=OWNER,
                      spec=spec())
        assert result.deletes == [("old", "uid-old")]

    def test_an_application_controlled_by_another_owner_is_never_touched(self) -> None:
        other_owner = live("dev", path="theirs", owned=False)
        other_owner["metadata"]["ownerReferences"] = [
            {**owner_reference(Owner("other", "uid-other"))}]
        stray = live("stray", owned=False)  # not generated: never deleted either
        result = plan([app("dev")], {"dev": other_owner, "stray": stray}, owner=OWNER,
                      spec=spec())
        assert result.not_owned == ["dev"]
        assert result.empty

    def test_an_application_without_a_controller_owner_is_adopted(self) -> None:
        # Argo CD: createOrUpdate + SetControllerReference; other references are kept.
        theirs = live("dev", path="theirs", owned=False)
        plain = {"apiVersion": "v1", "kind": "ConfigMap", "name": "note", "uid": "uid-cm"}
        theirs["metadata"]["ownerReferences"] = [plain]
        result = plan([app("dev")], {"dev": theirs}, owner=OWNER, spec=spec())
        assert not result.not_owned
        [adopted] = result.updates
        assert adopted["metadata"]["ownerReferences"] == [plain, owner_reference(OWNER)]
        assert adopted["spec"]["source"]["path"] == "guestbook"
        assert adopted["metadata"]["resourceVersion"] == "7"

    @pytest.mark.parametrize("policy", ["create-only", "create-delete"])
    def test_no_adoption_when_the_policy_does_not_update(self, policy: str) -> None:
        theirs = live("dev", path="theirs", owned=False)
        result = plan([app("dev")], {"dev": theirs}, owner=OWNER, spec=spec(policy))
        assert result.not_owned == ["dev"]
        assert result.empty

    def test_an_owned_application_being_deleted_is_left_to_finish(self) -> None:
        going = live("dev", deletionTimestamp="2026-12-04T19:59:00Z")
        result = plan([app("dev", path="other")], {"dev": going}, owner=OWNER, spec=spec())
        assert result.empty
        assert plan([], {"dev": going}, owner=OWNER, spec=spec()).empty

    @pytest.mark.parametrize(("policy", "updates", "deletes"), [
        ("create-only", False, False), ("create-update", True, False),
        ("create-delete", False, True), ("sync", True, True), (None, True, True)])
    def test_applications_sync_policy(self, policy: str | None, updates: bool,
                                      deletes: bool) -> None:
        existing = {"dev": live("dev"), "old": live("old")}
        result = plan([app("dev", path="v2"), app("new")], existing, owner=OWNER,
                      spec=spec(policy))
        assert [c["metadata"]["name"] for c in result.creates] == ["new"]
        assert bool(result.updates) is updates
        assert bool(result.deletes) is deletes

    def test_policy_enum(self) -> None:
        assert SyncPolicy("create-update").allows_update
        assert not SyncPolicy("create-update").allows_delete


class TestCheckDesired:
    def test_duplicate_names_apply_nothing(self) -> None:
        failure = check_desired([app("dev"), app("prod"), app("dev")], "guestbook")
        assert failure is not None
        assert failure.reason == "ApplicationValidationError"
        assert "duplicate name: dev" in failure.message
        assert "nothing was applied" in failure.message

    def test_an_invalid_application_is_named(self) -> None:
        broken = app("dev")
        broken["spec"]["syncPolicy"] = {"automated": "yes"}
        failure = check_desired([broken], "guestbook")
        assert failure is not None and "invalid Application dev" in failure.message
        assert "spec.syncPolicy.automated" in failure.message

    def test_valid_ones_pass(self) -> None:
        assert check_desired([app("dev"), app("prod")], "guestbook") is None


class TestStatus:
    def test_all_good(self) -> None:
        new = status({}, failure=None, owned=[live("b"), live("a")], now=NOW)
        assert [(c["type"], c["status"], c["reason"]) for c in new["conditions"]] == [
            ("ErrorOccurred", "False", "ApplicationSetUpToDate"),
            ("ParametersGenerated", "True", "ParametersGenerated"),
            ("ResourcesUpToDate", "True", "ApplicationSetUpToDate")]
        assert [r["name"] for r in new["resources"]] == ["a", "b"]
        assert new["resources"][0] == {
            "group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
            "name": "a", "namespace": "argocd", "status": "Synced",
            "health": {"status": "Healthy"}}

    def test_a_bad_template_is_named_in_the_conditions(self) -> None:
        failure = Failure("RenderTemplateParamsError",
                          "template.spec.source.path: map has no entry for key \"env\"")
        new = status({}, failure=failure, owned=[], now=NOW)
        by_type = {c["type"]: c for c in new["conditions"]}
        assert by_type["ErrorOccurred"]["status"] == "True"
        assert by_type["ErrorOccurred"]["message"].startswith("template.spec.source.path")
        assert by_type["ParametersGenerated"]["status"] == "True"
        assert by_type["ResourcesUpToDate"]["status"] == "False"
        assert "resources" not in new

    def test_a_generator_problem_means_no_parameters(self) -> None:
        failure = Failure("ApplicationParamsGenerationError", "spec.generators[0]...", False)
        by_type = {c["type"]: c for c in status({}, failure=failure, owned=[],
                                                now=NOW)["conditions"]}
        assert by_type["ParametersGenerated"]["status"] == "False"
        assert by_type["ParametersGenerated"]["reason"] == "ErrorOccurred"

    def test_transition_times_are_kept_while_the_status_stays(self) -> None:
        first = status({}, failure=None, owned=[], now=NOW)
        later = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
        again = status(copy.deepcopy(first), failure=None, owned=[], now=later)
        assert again["conditions"] == first["conditions"]
        broken = status(first, failure=Failure("X", "bad"), owned=[], now=later)
        times = {c["type"]: c["lastTransitionTime"] for c in broken["conditions"]}
        assert times == {"ErrorOccurred": "2026-12-04T21:00:00Z",
                         "ParametersGenerated": "2026-12-04T20:00:00Z",
                         "ResourcesUpToDate": "2026-12-04T21:00:00Z"}


class TestRequeues:
    def test_creation_is_ignored_deletion_counts(self) -> None:
        assert not requeues("ADDED", live("dev"), None)
        assert requeues("DELETED", live("dev"), live("dev"))

    def test_status_writes_count_only_when_status_resources_shows_them(self) -> None:
        before = live("dev")
        noise = copy.deepcopy(before)
        noise["status"]["reconciledAt"] = "2026-12-04T20:00:00Z"
        noise["status"]["operationState"] = {"phase": "Running"}
        assert not requeues("MODIFIED", noise, before)
        for field, value in (("sync", {"status": "OutOfSync"}),
                             ("health", {"status": "Healthy", "message": "now"})):
            changed = copy.deepcopy(before)
            changed["status"][field] = value
            assert requeues("MODIFIED", changed, before), field

    def test_what_the_application_set_writes_counts(self) -> None:
        before = live("dev")
        changes: list[dict[str, Any]] = [
            {"labels": {"x": "y"}}, {"annotations": {"x": "y"}}, {"finalizers": ["f"]},
            {"ownerReferences": []}, {"deletionTimestamp": "2026-12-04T20:00:00Z"}]
        for change in changes:
            changed = copy.deepcopy(before)
            changed["metadata"].update(change)
            assert requeues("MODIFIED", changed, before), change
        changed = copy.deepcopy(before)
        changed["spec"]["source"]["path"] = "other"
        assert requeues("MODIFIED", changed, before)
