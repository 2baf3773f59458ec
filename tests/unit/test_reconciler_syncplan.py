"""Sync plans: phases, waves, kind order, hooks and pruning, as Argo CD orders a sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler.diff import ObjectDiff
from reconciler.syncplan import SyncOptions, SyncPhase, SyncPlan, plan_sync
from reconciler.syncplan_annotations import HookDeletePolicy
from reconciler.tracking import ResourceKey, resource_key, with_tracking

COMPAT_APPS = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "gitops-apps"
APP = "shop"
PRUNE = SyncOptions(prune=True)


def read_yaml(path: Path) -> list[dict[str, Any]]:
    # Some compat files end lines with tabs, which Go's YAML accepts and PyYAML does not.
    text = "\n".join(line.rstrip() for line in path.read_text().splitlines())
    return [d for d in yaml.safe_load_all(text) if d]


def read_app(directory: Path) -> list[dict[str, Any]]:
    """The objects of a plain or Kustomize source (resources and bases, no transforms)."""
    kustomization = directory / "kustomization.yaml"
    if not kustomization.exists():
        return [d for f in sorted(directory.glob("*.yaml")) for d in read_yaml(f)]
    spec = yaml.safe_load(kustomization.read_text())
    objects: list[dict[str, Any]] = []
    for entry in [*(spec.get("bases") or []), *(spec.get("resources") or [])]:
        path = directory / entry
        objects += read_app(path) if path.is_dir() else read_yaml(path)
    return objects


def in_namespace(objects: list[dict[str, Any]], namespace: str = "demo"
                 ) -> list[dict[str, Any]]:
    for obj in objects:
        obj["metadata"].setdefault("namespace", namespace)
    return objects


def obj(kind: str, name: str, api_version: str = "v1", wave: int | None = None,
        namespace: str | None = "demo", annotations: dict[str, str] | None = None
        ) -> dict[str, Any]:
    annotations = dict(annotations or {})
    if wave is not None:
        annotations["argocd.argoproj.io/sync-wave"] = str(wave)
    metadata: dict[str, Any] = {"name": name, "annotations": annotations}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def hook(phase: str, name: str, wave: int | None = None) -> dict[str, Any]:
    return obj("Job", name, "batch/v1", wave, annotations={"argocd.argoproj.io/hook": phase})


def tracked(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    return [with_tracking(o, APP) for o in objects]


def summary(plan: SyncPlan) -> list[tuple[str, int, list[str], list[str], list[str]]]:
    """Each step as (phase, wave, pruned, applied, hooks), objects as `Kind/name`."""
    def names(objects: list[dict[str, Any]]) -> list[str]:
        return [f"{o['kind']}/{resource_key(o).name}" for o in objects]
    return [(str(s.phase), s.wave, names(s.objects_to_prune), names(s.objects_to_apply),
             names([h.object for h in s.hooks_to_run])) for s in plan.steps]


class TestCompatApps:
    def test_sync_waves_runs_presync_then_waves_ascending_with_their_hooks(self) -> None:
        desired = in_namespace(read_app(COMPAT_APPS / "sync-waves"))
        plan = plan_sync(APP, desired, [], None, SyncOptions())
        assert summary(plan) == [
            ("PreSync", 0, [], [], ["Job/upgrade-sql-schema"]),
            ("Sync", 0, [], ["Service/backend", "ReplicaSet/backend"], []),
            ("Sync", 1, [], [], ["Job/maint-page-up"]),
            ("Sync", 2, [], ["Service/frontend", "ReplicaSet/frontend"], []),
            ("Sync", 3, [], [], ["Job/maint-page-down"]),
        ]
        assert plan.warnings == [] and plan.refused is None
        schema_hook = plan.steps[0].hooks_to_run[0]
        assert schema_hook.generated_name
        assert schema_hook.delete_policies == {HookDeletePolicy.BEFORE_HOOK_CREATION}

    def test_pre_post_sync_wraps_the_app_in_its_hooks(self) -> None:
        desired = in_namespace(read_app(COMPAT_APPS / "pre-post-sync"))
        plan = plan_sync(APP, desired, [], None, SyncOptions())
        assert summary(plan) == [
            ("PreSync", 0, [], [], ["Job/before"]),
            ("Sync", 0, [], ["Service/guestbook-ui", "Deployment/guestbook-ui"], []),
            ("PostSync", 0, [], [], ["Job/after"]),
        ]
        assert all(h.delete_policies == {HookDeletePolicy.HOOK_SUCCEEDED}
                   for s in plan.steps for h in s.hooks_to_run)


class TestOrder:
    def test_within_a_wave_kinds_follow_argo_cds_order_then_names(self) -> None:
        desired = [
            obj("Widget", "b", "example.com/v1"), obj("Ingress", "web", "networking.k8s.io/v1"),
            obj("Deployment", "web", "apps/v1"), obj("Service", "web"),
            obj("ClusterRole", "reader", "rbac.authorization.k8s.io/v1", namespace=None),
            obj("CustomResourceDefinition", "widgets.example.com", "apiextensions.k8s.io/v1",
                namespace=None),
            obj("ConfigMap", "b"), obj("ConfigMap", "a"), obj("Secret", "creds"),
            obj("ServiceAccount", "web"), obj("Namespace", "demo", namespace=None),
            obj("Gadget", "a", "example.com/v1"),
        ]
        (step,) = plan_sync(APP, desired, [], None, SyncOptions()).steps
        assert [f"{o['kind']}/{o['metadata']['name']}" for o in step.objects_to_apply] == [
            "Namespace/demo", "ServiceAccount/web", "Secret/creds", "ConfigMap/a",
            "ConfigMap/b", "CustomResourceDefinition/widgets.example.com",
            "ClusterRole/reader", "Service/web", "Deployment/web", "Ingress/web",
            "Gadget/a", "Widget/b",
        ]

    def test_a_namespace_and_a_crd_move_to_the_first_step_that_needs_them(self) -> None:
        crd = obj("CustomResourceDefinition", "widgets.example.com", "apiextensions.k8s.io/v1",
                  wave=3, namespace=None)
        crd["spec"] = {"group": "example.com", "names": {"kind": "Widget"}}
        desired = [obj("Namespace", "demo", wave=5, namespace=None), crd,
                   obj("ConfigMap", "settings", wave=1), obj("Widget", "w", "example.com/v1",
                                                             wave=2),
                   hook("PreSync", "migrate")]
        plan = plan_sync(APP, desired, [], None, SyncOptions())
        assert summary(plan) == [
            ("PreSync", 0, [], ["Namespace/demo"], ["Job/migrate"]),
            ("Sync", 1, [], ["ConfigMap/settings"], []),
            ("Sync", 2, [], ["CustomResourceDefinition/widgets.example.com", "Widget/w"], []),
        ]

    def test_a_hook_in_several_phases_runs_in_each_and_sync_fail_only_on_failure(self) -> None:
        desired = [obj("Service", "web"), hook("PreSync,PostSync", "notify"),
                   hook("SyncFail", "page-oncall"), hook("Skip", "manual")]
        plan = plan_sync(APP, desired, [], None, SyncOptions())
        assert summary(plan) == [
            ("PreSync", 0, [], [], ["Job/notify"]),
            ("Sync", 0, [], ["Service/web"], []),
            ("PostSync", 0, [], [], ["Job/notify"]),
        ]
        assert [(str(s.phase), [h.key.name for h in s.hooks_to_run]) for s in plan.on_fail] \
            == [("SyncFail", ["page-oncall"])]
        assert plan.skipped == {ResourceKey("batch", "Job", "demo", "manual"):
                                "argocd.argoproj.io/hook: Skip"}

    def test_helm_hooks_and_weights_are_read_when_argo_cd_annotations_are_absent(self) -> None:
        helm_hook = obj("Job", "db-init", "batch/v1", annotations={
            "helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-5",
            "helm.sh/hook-delete-policy": "hook-succeeded"})
        helm_test = obj("Pod", "test-connection", annotations={"helm.sh/hook": "test"})
        plan = plan_sync(APP, [helm_hook, helm_test], [], None, SyncOptions())
        assert summary(plan) == [("PreSync", -5, [], [], ["Job/db-init"]),
                                 ("Sync", 0, [], ["Pod/test-connection"], [])]
        assert plan.steps[0].hooks_to_run[0].delete_policies == {
            HookDeletePolicy.HOOK_SUCCEEDED}

    def test_bad_annotations_are_warnings_not_failures(self) -> None:
        desired = [obj("Service", "web", annotations={"argocd.argoproj.io/sync-wave": "soon"}),
                   hook("Presync", "typo"), hook("PostDelete", "cleanup")]
        plan = plan_sync(APP, desired, [], None, SyncOptions())
        assert summary(plan) == [("Sync", 0, [], ["Service/web"], [])]
        assert plan.skipped == {resource_key(desired[1]): "unknown hook type 'Presync'"}
        assert len(plan.warnings) == 3
        assert "'soon' is not an integer" in plan.warnings[0]
        assert "unknown hook type 'Presync'" in plan.warnings[1]
        assert "PostDelete hooks are not implemented" in plan.warnings[2]


class TestPrune:
    def test_objects_that_left_git_are_pruned_in_reverse_wave_order(self) -> None:
        live = tracked(obj("ConfigMap", "first", wave=0), obj("ConfigMap", "middle", wave=1),
                       obj("ConfigMap", "last", wave=5), obj("Service", "kept", wave=0))
        desired = [obj("Service", "kept", wave=0), obj("Deployment", "web", "apps/v1", wave=2)]
        plan = plan_sync(APP, desired, live, None, PRUNE)
        assert [k.name for k in plan.prune] == ["last", "middle", "first"]
        assert summary(plan) == [
            ("Sync", 0, ["ConfigMap/last"], ["Service/kept"], []),
            ("Sync", 1, ["ConfigMap/middle"], [], []),
            ("Sync", 2, [], ["Deployment/web"], []),
            ("Sync", 5, ["ConfigMap/first"], [], []),
        ]

    def test_prune_last_prunes_after_the_last_sync_wave_before_post_sync(self) -> None:
        live = tracked(obj("ConfigMap", "old", wave=0), obj("Secret", "older", wave=4))
        desired = [obj("Service", "web", wave=2), hook("PostSync", "smoke-test")]
        plan = plan_sync(APP, desired, live, None, SyncOptions(prune=True, prune_last=True))
        assert summary(plan) == [
            ("Sync", 2, [], ["Service/web"], []),
            ("Sync", 3, ["Secret/older", "ConfigMap/old"], [], []),
            ("PostSync", 0, [], [], ["Job/smoke-test"]),
        ]

    def test_prune_last_on_one_object(self) -> None:
        live = tracked(obj("ConfigMap", "late", annotations={
            "argocd.argoproj.io/sync-options": "PruneLast=true"}), obj("ConfigMap", "early"))
        plan = plan_sync(APP, [obj("Service", "web", wave=1)], live, None, PRUNE)
        assert summary(plan) == [("Sync", 0, ["ConfigMap/early"], [], []),
                                 ("Sync", 1, [], ["Service/web"], []),
                                 ("Sync", 2, ["ConfigMap/late"], [], [])]

    def test_what_is_never_pruned(self) -> None:
        untracked = obj("ConfigMap", "someone-elses")
        other_app = with_tracking(obj("ConfigMap", "other"), "other-app")
        replica_set = obj("ReplicaSet", "web-5d8f", "apps/v1")
        replica_set["metadata"]["annotations"] = tracked(obj("Deployment", "web", "apps/v1"))[
            0]["metadata"]["annotations"]  # inherited from its Deployment
        old_hook = with_tracking(hook("PreSync", "migrate"), APP)
        kept = with_tracking(obj("ConfigMap", "keep", annotations={
            "argocd.argoproj.io/sync-options": "Prune=false"}), APP)
        confirm = with_tracking(obj("ConfigMap", "confirm", annotations={
            "argocd.argoproj.io/sync-options": "Prune=confirm"}), APP)
        skipped = with_tracking(hook("Skip", "manual"), APP)
        plan = plan_sync(APP, [obj("Service", "web"), hook("Skip", "manual")],
                         [untracked, other_app, replica_set, old_hook, kept, confirm, skipped],
                         None, PRUNE)
        assert plan.prune == []
        assert plan.prune_skipped == {
            resource_key(kept): "Prune=false",
            resource_key(confirm): "Prune=confirm (confirming a prune is not implemented)"}

    def test_without_prune_objects_are_only_reported(self) -> None:
        live = tracked(obj("ConfigMap", "old"))
        plan = plan_sync(APP, [obj("Service", "web")], live, None, SyncOptions())
        assert plan.prune == []
        assert plan.prune_skipped == {resource_key(live[0]): "requires pruning (prune is off)"}

    def test_an_empty_render_prunes_nothing_without_allow_empty(self) -> None:
        live = tracked(obj("ConfigMap", "a"), obj("Service", "b"))
        plan = plan_sync(APP, [], live, None, SyncOptions(prune=True, automated=True))
        assert plan.refused == ("empty render: refusing to prune 2 objects; set "
                                "syncPolicy.automated.allowEmpty to allow")
        assert plan.steps == [] and plan.prune == [] and plan.is_empty
        assert set(plan.prune_skipped.values()) == {"empty render"}

        allowed = plan_sync(APP, [], live, None,
                            SyncOptions(prune=True, automated=True, allow_empty=True))
        assert allowed.refused is None
        assert [k.name for k in allowed.prune] == ["a", "b"]

    def test_an_empty_render_with_nothing_to_prune_is_not_refused(self) -> None:
        assert plan_sync(APP, [], tracked(obj("ConfigMap", "a")), None,
                         SyncOptions()).refused is None
        assert plan_sync(APP, [], [], None, PRUNE).refused is None


class TestOptions:
    def test_apply_out_of_sync_only_skips_unchanged_objects_but_never_hooks(self) -> None:
        same, changed = obj("ConfigMap", "same"), obj("ConfigMap", "changed")
        diffs = {resource_key(o): ObjectDiff(resource_key(o), True, o is changed, None, None, "")
                 for o in (same, changed)}
        desired = [same, changed, obj("ConfigMap", "new"), hook("PreSync", "migrate")]
        plan = plan_sync(APP, desired, [], diffs, SyncOptions(apply_out_of_sync_only=True))
        assert summary(plan) == [("PreSync", 0, [], [], ["Job/migrate"]),
                                 ("Sync", 0, [], ["ConfigMap/changed", "ConfigMap/new"], [])]
        assert plan.skipped == {resource_key(same): "in sync (ApplyOutOfSyncOnly)"}

        everything = plan_sync(APP, desired, [], diffs, SyncOptions())
        assert len(everything.steps[1].objects_to_apply) == 3

    def test_create_namespace_comes_first_unless_git_has_it(self) -> None:
        options = SyncOptions(create_namespace=True)
        plan = plan_sync(APP, [obj("Service", "web")], [], None, options,
                         destination_namespace="demo")
        assert plan.create_namespace == "demo"
        with_namespace = plan_sync(APP, [obj("Service", "web"),
                                         obj("Namespace", "demo", namespace=None)],
                                   [], None, options, destination_namespace="demo")
        assert with_namespace.create_namespace is None
        assert plan_sync(APP, [obj("Service", "web")], [], None, SyncOptions(),
                         destination_namespace="demo").create_namespace is None

    def test_option_warnings_reach_the_plan(self) -> None:
        options = SyncOptions.parse(["Replace=true"])
        plan = plan_sync(APP, [obj("Service", "web")], [], None, options)
        assert plan.options is options
        assert plan.warnings == list(options.warnings) and len(plan.warnings) == 1

    def test_steps_read_well(self) -> None:
        plan = plan_sync(APP, [obj("Service", "web"), hook("PreSync", "migrate")], [], None,
                         SyncOptions())
        assert [str(s) for s in plan.steps] == [
            "PreSync wave 0: hooks [batch/Job demo/migrate]",
            "Sync wave 0: apply [Service demo/web]",
        ]
        assert plan.steps[0].phase is SyncPhase.PRE_SYNC
