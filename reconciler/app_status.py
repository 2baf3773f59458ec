"""An Application's status from one comparison: pure functions, no I/O.

The controller observes (render, diff, live objects), then asks this module for the new
`status` and writes the merge patch `merge_patch(old, new)` once, skipping the write when
the patch is empty. What goes where (Argo CD's fields):

    status:
      sync: {status: Synced|OutOfSync|Unknown, revision: <sha>, comparedTo: {source, destination}}
      health: {status: Healthy, message: ...}     # worst resource; message only when not Healthy
      resources:                                  # sorted by group, kind, namespace, name
      - {group: apps, version: v1, kind: Deployment, namespace: web, name: ui,
         status: OutOfSync, health: {status: Progressing, message: ...}, syncWave: 0}
      - {version: v1, kind: ConfigMap, namespace: web, name: old, status: OutOfSync,
         health: {status: Healthy}, requiresPruning: true}
      - {group: batch, version: v1, kind: Job, namespace: web, name: migrate, hook: true,
         health: {status: Healthy}}
      conditions: [{type: ComparisonError, message: ..., lastTransitionTime: ...}]
      summary: {images: [nginx:1.25]}
      sourceType: Kustomize
      # a multi-source app (`spec.sources`): sync.revisions and comparedTo.sources
      # instead of sync.revision and comparedTo.source, and sourceTypes: [Helm, Directory]
      reconciledAt: "2024-05-01T12:00:05Z"

- A resource is OutOfSync when its diff changed (or the dry run was refused), or when it
  is tracked live but left Git (`requiresPruning`); the app is OutOfSync when any is.
- Health follows `reconciler.health`: hooks and `hook: Skip` objects never count.
- When the comparison failed (Git or render error, `Observation.rows is None`), the
  resources and health of the last good comparison are kept (they still describe the
  cluster, which was not touched), sync is `Unknown` and a condition says why.
- `reconciledAt` moves only when something else in the status changed, or when the
  caller asks (`refresh`: after an operation, or the refresh annotation): a status write
  wakes the controller up again, so refreshing it on every pass would be a hot loop, and
  a Git poll that finds nothing new must write nothing (DESIGN.md: a no-op reconcile
  does zero writes). Unlike Argo CD, it is not moved by every resync.
  The pass that ends an operation leaves it alone (`hold`); the next one sets it, so
  `reconciledAt >= operationState.finishedAt` means "compared after the sync" (which is
  what Argo CD's CLI waits for).
- `conditions` keep their `lastTransitionTime` while their message stays the same.

Neighbours: `reconciler.controller` (gathers the inputs), `reconciler.operation`
(`operationState` and `history`), `reconciler.health`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.health import Health, affects_app_health, missing_health, resource_health
from reconciler.multisource import revision_fields
from reconciler.syncplan_annotations import hook_info, sync_wave
from reconciler.tracking import ResourceKey, resource_key
from rollouts.api.common import format_time
from rollouts.api.phases import HealthStatusCode, SyncStatusCode
from rollouts.merge_patch import merge_patch

__all__ = [
    "Observation",
    "ResourceRow",
    "build_rows",
    "build_status",
    "images_of",
    "merge_conditions",
    "merge_patch",
    "transition_events",
]

Obj = dict[str, Any]
Event = tuple[str, str, str]  # (type, reason, message)

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_TEMPLATE_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                             "Rollout", "ReplicationController"})


@dataclass(frozen=True)
class ResourceRow:
    """One line of `status.resources`."""

    key: ResourceKey
    version: str
    status: SyncStatusCode | None
    """None for hooks: they are run, not compared."""
    health: Health | None
    hook: bool = False
    requires_pruning: bool = False
    sync_wave: int | None = None
    counts_for_health: bool = True

    def entry(self) -> Obj:
        item: Obj = {}
        if self.key.group:
            item["group"] = self.key.group
        item["version"] = self.version
        item["kind"] = self.key.kind
        if self.key.namespace:
            item["namespace"] = self.key.namespace
        item["name"] = self.key.name
        if self.status is not None:
            item["status"] = self.status.value
        if self.health is not None:
            item["health"] = _health_entry(self.health)
        if self.hook:
            item["hook"] = True
        if self.requires_pruning:
            item["requiresPruning"] = True
        if self.sync_wave:
            item["syncWave"] = self.sync_wave
        return item


@dataclass(frozen=True)
class Observation:
    """What one comparison found; `rows is None` means it failed (see `conditions`)."""

    revision: str | None
    source: Obj | None
    destination: Obj
    source_type: str | None
    rows: list[ResourceRow] | None
    conditions: list[tuple[str, str]] = field(default_factory=list)
    """`(type, message)`: ComparisonError, InvalidSpecError, SyncError, ..."""
    images: list[str] | None = None
    ignore_differences: list[Obj] | None = None
    sources: list[Obj] | None = None
    """A multi-source app's `spec.sources` (then `source` is None): the status gets
    Argo CD's `revisions` and `comparedTo.sources` instead of `revision` and `source`."""
    source_types: tuple[str, ...] = ()
    """A multi-source app's per-source types (`status.sourceTypes`)."""

    @property
    def sync_status(self) -> SyncStatusCode:
        if self.rows is None:
            return SyncStatusCode.UNKNOWN
        if any(row.status is SyncStatusCode.OUT_OF_SYNC for row in self.rows):
            return SyncStatusCode.OUT_OF_SYNC
        return SyncStatusCode.SYNCED


