"""Comparing an Application at a commit, and running its sync operations pass by pass.

`OperationRunner.compare` renders a commit, prepares the desired objects, makes sure the
kinds involved are watched, reads the live and tracked objects from those watches and
diffs them (`reconciler.compare`). `start_requested` / `start` / `advance` begin or move
on an operation (`reconciler.operation` for the records, `reconciler.sync` for the work)
and return an `OpOutcome`: the new `operationState`, `history`, events, and when to look
again. The controller writes the outcome with the rest of the status, in one patch.

A sync always runs against the commit recorded when it started (`syncResult.revision`, or
a multi-source app's `syncResult.revisions`, one per source: `reconciler.multisource`):
a rollback or a `--revision` sync renders that commit, not the target one.

Each compare also records the values of the Secrets it saw (rendered, live, tracked;
`reconciler.secret_mask.secret_values`) per app, for the last two commits compared
(`secret_values_of`): the controller scrubs every message it writes or logs with them.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.app_source import AppSources, Target
from reconciler.app_status import ResourceRow, build_rows
from reconciler.clusters import Cluster
from reconciler.compare import DiffCache, Prepared, prepare_desired
from reconciler.diff import IgnoreRule, ObjectDiff
from reconciler.multisource import recorded_revision, shown_revision
from reconciler.operation import (
    append_history,
    finish_operation,
    operation_id,
    retry_at,
    start_operation,
)
from reconciler.project_gate import ProjectGate, object_problems
from reconciler.projects import ORPHANED_CONDITION, orphan_warning, orphaned_objects
from reconciler.render import RenderError
from reconciler.secret_mask import secret_values
from reconciler.source import SourceError, redact_url
from reconciler.sync import AppliedVersions, SyncExecutor
from reconciler.syncplan import SyncOptions, plan_sync
from reconciler.syncplan_annotations import hook_info
from reconciler.tenancy import instance_name
from reconciler.tracking import TRACKING_ANNOTATION, ResourceKey, resource_key
from reconciler.watches import WatchRefused, WatchRegistry
from rollouts.api.application import Application
from rollouts.api.application_status import Operation
from rollouts.api.phases import OperationPhase
from rollouts.kube import Informer, Kind, KubeClient, KubeError

__all__ = ["Compared", "OpOutcome", "OperationRunner", "SecretMemory", "WatchNotReady",
           "compare"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Event = tuple[str, str, str]


class WatchNotReady(Exception):
    """A watch on a kind the app manages has not synced yet: try again shortly."""

    temporary = True


MAX_FORBIDDEN_SHOWN = 10
"""Project refusals listed one condition each; the rest are counted."""


@dataclass
class Compared:
    """An Application's desired objects at `revision`, compared with the cluster."""

    revision: str
    desired: list[Obj]
    kinds: dict[ResourceKey, Kind]
    live: dict[ResourceKey, Obj]
    tracked: list[Obj]
    diffs: dict[ResourceKey, ObjectDiff]
    rows: list[ResourceRow]
    source_type: str
    conditions: list[tuple[str, str]] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    """Rendered objects the project forbids: the sync fails and nothing is applied."""
    source_types: tuple[str, ...] = ()
    """A multi-source app: each source's type (`status.sourceTypes`)."""


@dataclass
class OpOutcome:
    """What one pass did to an operation."""

    state: Obj
    history: list[Obj] | None
    events: list[Event] = field(default_factory=list)
    finished: bool = False
    requeue_after: float | None = None
    wake_at: datetime | None = None


def compare(runner: OperationRunner, key: str, app: Application, raw: Obj,
            revision: str) -> Compared:
    return runner.compare(key, app, raw, revision)


def _selected(objects: list[Obj], resources: list[Any]) -> list[Obj]:
    """The objects a selective sync names (`operation.sync.resources`)."""
    wanted = [r for r in resources if isinstance(r, dict)]

    def named(key: ResourceKey) -> bool:
        return any((r.get("group") or "") == key.group and r.get("kind") == key.kind
                   and r.get("name") == key.name
                   and (not r.get("namespace") or r.get("namespace") == key.namespace)
                   for r in wanted)

    return [obj for obj in objects if named(resource_key(obj))]


