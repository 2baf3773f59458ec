"""The sync executor against a ten-line fake API server: order, waits, hooks, resuming.

Each test runs passes the way the controller does (results of one pass go into the next)
and changes the fake cluster in between the way controllers would (a Job completes).
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.sync import SYNC_ID_ANNOTATION, AppliedVersions, SyncExecutor, SyncPass
from reconciler.syncplan import SyncOptions, plan_sync
from reconciler.tracking import resource_key, with_tracking
from rollouts.api.phases import OperationPhase
from rollouts.kube import AlreadyExists, Invalid, Kind, NotFound, kind_for

APP = "shop"
REV = "0123456789" * 4
Obj = dict[str, Any]


class FakeCluster:
    """Objects by (kind, namespace, name); writes bump a resourceVersion."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[str] = []
        self.version = 0
        self.refuse: set[str] = set()

    def discover_kind(self, api_version: str, kind: str) -> Kind:
        found = kind_for(api_version, kind)
        assert found is not None, (api_version, kind)
        return found

    def _key(self, obj: Obj) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return obj["kind"], meta.get("namespace") or "", meta["name"]

    def _store(self, body: Obj) -> Obj:
        self.version += 1
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[self._key(obj)] = obj
        return copy.deepcopy(obj)

    def apply(self, kind: Kind, namespace: str | None, body: Obj, field_manager: str,
              force: bool = True, dry_run: bool = False) -> Obj:
        if body["metadata"]["name"] in self.refuse:
            raise Invalid("spec.selector: field is immutable")
        self.calls.append(f"apply{' dry-run' if dry_run else ''} {body['metadata']['name']}")
        return body if dry_run else self._store(body)

    def create(self, kind: Kind, namespace: str | None, body: Obj, dry_run: bool = False
               ) -> Obj:
        if self._key(body) in self.objects:
            raise AlreadyExists("exists", 409, "AlreadyExists")
        self.calls.append(f"create {body['metadata']['name']}")
        return self._store(body)

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        found = self.objects.get((kind.kind, namespace or "", name))
        if found is None:
            raise NotFound("not found", 404, "NotFound")
        return found

    def delete(self, kind: Kind, namespace: str | None, name: str,
               propagation: str = "Background") -> bool:
        self.calls.append(f"delete {name} ({propagation})")
        return self.objects.pop((kind.kind, namespace or "", name), None) is not None

    def live(self, obj: Obj) -> Obj | None:
        return self.objects.get(self._key(obj))

    def finish_jobs(self, *, failed: tuple[str, ...] = ()) -> None:
        for (kind, _, name), obj in self.objects.items():
            if kind == "Job" and not obj.get("status"):
                state = "Failed" if any(name.startswith(f) for f in failed) else "Complete"
                obj["status"] = {"conditions": [{"type": state, "status": "True"}]}


def obj(kind: str, name: str, *, api: str = "v1", wave: int | None = None,
        hook: str | None = None, annotations: dict[str, str] | None = None) -> Obj:
    notes = dict(annotations or {})
    if wave is not None:
        notes["argocd.argoproj.io/sync-wave"] = str(wave)
    if hook is not None:
        notes["argocd.argoproj.io/hook"] = hook
    metadata: Obj = {"namespace": "web", "annotations": notes}
    metadata["generateName" if name.endswith("-") else "name"] = name
    return with_tracking({"apiVersion": api, "kind": kind, "metadata": metadata}, APP)


def job(name: str, hook: str, annotations: dict[str, str] | None = None) -> Obj:
    return obj("Job", name, api="batch/v1", hook=hook, annotations=annotations)


def run(cluster: FakeCluster, desired: list[Obj], results: list[Obj] | None = None, *,
        options: SyncOptions | None = None, applied: AppliedVersions | None = None,
        live: list[Obj] | None = None) -> SyncPass:
    plan = plan_sync(APP, desired, live or [], None, options or SyncOptions(prune=True),
                     destination_namespace="web")
    executor = SyncExecutor(cluster, app_name=APP, field_manager="rollouts-reconciler",
                            live=cluster.live, applied=applied or AppliedVersions())
    return executor.run(plan, {}, op_id="1700000000", revision=REV, results=results or [])


