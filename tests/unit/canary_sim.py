"""A tiny stand-in for the cluster around the pure Rollout planners (unit tests only).

ReplicaSets become fully available as soon as they are scaled; AnalysisRuns take the
phase the test gives them. Only the planner's decisions are under test here; the
controller's behaviour on a real cluster is tested in tests/integration.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rollouts.api import check_object
from rollouts.api.rollout import Rollout
from rollouts.core import Plan
from rollouts.core.observed import (
    EPHEMERAL_ANNOTATION,
    HASH_LABEL,
    AnalysisRunView,
    Observed,
    ReplicaSetView,
)
from rollouts.planner import plan_rollout
from rollouts.traffic.base import ObjectKey
from rollouts.traffic.select import TrafficView, make_routers, uses_router

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rollout(steps: list[dict[str, Any]], replicas: int = 5, image: str = "app:1",
            **canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": image}]}},
            "strategy": {"canary": {"steps": steps, **canary}},
        },
    }


def blue_green_rollout(replicas: int = 3, image: str = "app:1",
                       **blue_green: Any) -> dict[str, Any]:
    raw = rollout([], replicas=replicas, image=image)
    raw["spec"]["strategy"] = {"blueGreen": {"activeService": "active",
                                             "previewService": "preview", **blue_green}}
    return raw


@dataclass
class Sim:
    raw: dict[str, Any]
    now: datetime = T0
    replica_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_phases: dict[str, str] = field(default_factory=dict)  # name prefix -> phase
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, str | None] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    last: Plan | None = None
    # What the API server's defaulting would make of the template (adoption tests).
    defaulted: dict[str, Any] | None = None
    # Traffic router objects by key, as an API server would keep them.
    router_objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    # Experiments the planner created, by name (the test sets their status).
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set_image(self, image: str) -> None:
        self.raw["spec"]["template"]["spec"]["containers"][0]["image"] = image

    def observed(self) -> Observed:
        for name, run in self.runs.items():
            for prefix, phase in self.run_phases.items():
                if name.endswith(prefix):
                    run["status"] = {"phase": phase, "message": f"set to {phase}"}
        traffic = None
        if uses_router(self.raw):
            routers = tuple(make_routers(self.raw))
            live = {key: copy.deepcopy(self.router_objects.get(key))
                    for router in routers for key in router.reads()}
            traffic = TrafficView(routers, live)
        return Observed(
            replica_sets=[ReplicaSetView.parse(rs) for rs in self.replica_sets.values()],
            analysis_runs=[AnalysisRunView.parse(r) for r in self.runs.values()],
            templates=self.templates, cluster_templates={}, now=self.now,
            pod_template=self.raw["spec"]["template"], services=dict(self.services),
            defaulted_template=self.defaulted, traffic=traffic,
            experiments=[copy.deepcopy(e) for e in self.experiments.values()])

    def reconcile(self) -> Plan:
        result = check_object(self.raw)
        assert result.obj is not None and isinstance(result.obj, Rollout), result.problems
        plan = plan_rollout(self.raw, result.obj, self.observed(),
                           [str(p) for p in result.errors])
        self._apply(plan)
        self.last = plan
        return plan

    def _apply(self, plan: Plan) -> None:
        if plan.create_replica_set:
            rs = copy.deepcopy(plan.create_replica_set)
            n = rs["spec"]["replicas"]
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
            self.replica_sets[rs["metadata"]["name"]] = rs
        for name, n in plan.scale.items():
            rs = self.replica_sets[name]
            rs["spec"]["replicas"] = n
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
        for name, changes in plan.annotate_replica_sets.items():
            annotations = self.replica_sets[name]["metadata"].setdefault("annotations", {})
            for key, value in changes.items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
        for name, change in plan.metadata_changes.items():
            rs = self.replica_sets[name]
            rs["metadata"].setdefault("annotations", {})[EPHEMERAL_ANNOTATION] = change.record
            if change.record is None:
                rs["metadata"]["annotations"].pop(EPHEMERAL_ANNOTATION)
            template_meta = rs["spec"]["template"].setdefault("metadata", {})
            for section, delta in (("labels", change.labels),
                                   ("annotations", change.annotations)):
                values = template_meta.setdefault(section, {})
                for key, value in delta.items():
                    if value is None:
                        values.pop(key, None)
                    else:
                        values[key] = value
        for name in plan.delete_replica_sets:
            del self.replica_sets[name]
        for manifest in plan.create_experiments:
            self.experiments.setdefault(manifest["metadata"]["name"], copy.deepcopy(manifest))
        for name in plan.terminate_experiments:
            self.experiments[name]["spec"]["terminate"] = True
        for write in plan.router_writes:
            if write.create is not None:
                self.router_objects.setdefault(write.key, copy.deepcopy(write.create))
            elif write.patch is not None:
                obj = self.router_objects[write.key]
                _merge(obj, {k: v for k, v in write.patch.items() if k != "metadata"})
        for service, pod_hash in plan.service_selectors.items():
            self.services[service] = pod_hash
        for run in plan.create_analysis_runs:
            created = copy.deepcopy(run)
            created["metadata"]["creationTimestamp"] = self.now.isoformat()
            self.runs[run["metadata"]["name"]] = created
        for name in plan.terminate_analysis_runs:
            self.runs[name]["spec"]["terminate"] = True
        for name in plan.delete_analysis_runs:
            del self.runs[name]
        for name in plan.collect_analysis_runs:
            self.runs.pop(name, None)
        self.raw["status"] = copy.deepcopy(plan.status)
        self.events.extend((e.reason, e.message) for e in plan.events)

    def settle(self, passes: int = 50) -> Plan:
        """Reconcile until nothing changes (as informer events would drive it)."""
        plan = self.reconcile()
        for _ in range(passes):
            before = copy.deepcopy((self.raw.get("status"), self.replica_sets, self.runs,
                                    self.router_objects))
            plan = self.reconcile()
            if before == (self.raw.get("status"), self.replica_sets, self.runs,
                          self.router_objects):
                return plan
        return plan

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def counts(self) -> dict[str, int]:
        return {rs["metadata"]["labels"][HASH_LABEL]: rs["spec"]["replicas"]
                for rs in self.replica_sets.values()}

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.raw.get("status") or {})

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.events]


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386) applied in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