def _health_entry(health: Health) -> Obj:
    entry: Obj = {"status": health.status.value}
    if health.message:
        entry["message"] = health.message
    return entry


def _version_of(obj: Obj) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[2]


def build_rows(
    desired: Sequence[Obj],
    live: Mapping[ResourceKey, Obj],
    tracked: Sequence[Obj],
    changed: Mapping[ResourceKey, bool],
) -> list[ResourceRow]:
    """The rows of `status.resources`.

    `desired`: rendered objects (namespaces set); `live`: live objects by key (the desired
    ones that exist); `tracked`: live objects carrying this app's tracking id; `changed`:
    the diff verdict per desired key (a missing key counts as changed).
    """
    rows: dict[ResourceKey, ResourceRow] = {}
    for obj in desired:
        key = resource_key(obj)
        info = hook_info(obj)
        if info.skip or info.is_hook or info.unknown:
            continue  # hooks are listed from the live side; skipped objects not at all
        current = live.get(key)
        health = resource_health(current) if current is not None else missing_health()
        status = SyncStatusCode.OUT_OF_SYNC if changed.get(key, True) else SyncStatusCode.SYNCED
        rows[key] = ResourceRow(
            key, _version_of(current or obj), status, health,
            sync_wave=sync_wave(obj)[0] or None,
            counts_for_health=affects_app_health(obj, health.status),
        )
    for obj in tracked:
        key = resource_key(obj)
        if key in rows:
            continue
        health = resource_health(obj)
        if hook_info(obj).is_hook:
            rows[key] = ResourceRow(key, _version_of(obj), None, health, hook=True,
                                    counts_for_health=False)
        else:
            rows[key] = ResourceRow(key, _version_of(obj), SyncStatusCode.OUT_OF_SYNC, health,
                                    requires_pruning=True,
                                    counts_for_health=affects_app_health(obj, health.status))
    return sorted(rows.values(), key=lambda row: (row.key.group, row.key.kind,
                                                  row.key.namespace, row.key.name))


def app_health(rows: Iterable[ResourceRow]) -> Health:
    """The worst health of the rows that count, with that row's message."""
    worst: ResourceRow | None = None
    for row in rows:
        if row.health is None or not row.counts_for_health:
            continue
        if worst is None or worst.health is None or \
                row.health.status.severity > worst.health.status.severity:
            worst = row
    if worst is None or worst.health is None or worst.health.status is HealthStatusCode.HEALTHY:
        return Health(HealthStatusCode.HEALTHY)
    message = worst.health.message or worst.health.status.value
    return Health(worst.health.status, f"{worst.key}: {message}")


