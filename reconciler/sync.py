"""Carries out a `SyncPlan`, one pass at a time, resuming from `operationState`.

A sync takes many reconcile passes (hooks run, waves become healthy) and must survive a
restart, so the executor keeps no state of its own: every pass gets the plan (recomputed
from Git and the cluster), the results recorded so far (`syncResult.resources`) and the
cached live objects, and moves the operation on as far as it can without waiting:

1. `CreateNamespace`: apply the destination Namespace (not tracked, as in Argo CD);
2. the steps in order (PreSync, Sync waves ascending, PostSync). In each step, every task
   without a result runs: prunes (`PrunePropagationPolicy`), hooks (created; an existing
   object of that name from an earlier sync is deleted first), applies (server-side apply,
   field manager `rollouts-reconciler`, forced, minus the fields another controller owns:
   `reconciler.diff.sync_body`). A step that ran something ends the pass (the cache must
   catch up before health means anything: `AppliedVersions` guards against reading an
   older copy than the one we wrote); a later pass finds it done when its hooks completed
   (Job Complete, Pod Succeeded, any other kind at once) and, unless it is the last step,
   its objects left Progressing/Missing (Healthy, Suspended or Degraded);
3. a failed task (a refused apply, a failed hook) ends the steps; the SyncFail hooks then
   run (and are waited for) and the operation fails with the first failure's message.

Hook delete policies: HookSucceeded / HookFailed delete the hook when it ends so;
BeforeHookCreation (the default) keeps it until the next sync recreates it. A hook with
only `generateName` gets a name derived from the revision, phase and operation id, so a
pass after a restart finds the hook it created (objects we create carry the annotation
`rollouts.argoproj.io/sync-id`). Waits are not blocking: `SyncPass.requeue_after` asks for
the next look (watch events of the hooks and objects usually come sooner).

Results are appended in execution order (`syncResult.resources`), so the order of a sync
can be read from the status. Neighbours: `reconciler.syncplan` (the plan),
`reconciler.controller` (calls `SyncExecutor.run` and records the pass).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.diff import ObjectDiff, sync_body
from reconciler.health import resource_health
from reconciler.syncplan import HookTask, SyncPlan, SyncStep
from reconciler.syncplan_annotations import HookDeletePolicy, SyncPhase
from reconciler.tracking import ResourceKey, is_tracked_by, resource_key, with_tracking
from rollouts.api.phases import HealthStatusCode, OperationPhase
from rollouts.kube import NAMESPACE, AlreadyExists, Kind, KubeError, NotFound

__all__ = ["SYNC_ID_ANNOTATION", "AppliedVersions", "SyncClient", "SyncExecutor", "SyncPass",
           "hook_name"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Event = tuple[str, str, str]
LiveLookup = Callable[[Obj], Obj | None]

SYNC_ID_ANNOTATION = "rollouts.argoproj.io/sync-id"
AFTER_EXECUTE = 0.5
"""Seconds before looking at a step again after running its tasks."""
WHILE_WAITING = 2.0
"""Seconds between looks while waiting (watch events usually wake us sooner)."""
_FAILED_HOOK = (OperationPhase.FAILED.value, OperationPhase.ERROR.value)
_DONE_HOOK = (OperationPhase.SUCCEEDED.value, *_FAILED_HOOK)


@dataclass
class SyncPass:
    """Where the operation stands after one pass."""

    phase: OperationPhase
    message: str
    results: list[Obj]
    requeue_after: float | None = None
    events: list[Event] = field(default_factory=list)


class SyncClient(Protocol):
    """What the executor needs of `rollouts.kube.KubeClient` (tests pass a small fake)."""

    def discover_kind(self, api_version: str, kind: str) -> Kind: ...

    def apply(self, kind: Kind, namespace: str | None, body: Obj, field_manager: str,
              force: bool = True, dry_run: bool = False) -> Obj: ...

    def create(self, kind: Kind, namespace: str | None, body: Obj, dry_run: bool = False
               ) -> Obj: ...

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj: ...

    def delete(self, kind: Kind, namespace: str | None, name: str,
               propagation: str = "Background") -> bool: ...


APPLIED_VERSIONS_KEPT = 20_000
"""Objects whose last written resourceVersion is remembered (the oldest are forgotten:
an entry matters only until the watch cache has caught up, a second or so)."""


class AppliedVersions:
    """resourceVersions of objects we wrote, so that an older cached copy is not trusted."""

    def __init__(self, limit: int = APPLIED_VERSIONS_KEPT) -> None:
        self._versions: OrderedDict[ResourceKey, int] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def remember(self, obj: Obj) -> None:
        key = resource_key(obj)
        with self._lock:
            self._versions[key] = _version(obj)
            self._versions.move_to_end(key)
            while len(self._versions) > self._limit:
                self._versions.popitem(last=False)

    def knows(self, obj: Obj) -> bool:
        """Whether this process wrote `obj` (so a cache without it is just behind)."""
        with self._lock:
            return resource_key(obj) in self._versions

    def fresh(self, live: Obj) -> bool:
        with self._lock:
            wanted = self._versions.get(resource_key(live))
        return wanted is None or _version(live) >= wanted


def _version(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def hook_name(hook: Obj, phase: SyncPhase, op_id: str, revision: str) -> str:
    """The name of a hook: its own, or `generateName` + revision/phase/operation suffix."""
    metadata = hook.get("metadata") or {}
    if metadata.get("name"):
        return str(metadata["name"])
    # A chart version (`1.2.3+b`) or a multi-source revision set holds characters no name
    # may: they become `-`.
    short = re.sub(r"[^a-z0-9.-]", "-", revision[:7].lower())
    suffix = f"{short}-{phase.value.lower()}-{op_id}".lower()
    base = str(metadata.get("generateName") or "hook-")
    return (base[: max(1, 63 - len(suffix))] + suffix).lower()


def _result_key(entry: Obj) -> tuple[str, str, str, str, str]:
    return (str(entry.get("group") or ""), str(entry.get("kind") or ""),
            str(entry.get("namespace") or ""), str(entry.get("name") or ""),
            str(entry.get("syncPhase") or ""))


def _entry(obj: Obj, phase: SyncPhase, status: str, message: str, **extra: str) -> Obj:
    key = resource_key(obj)
    entry: Obj = {}
    if key.group:
        entry["group"] = key.group
    entry["version"] = str(obj.get("apiVersion") or "").rpartition("/")[2]
    entry["kind"] = key.kind
    if key.namespace:
        entry["namespace"] = key.namespace
    entry.update(name=key.name, status=status, message=message, syncPhase=phase.value, **extra)
    return entry


def _label(obj: Obj) -> str:
    """`deployment.apps/web`, as kubectl names objects."""
    key = resource_key(obj)
    kind = key.kind.lower() + (f".{key.group}" if key.group else "")
    return f"{kind}/{key.name}"


OnApplied = Callable[[Obj, Obj, Obj], None]
"""(desired object, body applied, the apply's answer)."""


class SyncExecutor:
    """Runs sync passes for one Application (see the module docstring)."""

    def __init__(self, client: SyncClient, *, app_name: str, field_manager: str,
                 live: LiveLookup, applied: AppliedVersions,
                 on_applied: OnApplied | None = None) -> None:
        self.client = client
        self.app_name = app_name
        self.field_manager = field_manager
        self.live = live
        self.applied = applied
        self.on_applied = on_applied
        """Told of each object applied (desired, body sent, the server's answer): the
        compare after the sync can then skip its dry run (`DiffCache.seed`)."""

    def run(self, plan: SyncPlan, diffs: Mapping[ResourceKey, ObjectDiff], *, op_id: str,
            revision: str, results: list[Obj], run_hooks: bool = True) -> SyncPass:
        """One pass of `plan` (`plan.options.dry_run`: server dry runs, no hooks, no prune)."""
        dry_run = plan.options.dry_run
        run = _Run(self, diffs, op_id, revision, copy.deepcopy(results), dry_run, run_hooks)
        run.propagation = plan.options.prune_propagation_policy
        if plan.refused:
            return SyncPass(OperationPhase.FAILED, plan.refused, run.results)
        if plan.create_namespace and not dry_run:
            run.create_namespace(plan.create_namespace)
        for key, why in plan.prune_skipped.items():
            run.record_once(_key_object(key), SyncPhase.SYNC, "PruneSkipped",
                            f"ignored ({why})")
        failure = run.first_failure()
        if failure is None:
            for index, step in enumerate(plan.steps):
                waiting = run.step(step, wait_health=index < len(plan.steps) - 1)
                failure = run.first_failure()
                if failure is not None:
                    break
                if waiting is not None:
                    return run.waiting(waiting)
            else:
                message = "successfully synced (all tasks run)" + (" (dry run)" if dry_run else "")
                return SyncPass(OperationPhase.SUCCEEDED, message, run.results,
                                events=run.events)
        for step in plan.on_fail:
            waiting = run.step(step, wait_health=False, failing=True)
            if waiting is not None:
                return run.waiting(f"running SyncFail hooks: {waiting}")
        return SyncPass(OperationPhase.FAILED, failure, run.results, events=run.events)


def _key_object(key: ResourceKey) -> Obj:
    api_version = f"{key.group}/v1" if key.group else "v1"
    metadata: Obj = {"name": key.name}
    if key.namespace:
        metadata["namespace"] = key.namespace
    return {"apiVersion": api_version, "kind": key.kind, "metadata": metadata}


class _Run:
    """One pass: the results so far, indexed, and what this pass did."""

    def __init__(self, executor: SyncExecutor, diffs: Mapping[ResourceKey, ObjectDiff],
                 op_id: str, revision: str, results: list[Obj], dry_run: bool,
                 run_hooks: bool) -> None:
        self.x = executor
        self.diffs = diffs
        self.op_id = op_id
        self.revision = revision
        self.results = results
        self.index = {_result_key(entry): entry for entry in results}
        self.dry_run = dry_run
        self.run_hooks = run_hooks and not dry_run
        self.events: list[Event] = []
        self.requeue = WHILE_WAITING
        self.propagation = "Foreground"

    # -- bookkeeping --------------------------------------------------------------------

    def record(self, entry: Obj) -> Obj:
        self.results.append(entry)
        self.index[_result_key(entry)] = entry
        return entry

    def record_once(self, obj: Obj, phase: SyncPhase, status: str, message: str) -> None:
        entry = _entry(obj, phase, status, message)
        if _result_key(entry) not in self.index:
            self.record(entry)

    def has(self, obj: Obj, phase: SyncPhase) -> Obj | None:
        return self.index.get(_result_key(_entry(obj, phase, "", "")))

    def first_failure(self) -> str | None:
        for entry in self.results:
            if entry.get("syncPhase") == SyncPhase.SYNC_FAIL.value:
                continue
            if entry.get("status") == "SyncFailed" or entry.get("hookPhase") in _FAILED_HOOK:
                return f"{_label(entry_object(entry))}: {entry.get('message') or 'failed'}"
        return None

    def waiting(self, why: str) -> SyncPass:
        return SyncPass(OperationPhase.RUNNING, f"waiting for {why}", self.results,
                        requeue_after=self.requeue, events=self.events)

    # -- tasks ----------------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if self.has(body, SyncPhase.PRE_SYNC) is not None:
            return
        try:
            self.x.client.get(NAMESPACE, None, name)
            existed = True
        except NotFound:
            existed = False
        try:
            self.x.client.apply(NAMESPACE, None, body, self.x.field_manager, force=True)
        except KubeError as error:
            if error.temporary:
                raise
            self.record(_entry(body, SyncPhase.PRE_SYNC, "SyncFailed", str(error)))
            return
        verb = "unchanged" if existed else "created"
        self.record(_entry(body, SyncPhase.PRE_SYNC, "Synced", f"namespace/{name} {verb}"))

    def step(self, step: SyncStep, *, wait_health: bool, failing: bool = False) -> str | None:
        """Run what is left of `step`; None when it is complete, else what it waits for."""
        ran = False
        for obj in step.objects_to_prune:
            ran |= self.prune(obj, step.phase)
        blocked: list[str] = []
        hooks = [(task, self.hook_body(task, step.phase)) for task in step.hooks_to_run]
        if self.run_hooks:
            for task, body in hooks:
                created = self.create_hook(task, body, step.phase)
                ran |= created is True
                if created is None:
                    blocked.append(_label(body))
        for obj in step.objects_to_apply:
            ran |= self.apply(obj, step.phase)
        label = f"{step.phase.value} wave {step.wave}" if not failing else "SyncFail hooks"
        if blocked:
            self.requeue = AFTER_EXECUTE
            return f"{label}: deleting the previous {', '.join(blocked)}"
        if self.first_failure() is not None and not failing:
            return None
        if ran and not self.dry_run and (wait_health or (hooks and self.run_hooks)):
            self.requeue = AFTER_EXECUTE
            return f"{label} to start"
        if self.run_hooks:
            running = [w for w in (self.check_hook(t, b, step.phase) for t, b in hooks) if w]
            if self.first_failure() is not None and not failing:
                return None
            if running:
                return f"{label}: hook {running[0]}"
        if wait_health and not self.dry_run:
            for obj in step.objects_to_apply:
                unhealthy = self.unhealthy(obj)
                if unhealthy:
                    return f"{label}: {unhealthy}"
        return None

    def prune(self, obj: Obj, phase: SyncPhase) -> bool:
        if self.has(obj, phase) is not None:
            return False
        key = resource_key(obj)
        if self.dry_run:
            self.record(_entry(obj, phase, "Pruned", "pruned (dry run)"))
            return True
        try:
            kind = self.x.client.discover_kind(str(obj.get("apiVersion")), key.kind)
            self.x.client.delete(kind, key.namespace or None, key.name,
                                 propagation=self.propagation)
        except KubeError as error:
            if error.temporary:
                raise
            self.record(_entry(obj, phase, "SyncFailed", f"prune failed: {error}"))
            return True
        self.record(_entry(obj, phase, "Pruned", "pruned"))
        self.events.append(("Normal", "ResourcePruned", f"pruned {key}"))
        return True

    def apply(self, obj: Obj, phase: SyncPhase) -> bool:
        if self.has(obj, phase) is not None:
            return False
        key = resource_key(obj)
        diff = self.diffs.get(key)
        body = sync_body(obj, diff)
        try:
            kind = self.x.client.discover_kind(str(obj.get("apiVersion")), key.kind)
            namespace = (key.namespace or None) if kind.namespaced else None
            written = self.x.client.apply(kind, namespace, body, self.x.field_manager,
                                          force=True, dry_run=self.dry_run)
        except KubeError as error:
            if error.temporary:
                raise
            self.record(_entry(obj, phase, "SyncFailed", str(error)))
            return True
        if not self.dry_run:
            self.x.applied.remember(written)
            if self.x.on_applied is not None:
                self.x.on_applied(obj, body, written)
        if diff is None or not diff.live_exists:
            verb = "created"
        else:
            verb = "configured" if diff.changed else "unchanged"
        suffix = " (dry run)" if self.dry_run else ""
        self.record(_entry(obj, phase, "Synced", f"{_label(obj)} {verb}{suffix}"))
        return True

    # -- hooks ----------------------------------------------------------------------------

    def hook_body(self, task: HookTask, phase: SyncPhase) -> Obj:
        body = copy.deepcopy(task.object)
        body.pop("status", None)
        metadata = body.setdefault("metadata", {})
        metadata["name"] = hook_name(body, phase, self.op_id, self.revision)
        metadata.pop("generateName", None)
        tracked = with_tracking(body, self.x.app_name)
        tracked["metadata"]["annotations"][SYNC_ID_ANNOTATION] = self.op_id
        return tracked

    def create_hook(self, task: HookTask, body: Obj, phase: SyncPhase) -> bool | None:
        """True when created now, False when done before, None when blocked (retry)."""
        if self.has(body, phase) is not None:
            return False
        key = resource_key(body)
        client = self.x.client
        extra = {"hookType": phase.value, "hookPhase": OperationPhase.RUNNING.value}
        try:
            kind = client.discover_kind(str(body.get("apiVersion")), key.kind)
            namespace = (key.namespace or None) if kind.namespaced else None
            created = client.create(kind, namespace, body)
        except AlreadyExists:
            try:
                existing = client.get(kind, namespace, key.name)
            except NotFound:
                return None
            annotations = (existing.get("metadata") or {}).get("annotations") or {}
            if annotations.get(SYNC_ID_ANNOTATION) == self.op_id:
                self.record(_entry(body, phase, "Synced", f"{_label(body)} created", **extra))
                return True
            refusal = _replace_refusal(existing, task, self.x.app_name)
            if refusal is not None:
                self.record(_entry(body, phase, "SyncFailed", f"{_label(body)}: {refusal}",
                                   hookType=phase.value, hookPhase=OperationPhase.FAILED.value))
                return True
            if not (existing.get("metadata") or {}).get("deletionTimestamp"):
                client.delete(kind, namespace, key.name, propagation="Background")
            return None
        except KubeError as error:
            if error.temporary:
                raise
            self.record(_entry(body, phase, "SyncFailed", str(error), hookType=phase.value,
                               hookPhase=OperationPhase.FAILED.value))
            return True
        self.x.applied.remember(created)
        self.record(_entry(body, phase, "Synced", f"{_label(body)} created", **extra))
        return True

    def check_hook(self, task: HookTask, body: Obj, phase: SyncPhase) -> str | None:
        """None when the hook has ended (or was never created), else what it waits for."""
        entry = self.has(body, phase)
        if entry is None or entry.get("hookPhase") in _DONE_HOOK:
            return None
        live = self.x.live(body)
        if live is None and not self.x.applied.knows(body):
            entry["hookPhase"] = OperationPhase.FAILED.value
            entry["message"] = f"{_label(body)} was deleted before it completed"
            return None
        if live is None or not self.x.applied.fresh(live):
            return f"{_label(body)} to start"
        health = resource_health(live)
        if health.status is HealthStatusCode.HEALTHY:
            entry["hookPhase"] = OperationPhase.SUCCEEDED.value
            entry["message"] = health.message or f"{_label(body)} succeeded"
            if HookDeletePolicy.HOOK_SUCCEEDED in task.delete_policies:
                self.delete_hook(body)
            return None
        if health.status is HealthStatusCode.DEGRADED:
            entry["hookPhase"] = OperationPhase.FAILED.value
            entry["message"] = health.message or f"{_label(body)} failed"
            if HookDeletePolicy.HOOK_FAILED in task.delete_policies:
                self.delete_hook(body)
            return None
        return f"{_label(body)} ({health.message or health.status.value})"

    def delete_hook(self, body: Obj) -> None:
        key = resource_key(body)
        kind = self.x.client.discover_kind(str(body.get("apiVersion")), key.kind)
        self.x.client.delete(kind, (key.namespace or None) if kind.namespaced else None, key.name,
                             propagation="Background")

    def unhealthy(self, obj: Obj) -> str | None:
        live = self.x.live(obj)
        if live is None or not self.x.applied.fresh(live):
            return f"{_label(obj)} to appear"
        health = resource_health(live)
        if health.status in (HealthStatusCode.PROGRESSING, HealthStatusCode.MISSING):
            return f"{_label(obj)} to be healthy ({health.message or health.status.value})"
        return None


def _replace_refusal(existing: Obj, task: HookTask, app_name: str) -> str | None:
    """Why a live object in a hook's place may not be deleted to create the hook; None
    when it may: it is an earlier run of a hook of this very Application and the hook's
    policy is BeforeHookCreation. Anything else (another tenant's Job, a Secret that
    happens to share the name) is never deleted."""
    if not is_tracked_by(existing, app_name):
        return ("an object of that name already exists and does not belong to this "
                "Application; rename the hook or remove the object")
    if HookDeletePolicy.BEFORE_HOOK_CREATION not in task.delete_policies:
        return ("an earlier run of this hook still exists and its delete policy is not "
                "BeforeHookCreation; delete it or add that policy")
    return None


def entry_object(entry: Obj) -> Obj:
    """A minimal object with the identity of a result entry (for labels)."""
    group = str(entry.get("group") or "")
    version = str(entry.get("version") or "v1")
    metadata: Obj = {"name": entry.get("name")}
    if entry.get("namespace"):
        metadata["namespace"] = entry["namespace"]
    return {"apiVersion": f"{group}/{version}" if group else version, "kind": entry.get("kind"),
            "metadata": metadata}
