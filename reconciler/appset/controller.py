"""The ApplicationSet controller: stamps Applications out of generators and a template.

A controller of its own (`rollouts controller --controllers applicationsets`): it writes
Applications and reads their status, and the Application controller does not know it
exists. One reconcile of an ApplicationSet, top to bottom:

1. read it from the cache (a copy older than our own last write, or Applications older
   than those we just wrote, wait a moment);
2. check where it lives (its namespace must be served, as for Applications) and its
   spec (`reconciler.appset.spec`);
3. generate the parameter sets (`reconciler.appset.generators`: clusters from the
   cluster Secrets, Git through the reconciler's cache, `reconciler.appset.checkouts`);
4. render one Application per set (`reconciler.appset.render`) and check them all
   (`reconciler.appset.decide.check_desired`); any problem so far: the status says which
   generator or template and why, and **nothing** is created, updated or deleted;
5. plan against the Applications of its namespace and carry the plan out
   (`reconciler.appset.decide.plan`): creates, updates (PUT with the resourceVersion read,
   so a concurrent change is never overwritten) and deletes (with the uid as a
   precondition); an Application it does not own is never touched;
6. write the status once, only when it changed; then the refresh annotation is removed.

It is queued by changes of ApplicationSets, of the Applications they own (only changes
that matter, `reconciler.appset.decide.requeues`: not their creation, not status writes
that `status.resources` does not show; a deleted one may free a name), and of cluster
and repository Secrets; after writing Applications it looks again a second later, so
`status.resources` lists what it created. A cluster Secret that cannot be read fails a
`clusters` generator (its cluster missing would delete its Applications).
Git generators are polled every `requeueAfterSeconds` (default 3 minutes); after a
failure the ApplicationSet is looked at again after 3 minutes (30 s when Git was only
unreachable), as Argo CD does.

A deleted ApplicationSet's Applications are deleted by the API server's garbage collector
(their ownerReference). When a finalizer holds the ApplicationSet and its policy does not
allow deletes (`create-only`, `create-update`), the controller first removes its
ownerReference from them, so they stay, then removes `resources-finalizer.argocd.argoproj.io`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.appset.checkouts import GitCheckouts
from reconciler.appset.decide import (
    APPLICATION_SET_KIND,
    Failure,
    Owner,
    check_desired,
    is_owned,
    plan,
    requeues,
    status,
)
from reconciler.appset.generators import GeneratorProblem, Sources, generate, requeue_seconds
from reconciler.appset.git import DEFAULT_REQUEUE_SECONDS
from reconciler.appset.render import RESOURCES_FINALIZER, TemplateProblem, application
from reconciler.appset.spec import AppSetSpec, SpecProblem, read_spec
from reconciler.clusters import CLUSTER_SECRET_SELECTOR, read_clusters
from reconciler.repo_creds import REPO_SECRET_SELECTOR
from reconciler.source import GitSource
from reconciler.tenancy import DEFAULT_CONTROL_NAMESPACE, namespace_problem
from rollouts.kube import (
    APPLICATION,
    SECRET,
    AlreadyExists,
    Conflict,
    Kind,
    KubeClient,
    KubeError,
    NotFound,
)
from rollouts.kube.shared import SharedInformers
from rollouts.merge_patch import merge_patch
from rollouts.runtime import Clock, ReconcileResult, SystemClock, Timers, WorkQueue
from rollouts.runtime.queue import object_key, split_key
from rollouts.runtime.written import WrittenVersions, resource_version

__all__ = ["APPLICATION_SET", "COMPONENT", "REFRESH_ANNOTATION", "ApplicationSetController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
APPLICATION_SET = Kind("argoproj.io", "v1alpha1", "applicationsets", APPLICATION_SET_KIND)
COMPONENT = "rollouts-applicationset-controller"
REFRESH_ANNOTATION = "argocd.argoproj.io/application-set-refresh"
RETRY_AFTER_ERROR = 180.0
"""Argo's requeue after a generation or validation error: 3 minutes."""
RETRY_AFTER_UNREACHABLE = 30.0
WAIT_FOR_CACHE = 0.2
AFTER_WRITES = 1.0
"""When to look again after writing Applications (their creation does not queue us)."""
EXPECTATION_SECONDS = 10.0
"""How long a reconcile waits for the cache to show the Applications it just wrote."""


@dataclass
class _Expected:
    since: float
    versions: dict[str, int]
    """name -> resourceVersion written (0: deleted, gone or being deleted is enough)."""


