"""The sync plan: what to apply, run and prune, in which order (pure).

`plan_sync(app_name, desired, live_tracked, diffs, options)` orders a sync as Argo CD
does:

1. `create_namespace` (CreateNamespace=true and Git has no such Namespace) first of all;
2. steps by phase, PreSync -> Sync -> PostSync, and within a phase by wave (ascending,
   `argocd.argoproj.io/sync-wave`, default 0); within a step, by Argo CD's kind order
   (`kind_rank`: Namespaces, ..., CRDs, roles, Services, workloads, Ingresses, then all
   other kinds) and then by name. A Namespace or CRD that an earlier step needs is moved
   into that step (gitops-engine's `adjustDeps`);
3. each step runs its prunes first, then deletes and re-creates its hooks
   (BeforeHookCreation) and applies its objects, and waits for them (healthy, hooks
   completed) before the next step; SyncFail hooks (`on_fail`) run only when a step fails.

Pruning: tracked live objects (the tracking annotation names this app *and* the object)
that are no longer in Git and are not hooks. Their waves are mirrored (an object of the
highest wave is pruned in the lowest one: teardown in reverse order) and they join the
Sync-phase step of that wave; `PruneLast` (app option or per object) moves them to one
step after the last Sync wave. Nothing is pruned when `options.prune` is off or the
object says `Prune=false` (also `Prune=confirm`: confirming is not implemented, so the
object is kept); `prune_skipped` says why. **An empty render prunes nothing** unless
`allow_empty` (automated or not): `refused` then says so and the plan holds nothing.

`ApplyOutOfSyncOnly=true` skips objects whose diff is unchanged (`skipped`); hooks always
run. Example (the compat `sync-waves` app)::

    PreSync  wave 0: hooks [Job upgrade-sql-schema]
    Sync     wave 0: apply [Service backend, ReplicaSet backend]
    Sync     wave 1: hooks [Job maint-page-up]
    Sync     wave 2: apply [Service frontend, ReplicaSet frontend]
    Sync     wave 3: hooks [Job maint-page-down]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.syncplan_annotations import (
    HookDeletePolicy,
    SyncPhase,
    delete_policies,
    hook_info,
    kind_rank,
    object_sync_options,
    sync_wave,
)
from reconciler.syncplan_options import SyncOptions
from reconciler.tracking import ResourceKey, is_tracked_by, resource_key

__all__ = ["Compared", "HookTask", "SyncOptions", "SyncPhase", "SyncPlan", "SyncStep",
           "plan_sync"]

Obj = dict[str, Any]


class Compared(Protocol):
    """What the plan reads of a `reconciler.diff.ObjectDiff` (kept apart: the plan is pure)."""

    @property
    def changed(self) -> bool: ...


_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


@dataclass(frozen=True)
class HookTask:
    """A hook object to create in one phase, with its delete policies."""

    object: Obj
    key: ResourceKey
    delete_policies: frozenset[HookDeletePolicy]

    @property
    def generated_name(self) -> bool:
        """True when the hook has only `generateName` (create it, do not apply it)."""
        return not (self.object.get("metadata") or {}).get("name")


@dataclass(frozen=True)
class SyncStep:
    """One wave of one phase: prune, then (re)create hooks and apply objects, then wait."""

    phase: SyncPhase
    wave: int
    objects_to_apply: list[Obj] = field(default_factory=list)
    hooks_to_run: list[HookTask] = field(default_factory=list)
    objects_to_prune: list[Obj] = field(default_factory=list)
    """Live objects to delete, with `SyncOptions.prune_propagation_policy`."""

    def __str__(self) -> str:
        parts = [f"{self.phase} wave {self.wave}:"]
        for label, keys in (("prune", [resource_key(o) for o in self.objects_to_prune]),
                            ("apply", [resource_key(o) for o in self.objects_to_apply]),
                            ("hooks", [h.key for h in self.hooks_to_run])):
            if keys:
                parts.append(f"{label} [{', '.join(str(k) for k in keys)}]")
        return " ".join(parts)


@dataclass(frozen=True)
class SyncPlan:
    """Everything one sync will do, in order; nothing here has happened yet."""

    steps: list[SyncStep]
    prune: list[ResourceKey]
    """Every object pruned, in execution order (also listed in the steps)."""
    options: SyncOptions
    on_fail: list[SyncStep] = field(default_factory=list)
    skipped: dict[ResourceKey, str] = field(default_factory=dict)
    """Objects in Git that are not applied, with why (Skip hook, ApplyOutOfSyncOnly)."""
    prune_skipped: dict[ResourceKey, str] = field(default_factory=dict)
    """Objects that left Git but are kept, with why (prune off, Prune=false, empty render)."""
    create_namespace: str | None = None
    refused: str | None = None
    """Why the plan does nothing at all (an empty render that would prune everything)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.steps and self.create_namespace is None


@dataclass(eq=False)
class _Task:
    object: Obj
    key: ResourceKey
    phase: SyncPhase
    wave: int
    kind: str  # "apply", "hook" or "prune"

    @property
    def position(self) -> tuple[int, int]:
        return self.phase.order, self.wave

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return kind_rank(self.key.kind), self.key.name, self.key.kind, self.key.namespace