def until_done(cluster: FakeCluster, desired: list[Obj], **kwargs: Any) -> list[SyncPass]:
    passes = [run(cluster, desired, **kwargs)]
    while passes[-1].phase is OperationPhase.RUNNING and len(passes) < 20:
        cluster.finish_jobs()
        passes.append(run(cluster, desired, passes[-1].results, **kwargs))
    return passes


def order(result: SyncPass) -> list[tuple[str, str, str]]:
    return [(r["syncPhase"], r["name"], r.get("hookPhase") or r["status"])
            for r in result.results]


class TestOrder:
    def test_waves_are_applied_one_pass_at_a_time_and_the_last_needs_no_wait(self) -> None:
        cluster = FakeCluster()
        desired = [obj("ConfigMap", "late", wave=1), obj("ConfigMap", "early")]
        first = run(cluster, desired)
        assert first.phase is OperationPhase.RUNNING
        assert cluster.calls == ["apply early"]
        second = run(cluster, desired, first.results)
        assert second.phase is OperationPhase.SUCCEEDED
        assert cluster.calls == ["apply early", "apply late"]
        assert order(second) == [("Sync", "early", "Synced"), ("Sync", "late", "Synced")]
        assert second.results[0]["message"] == "configmap/early created"

    def test_hooks_wrap_the_sync_and_generated_names_derive_from_the_operation(self) -> None:
        cluster = FakeCluster()
        desired = [job("migrate-", "PreSync"), obj("ConfigMap", "app"),
                   job("smoke", "PostSync", {
                       "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"})]
        passes = until_done(cluster, desired)
        assert passes[-1].phase is OperationPhase.SUCCEEDED
        name = f"migrate-{REV[:7]}-presync-1700000000"
        assert order(passes[-1]) == [("PreSync", name, "Succeeded"), ("Sync", "app", "Synced"),
                                     ("PostSync", "smoke", "Succeeded")]
        assert cluster.calls == [f"create {name}", "apply app", "create smoke",
                                 "delete smoke (Background)"]
        created = cluster.objects[("Job", "web", name)]
        assert created["metadata"]["annotations"][SYNC_ID_ANNOTATION] == "1700000000"
        assert created["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == \
            f"{APP}:batch/Job:web/{name}"


class TestFailures:
    def test_a_failed_hook_stops_the_sync_and_runs_syncfail_hooks(self) -> None:
        cluster = FakeCluster()
        desired = [job("migrate", "PreSync"), obj("ConfigMap", "app"),
                   job("cleanup", "SyncFail")]
        first = run(cluster, desired)
        cluster.finish_jobs(failed=("migrate",))
        passes = [first, run(cluster, desired, first.results)]
        while passes[-1].phase is OperationPhase.RUNNING:
            cluster.finish_jobs()
            passes.append(run(cluster, desired, passes[-1].results))
        assert passes[-1].phase is OperationPhase.FAILED
        assert passes[-1].message.startswith("job.batch/migrate:")
        assert order(passes[-1]) == [("PreSync", "migrate", "Failed"),
                                     ("SyncFail", "cleanup", "Succeeded")]
        assert "apply app" not in cluster.calls

    def test_a_refused_apply_fails_the_operation_with_the_servers_message(self) -> None:
        cluster = FakeCluster()
        cluster.refuse.add("app")
        result = run(cluster, [obj("ConfigMap", "app")])
        assert result.phase is OperationPhase.FAILED
        assert "field is immutable" in result.message

    def test_an_empty_render_prunes_nothing_without_allow_empty(self) -> None:
        cluster = FakeCluster()
        live = obj("ConfigMap", "old")
        cluster.objects[("ConfigMap", "web", "old")] = live
        result = run(cluster, [], live=[live])
        assert result.phase is OperationPhase.FAILED
        assert "empty render" in result.message
        assert cluster.calls == []


class TestResuming:
    def test_a_pass_after_a_restart_does_not_repeat_what_was_recorded(self) -> None:
        cluster = FakeCluster()
        desired = [job("migrate", "PreSync"), obj("ConfigMap", "app")]
        first = run(cluster, desired)
        cluster.finish_jobs()
        after_restart = run(cluster, desired, first.results, applied=AppliedVersions())
        final = run(cluster, desired, after_restart.results)
        assert final.phase is OperationPhase.SUCCEEDED
        assert cluster.calls == ["create migrate", "apply app"]

    def test_a_hook_left_by_an_earlier_sync_is_deleted_before_it_is_created_again(
            self) -> None:
        cluster = FakeCluster()
        old = copy.deepcopy(job("migrate", "PreSync"))
        old["metadata"]["annotations"][SYNC_ID_ANNOTATION] = "an-earlier-sync"
        cluster.objects[("Job", "web", "migrate")] = old
        first = run(cluster, [job("migrate", "PreSync")])
        assert first.phase is OperationPhase.RUNNING
        assert cluster.calls == ["delete migrate (Background)"]
        second = run(cluster, [job("migrate", "PreSync")], first.results)
        assert cluster.calls[-1] == "create migrate"
        assert second.phase is OperationPhase.RUNNING

    def test_a_same_named_object_of_someone_else_is_never_deleted_for_a_hook(self) -> None:
        cluster = FakeCluster()
        theirs = {"apiVersion": "batch/v1", "kind": "Job",
                  "metadata": {"name": "migrate", "namespace": "web"}}
        cluster.objects[("Job", "web", "migrate")] = theirs
        other_app = with_tracking(copy.deepcopy(theirs), "team-b_" + APP)
        for existing in (theirs, other_app):
            cluster.objects[("Job", "web", "migrate")] = existing
            cluster.calls.clear()
            result = run(cluster, [job("migrate", "PreSync")])
            assert cluster.calls == []
            assert result.phase is OperationPhase.FAILED
            assert "does not belong to this Application" in result.message
            assert cluster.objects[("Job", "web", "migrate")] is existing

    def test_an_earlier_run_is_kept_when_the_policy_is_not_before_hook_creation(
            self) -> None:
        cluster = FakeCluster()
        policy = {"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}
        old = copy.deepcopy(job("migrate", "PreSync", policy))
        old["metadata"]["annotations"][SYNC_ID_ANNOTATION] = "an-earlier-sync"
        cluster.objects[("Job", "web", "migrate")] = old
        result = run(cluster, [job("migrate", "PreSync", policy)])
        assert cluster.calls == []
        assert result.phase is OperationPhase.FAILED
        assert "BeforeHookCreation" in result.message

    def test_a_hook_created_before_a_crash_is_adopted_not_recreated(self) -> None:
        cluster = FakeCluster()
        first = run(cluster, [job("migrate", "PreSync")])
        lost = run(cluster, [job("migrate", "PreSync")], [])  # its results were never written
        assert cluster.calls == ["create migrate"]
        assert order(lost) == order(first)


    def test_a_hook_deleted_before_it_completed_fails_the_sync(self) -> None:
        cluster = FakeCluster()
        first = run(cluster, [job("migrate", "PreSync")])
        cluster.objects.clear()  # someone deleted it; after a restart nothing remembers it
        result = run(cluster, [job("migrate", "PreSync")], first.results,
                     applied=AppliedVersions())
        assert result.phase is OperationPhase.FAILED
        assert "deleted before it completed" in result.message


class TestOptions:
    def test_a_dry_run_writes_nothing_and_runs_no_hooks(self) -> None:
        cluster = FakeCluster()
        live = obj("ConfigMap", "old")
        cluster.objects[("ConfigMap", "web", "old")] = live
        result = run(cluster, [job("m", "PreSync"), obj("ConfigMap", "app")],
                     options=SyncOptions(prune=True, dry_run=True), live=[live])
        assert result.phase is OperationPhase.SUCCEEDED
        assert cluster.calls == ["apply dry-run app"]
        assert [r["message"] for r in result.results] == ["pruned (dry run)",
                                                          "configmap/app created (dry run)"]

    def test_create_namespace_comes_first_and_prune_skips_are_reported(self) -> None:
        cluster = FakeCluster()
        kept = obj("ConfigMap", "kept",
                   annotations={"argocd.argoproj.io/sync-options": "Prune=false"})
        result = run(cluster, [obj("ConfigMap", "app")], live=[kept],
                     options=SyncOptions(prune=True, create_namespace=True))
        assert order(result) == [("PreSync", "web", "Synced"), ("Sync", "kept", "PruneSkipped"),
                                 ("Sync", "app", "Synced")]
        assert resource_key(cluster.objects[("Namespace", "", "web")]).kind == "Namespace"