def images_of(objects: Iterable[Obj]) -> list[str]:
    """Every container image in the pod templates of `objects`, sorted, once each."""
    images: set[str] = set()
    for obj in objects:
        kind = str(obj.get("kind") or "")
        path = _POD_SPEC_PATHS.get(kind)
        if path is None:
            if kind not in _TEMPLATE_KINDS:
                continue
            path = ("spec", "template", "spec")
        spec: Any = obj
        for part in path:
            spec = spec.get(part) if isinstance(spec, dict) else None
        if not isinstance(spec, dict):
            continue
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if isinstance(container, dict) and container.get("image"):
                images.add(str(container["image"]))
    return sorted(images)


def merge_conditions(
    old: Sequence[Obj] | None, new: Iterable[tuple[str, str]], now: datetime
) -> list[Obj]:
    """Conditions `(type, message)`, keeping the transition time of unchanged ones."""
    before = {(str(c.get("type")), str(c.get("message"))): c for c in old or []
              if isinstance(c, dict)}
    merged: list[Obj] = []
    seen: set[tuple[str, str]] = set()
    for type_, message in new:
        if (type_, message) in seen:
            continue
        seen.add((type_, message))
        previous = before.get((type_, message))
        stamp = (previous or {}).get("lastTransitionTime") or format_time(now)
        merged.append({"type": type_, "message": message, "lastTransitionTime": stamp})
    return merged


def build_status(
    old: Obj,
    observation: Observation,
    *,
    operation_state: Obj | None,
    history: list[Obj] | None,
    now: datetime,
    refresh: bool,
    hold: bool = False,
) -> Obj:
    """The whole new status (keys we do not own are carried over from `old`).

    `hold` keeps `reconciledAt` as it is (the pass that ends an operation: its comparison
    was made before the sync, so only the next pass may say the app was reconciled).
    """
    new = copy.deepcopy(old)
    multiple = observation.sources is not None
    compared_to: Obj = {"sources": observation.sources} if multiple else \
        {"source": observation.source}
    compared_to["destination"] = observation.destination
    if observation.ignore_differences:
        compared_to["ignoreDifferences"] = observation.ignore_differences
    sync: Obj = {"status": observation.sync_status.value}
    sync.update(revision_fields(observation.revision or "", multiple=multiple))
    sync["comparedTo"] = {k: v for k, v in compared_to.items() if v is not None}
    new["sync"] = sync
    if observation.rows is not None:
        new["resources"] = [row.entry() for row in observation.rows]
        new["health"] = _health_entry(app_health(observation.rows))
        new["summary"] = {**(old.get("summary") or {}), "images": observation.images or []}
        if not new["summary"]["images"]:
            del new["summary"]["images"]
        if not new["summary"]:
            del new["summary"]
    elif "health" not in new:
        new["health"] = {"status": HealthStatusCode.UNKNOWN.value}
    if observation.source_types:
        new["sourceTypes"] = list(observation.source_types)
        new.pop("sourceType", None)  # Argo CD writes one or the other
    elif observation.source_type:
        new["sourceType"] = observation.source_type
        new.pop("sourceTypes", None)
    conditions = merge_conditions(old.get("conditions"), observation.conditions, now)
    _set_or_drop(new, "conditions", conditions)
    _set_or_drop(new, "operationState", operation_state)
    _set_or_drop(new, "history", history)
    if hold:
        _set_or_drop(new, "reconciledAt", old.get("reconciledAt"))
    elif refresh or _without(new, "reconciledAt") != _without(old, "reconciledAt"):
        new["reconciledAt"] = format_time(now)
    return new


def _set_or_drop(status: Obj, key: str, value: Any) -> None:
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def _without(status: Obj, key: str) -> Obj:
    return {k: v for k, v in status.items() if k != key}


def transition_events(old: Obj, new: Obj) -> list[Event]:
    """`ResourceUpdated` events for changes of the sync or health status (as Argo CD)."""
    events: list[Event] = []
    for label, section in (("sync", "sync"), ("health", "health")):
        before = str(((old.get(section) or {}).get("status")) or "")
        after = str(((new.get(section) or {}).get("status")) or "")
        if before != after and after:
            events.append(("Normal", "ResourceUpdated",
                           f"Updated {label} status: {before or '<none>'} -> {after}"))
    return events


