"""The Application controller (Argo CD's job): keep the cluster as Git says, and say how it is.

One reconcile of an Application, top to bottom, returning early where a step cannot go on:

1. read it from the cache (a copy older than our own last write waits a moment);
2. check the spec (`InvalidSpecError` condition; nothing else happens);
3. find the target commit (`AppSources.target`: `ls-remote` only when a poll is due,
   or at once for the refresh annotation and for a requested sync without a revision:
   a sync means the commit Git has now, not the one of the last poll; a `hard` refresh
   also drops the app's cached render and diffs);
   a Git error is a `ComparisonError`: sync `Unknown`, nothing applied or pruned;
4. render it and compare (`reconciler.compare`): desired objects vs live objects read
   from watches on the kinds the app manages (`reconciler.watches`), diffs by dry run;
   a render error is a `ComparisonError` too; all of it on the app's destination
   cluster (`reconciler.destinations`: an unknown one is an `InvalidSpecError`, and
   nothing is applied anywhere);
5. start an operation: a requested `.operation`, an automated sync, or a self-heal
   (`reconciler.operation.decide_auto_sync`), and move a running one on by one pass
   (`reconciler.sync`);
6. write the status once, as a merge patch with the object's resourceVersion as a
   precondition, only when it changed (`reconciler.app_status`); then the events.
   Every message in them has the app's Secret values scrubbed
   (`reconciler.secret_mask`), and so has an API error that reaches the log. The
   refresh annotation is removed after the status is written, so whoever set it and
   waits for it to go (`rollouts app get --refresh`) reads the new status.

A deleted Application carrying `resources-finalizer.argocd.argoproj.io` (or its
`/foreground`, `/background` variants) goes to `reconciler.deletion` instead: its
resources are deleted on its destination, wave by wave, then the finalizer is removed
(at the latest `deletion_timeout` after the deletion, whatever is left).

Timers: the next Git poll, a self-heal delay, a retry backoff. Waits inside a sync (hooks,
health of a wave) are requeues of the key, not blocked workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.app_source import AppSources, MeasuredGitSource
from reconciler.app_status import (
    Observation,
    build_status,
    images_of,
    merge_patch,
    transition_events,
)
from reconciler.clusters import DestinationError, local_cluster
from reconciler.compare import DiffCache
from reconciler.deletion import (
    DELETION_TIMEOUT,
    cascade_policy,
    deletion_pass,
    without_cascade_finalizers,
)
from reconciler.destinations import Destination, Destinations
from reconciler.multisource import recorded_revision
from reconciler.operation import (
    Decision,
    decide_auto_sync,
    parse_time,
    requested_operation,
    syncs_to_current_commit,
)
from reconciler.operation_runner import Compared, OperationRunner, WatchNotReady
from reconciler.project_gate import InvalidProject, ProjectGate, spec_problem, window_problem
from reconciler.projects import check_source_namespace, default_project
from reconciler.render import DEFAULT_POLICY, RenderError, RenderPolicy
from reconciler.repo_creds import REPO_SECRET_SELECTOR
from reconciler.secret_mask import scrub, scrub_messages, without_names
from reconciler.source import GitSource, SourceError, redact_url
from reconciler.sync import AppliedVersions
from reconciler.syncplan import SyncOptions, plan_sync
from reconciler.tenancy import DEFAULT_CONTROL_NAMESPACE, namespace_problem, split_instance_name
from reconciler.tracking import TRACKING_ANNOTATION, parse_tracking_id
from reconciler.watches import Background, WatchRefused, WatchRegistry
from reconciler.webhook import PushEvent, WebhookServer, source_matches
from rollouts.api import Application, AppProject, check_object
from rollouts.api.application import REFRESH_ANNOTATION, REFRESH_HARD
from rollouts.api.phases import SyncStatusCode
from rollouts.kube import (
    APP_PROJECT,
    APPLICATION,
    SECRET,
    AlreadyExists,
    Conflict,
    KubeClient,
    KubeError,
)
from rollouts.kube.shared import SharedInformers
from rollouts.runtime import Clock, ReconcileResult, SystemClock, Timers, WorkQueue
from rollouts.runtime.queue import object_key, split_key
from rollouts.runtime.retry import backoff_delay
from rollouts.runtime.written import WrittenVersions

__all__ = ["COMPONENT", "DEFAULT_CONTROL_NAMESPACE", "FIELD_MANAGER", "REFRESH_ANNOTATION",
           "ApplicationController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FIELD_MANAGER = "rollouts-reconciler"
COMPONENT = "rollouts-reconciler"


WINDOW_RECHECK = timedelta(seconds=60)
"""How soon an automated sync held by a sync window is considered again."""
AFTER_OPERATION = 0.5
"""Seconds after an operation ended before comparing again (its writes reach the cache)."""
REMOTE_RETRY_BASE, REMOTE_RETRY_MAX = 1.0, 60.0
"""Backoff (seconds, doubling) while a registered cluster answers with temporary errors."""


def _compared_before_finish(status: Obj) -> bool:
    """Whether the last operation finished after the last comparison was recorded."""
    finished = parse_time((status.get("operationState") or {}).get("finishedAt"))
    reconciled = parse_time(status.get("reconciledAt"))
    phase = (status.get("operationState") or {}).get("phase")
    return finished is not None and phase != "Running" and (
        reconciled is None or reconciled < finished)


class ApplicationController:
    """Reconciles Applications (see the module docstring)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str | None = None,
        control_namespace: str | None = None,
        application_namespaces: Sequence[str] = (),
        source: GitSource | None = None,
        repo_cache: Path | None = None,
        resync: float = 120.0,
        webhook_port: int | None = None,
        webhook_secret: str | None = None,
        webhook_host: str = "127.0.0.1",
        allow_local_repos: bool = False,
        render_policy: RenderPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
        field_manager: str = FIELD_MANAGER,
        deletion_timeout: timedelta = DELETION_TIMEOUT,
        informers: SharedInformers | None = None,
    ) -> None:
        self.client = client
        self.deletion_timeout = deletion_timeout
        """How long a deleted app with the resources finalizer waits for its resources."""
        self.namespace = namespace
        self.control_namespace = control_namespace or namespace or DEFAULT_CONTROL_NAMESPACE
        self.application_namespaces = tuple(application_namespaces)
        self.clock: Clock = clock or SystemClock()
        # With -n and no other namespaces the install is namespaced: watch only there.
        # Otherwise watch every namespace, to serve the permitted ones and tell the others.
        scope = namespace if namespace and not self.application_namespaces else None
        # The process's informers (`rollouts controller`): the ApplicationSet controller
        # watches the same Applications, repository and cluster Secrets through them.
        shared = informers or SharedInformers(client)
        self.apps = shared.informer(APPLICATION, scope)
        self.secrets = shared.informer(SECRET, self.control_namespace, REPO_SECRET_SELECTOR)
        self.projects = ProjectGate(client, self.control_namespace)
        self.watches = WatchRegistry(client, self._on_tracked_change)
        self.webhook = None
        if webhook_port is not None:  # off unless configured
            self.webhook = WebhookServer(self._on_push, secret=webhook_secret or "",
                                         host=webhook_host, port=webhook_port)
            self.webhook.listen()  # a port in use is an error now, not in the manager
        self.background = Background(self.watches, self.webhook)
        self.git_metrics: Any = None
        """Set by `rollouts.metrics.wiring`: times every `git ls-remote` and `git fetch`."""
        if source is None:
            source = MeasuredGitSource(repo_cache, observer=lambda: self.git_metrics,
                                       allow_local=allow_local_repos)
        self.sources = AppSources(source, self._repo_secrets, resync=resync,
                                  render_policy=render_policy)
        self.diffs = DiffCache(client, field_manager)
        self.applied = AppliedVersions()
        self.runner = OperationRunner(client, self.watches, self.sources, self.diffs,
                                      self.applied, field_manager=field_manager,
                                      control_namespace=self.control_namespace,
                                      gate=self.projects)
        # The local cluster's machinery above; registered clusters get their own, made on
        # first use (`reconciler.destinations`): the one seam between apps and clusters.
        self.destinations = Destinations(
            client, control_namespace=self.control_namespace,
            local=Destination(local_cluster(), self.runner),
            sources=self.sources, gate=self.projects, field_manager=field_manager,
            on_tracked_change=self._on_tracked_change, informers=shared)
        self._queue: WorkQueue | None = None
        self._timers: Timers | None = None
        self._written = WrittenVersions()
        self._warned: dict[str, str] = {}
        """uid -> the generation whose unsupported fields were reported (one per app)."""
        self._remote_failures: dict[str, int] = {}
        """key -> passes in a row its registered cluster failed temporarily (backoff)."""
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "reconciler"

    def informers(self) -> Sequence[Any]:
        return (self.apps, self.secrets, self.projects.informer, self.background,
                self.destinations)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue, self._timers = queue, timers
        self.apps.add_handler(lambda _t, obj, _old: self._enqueue(obj))
        self.secrets.add_handler(lambda _t, _obj, _old: self._enqueue_all())
        self.projects.informer.add_handler(lambda _t, _obj, _old: self._enqueue_all())
        self.destinations.add_handler(lambda _t, _obj, _old: self._enqueue_all())

    # -- events -> keys ----------------------------------------------------------------

    def _enqueue(self, app: Obj) -> None:
        metadata = app.get("metadata") or {}
        if self._queue is not None:
            self._queue.add(object_key(metadata.get("namespace"), str(metadata.get("name"))))

    def _enqueue_all(self) -> None:
        for app in self.apps.list():
            self._enqueue(app)

    def _on_tracked_change(self, _type: str, obj: Obj, old: Obj | None) -> None:
        for version in (obj, old):
            annotations = ((version or {}).get("metadata") or {}).get("annotations") or {}
            parsed = parse_tracking_id(str(annotations.get(TRACKING_ANNOTATION) or ""))
            if parsed is None:
                continue
            namespace, name = split_instance_name(parsed.app, self.control_namespace)
            app = self.apps.get(namespace, name)
            if app is not None:
                self._enqueue(app)

    def _on_push(self, event: PushEvent) -> list[str]:
        refreshed = []
        for app in self.apps.list():
            spec = app.get("spec") or {}
            sources = spec.get("sources") or [spec.get("source") or {}]  # any source pushed
            if any(isinstance(source, dict) and isinstance(source.get("repoURL"), str) and
                   source_matches(source["repoURL"], source.get("targetRevision"), event)
                   for source in sources):
                metadata = app.get("metadata") or {}
                key = object_key(metadata.get("namespace"), str(metadata.get("name")))
                self.sources.request_refresh(key)
                if self._queue is not None:
                    self._queue.add(key)
                refreshed.append(key)
        return refreshed

    def _repo_secrets(self, _app_namespace: str) -> list[Obj]:
        # Argo CD's rule: repository credentials live in the control namespace only, so a
        # tenant cannot plant a Secret that another tenant's Application would use.
        return self.secrets.list(self.control_namespace)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, /) -> ReconcileResult:
        namespace, name = split_key(key)
        raw = self.apps.get(namespace, name)
        if raw is None:
            self._forget(key)
            return ReconcileResult()
        if self._written.cache_is_behind(key, raw):
            return ReconcileResult(requeue_after=0.1)
        try:
            if (raw.get("metadata") or {}).get("deletionTimestamp"):
                return self._deleting(key, raw)
            return self._reconcile(key, raw)
        except Conflict:
            log.info("%s changed while we reconciled it; looking again", key)
            return ReconcileResult(requeue_after=0.2)
        except KubeError as error:  # logged by the manager: it may quote an object
            error.message = scrub(error.message, self._secret_values(key, raw))
            error.args = (error.message,)
            raise

    def _forget(self, key: str) -> None:
        if self._timers is not None:
            self._timers.cancel(key)
        self.sources.forget(key)
        self.destinations.forget(key)
        self._written.forget(key)
        with self._lock:
            self._warned.pop(key, None)
            self._remote_failures.pop(key, None)

    def _deleting(self, key: str, raw: Obj) -> ReconcileResult:
        """A deleted Application: with a cascade finalizer, delete its resources on its
        destination (`reconciler.deletion`), then remove the finalizer; without one there
        is nothing to do (the API server removes the app, its resources stay). An app
        whose destination, spec or project is unusable keeps its resources and loses the
        finalizer at once, so its deletion never hangs (Argo CD does so for an unknown
        destination)."""
        metadata = raw["metadata"]
        finalizers = list(metadata.get("finalizers") or [])
        policy = cascade_policy(finalizers)
        if policy is None or namespace_problem(str(metadata.get("namespace") or ""),
                                               self.control_namespace,
                                               self.application_namespaces) is not None:
            return ReconcileResult()  # not ours to finalize
        now = self.clock.now()
        # Only the destination and the project matter here: a spec problem elsewhere (a
        # source this controller cannot render) does not keep its resources alive.
        app, problems = self._parse(key, raw)
        destination = None if app is None else self.destinations.for_app(app)
        project = None
        left = None
        if app is None:
            left = "its spec is invalid: " + "; ".join(problems)[:500]
        elif isinstance(destination, DestinationError):
            left = destination.message
        elif not isinstance(project := self._project(app), AppProject):
            left = f"its AppProject {app.spec.project or 'default'!r} does not exist"
        elif (refusal := check_source_namespace(
                project, app_namespace=str(metadata.get("namespace") or ""),
                control_namespace=self.control_namespace)) is not None:
            left = refusal  # the tenancy boundary holds for deletes too
        events: list[tuple[str, str, str]] = []
        if left is not None:
            events.append(("Warning", "DeletionError", f"resources left in place: {left}"))
        else:
            assert app is not None and isinstance(destination, Destination)
            assert isinstance(project, AppProject)
            try:
                done = deletion_pass(destination.runner, raw, app, project, policy=policy,
                                     now=now, timeout=self.deletion_timeout)
            except (WatchNotReady, KubeError) as error:
                started = parse_time(metadata.get("deletionTimestamp")) or now
                if now - started < self.deletion_timeout:
                    raise  # the manager retries with backoff
                events.append(("Warning", "DeletionTimeout",
                               f"resources left in place: cluster {destination.cluster.name!r} "
                               f"did not answer for {self.deletion_timeout}: {error}"))
            else:
                events += done.events
                if not done.plan.remove_finalizer:
                    self._emit(raw, key, events)
                    return ReconcileResult(requeue_after=done.requeue_after)
        self._patch_main(key, raw, {"metadata": {
            "finalizers": without_cascade_finalizers(finalizers) or None}},
            metadata.get("resourceVersion"))
        log.info("%s: resources finalizer removed", key)
        self._emit(raw, key, events)
        return ReconcileResult()

    def _emit(self, raw: Obj, key: str, events: list[tuple[str, str, str]]) -> None:
        secrets = self.destinations.secret_values_of(key)
        for type_, reason, message in events:
            self.client.emit_event(raw, "Warning" if type_ == "Warning" else "Normal", reason,
                                   redact_url(scrub(message, secrets)), component=COMPONENT)

    def _reconcile(self, key: str, raw: Obj) -> ReconcileResult:
        now = self.clock.now()
        metadata = raw["metadata"]
        app_namespace = str(metadata.get("namespace") or "")
        refusal = namespace_problem(app_namespace, self.control_namespace,
                                    self.application_namespaces)
        if refusal is not None:
            return self._refuse(key, raw, [refusal], now)
        app, problems = self._parse(key, raw)
        if app is None or problems:
            return self._refuse(key, raw, problems, now)
        project = self._project(app)
        destination = self.destinations.for_app(app)
        if isinstance(destination, DestinationError):  # never the local cluster instead
            return self._refuse(key, raw, [destination.message], now)
        runner = destination.runner
        refusal = spec_problem(project, app, app_namespace=app_namespace,
                               control_namespace=self.control_namespace,
                               cluster=destination.cluster)
        if refusal is not None or not isinstance(project, AppProject):
            return self._refuse(key, raw, [refusal or f"AppProject {app.spec.project!r}"], now)
        annotations = metadata.get("annotations") or {}
        if annotations.get(REFRESH_ANNOTATION) == REFRESH_HARD:
            synced = recorded_revision((raw.get("status") or {}).get("sync")) or None
            self.sources.forget_render(key, app, app_name=str(metadata["name"]),
                                       revisions=(synced,) if isinstance(synced, str) else ())
            destination.diffs.forget(key)
        target = self.sources.target(key, app, app_namespace, now,
                                     refresh=REFRESH_ANNOTATION in annotations or
                                     syncs_to_current_commit(raw))
        if self._timers is not None and (target.polled or "poll" not in
                                         self._timers.pending(key)):
            self._timers.at(key, target.next_poll, "poll")
        compared: Compared | None = None
        conditions: list[tuple[str, str]] = []
        remote_retry: float | None = None
        if target.error is not None:
            conditions.append(("ComparisonError", target.error))
        else:
            assert target.revision is not None
            try:
                compared = runner.compare(key, app, raw, target.revision)
                conditions += compared.conditions
            except (SourceError, RenderError, WatchRefused) as error:
                conditions.append(("ComparisonError", redact_url(str(error))))
            except (KubeError, WatchNotReady) as error:
                if destination.cluster.local:
                    raise
                # Another cluster unreachable: say so on the app instead of retrying
                # mutely, and look again after a backoff if it may pass.
                conditions.append(("ComparisonError", f"cluster '{destination.cluster.name}' "
                                   f"({destination.cluster.server}): {error}"))
                if error.temporary:
                    remote_retry = self._remote_backoff(key)
        if remote_retry is None:
            with self._lock:
                self._remote_failures.pop(key, None)
        observation = self._observation(raw, app, target.revision, compared, conditions)
        status = raw.get("status") or {}
        state = status.get("operationState")
        events: list[tuple[str, str, str]] = []
        requested = requested_operation(raw)
        running = state if (state or {}).get("phase") == "Running" else None
        outcome = None
        if running is None and requested is not None:
            blocked = window_problem(project, app, app_name=str(metadata["name"]), now=now,
                                     manual=True)
            outcome = runner.start_requested(key, app, raw, requested, target, compared, now,
                                             blocked=blocked)
        elif running is None and compared is not None and not compared.forbidden:
            decision = self._decide(app, raw, compared, observation, state, now)
            blocked = None if decision.start is None else window_problem(
                project, app, app_name=str(metadata["name"]), now=now, manual=False)
            if blocked is not None:
                log.info("%s: automated sync waits: %s", key, blocked)
                decision = Decision(condition=decision.condition, wake_at=min(
                    filter(None, [decision.wake_at, now + WINDOW_RECHECK])))
            if decision.condition is not None:
                observation.conditions.append(decision.condition)
            if decision.wake_at is not None and self._timers is not None:
                self._timers.at(key, decision.wake_at, "self-heal")
            if decision.start is not None:
                outcome = runner.start(key, app, raw, decision.start, target, compared,
                                       now, self_heal=decision.self_heal)
        elif running is not None:
            outcome = runner.advance(key, app, raw, running, target, compared, now)
        requeue = None
        history = status.get("history")
        remove_operation = False
        finished = False
        if outcome is not None:
            state, history = outcome.state, outcome.history
            events += outcome.events
            remove_operation = outcome.finished and requested is not None and \
                requested == (state or {}).get("operation")
            requeue = outcome.requeue_after
            finished = outcome.finished
            if finished:
                requeue = AFTER_OPERATION  # compare again once the cache has the sync
            if outcome.wake_at is not None and self._timers is not None:
                self._timers.at(key, outcome.wake_at, "operation")
        if remote_retry is not None:
            requeue = min(requeue, remote_retry) if requeue is not None else remote_retry
        self._finish(key, raw, observation, now,
                     refresh=_compared_before_finish(status) or
                     REFRESH_ANNOTATION in annotations, state=state,
                     history=history, events=events, remove_operation=remove_operation,
                     remove_refresh=REFRESH_ANNOTATION in annotations, hold=finished)
        return ReconcileResult(requeue_after=requeue)

    def _secret_values(self, key: str, raw: Obj) -> frozenset[str]:
        """What no message about this app may show: its Secrets' values, except the
        app's own names (a Secret holding the app's name must not blank it)."""
        metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
        destination = spec.get("destination") or {}
        return without_names(self.destinations.secret_values_of(key), (
            metadata.get("name"), metadata.get("namespace"), spec.get("project"),
            destination.get("namespace"), destination.get("name")))

    def _remote_backoff(self, key: str) -> float:
        with self._lock:
            attempt = self._remote_failures.get(key, 0)
            self._remote_failures[key] = attempt + 1
        return backoff_delay(attempt, base_delay=REMOTE_RETRY_BASE, max_delay=REMOTE_RETRY_MAX)

    def _decide(self, app: Application, raw: Obj, compared: Compared,
                observation: Observation, state: Obj | None, now: datetime) -> Decision:
        rows = compared.rows
        out_of_sync = [row for row in rows if row.status is SyncStatusCode.OUT_OF_SYNC]
        refused = None
        if observation.sync_status is SyncStatusCode.OUT_OF_SYNC and \
                app.spec.sync_policy_or_default.automated is not None:
            options = SyncOptions.for_application(app)
            plan = plan_sync(self.runner.instance(raw), compared.desired, compared.tracked,
                             compared.diffs, options,
                             destination_namespace=app.spec.destination.namespace)
            refused = plan.refused
        return decide_auto_sync(
            app, sync_status=observation.sync_status, revision=compared.revision,
            source=observation.source if observation.sources is None else observation.sources,
            operation_state=state,
            only_pruning=bool(out_of_sync) and all(r.requires_pruning for r in out_of_sync),
            refused=refused, now=now)

    def _project(self, app: Application) -> AppProject | InvalidProject | None:
        """The Application's project; `default` is created on first use, as Argo CD does
        at start, so a fresh install has it."""
        project = self.projects.lookup(app)
        if project is None and (app.spec.project or "default") == "default":
            try:
                try:
                    raw = self.client.create(APP_PROJECT, self.control_namespace,
                                             default_project(self.control_namespace))
                    log.info("created the default AppProject in %s", self.control_namespace)
                except AlreadyExists:  # another replica, or our cache is behind
                    raw = self.client.get(APP_PROJECT, self.control_namespace, "default")
            except KubeError as error:
                if error.temporary:
                    raise
                # e.g. no RBAC to create it: the app says the project is missing.
                log.warning("cannot create the default AppProject in %s: %s",
                            self.control_namespace, error)
                return None
            result = check_object(raw)
            project = result.obj if isinstance(result.obj, AppProject) else None
        return project

    def _refuse(self, key: str, raw: Obj, problems: list[str], now: datetime) -> ReconcileResult:
        """Say why an Application is not served or not valid (`InvalidSpecError`), and do
        nothing else: no Git, no timers."""
        if self._timers is not None:
            self._timers.cancel(key)
        observation = self._observation(raw, None, None, None,
                                        [("InvalidSpecError", p) for p in problems])
        status = raw.get("status") or {}
        annotations = (raw.get("metadata") or {}).get("annotations") or {}
        self._finish(key, raw, observation, now, refresh=False,
                     state=status.get("operationState"), history=status.get("history"),
                     remove_refresh=REFRESH_ANNOTATION in annotations)
        return ReconcileResult()

    def _parse(self, key: str, raw: Obj) -> tuple[Application | None, list[str]]:
        # The status is ours and not a spec: its problems are no reason to stop.
        result = check_object({k: v for k, v in raw.items() if k != "status"})
        warnings = [str(p) for p in result.warnings]
        if warnings:
            metadata = raw["metadata"]
            marker = f"{metadata.get('uid')}/{metadata.get('generation')}"
            with self._lock:
                fresh = self._warned.get(key) != marker
                self._warned[key] = marker
            if fresh:
                self.client.emit_event(raw, "Warning", "UnsupportedField",
                                       "; ".join(warnings)[:1000], component=COMPONENT)
        problems = [str(p) for p in result.errors]
        model = result.obj if isinstance(result.obj, Application) else None
        return model, problems

    def _observation(self, raw: Obj, app: Application | None, revision: str | None,
                     compared: Compared | None, conditions: list[tuple[str, str]]) -> Observation:
        spec = raw.get("spec") or {}
        source = dict(spec.get("source") or {}) or None
        if source is not None and isinstance(source.get("repoURL"), str):
            source["repoURL"] = redact_url(source["repoURL"])
        sources = None  # a multi-source app: its sources, and no source (Argo CD's status)
        if isinstance(spec.get("sources"), list) and spec["sources"]:
            source, sources = None, [dict(s) if isinstance(s, dict) else {}
                                     for s in spec["sources"]]
            for entry in sources:
                if isinstance(entry.get("repoURL"), str):
                    entry["repoURL"] = redact_url(entry["repoURL"])
        old_revision = recorded_revision((raw.get("status") or {}).get("sync"))
        rows = compared.rows if compared is not None else None
        images = None
        if compared is not None:
            images = images_of([*compared.live.values(), *compared.tracked])
        ignore = spec.get("ignoreDifferences") if app is not None else None
        return Observation(
            revision=revision or old_revision, source=source,
            destination=dict(spec.get("destination") or {}),
            source_type=compared.source_type if compared is not None else None,
            rows=rows, conditions=list(conditions), images=images,
            ignore_differences=ignore or None, sources=sources,
            source_types=compared.source_types if compared is not None else (),
        )

    def _finish(self, key: str, raw: Obj, observation: Observation, now: datetime, *,
                refresh: bool, state: Obj | None, history: list[Obj] | None,
                events: list[tuple[str, str, str]] | None = None,
                remove_operation: bool = False, remove_refresh: bool = False,
                hold: bool = False) -> None:
        old = raw.get("status") or {}
        secrets = self._secret_values(key, raw)
        new = scrub_messages(build_status(old, observation, operation_state=state,
                                          history=history, now=now, refresh=refresh,
                                          hold=hold), secrets)
        metadata = raw["metadata"]
        namespace, name = metadata.get("namespace"), metadata["name"]
        resource_version = metadata.get("resourceVersion")
        if remove_operation:
            resource_version = self._patch_main(key, raw, {"operation": None}, resource_version)
        patch = merge_patch(old, new)
        if patch:
            body = {"metadata": {"resourceVersion": resource_version}, "status": patch}
            written = self.client.patch_status(APPLICATION, namespace, name, body)
            resource_version = written["metadata"]["resourceVersion"]
            self._remember(key, written)
            log.debug("%s: wrote status (%s)", key, ", ".join(sorted(patch)))
        if remove_refresh:
            self._patch_main(key, raw, {"metadata": {"annotations": {REFRESH_ANNOTATION: None}}},
                             resource_version)
        for type_, reason, message in [*(events or []), *transition_events(old, new)]:
            self.client.emit_event(raw, "Warning" if type_ == "Warning" else "Normal", reason,
                                   redact_url(scrub(message, secrets)), component=COMPONENT)

    def _patch_main(self, key: str, raw: Obj, patch: Obj, resource_version: Any) -> Any:
        """Merge-patch the Application itself (not its status), with a precondition."""
        metadata = raw["metadata"]
        patch.setdefault("metadata", {})["resourceVersion"] = resource_version
        written = self.client.patch(APPLICATION, metadata.get("namespace"), metadata["name"],
                                    patch)
        self._remember(key, written)
        return written["metadata"]["resourceVersion"]

    def _remember(self, key: str, written: Obj) -> None:
        self._written.record(key, written)
