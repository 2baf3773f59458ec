"""The canary Rollout planner: (rollout, observed objects, now) -> Plan. Pure.

It reads top to bottom as a pipeline that stops early when something is not done:

1. a spec we cannot run -> `InvalidSpec`, nothing touched;
2. the pod template's hash names the canary; a new hash starts over at step 0 (or,
   when it equals the stable hash, is a fast rollback straight to stable);
3. ReplicaSets are scaled by the weight of the current step (`replicas.py`);
4. the current step is evaluated (`steps.py`): it may advance, pause, wait for an
   AnalysisRun, or abort;
5. services are pointed at the canary and stable pod hashes;
6. the status is computed as a whole; the executor writes it once, if it changed.

The plan lists intents; `rollouts.controller` carries them out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollouts.api.common import format_time
from rollouts.api.rollout import CanaryStrategy, Rollout
from rollouts.canary import conditions
from rollouts.canary.observed import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    Observed,
    ReplicaSetView,
    pod_template_hash,
)
from rollouts.canary.replicas import SetCounts, basic_canary_counts, surge_and_unavailable


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Plan:
    """Intents of one reconcile pass, carried out in this order by the executor."""

    status: dict[str, Any]
    create_replica_set: dict[str, Any] | None = None
    scale: dict[str, int] = field(default_factory=dict)
    service_selectors: dict[str, str] = field(default_factory=dict)
    create_analysis_runs: list[dict[str, Any]] = field(default_factory=list)
    terminate_analysis_runs: list[str] = field(default_factory=list)
    delete_analysis_runs: list[str] = field(default_factory=list)
    delete_replica_sets: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: dict[str, datetime] = field(default_factory=dict)
    requeue: bool = False
    delete_pods: list[str] = field(default_factory=list)
    scale_workload: int | None = None
    # The restart needs the Rollout's pods, which the controller lists only on demand.
    needs_pods: bool = False

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(Event("Warning" if warning else "Normal", reason, message))


@dataclass
class Pass:
    """The working state of one planning pass."""

    raw: dict[str, Any]
    rollout: Rollout
    canary: CanaryStrategy
    observed: Observed
    now: datetime
    old: dict[str, Any]
    plan: Plan
    new_hash: str = ""
    new_rs: ReplicaSetView | None = None
    stable_hash: str | None = None
    stable_rs: ReplicaSetView | None = None
    older: list[ReplicaSetView] = field(default_factory=list)
    revision: int = 0

    @property
    def status(self) -> dict[str, Any]:
        return self.plan.status

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    @property
    def replicas(self) -> int:
        return self.rollout.spec.replicas_or_default

    @property
    def step_count(self) -> int:
        return len(self.canary.step_list)

    @property
    def step_index(self) -> int:
        return int(self.status.get("currentStepIndex") or 0)


def match_labels(raw: dict[str, Any], fallback: dict[str, str] | None = None) -> dict[str, str]:
    """The Rollout's selector labels (a workloadRef Rollout may borrow its Deployment's)."""
    labels = ((raw.get("spec") or {}).get("selector") or {}).get("matchLabels")
    return dict(labels or fallback or {})


def selector_string(raw: dict[str, Any], fallback: dict[str, str] | None = None) -> str:
    labels = match_labels(raw, fallback)
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def plan_canary(
    raw: dict[str, Any], rollout: Rollout, observed: Observed, problems: list[str]
) -> Plan:
    """Plan one pass for a canary Rollout. `problems` are spec errors found by validation."""
    from rollouts.canary import steps  # the step logic builds on this module's types

    old = copy.deepcopy(raw.get("status") or {})
    plan = Plan(status=copy.deepcopy(old))
    canary = rollout.spec.strategy.canary if rollout.spec.strategy else None
    generation = raw["metadata"].get("generation")
    if generation is not None:
        plan.status["observedGeneration"] = str(generation)
    plan.status["selector"] = selector_string(raw, observed.match_labels)
    if observed.pod_template is None:
        problems = [*problems, observed.workload_missing or "spec.template: is required"]
    if canary is None or problems:
        _invalid(plan, observed.now, problems or ["spec.strategy.canary: is required"])
        return plan
    conditions.remove_condition(plan.status, "InvalidSpec")
    work = Pass(raw, rollout, canary, observed, observed.now, old, plan)
    _identify_replica_sets(work)
    missing = _missing_services(work)
    if missing:
        _invalid(plan, observed.now, [missing])
        return plan
    if work.new_hash == work.stable_hash:
        _plan_stable(work)
    else:
        steps.plan_progress(work)
    _point_services(work)
    _prune_history(work)
    from rollouts.canary.restart import plan_restart, plan_workload_scale_down

    plan_restart(work)
    finish_status(work)
    plan_workload_scale_down(work)
    return plan


def _invalid(plan: Plan, now: datetime, problems: list[str]) -> None:
    message = "; ".join(problems)
    previous = plan.status.get("message")
    conditions.set_condition(plan.status, "InvalidSpec", True, "InvalidSpec", message, now)
    plan.status["phase"] = "Degraded"
    plan.status["message"] = f"InvalidSpec: {message}"
    if previous != plan.status["message"]:
        plan.event("InvalidSpec", message, warning=True)


def _identify_replica_sets(work: Pass) -> None:
    template = work.observed.pod_template or {}
    work.new_hash = pod_template_hash(template)
    work.new_rs = work.observed.by_hash(work.new_hash)
    status = work.status
    work.stable_hash = status.get("stableRS")
    if work.stable_hash is None:
        # First deployment: nothing to compare against, so the template is stable at once.
        work.stable_hash = work.new_hash
        status["stableRS"] = work.new_hash
    if status.get("currentPodHash") != work.new_hash:
        _start_new_revision(work)
    if work.stable_hash != work.new_hash:
        work.stable_rs = work.observed.by_hash(work.stable_hash)
    keep = {work.new_hash, work.stable_hash}
    work.older = [rs for rs in work.observed.replica_sets
                  if rs.pod_hash not in keep and not rs.deleting]
    revisions = [rs.revision for rs in work.observed.replica_sets]
    if work.new_rs is not None:
        work.revision = work.new_rs.revision
    else:
        work.revision = max(revisions, default=0) + 1


def _start_new_revision(work: Pass) -> None:
    status = work.status
    previous = status.get("currentPodHash")
    status["currentPodHash"] = work.new_hash
    rollback = work.new_hash == work.stable_hash
    status["currentStepIndex"] = work.step_count if rollback else 0
    for key in ("pauseConditions", "abortedAt"):
        status.pop(key, None)
    status["controllerPause"] = False
    status["abort"] = False
    status["promoteFull"] = False
    canary_status = dict(status.get("canary") or {})
    canary_status.pop("currentStepAnalysisRunStatus", None)
    canary_status.pop("currentBackgroundAnalysisRunStatus", None)
    status["canary"] = canary_status
    for run in work.observed.analysis_runs:
        stale = run.labels.get(HASH_LABEL) != work.new_hash
        if stale and not run.phase.completed and not run.terminated:
            work.plan.terminate_analysis_runs.append(run.name)
    conditions.set_condition(status, "Completed", rollback, "RolloutCompleted" if rollback
                             else "RolloutProgressing", "", work.now)
    if previous is not None:
        what = "rolling back to the stable version" if rollback else "starting the canary"
        work.plan.event("RolloutUpdated", f"Pod template changed ({work.new_hash}): {what}")
    conditions.set_condition(status, "Progressing", True, "RolloutUpdated",
                             f"Rollout updated to pod template {work.new_hash}", work.now,
                             touch=True)


def _missing_services(work: Pass) -> str | None:
    for field_name, service in (("canaryService", work.canary.canary_service),
                                ("stableService", work.canary.stable_service)):
        if service and service not in work.observed.services:
            return (f"spec.strategy.canary.{field_name}: Service '{service}' not found; "
                    "create it or fix the name")
    return None


def new_replica_set_manifest(work: Pass, replicas: int) -> dict[str, Any]:
    """The canary ReplicaSet for the current pod template."""
    template = copy.deepcopy(work.observed.pod_template or {})
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = work.new_hash
    meta = work.raw["metadata"]
    selector = match_labels(work.raw, work.observed.match_labels)
    selector[HASH_LABEL] = work.new_hash
    from rollouts.canary.analysis_runs import owner_reference

    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{work.new_hash}",
            "namespace": meta.get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {REVISION_ANNOTATION: str(work.revision)},
            "ownerReferences": [owner_reference(work.raw)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": work.rollout.spec.min_ready_seconds_or_default,
            "selector": {"matchLabels": selector},
            "template": template,
        },
    }


def scale_to(work: Pass, rs: ReplicaSetView | None, replicas: int) -> None:
    """Ask for `replicas` on `rs`, creating the canary ReplicaSet when it is missing."""
    if rs is None:
        if work.plan.create_replica_set is None:
            work.plan.create_replica_set = new_replica_set_manifest(work, replicas)
            work.plan.event("NewReplicaSetCreated",
                            f"Created ReplicaSet {work.name}-{work.new_hash} "
                            f"(revision {work.revision}) with {replicas} replicas")
        return
    if rs.replicas != replicas:
        work.plan.scale[rs.name] = replicas
        direction = "up" if replicas > rs.replicas else "down"
        work.plan.event("ScalingReplicaSet",
                        f"Scaled {direction} ReplicaSet {rs.name} from {rs.replicas} to {replicas}")


def drain_older(work: Pass, available_elsewhere: int) -> None:
    """Scale older ReplicaSets down, oldest first, keeping minimum availability."""
    surge, unavailable = surge_and_unavailable(
        work.canary.max_surge_or_default.raw, work.canary.max_unavailable_or_default.raw,
        work.replicas)
    del surge
    older_available = sum(rs.available for rs in work.older)
    budget = available_elsewhere + older_available - (work.replicas - unavailable)
    for rs in sorted(work.older, key=lambda r: r.revision):
        if rs.replicas == 0:
            continue
        # Pods that are not available can go at once: they serve nothing.
        unavailable_pods = max(0, rs.replicas - rs.available)
        cut = min(rs.replicas, unavailable_pods + max(0, budget))
        budget -= max(0, cut - unavailable_pods)
        if cut > 0:
            scale_to(work, rs, rs.replicas - cut)


def _plan_stable(work: Pass) -> None:
    """The template is the stable one: run it at full size and retire everything else."""
    status = work.status
    if work.step_count:
        status["currentStepIndex"] = work.step_count
    counts = basic_canary_counts(
        spec_replicas=work.replicas, weight=100, max_surge=_surge(work),
        max_unavailable=_unavailable(work),
        canary=SetCounts(work.new_rs.replicas, work.new_rs.available) if work.new_rs
        else SetCounts(0, 0),
        stable=None, older_replicas=sum(rs.replicas for rs in work.older))
    scale_to(work, work.new_rs, counts[0])
    drain_older(work, work.new_rs.available if work.new_rs else 0)
    status.pop("pauseConditions", None)
    status["controllerPause"] = False


def _surge(work: Pass) -> int:
    return surge_and_unavailable(work.canary.max_surge_or_default.raw,
                                 work.canary.max_unavailable_or_default.raw, work.replicas)[0]


def _unavailable(work: Pass) -> int:
    return surge_and_unavailable(work.canary.max_surge_or_default.raw,
                                 work.canary.max_unavailable_or_default.raw, work.replicas)[1]


def _point_services(work: Pass) -> None:
    canary_hash = work.new_hash if work.new_rs is not None else work.stable_hash
    for service, pod_hash in ((work.canary.stable_service, work.stable_hash),
                              (work.canary.canary_service, canary_hash)):
        if not service or not pod_hash:
            continue
        if work.observed.services.get(service) != pod_hash:
            work.plan.service_selectors[service] = pod_hash


def _prune_history(work: Pass) -> None:
    limit = work.rollout.spec.revision_history_limit_or_default
    idle = [rs for rs in work.older
            if rs.replicas == 0 and rs.status_replicas == 0 and rs.name not in work.plan.scale]
    idle.sort(key=lambda rs: rs.revision)
    for rs in idle[: max(0, len(idle) - limit)]:
        work.plan.delete_replica_sets.append(rs.name)


def finish_status(work: Pass) -> None:
    """Replica counts, weights, phase, message and conditions of the new status."""
    from rollouts.canary.phase import settle_phase

    status = work.status
    live = [rs for rs in work.observed.replica_sets if not rs.deleting]
    status["replicas"] = sum(rs.status_replicas for rs in live)
    status["updatedReplicas"] = work.new_rs.status_replicas if work.new_rs else 0
    status["readyReplicas"] = sum(rs.ready for rs in live)
    status["availableReplicas"] = sum(rs.available for rs in live)
    settle_phase(work)
    if not status.get("canary"):
        status.pop("canary", None)


def now_text(work: Pass) -> str:
    return format_time(work.now)
