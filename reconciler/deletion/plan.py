"""What to do next for an Application that is being deleted: Argo CD's cascade, bounded.

An Application carrying `resources-finalizer.argocd.argoproj.io` (or its `/foreground` or
`/background` variant) is not gone when it is deleted: the API server only sets its
`deletionTimestamp`, and the Application controller deletes the app's resources first,
then removes the finalizer (`cascade_policy`). Without one of them the Application goes at
once and its resources stay. Each pass over a deleting app is decided here, purely, from
the objects its tracking annotation names (`plan_deletion`):

1. objects kept (`kept_because`): CustomResourceDefinitions (deleting one deletes every
   custom resource of the kind, in every namespace), the Application itself (an app that
   manages its own manifest), objects annotated `argocd.argoproj.io/sync-options:
   Delete=false` or `helm.sh/resource-policy: keep`, and objects its project does not
   permit (they were never ours to touch);
2. nothing else left: remove the finalizer (`done`);
3. `DELETION_TIMEOUT` since `deletionTimestamp`: give up, say which objects are left, and
   remove the finalizer anyway (`gave_up`) — so a deletion never hangs;
4. an object already being deleted (its own finalizers, a foreground deletion waiting
   for its dependents, a child Application deleting its resources): wait for it;
5. else delete the objects of the highest sync wave (Argo CD deletes wave by wave,
   highest first, waiting for each to be gone).

The propagation policy (`Foreground` for the plain and `/foreground` finalizers,
`Background` for `/background`) is what each delete asks the API server for: with
Foreground an object stays until its dependents (a Deployment's ReplicaSets and Pods) are
gone, with Background it goes at once and the garbage collector removes the dependents
afterwards. In both cases the app waits until its own objects are gone, as Argo CD does.

Example: a root Application `root` (finalizer) tracking two child Applications `a` (wave
1) and `b` (wave 0), each with the finalizer: pass 1 deletes `a`; `a` shows a
`deletionTimestamp` until its own controller has deleted its ConfigMaps, so `root` waits;
when `a` is gone, `b` is deleted and waited for; then `root`'s finalizer is removed.

Pure functions (`now` passed in); `reconciler.deletion.finalizer` does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.syncplan_annotations import object_sync_options, sync_wave
from reconciler.tracking import ResourceKey, resource_key

__all__ = [
    "BACKGROUND_FINALIZER",
    "CASCADE_FINALIZERS",
    "DELETION_TIMEOUT",
    "FOREGROUND_FINALIZER",
    "HELM_RESOURCE_POLICY",
    "RESOURCES_FINALIZER",
    "DeletionPlan",
    "cascade_policy",
    "kept_because",
    "plan_deletion",
    "without_cascade_finalizers",
]

Obj = dict[str, Any]

RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
FOREGROUND_FINALIZER = f"{RESOURCES_FINALIZER}/foreground"
BACKGROUND_FINALIZER = f"{RESOURCES_FINALIZER}/background"
CASCADE_FINALIZERS = (RESOURCES_FINALIZER, FOREGROUND_FINALIZER, BACKGROUND_FINALIZER)
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"

DELETION_TIMEOUT = timedelta(minutes=5)
"""How long after its `deletionTimestamp` an Application waits for its resources to go
before its finalizer is removed anyway (Argo CD waits forever: an object whose own
finalizer nobody removes keeps the app in Terminating until someone edits it by hand)."""


def cascade_policy(finalizers: Iterable[Any]) -> str | None:
    """`Foreground` / `Background` when the finalizers ask for a cascade, else None.

    As Argo CD: the first finalizer naming a policy decides; the plain finalizer means
    Foreground.
    """
    names = [f for f in finalizers if isinstance(f, str)]
    for name in names:
        if name == BACKGROUND_FINALIZER:
            return "Background"
        if name == FOREGROUND_FINALIZER:
            return "Foreground"
    return "Foreground" if RESOURCES_FINALIZER in names else None


def without_cascade_finalizers(finalizers: Iterable[Any]) -> list[Any]:
    """The finalizers left once the cascade is done (others' finalizers are kept)."""
    return [f for f in finalizers if f not in CASCADE_FINALIZERS]


def kept_because(obj: Obj, *, app_key: ResourceKey) -> str | None:
    """Why `obj` stays when its Application is deleted; None when it is deleted."""
    key = resource_key(obj)
    if key.group == "apiextensions.k8s.io" and key.kind == "CustomResourceDefinition":
        return "a CustomResourceDefinition is never deleted with an Application"
    if key == app_key:
        return "the Application manages its own manifest"
    if object_sync_options(obj).get("Delete") == "false":
        return "annotated argocd.argoproj.io/sync-options: Delete=false"
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(HELM_RESOURCE_POLICY) or "").strip() == "keep":
        return f"annotated {HELM_RESOURCE_POLICY}: keep"
    return None


@dataclass
class DeletionPlan:
    """One pass over a deleting Application (see the module docstring)."""

    delete: list[Obj] = field(default_factory=list)
    """Objects to delete now (one sync wave)."""
    waiting: list[ResourceKey] = field(default_factory=list)
    """Objects already being deleted: the pass waits for them."""
    kept: list[tuple[ResourceKey, str]] = field(default_factory=list)
    done: bool = False
    """Nothing of ours is left: remove the finalizer."""
    gave_up: bool = False
    """`DELETION_TIMEOUT` passed: remove the finalizer although `left` remain."""
    left: list[ResourceKey] = field(default_factory=list)
    """Objects still there when `gave_up` (or that the pass is about to delete)."""

    @property
    def remove_finalizer(self) -> bool:
        return self.done or self.gave_up


def plan_deletion(objects: Sequence[Obj], *, app_key: ResourceKey, deletion_started: datetime,
                  now: datetime, forbidden: Mapping[ResourceKey, str] | None = None,
                  timeout: timedelta = DELETION_TIMEOUT) -> DeletionPlan:
    """The next step of deleting an app whose tracked live objects are `objects`.

    `forbidden`: objects the app's project does not permit, with why (kept, as Argo CD
    only deletes the app's objects its project permits).
    """
    forbidden = forbidden or {}
    plan = DeletionPlan()
    candidates: list[Obj] = []
    for obj in objects:
        key = resource_key(obj)
        reason = forbidden.get(key) or kept_because(obj, app_key=app_key)
        if reason is not None:
            plan.kept.append((key, reason))
        else:
            candidates.append(obj)
    if not candidates:  # why: nothing of ours is left
        plan.done = True
        return plan
    plan.left = sorted(resource_key(obj) for obj in candidates)
    if now - deletion_started >= timeout:  # why: a deletion never hangs
        plan.gave_up = True
        return plan
    plan.waiting = sorted(resource_key(obj) for obj in candidates
                          if (obj.get("metadata") or {}).get("deletionTimestamp"))
    if plan.waiting:  # why: one wave at a time, each gone before the next
        return plan
    highest = max(sync_wave(obj)[0] for obj in candidates)
    plan.delete = sorted((obj for obj in candidates if sync_wave(obj)[0] == highest),
                         key=resource_key)
    return plan
