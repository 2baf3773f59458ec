"""Deleting an Application (reconciler.deletion.plan): which finalizer cascades how, what
stays, wave order, waiting, and the bound that keeps a deletion from hanging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import reconciler.deletion as deletion
from reconciler.deletion import (
    BACKGROUND_FINALIZER,
    DELETION_TIMEOUT,
    FOREGROUND_FINALIZER,
    RESOURCES_FINALIZER,
    cascade_policy,
    kept_because,
    plan_deletion,
    without_cascade_finalizers,
)
from reconciler.tracking import ResourceKey

DELETED_AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
APP = ResourceKey("argoproj.io", "Application", "rollouts", "root")


def obj(kind: str, name: str, *, api: str = "v1", namespace: str = "apps", wave: int | None = None,
        annotations: dict[str, str] | None = None, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "annotations": dict(annotations or {})}
    if namespace:
        metadata["namespace"] = namespace
    if wave is not None:
        metadata["annotations"]["argocd.argoproj.io/sync-wave"] = str(wave)
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-04T12:00:01Z"
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def plan(objects: list[dict[str, Any]], *, after: timedelta = timedelta(seconds=1),
         **kwargs: Any) -> deletion.DeletionPlan:
    return plan_deletion(objects, app_key=APP, deletion_started=DELETED_AT,
                         now=DELETED_AT + after, **kwargs)


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def test_the_public_surface() -> None:
    assert set(deletion.__all__) == {
        "BACKGROUND_FINALIZER", "CASCADE_FINALIZERS", "DELETION_TIMEOUT",
        "FOREGROUND_FINALIZER", "RESOURCES_FINALIZER", "DeletionPass", "DeletionPlan",
        "cascade_policy", "deletion_pass", "kept_because", "plan_deletion",
        "without_cascade_finalizers"}


class TestWhichFinalizerCascadesHow:
    def test_the_plain_finalizer_is_foreground(self) -> None:
        assert cascade_policy([RESOURCES_FINALIZER]) == "Foreground"
        assert RESOURCES_FINALIZER == "resources-finalizer.argocd.argoproj.io"

    def test_the_variants_name_their_policy(self) -> None:
        assert cascade_policy([FOREGROUND_FINALIZER]) == "Foreground"
        assert cascade_policy([BACKGROUND_FINALIZER]) == "Background"
        assert BACKGROUND_FINALIZER == "resources-finalizer.argocd.argoproj.io/background"

    def test_the_first_finalizer_naming_a_policy_wins(self) -> None:
        assert cascade_policy([RESOURCES_FINALIZER, BACKGROUND_FINALIZER]) == "Background"
        assert cascade_policy([FOREGROUND_FINALIZER, BACKGROUND_FINALIZER]) == "Foreground"

    def test_without_one_nothing_cascades(self) -> None:
        assert cascade_policy([]) is None
        assert cascade_policy(["foregroundDeletion", "example.com/other", 3]) is None

    def test_removing_keeps_everyone_elses_finalizers(self) -> None:
        assert without_cascade_finalizers(
            ["foregroundDeletion", RESOURCES_FINALIZER, BACKGROUND_FINALIZER, "x.io/y"]
        ) == ["foregroundDeletion", "x.io/y"]


class TestWhatStays:
    def test_delete_false_stays(self) -> None:
        pvc = obj("PersistentVolumeClaim", "data",
                  annotations={"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"})
        assert "Delete=false" in (kept_because(pvc, app_key=APP) or "")

    def test_helm_keep_stays(self) -> None:
        kept = obj("Secret", "s", annotations={"helm.sh/resource-policy": "keep"})
        assert kept_because(kept, app_key=APP) is not None

    def test_crds_and_the_app_itself_stay(self) -> None:
        crd = obj("CustomResourceDefinition", "widgets.example.com",
                  api="apiextensions.k8s.io/v1", namespace="")
        itself = obj("Application", "root", api="argoproj.io/v1alpha1", namespace="rollouts")
        assert kept_because(crd, app_key=APP) is not None
        assert kept_because(itself, app_key=APP) is not None

    def test_other_objects_go(self) -> None:
        child = obj("Application", "child", api="argoproj.io/v1alpha1", namespace="rollouts")
        assert kept_because(child, app_key=APP) is None
        assert kept_because(obj("ConfigMap", "c",
                                annotations={"argocd.argoproj.io/sync-options": "Prune=false"}),
                            app_key=APP) is None

    def test_only_kept_objects_left_means_done(self) -> None:
        result = plan([obj("ConfigMap", "c",
                           annotations={"argocd.argoproj.io/sync-options": "Delete=false"})])
        assert result.done and result.remove_finalizer and not result.delete
        assert [key.name for key, _ in result.kept] == ["c"]

    def test_objects_the_project_forbids_stay(self) -> None:
        secret = obj("Secret", "theirs")
        result = plan([secret, obj("ConfigMap", "ours")],
                      forbidden={ResourceKey("", "Secret", "apps", "theirs"): "not permitted"})
        assert names(result.delete) == ["ours"]
        assert result.kept == [(ResourceKey("", "Secret", "apps", "theirs"), "not permitted")]


class TestOrder:
    def test_nothing_left_removes_the_finalizer(self) -> None:
        result = plan([])
        assert result.done and result.remove_finalizer and not result.gave_up

    def test_the_highest_wave_goes_first(self) -> None:
        objects = [obj("ConfigMap", "zero"), obj("ConfigMap", "two-b", wave=2),
                   obj("ConfigMap", "minus", wave=-1), obj("ConfigMap", "two-a", wave=2)]
        result = plan(objects)
        assert names(result.delete) == ["two-a", "two-b"]
        assert not result.remove_finalizer

    def test_objects_being_deleted_are_waited_for(self) -> None:
        # A child Application deleting its own resources holds up its parent.
        child = obj("Application", "a", api="argoproj.io/v1alpha1", namespace="rollouts",
                    deleting=True)
        result = plan([child, obj("Application", "b", api="argoproj.io/v1alpha1",
                                  namespace="rollouts")])
        assert result.waiting == [ResourceKey("argoproj.io", "Application", "rollouts", "a")]
        assert not result.delete and not result.remove_finalizer

    def test_the_next_wave_once_the_previous_is_gone(self) -> None:
        result = plan([obj("ConfigMap", "low", wave=0)])
        assert names(result.delete) == ["low"]


class TestADeletionNeverHangs:
    def test_past_the_timeout_the_finalizer_goes_and_says_what_is_left(self) -> None:
        stuck = obj("ConfigMap", "stuck", deleting=True)
        result = plan([stuck], after=DELETION_TIMEOUT)
        assert result.gave_up and result.remove_finalizer and not result.done
        assert result.left == [ResourceKey("", "ConfigMap", "apps", "stuck")]
        assert not result.delete

    def test_just_before_the_timeout_it_still_waits(self) -> None:
        stuck = obj("ConfigMap", "stuck", deleting=True)
        result = plan([stuck], after=DELETION_TIMEOUT - timedelta(seconds=1))
        assert not result.remove_finalizer and result.waiting

    def test_the_timeout_is_an_argument(self) -> None:
        result = plan([obj("ConfigMap", "c")], after=timedelta(seconds=11),
                      timeout=timedelta(seconds=10))
        assert result.gave_up


# -- the controller's edges: an app whose resources cannot be found loses the finalizer ------


def _deleting_app(finalizers: list[str], **destination: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "rollouts", "uid": "u1",
                         "resourceVersion": "7", "finalizers": finalizers,
                         "deletionTimestamp": "2026-12-04T12:00:00Z"},
            "spec": {"project": "default", "destination": {**destination, "namespace": "web"},
                     "source": {"repoURL": "https://git.example/a.git", "path": "shop"}}}


class _Recorder:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    def patch(self, _kind: Any, _namespace: Any, _name: str, body: dict[str, Any]
              ) -> dict[str, Any]:
        self.patches.append(body)
        return {"metadata": {"resourceVersion": "8"}}

    def emit_event(self, _obj: Any, type_: str, reason: str, message: str, **_: Any) -> bool:
        self.events.append((type_, reason, message))
        return True


def _controller(tmp_path: Any, recorder: _Recorder, **options: Any) -> Any:
    from reconciler.controller import ApplicationController
    from rollouts.kube import KubeClient

    client = KubeClient.for_server("https://127.0.0.1:9")  # never contacted here
    controller = ApplicationController(client, namespace="rollouts", repo_cache=tmp_path,
                                       **options)
    controller.client.patch = recorder.patch  # type: ignore[method-assign, assignment]
    controller.client.emit_event = recorder.emit_event  # type: ignore[method-assign, assignment]
    return controller


def test_an_unknown_destination_removes_the_finalizer_and_says_what_stays(tmp_path: Any) -> None:
    recorder = _Recorder()
    controller = _controller(tmp_path, recorder)
    raw = _deleting_app([RESOURCES_FINALIZER, "example.com/theirs"], name="prod")
    controller._deleting("rollouts/shop", raw)
    assert recorder.patches == [{"metadata": {"finalizers": ["example.com/theirs"],
                                              "resourceVersion": "7"}}]
    [(type_, reason, message)] = recorder.events
    assert (type_, reason) == ("Warning", "DeletionError")
    assert "resources left in place" in message and "prod" in message
    controller.destinations.stop()


def test_without_the_finalizer_the_controller_does_nothing(tmp_path: Any) -> None:
    recorder = _Recorder()
    controller = _controller(tmp_path, recorder)
    controller._deleting("rollouts/shop", _deleting_app(["example.com/theirs"], name="prod"))
    assert recorder.patches == [] and recorder.events == []
    controller.destinations.stop()


def test_an_app_in_a_namespace_not_served_is_left_alone(tmp_path: Any) -> None:
    recorder = _Recorder()
    controller = _controller(tmp_path, recorder)
    raw = _deleting_app([RESOURCES_FINALIZER], name="prod")
    raw["metadata"]["namespace"] = "tenant"
    controller._deleting("tenant/shop", raw)
    assert recorder.patches == [] and recorder.events == []
    controller.destinations.stop()


def test_a_project_that_does_not_permit_the_apps_namespace_deletes_nothing(
        tmp_path: Any) -> None:
    from rollouts.kube import WatchEvent

    recorder = _Recorder()
    controller = _controller(tmp_path, recorder, application_namespaces=("tenant",))
    controller.projects.informer._apply(WatchEvent("ADDED", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "default", "namespace": "rollouts", "resourceVersion": "1"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}}))
    raw = _deleting_app([RESOURCES_FINALIZER], server="https://kubernetes.default.svc")
    raw["metadata"]["namespace"] = "tenant"
    controller._deleting("tenant/shop", raw)
    assert recorder.patches == [{"metadata": {"finalizers": None, "resourceVersion": "7"}}]
    [(type_, reason, message)] = recorder.events
    assert (type_, reason) == ("Warning", "DeletionError") and "tenant" in message
    controller.destinations.stop()