class ApplicationSetController:
    """Reconciles ApplicationSets (see the module docstring)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str | None = None,
        control_namespace: str | None = None,
        application_namespaces: Sequence[str] = (),
        source: GitSource | None = None,
        repo_cache: Path | None = None,
        allow_local_repos: bool = False,
        informers: SharedInformers | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.control_namespace = control_namespace or namespace or DEFAULT_CONTROL_NAMESPACE
        self.application_namespaces = tuple(application_namespaces)
        self.clock: Clock = clock or SystemClock()
        scope = namespace if namespace and not self.application_namespaces else None

        shared = informers or SharedInformers(client)
        self.appsets = shared.informer(APPLICATION_SET, scope)
        self.applications = shared.informer(APPLICATION, scope)
        self.cluster_secrets = shared.informer(SECRET, self.control_namespace,
                                               CLUSTER_SECRET_SELECTOR)
        self.repo_secrets = shared.informer(SECRET, self.control_namespace,
                                            REPO_SECRET_SELECTOR)
        self.source = source or GitSource(repo_cache, allow_local=allow_local_repos)
        self.checkouts = GitCheckouts(self.source,
                                      lambda: self.repo_secrets.list(self.control_namespace))
        self._queue: WorkQueue | None = None
        self._written = WrittenVersions()
        self._expected: dict[str, _Expected] = {}
        self._warned: dict[str, str] = {}
        self._lock = threading.Lock()

    def use_git_source(self, source: GitSource) -> None:
        """Read Git through `source` (the Application controller's, in one process)."""
        self.source = self.checkouts.source = source

    @property
    def name(self) -> str:
        return "applicationsets"

    def informers(self) -> Sequence[Any]:
        return (self.appsets, self.applications, self.cluster_secrets, self.repo_secrets)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue = queue
        self.appsets.add_handler(lambda _t, obj, _old: self._enqueue(obj))
        self.applications.add_handler(self._on_application)
        self.cluster_secrets.add_handler(lambda _t, _obj, _old: self._enqueue_all())
        self.repo_secrets.add_handler(lambda _t, _obj, _old: self._enqueue_all())

    # -- events -> keys ----------------------------------------------------------------

    def _enqueue(self, appset: Mapping[str, Any]) -> None:
        metadata = appset.get("metadata") or {}
        if self._queue is not None:
            self._queue.add(object_key(metadata.get("namespace"), str(metadata.get("name"))))

    def _enqueue_all(self, namespace: str | None = None) -> None:
        for appset in self.appsets.list(namespace):
            self._enqueue(appset)

    def _on_application(self, type_: str, app: Obj, old: Obj | None) -> None:
        metadata = app.get("metadata") or {}
        # Creations (our own) and status writes that status.resources does not show are
        # ignored (decide.requeues); after its own writes a reconcile looks again itself.
        references = [*(metadata.get("ownerReferences") or []),
                      *(((old or {}).get("metadata") or {}).get("ownerReferences") or [])] \
            if requeues(type_, app, old) else []
        owners = {str(r["name"]) for r in references
                  if r.get("kind") == APPLICATION_SET_KIND and r.get("controller")}
        for owner in sorted(owners):
            if self._queue is not None:
                self._queue.add(object_key(metadata.get("namespace"), owner))
        if type_ == "DELETED":  # a name another ApplicationSet waited for may be free now
            self._enqueue_all(str(metadata.get("namespace") or ""))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, /) -> ReconcileResult:
        namespace, name = split_key(key)
        raw = self.appsets.get(namespace, name)
        if raw is None:
            self._forget(key)
            return ReconcileResult()
        if self._written.cache_is_behind(key, raw):
            return ReconcileResult(requeue_after=WAIT_FOR_CACHE)
        deleting = bool((raw.get("metadata") or {}).get("deletionTimestamp"))
        if not deleting and self._applications_behind(key):
            return ReconcileResult(requeue_after=WAIT_FOR_CACHE)
        try:
            return self._deleting(raw) if deleting else self._reconcile(key, raw)
        except (Conflict, AlreadyExists) as error:
            log.info("%s: an Application or the ApplicationSet changed meanwhile (%s); "
                     "looking again", key, error)
            return ReconcileResult(requeue_after=WAIT_FOR_CACHE)

    def _forget(self, key: str) -> None:
        self._written.forget(key)
        with self._lock:
            self._expected.pop(key, None)
            self._warned.pop(key, None)

    def _applications_behind(self, key: str) -> bool:
        namespace, _ = split_key(key)
        with self._lock:
            expected = self._expected.get(key)
        if expected is None:
            return False
        if time.monotonic() - expected.since > EXPECTATION_SECONDS:
            log.warning("%s: the cache did not show our Application writes within %g s; "
                        "going on", key, EXPECTATION_SECONDS)
        else:
            for app_name, version in expected.versions.items():
                cached = self.applications.get(namespace, app_name)
                if version and (cached is None or resource_version(cached) < version):
                    return True
                if not version and cached is not None and \
                        not (cached.get("metadata") or {}).get("deletionTimestamp"):
                    return True
        with self._lock:
            self._expected.pop(key, None)
        return False

    def _owned(self, raw: Obj) -> list[Obj]:
        metadata = raw["metadata"]
        uid = str(metadata.get("uid") or "")
        return [app for app in self.applications.list(metadata.get("namespace"))
                if is_owned(app, uid)]

    def _reconcile(self, key: str, raw: Obj) -> ReconcileResult:
        now = self.clock.now()
        metadata = raw["metadata"]
        namespace = str(metadata.get("namespace") or "")
        refusal = namespace_problem(namespace, self.control_namespace,
                                    self.application_namespaces, kind="ApplicationSet")
        if refusal is not None:
            return self._fail(key, raw, Failure("ApplicationValidationError", refusal, False),
                              now, None)
        try:
            spec = read_spec(raw.get("spec"))
        except SpecProblem as problem:
            return self._fail(key, raw, Failure("ApplicationParamsGenerationError",
                                                str(problem), False), now, None)
        self._warn_unsupported(key, raw, spec)
        every = requeue_seconds(spec)
        annotations = metadata.get("annotations") or {}
        refresh = REFRESH_ANNOTATION in annotations
        clusters, problems = read_clusters(self.cluster_secrets.list(self.control_namespace))
        reader = self.checkouts.reader(max_age=every or DEFAULT_REQUEUE_SECONDS,
                                       refresh=refresh)
        engine = spec.engine  # one per reconcile: its budget spans generators and templates
        try:
            generated = generate(spec, Sources(clusters=clusters, git=reader,
                                               cluster_problems=problems), engine)
        except GeneratorProblem as problem:
            retry = RETRY_AFTER_UNREACHABLE if problem.temporary else RETRY_AFTER_ERROR
            return self._fail(key, raw, Failure("ApplicationParamsGenerationError",
                                                str(problem), False), now, retry)
        desired: list[Obj] = []
        try:
            for result in generated:
                for params in result.params:
                    desired.append(application(result.template, params, engine,
                                               namespace=namespace,
                                               preserve_resources=spec.preserve_resources))
        except TemplateProblem as problem:
            return self._fail(key, raw, Failure("RenderTemplateParamsError", str(problem)),
                              now, RETRY_AFTER_ERROR)
        invalid = check_desired(desired, str(metadata["name"]))
        if invalid is not None:
            return self._fail(key, raw, invalid, now, RETRY_AFTER_ERROR)
        failure = self._apply(key, raw, spec, desired)
        self._finish(key, raw, failure, now, remove_refresh=refresh)
        if failure is not None:
            every = min(every or RETRY_AFTER_ERROR, RETRY_AFTER_ERROR)
        with self._lock:  # set by _apply only when it wrote (cleared before we got here)
            wrote = key in self._expected
        if wrote:
            # Our own creations do not queue us (decide.requeues): look once more when
            # the cache shows them, so status.resources lists them.
            every = min(every or AFTER_WRITES, AFTER_WRITES)
        return ReconcileResult(requeue_after=every)

    def _apply(self, key: str, raw: Obj, spec: AppSetSpec, desired: list[Obj]
               ) -> Failure | None:
        metadata = raw["metadata"]
        namespace, name = str(metadata.get("namespace") or ""), str(metadata["name"])
        owner = Owner(name, str(metadata.get("uid") or ""))
        existing = {str(app["metadata"]["name"]): app
                    for app in self.applications.list(namespace)}
        todo = plan(desired, existing, owner=owner, spec=spec)
        written: dict[str, int] = {}
        action, target = "CreateApplicationError", ""
        try:
            for body in todo.creates:
                target = body["metadata"]["name"]
                created = self.client.create(APPLICATION, namespace, body)
                written[target] = resource_version(created)
                self._event(raw, "Created", f"Created Application {target!r}")
            action = "UpdateApplicationError"
            for body in todo.updates:
                target = body["metadata"]["name"]
                updated = self.client.replace(APPLICATION, namespace, body)
                written[target] = resource_version(updated)
                self._event(raw, "Updated", f"Updated Application {target!r}")
            action = "DeleteApplicationError"
            for target, uid in todo.deletes:
                with contextlib.suppress(NotFound):  # gone already: fine
                    self.client.delete(APPLICATION, namespace, target, uid=uid)
                written[target] = 0
                self._event(raw, "Deleted", f"Deleted Application {target!r}")
        except (Conflict, AlreadyExists):
            raise  # our cache is behind: looked at again shortly
        except KubeError as error:
            if error.temporary:
                raise
            # Refused for good (invalid, forbidden): say so; the next change retries.
            return Failure(action, f"Application {target}: {error}")
        finally:
            if written:
                with self._lock:
                    self._expected[key] = _Expected(time.monotonic(), written)
        if todo.not_owned:
            names = ", ".join(sorted(todo.not_owned))
            return Failure("CreateApplicationError",
                           f"Application(s) {names} already exist in {namespace} and are not "
                           f"owned by ApplicationSet {name} (another controller owns them, or "
                           "the policy does not update); they are left alone: delete or "
                           "rename them, or change the template")
        return None

    def _fail(self, key: str, raw: Obj, failure: Failure, now: datetime,
              retry: float | None) -> ReconcileResult:
        log.info("%s: %s", key, failure.message)
        self._finish(key, raw, failure, now, remove_refresh=False)
        return ReconcileResult(requeue_after=retry)

    def _finish(self, key: str, raw: Obj, failure: Failure | None, now: datetime, *,
                remove_refresh: bool) -> None:
        metadata = raw["metadata"]
        namespace, name = metadata.get("namespace"), str(metadata["name"])
        old = raw.get("status") or {}
        new = status(old, failure=failure, owned=self._owned(raw), now=now)
        # Only the fields status() writes are compared: others' status fields stay.
        changed = merge_patch({k: old[k] for k in ("conditions", "resources") if k in old},
                              new)
        version = metadata.get("resourceVersion")
        if changed:
            body = {"metadata": {"resourceVersion": version}, "status": changed}
            written = self.client.patch_status(APPLICATION_SET, namespace, name, body)
            self._written.record(key, written)
            version = written["metadata"]["resourceVersion"]
        if failure is not None and (old.get("conditions") or []) != new["conditions"]:
            self._event(raw, failure.reason, failure.message, warning=True)
        if remove_refresh:
            patch = {"metadata": {"resourceVersion": version,
                                  "annotations": {REFRESH_ANNOTATION: None}}}
            self._written.record(key, self.client.patch(APPLICATION_SET, namespace, name,
                                                        patch))

    def _deleting(self, raw: Obj) -> ReconcileResult:
        metadata = raw["metadata"]
        finalizers = list(metadata.get("finalizers") or [])
        if RESOURCES_FINALIZER not in finalizers:
            return ReconcileResult()  # the garbage collector deletes what it owns
        try:
            policy = read_spec(raw.get("spec")).policy
            keep = not policy.allows_delete
        except SpecProblem:
            keep = True  # unreadable: the safe side is to keep the Applications
        if keep:
            uid = str(metadata.get("uid") or "")
            for app in self._owned(raw):
                app_meta = app["metadata"]
                references = [r for r in app_meta.get("ownerReferences") or []
                              if r.get("uid") != uid]
                self.client.patch(APPLICATION, app_meta.get("namespace"), app_meta["name"],
                                  {"metadata": {"resourceVersion": app_meta.get("resourceVersion"),
                                                "ownerReferences": references or None}})
        remaining = [f for f in finalizers if f != RESOURCES_FINALIZER]
        self.client.patch(APPLICATION_SET, metadata.get("namespace"), metadata["name"],
                          {"metadata": {"resourceVersion": metadata.get("resourceVersion"),
                                        "finalizers": remaining or None}})
        return ReconcileResult()

    def _warn_unsupported(self, key: str, raw: Obj, spec: AppSetSpec) -> None:
        if not spec.unsupported:
            return
        metadata = raw["metadata"]
        marker = f"{metadata.get('uid')}/{metadata.get('generation')}"
        with self._lock:
            fresh = self._warned.get(key) != marker
            self._warned[key] = marker
        if fresh:
            self._event(raw, "UnsupportedField",
                        f"{', '.join(spec.unsupported)}: not implemented, ignored; remove "
                        "them or expect Argo CD's behaviour to differ", warning=True)

    def _event(self, raw: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        self.client.emit_event(raw, "Warning" if warning else "Normal", reason,
                               message[:1000], component=COMPONENT)