def plan_sync(
    app_name: str,
    desired: Sequence[Obj],
    live_tracked: Sequence[Obj],
    diffs: Mapping[ResourceKey, Compared] | None,
    options: SyncOptions,
    *,
    destination_namespace: str | None = None,
) -> SyncPlan:
    """The ordered plan to sync `desired` (rendered, namespaces set) over `live_tracked`."""
    warnings = list(options.warnings)
    skipped: dict[ResourceKey, str] = {}
    tasks: list[_Task] = []
    in_git: set[ResourceKey] = set()
    for obj in desired:
        key = resource_key(obj)
        in_git.add(key)
        info = hook_info(obj)
        wave, problem = sync_wave(obj)
        warnings += [f"{key}: {problem}"] if problem else []
        warnings += [f"{key}: unknown hook type {t!r} (known: PreSync, Sync, PostSync, "
                     "SyncFail, Skip)" for t in info.unknown]
        if info.skip:
            skipped[key] = "argocd.argoproj.io/hook: Skip"
        elif info.unknown and not info.is_hook:
            skipped[key] = "unknown hook type " + ", ".join(repr(t) for t in info.unknown)
        elif info.is_hook:
            for phase in info.phases:
                if phase is SyncPhase.POST_DELETE:
                    warnings.append(f"{key}: PostDelete hooks are not implemented; not run")
                else:
                    tasks.append(_Task(obj, key, phase, wave, "hook"))
        elif (options.apply_out_of_sync_only and diffs is not None and key in diffs
              and not diffs[key].changed):
            skipped[key] = "in sync (ApplyOutOfSyncOnly)"
        else:
            tasks.append(_Task(obj, key, SyncPhase.SYNC, wave, "apply"))
    _adjust_dependencies(tasks)

    prune_skipped: dict[ResourceKey, str] = {}
    to_prune: list[Obj] = []
    for live in live_tracked:
        key = resource_key(live)
        if key in in_git or not is_tracked_by(live, app_name) or hook_info(live).is_hook:
            continue  # still in Git, not ours, or a hook (hooks go by their delete policy)
        prune_option = object_sync_options(live).get("Prune")
        if prune_option == "false":
            prune_skipped[key] = "Prune=false"
        elif prune_option == "confirm":
            prune_skipped[key] = "Prune=confirm (confirming a prune is not implemented)"
        elif not options.prune:
            prune_skipped[key] = "requires pruning (prune is off)"
        else:
            to_prune.append(live)
    if not desired and to_prune and not options.allow_empty:
        message = (f"empty render: refusing to prune {len(to_prune)} objects; set "
                   "syncPolicy.automated.allowEmpty to allow")
        prune_skipped.update({resource_key(o): "empty render" for o in to_prune})
        return SyncPlan([], [], options, skipped=skipped, prune_skipped=prune_skipped,
                        refused=message, warnings=warnings)
    tasks += _prune_tasks(to_prune, tasks, options.prune_last)

    create_namespace = None
    if options.create_namespace and destination_namespace and \
            ResourceKey("", "Namespace", "", destination_namespace) not in in_git:
        create_namespace = destination_namespace
    steps = _steps(t for t in tasks if t.phase is not SyncPhase.SYNC_FAIL)
    return SyncPlan(
        steps=steps,
        prune=[resource_key(o) for step in steps for o in step.objects_to_prune],
        options=options,
        on_fail=_steps(t for t in tasks if t.phase is SyncPhase.SYNC_FAIL),
        skipped=skipped, prune_skipped=prune_skipped, create_namespace=create_namespace,
        warnings=warnings,
    )


def _adjust_dependencies(tasks: list[_Task]) -> None:
    """Move a Namespace (or CRD) applied later than an object that needs it into the
    earliest step that needs it."""
    applied = [t for t in tasks if t.kind == "apply" and t.phase is not SyncPhase.SYNC_FAIL]
    for dependency in applied:
        if dependency.key[:2] == ("", "Namespace"):
            users = [t for t in tasks if t.phase is not SyncPhase.SYNC_FAIL
                     and t.key.namespace == dependency.key.name]
        elif dependency.key[:2] == _CRD:
            spec = dependency.object.get("spec") or {}
            group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
            users = [t for t in tasks if t.phase is not SyncPhase.SYNC_FAIL
                     and (t.key.group, t.key.kind) == (group, kind)]
        else:
            continue
        first = min(users, key=lambda t: t.position, default=None)
        if first is not None and first.position < dependency.position:
            dependency.phase, dependency.wave = first.phase, first.wave


def _prune_tasks(to_prune: list[Obj], tasks: list[_Task], prune_last: bool) -> list[_Task]:
    """Prune tasks in the Sync phase, waves mirrored; PruneLast ones after the last wave."""
    pruned = [_Task(o, resource_key(o), SyncPhase.SYNC, sync_wave(o)[0], "prune")
              for o in to_prune]
    waves = sorted({t.wave for t in pruned})
    mirrored = dict(zip(waves, reversed(waves), strict=True))
    for task in pruned:
        task.wave = mirrored[task.wave]
    last = [t for t in pruned
            if prune_last or object_sync_options(t.object).get("PruneLast") == "true"]
    if last:
        final = max([0, *(t.wave for t in [*tasks, *pruned]
                          if t.phase is SyncPhase.SYNC and t not in last)]) + 1
        for task in last:
            task.wave = final
    return pruned


def _steps(tasks: Iterable[_Task]) -> list[SyncStep]:
    grouped: dict[tuple[int, int], list[_Task]] = {}
    for task in tasks:
        grouped.setdefault(task.position, []).append(task)
    steps = []
    for position in sorted(grouped):
        members = sorted(grouped[position], key=lambda t: t.sort_key)
        steps.append(SyncStep(
            phase=members[0].phase, wave=members[0].wave,
            objects_to_apply=[t.object for t in members if t.kind == "apply"],
            hooks_to_run=[HookTask(t.object, t.key, delete_policies(t.object))
                          for t in members if t.kind == "hook"],
            objects_to_prune=[t.object for t in members if t.kind == "prune"],
        ))
    return steps
