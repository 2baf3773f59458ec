"""One pass of deleting an Application's resources on its destination cluster.

`deletion_pass` reads the app's tracked objects from the destination's watches (the kinds
in `status.resources` and every kind already watched there, so hooks and objects of a
restarted controller are found), asks `reconciler.deletion.plan` what to do, and issues
the deletes it decides, each with the finalizer's propagation policy and the object's uid
as a precondition (a namesake created since is never deleted). It returns a
`DeletionPass`: the plan, the events to record, and when to look again. Removing the
finalizer is the controller's write (`reconciler.controller`), like every write to the
Application.

Errors: a delete the API server refuses for good (403, say) is a Warning event and the
object is waited for like any other (`DELETION_TIMEOUT` bounds the wait); a temporary one
ends the pass (the manager retries). A kind whose watch is refused cannot be seen, so its
objects cannot be deleted: a Warning event names it and the rest goes on.

Neighbours: `reconciler.operation_runner` (the destination's client, watches, tracking
name), `reconciler.project_gate` (what the project permits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.deletion.plan import DELETION_TIMEOUT, DeletionPlan, plan_deletion
from reconciler.operation import parse_time
from reconciler.operation_runner import OperationRunner, WatchNotReady
from reconciler.project_gate import object_problems
from reconciler.tracking import ResourceKey, resource_key
from reconciler.watches import WatchRefused, WatchRegistry
from rollouts.api import Application, AppProject
from rollouts.kube import Conflict, Informer, Kind, KubeError

__all__ = ["AFTER_DELETE", "WHILE_WAITING", "DeletionPass", "deletion_pass", "listed"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Event = tuple[str, str, str]
WatchKey = tuple[Kind, str | None]

AFTER_DELETE = 0.5
"""Seconds before looking again after issuing deletes (watch events usually come first)."""
WHILE_WAITING = 2.0
"""Seconds between looks while objects are being deleted."""
MAX_LISTED = 10
"""Objects named in one event; the rest are counted."""


@dataclass
class DeletionPass:
    """What one pass did, and what the controller does next."""

    plan: DeletionPlan
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def listed(keys: list[ResourceKey]) -> str:
    """`ConfigMap a/x, ConfigMap a/y and 3 more`."""
    shown = ", ".join(str(key) for key in keys[:MAX_LISTED])
    more = len(keys) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _watch_keys(runner: OperationRunner, raw: Obj) -> set[WatchKey]:
    keys = runner.previous_kinds(raw)
    keys |= set(runner.watches.watched())
    return {WatchRegistry.key(kind, namespace) for kind, namespace in keys}


def deletion_pass(runner: OperationRunner, raw: Obj, app: Application, project: AppProject, *,
                  policy: str, now: datetime, timeout: timedelta = DELETION_TIMEOUT
                  ) -> DeletionPass:
    """Look at what is left of the app on its destination and delete the next wave.

    Raises `WatchNotReady` (a watch is still syncing) and temporary `KubeError`s: the
    caller gives up on them only once `timeout` has passed.
    """
    metadata = raw["metadata"]
    started = parse_time(metadata.get("deletionTimestamp")) or now
    events: list[Event] = []
    informers: dict[WatchKey, Informer] = {}
    for watch in sorted(_watch_keys(runner, raw), key=lambda w: (w[0].plural, w[1] or "")):
        try:
            informer = runner.watches.informer(*watch)
        except WatchRefused as error:
            events.append(("Warning", "DeletionError",
                           f"its {watch[0].plural} cannot be seen, so they are left: {error}"))
            continue
        if informer is None:
            raise WatchNotReady(f"the watch on {watch[0].plural} has not synced yet")
        informers[watch] = informer
    instance = runner.instance(raw)
    objects = runner.watches.tracked(instance, informers)
    forbidden: dict[ResourceKey, str] = {}
    for obj in objects:
        problems = object_problems(project, app, [(obj, None)], cluster=runner.cluster)
        if problems:
            forbidden[resource_key(obj)] = f"its project does not permit it ({problems[0]})"
    app_key = ResourceKey("argoproj.io", "Application", str(metadata.get("namespace") or ""),
                          str(metadata.get("name") or ""))
    plan = plan_deletion(objects, app_key=app_key, deletion_started=started, now=now,
                         forbidden=forbidden, timeout=timeout)
    if plan.gave_up:
        events.append(("Warning", "DeletionTimeout",
                       f"resources still present {int(timeout.total_seconds())} s after the "
                       f"Application was deleted are left: {listed(plan.left)}; delete them "
                       "(or remove their finalizers) by hand"))
        return DeletionPass(plan, events)
    if plan.done:
        return DeletionPass(plan, events)
    if plan.waiting:
        log.info("%s: waiting for %d objects being deleted", instance, len(plan.waiting))
        return DeletionPass(plan, events, requeue_after=WHILE_WAITING)
    deleted: list[ResourceKey] = []
    for obj in plan.delete:
        key = resource_key(obj)
        try:
            kind = runner.client.discover_kind(str(obj.get("apiVersion") or ""), key.kind)
            uid = (obj.get("metadata") or {}).get("uid")
            runner.client.delete(kind, (key.namespace or None) if kind.namespaced else None,
                                 key.name, propagation=policy,
                                 uid=str(uid) if uid else None)
        except Conflict:
            continue  # a namesake replaced it: ours is gone, the namesake is not ours
        except KubeError as error:
            if error.temporary:
                raise
            events.append(("Warning", "DeletionError", f"cannot delete {key}: {error}"))
            continue
        deleted.append(key)
    if deleted:
        events.append(("Normal", "ResourcesDeleting",
                       f"deleting ({policy}) {listed(deleted)}"))
    return DeletionPass(plan, events, requeue_after=AFTER_DELETE if deleted else WHILE_WAITING)
