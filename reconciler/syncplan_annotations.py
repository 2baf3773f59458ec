"""What an object's annotations say about its place in a sync (Argo CD's annotations).

- `argocd.argoproj.io/hook`: comma-separated phases (PreSync, Sync, PostSync, SyncFail,
  PostDelete) or `Skip`. Without it, Helm's `helm.sh/hook` is read as Argo CD does:
  pre-install/pre-upgrade -> PreSync, post-install/post-upgrade -> PostSync; other Helm
  hook kinds (test, pre-delete, ...) are not hooks, so such objects are applied as plain
  resources (Argo CD's behaviour too).
- `argocd.argoproj.io/hook-delete-policy`: HookSucceeded, HookFailed, BeforeHookCreation
  (comma-separated; also Helm's `helm.sh/hook-delete-policy`); BeforeHookCreation when
  none is given.
- `argocd.argoproj.io/sync-wave`: an integer (default 0; Helm's `helm.sh/hook-weight`
  when absent).
- `argocd.argoproj.io/sync-options` on one object: `Prune=false`, `PruneLast=true`, ...

`kind_rank(kind)` is Argo CD's order of kinds within a wave (Helm's install order):
Namespaces first, CRDs before the roles and workloads, Ingresses and APIServices last,
every other kind after all of them. Pure; neighbour: `reconciler.syncplan`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "DELETE_POLICY_ANNOTATION",
    "HOOK_ANNOTATION",
    "KIND_ORDER",
    "SYNC_OPTIONS_ANNOTATION",
    "SYNC_WAVE_ANNOTATION",
    "HookDeletePolicy",
    "HookInfo",
    "SyncPhase",
    "delete_policies",
    "hook_info",
    "kind_rank",
    "object_sync_options",
    "sync_wave",
]

HOOK_ANNOTATION = "argocd.argoproj.io/hook"
DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
HELM_HOOK = "helm.sh/hook"
HELM_WEIGHT = "helm.sh/hook-weight"
HELM_DELETE_POLICY = "helm.sh/hook-delete-policy"


class SyncPhase(StrEnum):
    """When a task runs; a sync runs PreSync, Sync, PostSync in turn (SyncFail on failure)."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    POST_DELETE = "PostDelete"

    @property
    def order(self) -> int:
        return _PHASE_ORDER[self]


_PHASE_ORDER = {SyncPhase.PRE_SYNC: -1, SyncPhase.SYNC: 0, SyncPhase.POST_SYNC: 1,
                SyncPhase.SYNC_FAIL: 2, SyncPhase.POST_DELETE: 3}


class HookDeletePolicy(StrEnum):
    """When a hook object is deleted."""

    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    BEFORE_HOOK_CREATION = "BeforeHookCreation"


_PHASE_NAMES = frozenset(phase.value for phase in SyncPhase)
_POLICY_NAMES = frozenset(policy.value for policy in HookDeletePolicy)
_HELM_PHASES = {"pre-install": SyncPhase.PRE_SYNC, "pre-upgrade": SyncPhase.PRE_SYNC,
                "post-install": SyncPhase.POST_SYNC, "post-upgrade": SyncPhase.POST_SYNC}
_HELM_POLICIES = {"hook-succeeded": HookDeletePolicy.HOOK_SUCCEEDED,
                  "hook-failed": HookDeletePolicy.HOOK_FAILED,
                  "before-hook-creation": HookDeletePolicy.BEFORE_HOOK_CREATION}

KIND_ORDER: tuple[str, ...] = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


def kind_rank(kind: str) -> int:
    """Position of `kind` in Argo CD's order; every unlisted kind shares the last rank."""
    return _KIND_RANK.get(kind, len(KIND_ORDER))


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    annotations = (obj.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _csv(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


class HookInfo(NamedTuple):
    """How an object takes part in a sync: a plain resource, a hook, or skipped."""

    phases: tuple[SyncPhase, ...]
    """The phases of a hook; empty for a plain resource."""
    skip: bool
    """`hook: Skip` alone: neither applied nor pruned."""
    unknown: tuple[str, ...]
    """Hook types that were not understood (warnings); an object whose hook annotation
    names none we know is not applied at all (Argo CD: a hook that never runs)."""

    @property
    def is_hook(self) -> bool:
        return bool(self.phases)


def hook_info(obj: dict[str, Any]) -> HookInfo:
    """The hook phases of an object (Argo CD's annotation, or else Helm's)."""
    annotations = _annotations(obj)
    phases: list[SyncPhase] = []
    unknown: list[str] = []
    skip = False
    if HOOK_ANNOTATION in annotations:
        types = _csv(annotations[HOOK_ANNOTATION])
        for text in types:
            if text == "Skip":
                skip = True
            elif text in _PHASE_NAMES:
                phases.append(SyncPhase(text))
            else:
                unknown.append(text)
        skip = skip and len(types) == 1
    else:
        phases = [_HELM_PHASES[t] for t in _csv(annotations.get(HELM_HOOK)) if t in _HELM_PHASES]
    return HookInfo(tuple(dict.fromkeys(phases)), skip, tuple(unknown))


def delete_policies(obj: dict[str, Any]) -> frozenset[HookDeletePolicy]:
    """The delete policies of a hook (BeforeHookCreation when none is given)."""
    annotations = _annotations(obj)
    policies = {HookDeletePolicy(p) for p in _csv(annotations.get(DELETE_POLICY_ANNOTATION))
                if p in _POLICY_NAMES}
    policies |= {_HELM_POLICIES[p] for p in _csv(annotations.get(HELM_DELETE_POLICY))
                 if p in _HELM_POLICIES}
    return frozenset(policies or {HookDeletePolicy.BEFORE_HOOK_CREATION})


def sync_wave(obj: dict[str, Any]) -> tuple[int, str | None]:
    """The wave of an object and, when its annotation is not an integer, a warning."""
    annotations = _annotations(obj)
    for name in (SYNC_WAVE_ANNOTATION, HELM_WEIGHT):
        if name in annotations:
            try:
                return int(str(annotations[name]).strip()), None
            except ValueError:
                return 0, f"{name}: {annotations[name]!r} is not an integer; using wave 0"
    return 0, None


def object_sync_options(obj: dict[str, Any]) -> dict[str, str]:
    """The `argocd.argoproj.io/sync-options` of one object (`Prune=false` -> {Prune: false})."""
    options: dict[str, str] = {}
    for option in _csv(_annotations(obj).get(SYNC_OPTIONS_ANNOTATION)):
        name, _, value = option.partition("=")
        options[name.strip()] = value.strip().lower()
    return options
