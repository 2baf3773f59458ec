"""The Rollout controller: watches, the reconcile of one Rollout, and its timers.

Informer events map to Rollout keys (`namespace/name`): a Rollout's own events, and
ReplicaSets and AnalysisRuns through their controller owner reference; Services,
AnalysisTemplates and Deployments (workloadRef) through the Rollouts in their
namespace that name them. A reconcile reads only caches, plans with
`rollouts.planner.plan_rollout` (pure; canary or blue-green), executes the plan, and
turns the plan's wake-up times into timers, which only enqueue the key again.

One impure helper feeds the planner: when no ReplicaSet carries the template's hash,
the template is defaulted by the API server (a dry-run create of the ReplicaSet we
would make) so a ReplicaSet made by Argo Rollouts for the same template is found and
kept. The answer is cached per Rollout and template hash.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rollouts.api import AnalysisPhase, Rollout, check_object, unsupported_metric_providers
from rollouts.api.sharding import instance_selector
from rollouts.controller.executor import EventHook, execute
from rollouts.controller.traffic_io import TrafficIO
from rollouts.core import (
    HASH_LABEL,
    AnalysisRunView,
    Observed,
    Plan,
    PodView,
    ReplicaSetView,
    selector_string,
)
from rollouts.core.replica_sets import defaulting_request
from rollouts.kube import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    CLUSTER_ANALYSIS_TEMPLATE,
    DEPLOYMENT,
    EXPERIMENT,
    POD,
    REPLICA_SET,
    ROLLOUT,
    SERVICE,
    Conflict,
    Informer,
    KubeClient,
    KubeError,
)
from rollouts.kube.shared import SharedInformers
from rollouts.merge_patch import merge_patch
from rollouts.planner import plan_rollout
from rollouts.runtime import (
    Clock,
    ReconcileResult,
    SystemClock,
    Timers,
    WorkQueue,
    log_fields,
)
from rollouts.runtime.queue import key_of, object_key, split_key
from rollouts.runtime.written import CATCH_UP_FALLBACK, WrittenVersions
from rollouts.traffic.select import uses_router

log = logging.getLogger(__name__)

MAX_PASSES = 4
"""Passes one reconcile plans when each earlier one only moves the status on (see
`_reconcile_rollout`). Four: a pause ending, a setWeight that needs no scaling and the
next pause are three passes that move, and a fourth finds nothing more to do. With
three, the third still moved, so the status write's own watch event had to be planned
again (`record(..., echo=True)`), about one reconcile per pause in the `progressing`
bench."""


def _owner_rollout(obj: dict[str, Any]) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "Rollout" and ref.get("controller"):
            return str(ref.get("name"))
    return None


_VERDICTS = frozenset(phase.value for phase in AnalysisPhase if phase.completed)


def _replica_set_reading(obj: dict[str, Any]) -> tuple[object, ...]:
    """What a pass reads of a ReplicaSet: its spec and metadata (but the resourceVersion
    and generation) and the replica counts of its status."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return ({k: v for k, v in meta.items() if k not in ("resourceVersion", "generation")},
            obj.get("spec"), status.get("replicas"), status.get("readyReplicas"),
            status.get("availableReplicas"))


