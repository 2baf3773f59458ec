"""The canary Rollout planner: (rollout, observed objects, now) -> Plan. Pure.

It reads top to bottom as a pipeline that stops early when something is not done:

1. the shared head (`rollouts.core.pipeline.begin`): an invalid spec stops here; the
   ReplicaSets are identified; a new pod template starts over at step 0 (or, when it
   equals the stable hash, is a fast rollback straight to stable);
2. ReplicaSets are scaled by the weight of the current step (`replicas.py`);
3. the current step is evaluated (`steps.py`): it may advance, pause, wait for an
   AnalysisRun, or abort;
4. services are pointed at the canary and stable pod hashes, and the canary/stable
   ephemeral metadata follows the sets;
5. the shared tail (`finish`): history, restart, run collection, the status as a whole.
"""

from __future__ import annotations

from typing import Any

from rollouts.api.rollout import Rollout
from rollouts.canary.experiment_step import terminate_experiments
from rollouts.canary.replicas import SetCounts, basic_canary_counts
from rollouts.canary.routed import (
    abort_weight,
    canary_service_target,
    retire_with_delay,
    routing_of,
    sync_router,
)
from rollouts.canary.scaling import drain_older
from rollouts.canary.steps import plan_progress
from rollouts.core.observed import Observed
from rollouts.core.pipeline import begin, finish
from rollouts.core.replica_sets import retire_role_metadata, scale_to, sync_role_metadata
from rollouts.core.services import point_service
from rollouts.core.work import Pass, Plan

__all__ = ["plan_canary"]


def plan_canary(
    raw: dict[str, Any], rollout: Rollout, observed: Observed, problems: list[str]
) -> Plan:
    """Plan one pass for a canary Rollout. `problems` are spec errors found by validation."""
    canary = rollout.spec.strategy.canary if rollout.spec.strategy else None
    work = begin(raw, rollout, observed, problems, canary,
                 strategy_path="spec.strategy.canary",
                 services=[("canaryService", canary.canary_service if canary else None),
                           ("stableService", canary.stable_service if canary else None)])
    if isinstance(work, Plan):
        return work
    if work.template_changed:
        rollback = work.new_hash == work.stable_hash
        work.status["currentStepIndex"] = work.step_count if rollback else 0
        canary_status = dict(work.status.get("canary") or {})
        canary_status.pop("currentStepAnalysisRunStatus", None)
        canary_status.pop("currentBackgroundAnalysisRunStatus", None)
        work.status["canary"] = canary_status
    if work.new_hash == work.stable_hash:
        _plan_stable(work)
        terminate_experiments(work)
    else:
        plan_progress(work)
    _point_services(work)
    _sync_metadata(work)
    return finish(work)


def _plan_stable(work: Pass) -> None:
    """The template is the stable one: run it at full size and retire everything else."""
    status = work.status
    if work.step_count:
        status["currentStepIndex"] = work.step_count
    status.pop("pauseConditions", None)
    status["controllerPause"] = False
    view = routing_of(work)
    if view is not None:
        # Both Services select the stable pods: the canary gets no weight, no routes;
        # the sets that left service go after their scale-down delay.
        scale_to(work, work.new_rs, work.replicas, work.canary.stable_metadata)
        weight = abort_weight(work)  # > 0 only while a dynamicStableScale stable regrows
        if weight > 0:
            for rs in work.older:
                if rs.replicas:
                    work.delayed.add(rs.name)  # the old canary still serves its share
        else:
            retire_with_delay(work)
        sync_router(work, view, weight)
        return
    counts = basic_canary_counts(
        spec_replicas=work.replicas, weight=100, max_surge=work.surge,
        max_unavailable=work.unavailable,
        canary=SetCounts(work.new_rs.replicas, work.new_rs.available) if work.new_rs
        else SetCounts(0, 0),
        stable=None, older_replicas=sum(rs.replicas for rs in work.older))
    scale_to(work, work.new_rs, counts[0], work.canary.stable_metadata)
    drain_older(work, work.new_rs.available if work.new_rs else 0)


def _point_services(work: Pass) -> None:
    """The stable Service selects the stable pods; the canary Service the canary's once
    one is available (with a router: once the router sends it nothing or its pods are
    ready), or the stable's after an abort (Argo does both)."""
    if routing_of(work) is not None:
        canary_hash = canary_service_target(work)
    elif work.status.get("abort") or work.new_rs is None:
        canary_hash = work.stable_hash
    elif work.new_rs.available > 0:
        canary_hash = work.new_hash
    else:
        # Argo: the canary Service moves once the canary has an available pod, so it
        # never selects only pods that cannot answer.
        canary_hash = work.observed.services.get(work.canary.canary_service or "")
    point_service(work, work.canary.stable_service, work.stable_hash)
    point_service(work, work.canary.canary_service, canary_hash)


def _sync_metadata(work: Pass) -> None:
    """Argo's roles: the stable set `stableMetadata`, the canary `canaryMetadata`; older
    sets lose theirs (template only)."""
    if work.new_hash == work.stable_hash:
        sync_role_metadata(work, work.new_rs, work.canary.stable_metadata)
    else:
        sync_role_metadata(work, work.new_rs, work.canary.canary_metadata)
        sync_role_metadata(work, work.stable_rs, work.canary.stable_metadata)
    retire_role_metadata(work)