class SecretMemory:
    """app key -> commit -> the values of the Secrets its compare saw, for the last two
    commits compared; shared by the runners of one cluster (`for_cluster`)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def values_of(self, key: str) -> frozenset[str]:
        with self._lock:
            return frozenset[str]().union(*self._values.get(key, {}).values())

    def forget(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def remember(self, key: str, revision: str, values: frozenset[str]) -> None:
        with self._lock:
            per_commit = self._values.setdefault(key, {})
            per_commit.pop(revision, None)
            per_commit[revision] = values  # newest last
            while len(per_commit) > 2:
                per_commit.pop(next(iter(per_commit)))
            if not any(per_commit.values()):
                self._values.pop(key, None)


class OperationRunner:
    """Compares apps and runs their operations; shared by all workers (keeps no state)."""

    def __init__(self, client: KubeClient, watches: WatchRegistry, sources: AppSources,
                 diffs: DiffCache, applied: AppliedVersions, *, field_manager: str,
                 control_namespace: str = "", gate: ProjectGate | None = None,
                 cluster: Cluster | None = None, secrets: SecretMemory | None = None) -> None:
        self.client = client
        self.cluster = cluster
        """The registered cluster `client` talks to (None: the local one, as the spec says)."""
        self.gate = gate
        self.control_namespace = control_namespace
        self.watches = watches
        self.sources = sources
        self.diffs = diffs
        self.applied = applied
        self.field_manager = field_manager
        self.secrets = secrets or SecretMemory()

    def for_cluster(self, cluster: Cluster) -> OperationRunner:
        """This runner (the same client, watches, caches and Secret values) under the
        name `cluster` gives it: a Secret may register the local cluster under another
        name, and projects judge rendered objects against that one."""
        return OperationRunner(self.client, self.watches, self.sources, self.diffs,
                               self.applied, field_manager=self.field_manager,
                               control_namespace=self.control_namespace, gate=self.gate,
                               cluster=cluster, secrets=self.secrets)

    def secret_values_of(self, key: str) -> frozenset[str]:
        """The Secret values of the app's last compares: what no message may show."""
        return self.secrets.values_of(key)

    def forget(self, key: str) -> None:
        self.secrets.forget(key)

    def instance(self, raw: Obj) -> str:
        """The name `raw`'s objects are tracked by (`reconciler.tenancy.instance_name`)."""
        metadata = raw["metadata"]
        return instance_name(str(metadata["name"]), str(metadata.get("namespace") or ""),
                             self.control_namespace)

    # -- comparing -------------------------------------------------------------------------

    def _informer(self, kind: Kind, namespace: str | None) -> Informer:
        informer = self.watches.informer(kind, namespace)
        if informer is None:
            raise WatchNotReady(f"the watch on {kind.plural} in {namespace or 'the cluster'} "
                                "has not synced yet")
        return informer

    def live(self, obj: Obj) -> Obj | None:
        """The cached live object with the identity of `obj` (watching its kind if needed)."""
        key = resource_key(obj)
        try:
            kind = self.client.discover_kind(str(obj.get("apiVersion") or ""), key.kind)
        except KubeError:
            return None
        try:
            informer = self.watches.informer(kind, key.namespace)
        except WatchRefused:
            return None  # compare() has reported it; the write itself will be refused
        if informer is None:
            return None
        return informer.get(key.namespace if kind.namespaced else None, key.name)

    def previous_kinds(self, raw: Obj) -> set[tuple[Kind, str | None]]:
        """The (kind, namespace) watches of the kinds in the app's `status.resources`."""
        found: set[tuple[Kind, str | None]] = set()
        for entry in (raw.get("status") or {}).get("resources") or []:
            if not isinstance(entry, dict) or not entry.get("kind"):
                continue
            group, version = entry.get("group") or "", entry.get("version") or "v1"
            try:
                kind = self.client.discover_kind(f"{group}/{version}" if group else version,
                                                 str(entry["kind"]))
            except KubeError:
                continue
            found.add(WatchRegistry.key(kind, entry.get("namespace")))
        return found

    def compare(self, key: str, app: Application, raw: Obj, revision: str) -> Compared:
        """`app` at `revision` against the cluster; `SourceError` / `RenderError` on failure."""
        metadata = raw["metadata"]
        name, namespace = str(metadata["name"]), str(metadata.get("namespace") or "")
        rendered = self.sources.render(app, app_name=name, app_namespace=namespace,
                                       revision=revision)
        instance = self.instance(raw)
        prepared = prepare_desired(self.client, rendered.objects, app_name=instance,
                                   destination_namespace=app.spec.destination.namespace)
        conditions = list(prepared.conditions)
        forbidden = self._forbidden(app, prepared)
        conditions += [("InvalidSpecError", problem)
                       for problem in forbidden[:MAX_FORBIDDEN_SHOWN]]
        if len(forbidden) > MAX_FORBIDDEN_SHOWN:
            extra = len(forbidden) - MAX_FORBIDDEN_SHOWN
            conditions.append(("InvalidSpecError",
                               f"... and {extra} more objects the project forbids"))
        try:
            rules = [IgnoreRule.from_api(r) for r in app.spec.ignore_differences or []]
        except ValueError as error:
            rules = []
            conditions.append(("InvalidSpecError", f"spec.ignoreDifferences: {error}"))
        watched = {WatchRegistry.key(kind, k.namespace) for k, kind in prepared.kinds.items()}
        watched |= self.previous_kinds(raw)
        informers = {watch: self._informer(*watch) for watch in watched}
        live: dict[ResourceKey, Obj] = {}
        for obj in prepared.objects:
            obj_key = resource_key(obj)
            kind = prepared.kinds.get(obj_key)
            if kind is None:
                continue
            informer = informers[WatchRegistry.key(kind, obj_key.namespace)]
            found = informer.get(obj_key.namespace if kind.namespaced else None, obj_key.name)
            if found is not None:
                live[obj_key] = found
        tracked = self.watches.tracked(instance, informers)
        conditions += self._orphans(app, prepared, tracked, informers.values())
        diffs: dict[ResourceKey, ObjectDiff] = {}
        for obj in prepared.objects if not forbidden else ():  # no dry run of forbidden objects
            info = hook_info(obj)
            if info.is_hook or info.skip or info.unknown:
                continue
            obj_key = resource_key(obj)
            diffs[obj_key] = self.diffs.diff(key, obj, live.get(obj_key), rules)
        rows = build_rows(prepared.objects, live, tracked,
                          {k: d.changed for k, d in diffs.items()})
        values = secret_values([*prepared.objects, *live.values(), *tracked])
        self.secrets.remember(key, revision, values)
        return Compared(revision, prepared.objects, prepared.kinds, live, tracked, diffs, rows,
                        rendered.source_type, conditions, forbidden,
                        source_types=rendered.source_types)

    def _orphans(self, app: Application, prepared: Prepared, tracked: list[Obj],
                 informers: Iterable[Informer]) -> list[tuple[str, str]]:
        """The project's OrphanedResourceWarning, over the kinds this app watches."""
        project = self.gate.project(app) if self.gate is not None else None
        if project is None or project.spec.orphaned_resources is None:
            return []
        destination = app.spec.destination
        namespace = destination.namespace or ""
        keys = {resource_key(obj) for obj in [*prepared.objects, *tracked]}
        # Argo CD's meaning: an orphan belongs to no Application at all, not just not ours.
        live = [obj for informer in informers for obj in informer.list()
                if (obj.get("metadata") or {}).get("namespace") == namespace
                and TRACKING_ANNOTATION not in
                ((obj.get("metadata") or {}).get("annotations") or {})]
        server, name = ((self.cluster.server, self.cluster.name) if self.cluster is not None
                        else (destination.server, destination.name))
        orphans = orphaned_objects(project, tracked_or_desired_keys=keys, live_objects=live,
                                   server=server, name=name)
        warning = orphan_warning(project, orphans)
        return [] if warning is None else [(ORPHANED_CONDITION, warning)]

    def _forbidden(self, app: Application, prepared: Prepared) -> list[str]:
        project = self.gate.project(app) if self.gate is not None else None
        if project is None:
            return []
        return object_problems(project, app, [(obj, prepared.kinds.get(resource_key(obj)))
                                              for obj in prepared.objects],
                               cluster=self.cluster)

    # -- operations ------------------------------------------------------------------------

    def start_requested(self, key: str, app: Application, raw: Obj, requested: Obj,
                        target: Target, compared: Compared | None, now: datetime, *,
                        blocked: str | None = None) -> OpOutcome:
        """Start the `.operation` a user asked for (or end it at once when `blocked`)."""
        namespace = str(raw["metadata"].get("namespace") or "")
        wanted = recorded_revision(requested.get("sync"))
        started = f"initiated sync to {shown_revision(wanted) or 'the target revision'}"
        user = (requested.get("initiatedBy") or {}).get("username") or "Unknown user"
        source, sources = _source(raw), _sources(raw)
        if blocked is not None:
            state = start_operation(requested, revision=wanted, source=source, now=now,
                                    sources=sources)
            return self._end(app, raw, state, OperationPhase.ERROR, blocked, now,
                             [("Normal", "OperationStarted",
                               f"{user} {started}")])
        try:
            if wanted:
                revision = self.sources.resolve(app, namespace, wanted)
            elif target.revision is not None:
                revision = target.revision
            else:
                raise SourceError(target.error or "the target revision is unknown",
                                  temporary=True)
        except SourceError as error:
            state = start_operation(requested, revision=wanted or "", source=source, now=now,
                                    sources=sources)
            return self._end(app, raw, state, OperationPhase.ERROR, str(error), now,
                             [("Normal", "OperationStarted",
                               f"{user} {started}")])
        state = start_operation(requested, revision=revision, source=source, now=now,
                                sources=sources)
        events = [("Normal", "OperationStarted",
                   f"{user} initiated sync to {shown_revision(revision)}")]
        return self._run(key, app, raw, state, compared, now, events)

    def start(self, key: str, app: Application, raw: Obj, operation: Obj, target: Target,
              compared: Compared, now: datetime, *, self_heal: bool) -> OpOutcome:
        """Start an automated sync (or a self-heal) to the compared revision."""
        state = start_operation(operation, revision=compared.revision, source=_source(raw),
                                now=now, sources=_sources(raw))
        how = "automated sync (self-heal)" if self_heal else "automated sync"
        events = [("Normal", "OperationStarted",
                   f"Initiated {how} to '{shown_revision(compared.revision)}'")]
        return self._run(key, app, raw, state, compared, now, events)

    def advance(self, key: str, app: Application, raw: Obj, state: Obj, target: Target,
                compared: Compared | None, now: datetime) -> OpOutcome:
        """Move a Running operation on (or start its next attempt when its backoff ended)."""
        at = retry_at(app, state)
        if at is not None:
            if now < at:
                return OpOutcome(state, _history(raw), wake_at=at)
            state = copy.deepcopy(state)
            state.pop("finishedAt", None)
            state["syncResult"] = {**(state.get("syncResult") or {}), "resources": []}
            state["message"] = f"retry attempt #{state.get('retryCount')} started"
        return self._run(key, app, raw, state, compared, now, [])

    def _run(self, key: str, app: Application, raw: Obj, state: Obj,
             compared: Compared | None, now: datetime, events: list[Event]) -> OpOutcome:
        result = state.get("syncResult") or {}
        revision = recorded_revision(result)
        operation = state.get("operation") or {}
        sync = operation.get("sync") or {}
        if compared is None or compared.revision != revision:
            try:
                compared = self.compare(key, app, raw, revision)
            except (SourceError, RenderError) as error:
                message = (f"cannot render revision {shown_revision(revision)}: "
                           f"{redact_url(str(error))}")
                return self._end(app, raw, state, OperationPhase.ERROR, message, now, events)
            except WatchRefused as error:
                message = f"nothing applied: {error}"
                return self._end(app, raw, state, OperationPhase.ERROR, message, now, events)
        if compared.forbidden:
            more = len(compared.forbidden) - 1
            message = (f"nothing applied: {compared.forbidden[0]}"
                       + (f" (and {more} more)" if more else ""))
            return self._end(app, raw, state, OperationPhase.ERROR, message, now, events)
        options = SyncOptions.for_application(
            app, Operation.model_validate(operation, by_alias=True, by_name=False))
        desired, tracked = compared.desired, compared.tracked
        selective = sync.get("resources") or []
        if selective:
            desired, tracked = _selected(desired, selective), _selected(tracked, selective)
        name = self.instance(raw)
        plan = plan_sync(name, desired, tracked, compared.diffs, options,
                         destination_namespace=app.spec.destination.namespace)
        for warning in plan.warnings:
            log.info("%s: %s", key, warning)
        executor = SyncExecutor(self.client, app_name=name, field_manager=self.field_manager,
                                live=self.live, applied=self.applied,
                                on_applied=lambda desired, body, written:
                                self.diffs.seed(key, desired, body, written))
        sync_pass = executor.run(plan, compared.diffs, op_id=operation_id(state),
                                 revision=revision, results=list(result.get("resources") or []),
                                 run_hooks=not selective)
        state = {**state, "message": sync_pass.message,
                 "syncResult": {**result, "resources": sync_pass.results}}
        events = [*events, *sync_pass.events]
        if sync_pass.phase is OperationPhase.RUNNING:
            return OpOutcome(state, _history(raw), events,
                             requeue_after=sync_pass.requeue_after)
        return self._end(app, raw, state, sync_pass.phase, sync_pass.message, now, events,
                         dry_run=options.dry_run)

    def _end(self, app: Application, raw: Obj, state: Obj, phase: OperationPhase,
             message: str, now: datetime, events: list[Event], *, dry_run: bool = False
             ) -> OpOutcome:
        ended = finish_operation(app, state, phase, message, now)
        history = _history(raw)
        revision = recorded_revision(state.get("syncResult"))
        if ended.get("phase") == OperationPhase.RUNNING.value:
            events = [*events, ("Warning", "OperationFailed",
                                f"Sync operation to {shown_revision(revision)} failed, "
                                f"{ended['message']}")]
            return OpOutcome(ended, history, events, wake_at=retry_at(app, ended))
        if phase.successful:
            if not dry_run:
                history = append_history(history, ended, source=_source(raw), now=now,
                                         limit=app.spec.revision_history_limit_or_default,
                                         sources=_sources(raw))
            events = [*events, ("Normal", "OperationCompleted",
                                f"Sync operation to {shown_revision(revision)} succeeded")]
        else:
            events = [*events, ("Warning", "OperationFailed",
                                f"Sync operation to {shown_revision(revision)} failed: "
                                f"{message}")]
        return OpOutcome(ended, history, events, finished=True)


def _history(raw: Obj) -> list[Obj] | None:
    history = (raw.get("status") or {}).get("history")
    return list(history) if isinstance(history, list) else None


def _source(raw: Obj) -> Obj | None:
    """`spec.source` as recorded (credentials out of the URL); None for a multi-source app."""
    if _sources(raw) is not None:
        return None
    return _recorded((raw.get("spec") or {}).get("source"))


def _sources(raw: Obj) -> list[Obj] | None:
    """`spec.sources` as recorded, for a multi-source app (else None)."""
    sources = (raw.get("spec") or {}).get("sources")
    if not isinstance(sources, list) or not sources:
        return None
    return [_recorded(source) or {} for source in sources]


def _recorded(source: Any) -> Obj | None:
    recorded = dict(source) if isinstance(source, dict) else {}
    if not recorded:
        return None
    if isinstance(recorded.get("repoURL"), str):
        recorded["repoURL"] = redact_url(recorded["repoURL"])
    return recorded