def _finished_now(run: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """True when this event brings an AnalysisRun's verdict (it was not finished)."""
    def phase(obj: dict[str, Any] | None) -> object:
        return ((obj or {}).get("status") or {}).get("phase")

    return phase(run) in _VERDICTS and phase(old) not in _VERDICTS


class RolloutController:
    """Reconciles Rollouts of both strategies."""

    def __init__(
        self, client: KubeClient, *, namespace: str | None = None, clock: Clock | None = None,
        instance_id: str = "", informers: SharedInformers | None = None,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        # Only this install's Rollouts and the runs and Experiments they made (`--instance-id`,
        # as Argo Rollouts shards); ReplicaSets and Services are matched by owner, not label.
        # The caches are shared with the other controllers of the process (`informers`).
        mine = instance_selector(instance_id)
        shared = informers or SharedInformers(client)
        self.rollouts = shared.informer(ROLLOUT, namespace, mine)
        self.replica_sets = shared.informer(REPLICA_SET, namespace)
        self.services = shared.informer(SERVICE, namespace)
        self.analysis_runs = shared.informer(ANALYSIS_RUN, namespace, mine)
        self.templates = shared.informer(ANALYSIS_TEMPLATE, namespace)
        self.cluster_templates = shared.informer(CLUSTER_ANALYSIS_TEMPLATE)
        self.deployments = shared.informer(DEPLOYMENT, namespace)
        self.experiments = shared.informer(EXPERIMENT, namespace, mine)
        self._queue: WorkQueue | None = None
        self._timers: Timers | None = None
        # resourceVersion of our last status write per key: until the cache has caught
        # up with it, a reconcile would plan from a stale view, so it waits instead.
        self._written = WrittenVersions()
        # resourceVersion of our last scale patch per ReplicaSet key (its echo is skipped).
        self._scaled = WrittenVersions()
        self._warned: dict[tuple[str, str], str] = {}
        """(namespace, name) -> the uid/generation whose unsupported fields were reported."""
        # (rollout uid, our template hash) -> the template as the API server defaults it.
        self._defaulted: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._traffic = TrafficIO(client)
        # Called after each Event emitted about a Rollout (`rollouts.metrics` counts them).
        self.on_event: EventHook | None = None

    @property
    def name(self) -> str:
        return "rollouts"

    def informers(self) -> Sequence[Informer]:
        return (self.rollouts, self.replica_sets, self.services, self.analysis_runs,
                self.templates, self.cluster_templates, self.deployments, self.experiments)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue, self._timers = queue, timers
        # Urgent (handed out before other keys): a change to a Rollout that is not our
        # own write coming back (a user's update, promote, abort), and a run's verdict.
        self.rollouts.add_handler(lambda _t, obj, _old: self._enqueue_rollout(obj))
        self.analysis_runs.add_handler(lambda _t, obj, old: self._enqueue_owner(
            obj, urgent=_finished_now(obj, old)))
        self.replica_sets.add_handler(self._on_replica_set)
        self.experiments.add_handler(lambda _t, obj, _old: self._enqueue_owner(obj))
        for referenced in (self.services, self.templates, self.deployments):
            referenced.add_handler(lambda _t, obj, _old: self._enqueue_referrers(obj))
        self.cluster_templates.add_handler(lambda _t, obj, _old: self._enqueue_referrers(obj))

    # -- event mapping ------------------------------------------------------------------

    def _enqueue_rollout(self, obj: dict[str, Any]) -> None:
        # Our own status write coming back plans nothing new (the reconcile that wrote it
        # planned from what it wrote and set its timers; the objects it wrote queue the
        # key with their own events), unless a reconcile waits for it or the writer
        # asked for another look (see `_reconcile_rollout`).
        key = key_of(obj)
        ours = self._written.wrote(key, obj)
        # A reconcile from the urgent lane that waited for this write stays urgent (a
        # verdict must not drop into the churn for having waited).
        urgent = not ours or self._written.waited_urgently(key)
        if ours and not self._written.echo_wanted(key):
            return
        self._enqueue_object(obj, urgent=urgent)

    def _on_replica_set(self, change: str, obj: dict[str, Any], old: dict[str, Any] | None
                        ) -> None:
        # Not queued: our own scale patch coming back (the ReplicaSet controller's status
        # update for the new size follows and queues the Rollout), and a change to fields
        # no pass reads (observedGeneration, conditions, fullyLabeledReplicas, ...).
        key = key_of(obj)
        if change == "DELETED":
            self._scaled.forget(key)
        elif self._scaled.wrote(key, obj):
            self._scaled.forget(key)
            return
        elif old is not None and _replica_set_reading(old) == _replica_set_reading(obj):
            return
        self._enqueue_owner(obj)

    def _enqueue_object(self, obj: dict[str, Any], *, urgent: bool = False) -> None:
        if self._queue is not None:
            self._queue.add(key_of(obj), urgent=urgent)

    def _enqueue_owner(self, obj: dict[str, Any], *, urgent: bool = False) -> None:
        owner = _owner_rollout(obj)
        if owner and self._queue is not None:
            namespace = (obj.get("metadata") or {}).get("namespace")
            self._queue.add(object_key(namespace, owner), urgent=urgent)

    def _enqueue_referrers(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace"), str(meta.get("name"))
        for rollout in self.rollouts.list(namespace):
            if name in _referenced_names(rollout):
                self._enqueue_object(rollout)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, /) -> ReconcileResult:
        namespace, name = split_key(key)
        raw = self.rollouts.get(namespace, name)
        if raw is None:
            if self._timers is not None:
                self._timers.cancel(key)
            self._written.forget(key)
            with self._lock:
                self._warned.pop((namespace, name), None)
            return ReconcileResult()
        caught_up = self._written.catch_up(
            key, raw, lambda: self.rollouts.get(namespace, name),
            urgent=self._queue is not None and self._queue.handed_out_urgent(key))
        if caught_up is None:
            return ReconcileResult(requeue_after=CATCH_UP_FALLBACK)
        raw = caught_up
        if (raw.get("metadata") or {}).get("deletionTimestamp"):
            return ReconcileResult()
        try:
            return self._reconcile_rollout(key, raw)
        except KubeError as error:
            if not error.temporary:  # Forbidden, Invalid, ...: say so where users look
                self._emit(raw, "ReconcileError", f"cannot reconcile: {error}; retried with "
                           "backoff (up to every 10 minutes) until it succeeds")
            raise

    def _reconcile_rollout(self, key: str, raw: dict[str, Any]) -> ReconcileResult:
        # A pass that would only move the status on (a pause ended, a verdict or a promote
        # completed a step) is not written on its own: the next pass is planned at once
        # from the status it would write, and the two are carried out as one (the later
        # pass's object writes, the Events of both, one status write), saving a status
        # write and a trip of its watch event through the queue before the next step's
        # writes. The caches of owned objects are as current for the later pass as for
        # the first, as the first writes no other object. A crash before the status write
        # leaves the stored state as it was: the next pass plans both again, and the
        # Events' names (from the stored state) keep them from being recorded twice.
        meta = raw["metadata"]
        fields = log_fields(kind="Rollout", namespace=meta.get("namespace"), name=meta.get("name"))
        current, earlier, collected = raw, [], []
        for passes in range(1, MAX_PASSES + 1):
            outcome = self._plan(current)
            if isinstance(outcome, ReconcileResult):
                return outcome
            plan = outcome
            moved = merge_patch(current.get("status") or {}, plan.status)
            if passes == MAX_PASSES or not plan.chains or not moved:
                break
            earlier.extend(plan.events)
            collected.extend(plan.collect_analysis_runs)
            current = {**current, "status": plan.status}
            log.debug("pass %d of %s only moves the status on: planning the next from it",
                      passes, key, extra=fields)
        plan.events[:0] = earlier
        plan.collect_analysis_runs = list(dict.fromkeys(
            [*collected, *plan.collect_analysis_runs]))
        try:
            written = execute(self.client, raw, plan, on_event=self.on_event,
                              on_scaled=lambda rs: self._scaled.record(key_of(rs), rs))
        except Conflict:
            log.info("status of %s changed while we planned; planning again", key,
                     extra=fields)
            return ReconcileResult(requeue_after=0.2)
        if written is not None:
            # Its watch event is queued only when this reconcile stopped planning with the
            # status still moving, or wrote what no watch of ours reports (traffic router
            # objects); `plan.requeue` comes back by itself.
            self._written.record(key, written, echo=bool(
                plan.router_writes or (passes == MAX_PASSES and plan.chains and moved)))
        if self._timers is not None:
            self._timers.plan(key, plan.wake_at)
        return ReconcileResult(requeue_after=0.2 if plan.requeue else None)

    def _plan(self, raw: dict[str, Any]) -> ReconcileResult | Plan:
        """Plan one pass from `raw`, or the result to end the reconcile with."""
        result = check_object(raw)
        model = result.obj
        self._warn_unsupported(raw, [str(w) for w in result.warnings]
                               + _not_implemented_yet(raw))
        if not isinstance(model, Rollout):
            self._write_invalid(raw, [str(p) for p in result.errors])
            return ReconcileResult()
        problems = [str(p) for p in result.errors]
        observed = self._observe(raw, model)
        problems += _template_problems(raw, observed)
        traffic, traffic_problem = self._traffic.observe(raw)
        if traffic_problem:
            problems.append(traffic_problem)
        if traffic is not None:
            observed = dataclasses.replace(observed, traffic=traffic)
        if observed.pod_template is not None and not problems:
            defaulted = self._defaulted_template(raw, observed)
            if defaulted is not None:
                observed = dataclasses.replace(observed, defaulted_template=defaulted)
        plan = plan_rollout(raw, model, observed, problems)
        if plan.needs_pods:
            # A restart is in progress: only then are the Rollout's pods listed.
            observed = dataclasses.replace(observed, pods=self._pods(raw, observed))
            plan = plan_rollout(raw, model, observed, problems)
        return plan

    def _observe(self, raw: dict[str, Any], model: Rollout) -> Observed:
        meta = raw["metadata"]
        namespace, uid = meta.get("namespace"), str(meta.get("uid"))
        pod_template: dict[str, Any] | None = (raw.get("spec") or {}).get("template")
        missing: str | None = None
        workload_replicas: int | None = None
        borrowed: dict[str, str] | None = None
        ref = model.spec.workload_ref
        if ref is not None and ref.name:
            deployment = self.deployments.get(namespace, ref.name)
            if deployment is None:
                pod_template = None
                missing = (f"spec.workloadRef: Deployment '{ref.name}' not found; "
                           "create it or fix the name")
            else:
                pod_template = (deployment.get("spec") or {}).get("template")
                workload_replicas = int((deployment.get("spec") or {}).get("replicas", 1))
                borrowed = ((deployment.get("spec") or {}).get("selector") or {}).get(
                    "matchLabels")
        services: dict[str, str | None] = {}
        for service in self.services.list(namespace):
            selector = (service.get("spec") or {}).get("selector") or {}
            services[str(service["metadata"]["name"])] = selector.get(HASH_LABEL)
        return Observed(
            replica_sets=[ReplicaSetView.parse(rs) for rs in self.replica_sets.by_owner(uid)],
            analysis_runs=[AnalysisRunView.parse(r) for r in self.analysis_runs.by_owner(uid)],
            experiments=list(self.experiments.by_owner(uid)),
            templates={str(t["metadata"]["name"]): t for t in self.templates.list(namespace)},
            cluster_templates={str(t["metadata"]["name"]): t
                               for t in self.cluster_templates.list()},
            now=self.clock.now(),
            pod_template=pod_template,
            services=services,
            workload_missing=missing,
            workload_replicas=workload_replicas,
            match_labels=borrowed,
        )

    def _defaulted_template(self, raw: dict[str, Any], observed: Observed
                            ) -> dict[str, Any] | None:
        """The pod template as the API server defaults it (a dry-run create), when the
        planner's core says it is needed to recognise another controller's ReplicaSet;
        cached per Rollout and template hash."""
        request = defaulting_request(raw, observed)
        if request is None:
            return None
        our_hash, body = request
        meta = raw["metadata"]
        key = (str(meta.get("uid")), our_hash)
        with self._lock:
            cached = self._defaulted.get(key)
        if cached is not None:
            return cached
        try:
            answer = self.client.create(REPLICA_SET, meta.get("namespace"), body, dry_run=True)
        except KubeError as error:
            # Without it a ReplicaSet made by Argo Rollouts for this template is not
            # recognised, and the template gets a new ReplicaSet (its pods replaced).
            log.warning("could not default the pod template (%s); ReplicaSets made by "
                        "another controller will not be recognised", error,
                        extra=log_fields(kind="Rollout", namespace=meta.get("namespace"),
                                         name=meta.get("name")))
            return None
        defaulted = dict((answer.get("spec") or {}).get("template") or {})
        with self._lock:
            if len(self._defaulted) > 1000:
                self._defaulted.clear()
            self._defaulted[key] = defaulted
        return defaulted

    def _pods(self, raw: dict[str, Any], observed: Observed) -> list[PodView]:
        namespace = raw["metadata"].get("namespace")
        hashes = {rs.pod_hash for rs in observed.replica_sets}
        selector = selector_string(raw, observed.match_labels)
        pods = self.client.list(POD, namespace, label_selector=selector or None).items
        views = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            if (meta.get("labels") or {}).get(HASH_LABEL) not in hashes:
                continue
            conditions = (pod.get("status") or {}).get("conditions") or []
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in conditions)
            views.append(PodView(
                name=str(meta.get("name")),
                created=datetime.fromisoformat(
                    str(meta.get("creationTimestamp")).replace("Z", "+00:00")),
                ready=ready, deleting=bool(meta.get("deletionTimestamp"))))
        return views

    def _write_invalid(self, raw: dict[str, Any], problems: list[str]) -> None:
        message = "InvalidSpec: " + "; ".join(problems or ["the object cannot be read"])
        old = raw.get("status") or {}
        diff = merge_patch(old, _invalid_status(raw, message))
        if diff:
            meta = raw["metadata"]
            self.client.patch_status(ROLLOUT, meta.get("namespace"), meta["name"],
                                     {"status": diff})
            self._emit(raw, "InvalidSpec", message)

    def _warn_unsupported(self, raw: dict[str, Any], warnings: list[str]) -> None:
        if not warnings:
            return
        meta = raw["metadata"]
        where = (str(meta.get("namespace") or ""), str(meta["name"]))
        marker = f"{meta.get('uid')}/{meta.get('generation')}"
        with self._lock:
            if self._warned.get(where) == marker:
                return
            self._warned[where] = marker
        self._emit(raw, "UnsupportedField", "; ".join(warnings)[:1000])

    def _emit(self, raw: dict[str, Any], reason: str, message: str) -> None:
        """A Warning Event about the Rollout `raw`, counted by the metrics hook."""
        self.client.emit_event(raw, "Warning", reason, message)
        if self.on_event is not None:
            self.on_event(raw, "Warning", reason)


def _referenced_names(rollout: dict[str, Any]) -> set[str]:
    """Names of Services, templates and Deployments a Rollout refers to."""
    spec = rollout.get("spec") or {}
    names: set[str] = set()
    workload = spec.get("workloadRef") or {}
    if workload.get("name"):
        names.add(str(workload["name"]))
    strategy = spec.get("strategy") or {}
    canary = strategy.get("canary") or {}
    blue_green = strategy.get("blueGreen") or {}
    for section, field_name in ((canary, "canaryService"), (canary, "stableService"),
                                (blue_green, "activeService"), (blue_green, "previewService")):
        if section.get(field_name):
            names.add(str(section[field_name]))
    analyses = [canary.get("analysis") or {}, blue_green.get("prePromotionAnalysis") or {},
                blue_green.get("postPromotionAnalysis") or {}]
    analyses.extend(step.get("analysis") or {} for step in canary.get("steps") or [])
    for analysis in analyses:
        for template in analysis.get("templates") or []:
            if template.get("templateName"):
                names.add(str(template["templateName"]))
    return names


def _not_implemented_yet(raw: dict[str, Any]) -> list[str]:
    """Settings without effect, named, never silently ignored: the canary settings that
    need a router, on a Rollout whose only routers are ones we do not implement (its
    weight is then approximated by replica counts; the API model warns about the router)."""
    canary = ((raw.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    if not canary.get("trafficRouting") or uses_router(raw):
        return []
    return [f"spec.strategy.canary.{name}: no effect without a traffic router we implement "
            "(nginx, istio, smi, the Gateway API plugin)"
            for name in ("dynamicStableScale", "scaleDownDelaySeconds",
                         "abortScaleDownDelaySeconds", "scaleDownDelayRevisionLimit")
            if canary.get(name) not in (None, False)]


def _template_problems(raw: dict[str, Any], observed: Observed) -> list[str]:
    """A referenced AnalysisTemplate with a metric provider we do not implement makes the
    Rollout invalid before anything starts (not an aborted run mid-rollout)."""
    problems: list[str] = []
    for name in sorted(_referenced_names(raw)):
        for kind, source in (("AnalysisTemplate", observed.templates),
                             ("ClusterAnalysisTemplate", observed.cluster_templates)):
            template = source.get(name)
            if template is None:
                continue
            problems.extend(f"{kind} '{name}': {message}"
                            for message in unsupported_metric_providers(template))
    return problems


def _invalid_status(raw: dict[str, Any], message: str) -> dict[str, Any]:
    """The status of a Rollout that cannot be parsed: Degraded with the reason, and, as
    every status we write, the generation it was read at (so a reader waiting for this
    spec to be observed, `rollouts status` or a test, sees it was)."""
    status = dict(raw.get("status") or {}, phase="Degraded", message=message)
    generation = (raw.get("metadata") or {}).get("generation")
    if generation is not None:
        status["observedGeneration"] = str(generation)
    return status
