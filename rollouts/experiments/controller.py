"""The Experiment controller: watches, one reconcile per Experiment, timers, the executor.

Informer events map to Experiment keys (`namespace/name`): an Experiment's own events;
ReplicaSets, Services and AnalysisRuns through their controller owner reference; and
(Cluster)AnalysisTemplates through the Experiments in their namespace that name them. A
reconcile reads only caches, plans with `plan_experiment` (pure), carries the plan out
(`execute`: creates and scales, one status merge patch with the resourceVersion as a
precondition, then Events), and turns the plan's wake-up times into timers, which only
enqueue the key again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

from rollouts.api import Experiment, check_object
from rollouts.api.sharding import instance_selector
from rollouts.core.observed import AnalysisRunView, ReplicaSetView
from rollouts.experiments.plan import plan_experiment
from rollouts.experiments.work import (
    EXPERIMENT_NAME_ANNOTATION,
    TEMPLATE_NAME_ANNOTATION,
    ExperimentPlan,
    ObservedExperiment,
)
from rollouts.kube import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    CLUSTER_ANALYSIS_TEMPLATE,
    EXPERIMENT,
    REPLICA_SET,
    SERVICE,
    AlreadyExists,
    Conflict,
    Informer,
    KubeClient,
    NotFound,
)
from rollouts.kube.shared import SharedInformers
from rollouts.merge_patch import merge_patch
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

__all__ = ["ExperimentController", "execute"]

log = logging.getLogger(__name__)


def _owner_experiment(obj: dict[str, Any]) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "Experiment" and ref.get("controller"):
            return str(ref.get("name"))
    return None


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("controller") is True and ref.get("uid") == uid for ref in refs)


class ExperimentController:
    """Reconciles Experiments (`--controllers experiments`)."""

    def __init__(
        self, client: KubeClient, *, namespace: str | None = None, clock: Clock | None = None,
        instance_id: str = "", informers: SharedInformers | None = None,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        # Only this install's Experiments and runs (`--instance-id`, as Argo Rollouts shards).
        # The caches are shared with the other controllers of the process (`informers`).
        mine = instance_selector(instance_id)
        shared = informers or SharedInformers(client)
        self.experiments = shared.informer(EXPERIMENT, namespace, mine)
        self.replica_sets = shared.informer(REPLICA_SET, namespace)
        self.services = shared.informer(SERVICE, namespace)
        self.analysis_runs = shared.informer(ANALYSIS_RUN, namespace, mine)
        self.templates = shared.informer(ANALYSIS_TEMPLATE, namespace)
        self.cluster_templates = shared.informer(CLUSTER_ANALYSIS_TEMPLATE)
        self._queue: WorkQueue | None = None
        self._timers: Timers | None = None
        # resourceVersion of our last status write per key (see the Rollout controller).
        self._written = WrittenVersions()
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "experiments"

    def informers(self) -> Sequence[Informer]:
        return (self.experiments, self.replica_sets, self.services, self.analysis_runs,
                self.templates, self.cluster_templates)

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self._queue, self._timers = queue, timers
        self.experiments.add_handler(lambda _t, obj, _old: self._enqueue_object(obj))
        for owned in (self.replica_sets, self.services, self.analysis_runs):
            owned.add_handler(lambda _t, obj, _old: self._enqueue_owner(obj))
        for referenced in (self.templates, self.cluster_templates):
            referenced.add_handler(lambda _t, obj, _old: self._enqueue_referrers(obj))

    # -- event mapping ------------------------------------------------------------------

    def _enqueue_object(self, obj: dict[str, Any]) -> None:
        if self._queue is not None:
            self._queue.add(key_of(obj))

    def _enqueue_owner(self, obj: dict[str, Any]) -> None:
        owner = _owner_experiment(obj)
        if owner and self._queue is not None:
            namespace = (obj.get("metadata") or {}).get("namespace")
            self._queue.add(object_key(namespace, owner))

    def _enqueue_referrers(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace"), str(meta.get("name"))
        for experiment in self.experiments.list(namespace):
            analyses = (experiment.get("spec") or {}).get("analyses") or []
            if any(a.get("templateName") == name for a in analyses if isinstance(a, dict)):
                self._enqueue_object(experiment)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, /) -> ReconcileResult:
        namespace, name = split_key(key)
        raw = self.experiments.get(namespace, name)
        if raw is None:
            if self._timers is not None:
                self._timers.cancel(key)
            self._written.forget(key)
            return ReconcileResult()
        if self._written.cache_is_behind(key, raw):
            return ReconcileResult(requeue_after=CATCH_UP_FALLBACK)
        if (raw.get("metadata") or {}).get("deletionTimestamp"):
            return ReconcileResult()
        result = check_object(raw)
        self._warn_unsupported(raw, [str(w) for w in result.warnings])
        model = result.obj if isinstance(result.obj, Experiment) else None
        problems = [str(p) for p in result.errors]
        plan = plan_experiment(raw, model, self._observe(raw), problems)
        try:
            written_obj = execute(self.client, raw, plan)
        except Conflict:
            log.info("status of %s changed while we planned; planning again", key,
                     extra=log_fields(kind="Experiment", namespace=namespace, name=name))
            return ReconcileResult(requeue_after=0.2)
        if written_obj is not None:
            self._written.record(key, written_obj)
        if self._timers is not None:
            self._timers.plan(key, plan.wake_at)
        return ReconcileResult(requeue_after=0.2 if plan.requeue else None)

    def _observe(self, raw: dict[str, Any]) -> ObservedExperiment:
        meta = raw["metadata"]
        namespace, uid, name = meta.get("namespace"), str(meta.get("uid")), str(meta["name"])
        replica_sets: dict[str, ReplicaSetView] = {}
        for rs in self.replica_sets.by_owner(uid):
            annotations = (rs.get("metadata") or {}).get("annotations") or {}
            template = annotations.get(TEMPLATE_NAME_ANNOTATION)
            if (template and annotations.get(EXPERIMENT_NAME_ANNOTATION) == name
                    and _controlled_by(rs, uid)):
                replica_sets[str(template)] = ReplicaSetView.parse(rs)
        services: dict[str, str] = {}
        others: set[str] = set()
        for service in self.services.list(namespace):
            service_meta = service.get("metadata") or {}
            annotations = service_meta.get("annotations") or {}
            template = annotations.get(TEMPLATE_NAME_ANNOTATION)
            if template and _controlled_by(service, uid):
                services[str(template)] = str(service_meta.get("name"))
            else:
                others.add(str(service_meta.get("name")))
        return ObservedExperiment(
            replica_sets=replica_sets,
            services=services,
            other_services=frozenset(others),
            analysis_runs={view.name: view for view in
                           map(AnalysisRunView.parse, self.analysis_runs.by_owner(uid))},
            templates={str(t["metadata"]["name"]): t for t in self.templates.list(namespace)},
            cluster_templates={str(t["metadata"]["name"]): t
                               for t in self.cluster_templates.list()},
            now=self.clock.now(),
        )

    def _warn_unsupported(self, raw: dict[str, Any], warnings: list[str]) -> None:
        if not warnings:
            return
        meta = raw["metadata"]
        marker = (str(meta.get("uid")), str(meta.get("generation")))
        with self._lock:
            if marker in self._warned:
                return
            self._warned.add(marker)
        self.client.emit_event(raw, "Warning", "UnsupportedField", "; ".join(warnings)[:1000])


def execute(client: KubeClient, raw: dict[str, Any], plan: ExperimentPlan
            ) -> dict[str, Any] | None:
    """Carry out `plan` for the Experiment `raw`; returns the Experiment as written when
    its status changed. ReplicaSets exist before the Services and runs that refer to
    them; the status is written once, last come the Events."""
    meta = raw["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    for manifest in plan.create_replica_sets:
        with contextlib.suppress(AlreadyExists):
            client.create(REPLICA_SET, namespace, manifest)
    for rs_name, changes in plan.annotate_replica_sets.items():
        with contextlib.suppress(NotFound):
            client.patch(REPLICA_SET, namespace, rs_name, {"metadata": {"annotations": changes}})
    for rs_name, replicas in plan.scale.items():
        with contextlib.suppress(NotFound):
            client.patch(REPLICA_SET, namespace, rs_name, {"spec": {"replicas": replicas}})
    for manifest in plan.create_services:
        with contextlib.suppress(AlreadyExists):
            client.create(SERVICE, namespace, manifest)
    for service in plan.delete_services:
        client.delete(SERVICE, namespace, service)
    for manifest in plan.create_analysis_runs:
        with contextlib.suppress(AlreadyExists):
            client.create(ANALYSIS_RUN, namespace, manifest)
    for run in plan.terminate_analysis_runs:
        with contextlib.suppress(NotFound):
            client.patch(ANALYSIS_RUN, namespace, run, {"spec": {"terminate": True}})
    written: dict[str, Any] | None = None
    diff = merge_patch(raw.get("status") or {}, plan.status)
    if diff:
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": diff}
        written = client.patch_status(EXPERIMENT, namespace, name, body)
    for event in plan.events:
        type_: Literal["Normal", "Warning"] = "Warning" if event.type == "Warning" else "Normal"
        client.emit_event(raw, type_, event.reason, event.message)
    return written
