"""Progress through canary steps while a canary runs (new pod hash != stable): pure.

One pass evaluates the current step and advances at most one step, asking to be
requeued at once; the next pass plans the next step's replica counts. Decisions:

- `abort` (set by the CLI, a failed analysis or a progress deadline with
  `progressDeadlineAbort`): weight 0, runs terminated, phase Degraded; the step index
  returns to 0 so `retry` starts the canary over.
- `promoteFull`: weight 100, steps skipped; completes once the canary is fully available.
- `spec.paused`: replicas keep converging, steps do not advance.
- setWeight: done when the canary and stable ReplicaSets are at their target counts and
  the canary pods are available ("a weight only counts when its pods are available").
- pause: records `pauseConditions[{CanaryPauseStep, startTime}]` and
  `controllerPause: true`; with a duration it ends at `startTime + duration` (a timer,
  recomputed from the stored time after a restart); without one it ends when the
  condition is removed by `promote`.
- analysis: creates the step's AnalysisRun and follows its phase: Successful -> next
  step, Failed/Error -> abort, Inconclusive -> pause (`InconclusiveAnalysisRun`) until
  promoted.
- after the last step, the canary becomes stable once fully available.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rollouts.api.rollout import CanaryStep, RolloutAnalysis
from rollouts.canary.experiment_step import (
    experiment_step,
    experiment_weights,
    terminate_experiments,
)
from rollouts.canary.replicas import SetCounts, basic_canary_counts
from rollouts.canary.routed import (
    abort_canary_replicas,
    canary_ready,
    desired_weight,
    managed_routes_supported,
    retire_with_delay,
    routed_targets,
    routing_of,
    sync_router,
)
from rollouts.canary.scaling import drain_older
from rollouts.core import conditions
from rollouts.core.control import (
    abort,
    aborted_message,
    clear_pause,
    handle_retry,
    pause_conditions,
    set_pause,
    terminate_runs,
)
from rollouts.core.replica_sets import scale_to
from rollouts.core.runs import PAUSE_INCONCLUSIVE, ensure_run, record_run, run_name, verdict
from rollouts.core.work import Pass, parse_time
from rollouts.experiments.step import step_experiment_name
from rollouts.traffic.select import TrafficView

PAUSE_STEP = "CanaryPauseStep"


def current_weight(work: Pass) -> int:
    status = work.status
    if status.get("abort"):
        return 0
    if status.get("promoteFull") or work.step_index >= work.step_count:
        return 100
    weight = 0
    for step in work.canary.step_list[: work.step_index + 1]:
        if step.set_weight is not None:
            weight = step.set_weight
    return weight


def _counts(rs: Any) -> SetCounts | None:
    return None if rs is None else SetCounts(rs.replicas, rs.available)


def plan_progress(work: Pass) -> None:
    status = work.status
    handle_retry(work, run_name(work, None), first_step="step 1")
    weight = current_weight(work)
    view = routing_of(work)
    traffic = _plan_basic(work, weight) if view is None else _plan_routed(work, view, weight)

    if status.get("abort"):
        abort(work, aborted_message(work))
        terminate_experiments(work)
        return
    terminate_experiments(work, keep=_current_experiment(work))
    if work.rollout.spec.paused:
        return
    _background_analysis(work)
    if status.get("abort"):
        return
    if status.get("promoteFull") or work.step_index >= work.step_count:
        _maybe_complete(work, traffic)
        return
    _evaluate_step(work, work.canary.step_list[work.step_index], traffic)


def _current_experiment(work: Pass) -> str | None:
    """The Experiment of the current step, if it is an experiment step."""
    if work.step_index >= work.step_count or work.status.get("promoteFull"):
        return None
    if work.canary.step_list[work.step_index].experiment is None:
        return None
    return step_experiment_name(work.name, work.new_hash, work.revision, work.step_index)


@dataclass(frozen=True)
class _Traffic:
    """What this pass knows of the traffic: whether the canary runs the step's target
    (`ready`) and the router carries the step's weight (`at_weight`), and whether it
    carries the whole state asked for (`verified`). Without a router the replica counts
    are the traffic, so all three follow the counts."""

    view: TrafficView | None
    ready: bool
    at_weight: bool
    verified: bool


def _plan_basic(work: Pass, weight: int) -> _Traffic:
    """Without a router: the weight is approximated by replica counts."""
    target_canary, target_stable = basic_canary_counts(
        spec_replicas=work.replicas, weight=weight, max_surge=work.surge,
        max_unavailable=work.unavailable,
        canary=_counts(work.new_rs) or SetCounts(0, 0), stable=_counts(work.stable_rs),
        older_replicas=sum(rs.replicas for rs in work.older))
    scale_to(work, work.new_rs, target_canary, work.canary.canary_metadata)
    if work.stable_rs is not None:
        scale_to(work, work.stable_rs, target_stable)
    drain_older(work, (work.new_rs.available if work.new_rs else 0)
                + (work.stable_rs.available if work.stable_rs else 0))
    _record_weights(work, weight)
    reached = _targets_reached(work)
    return _Traffic(None, reached, reached, True)


def _plan_routed(work: Pass, view: TrafficView, weight: int) -> _Traffic:
    """With a router: the canary runs the weight's share, the router carries the weight."""
    target_canary, target_stable = routed_targets(work, weight)
    if work.status.get("abort"):
        target_stable = work.replicas
        if work.new_rs is not None:
            kept = abort_canary_replicas(work)
            if kept is not None:
                scale_to(work, work.new_rs, kept)
    else:
        scale_to(work, work.new_rs, target_canary, work.canary.canary_metadata)
    if work.stable_rs is not None:
        scale_to(work, work.stable_rs, target_stable)
    retire_with_delay(work)
    ready = canary_ready(work, target_canary)
    wanted = desired_weight(work, weight, ready)
    verified = sync_router(work, view, wanted, experiment_weights(work))
    stable = work.stable_rs
    settled = stable is None or (stable.replicas == target_stable
                                 and stable.status_replicas == target_stable)
    return _Traffic(view, ready and settled, verified and wanted == weight, verified)


def _targets_reached(work: Pass) -> bool:
    """Nothing left to scale for this step's weight and the canary pods are available."""
    if work.plan.create_replica_set is not None or work.plan.scale:
        return False
    new = work.new_rs
    stable = work.stable_rs
    return (new is not None and new.available == new.replicas
            and (stable is None or stable.status_replicas == stable.replicas)
            and all(rs.available == 0 and rs.replicas == 0 for rs in work.older))


def _advance(work: Pass, detail: str) -> None:
    status = work.status
    index = work.step_index
    status["currentStepIndex"] = index + 1
    status["controllerPause"] = False
    canary_status = dict(status.get("canary") or {})
    canary_status.pop("currentStepAnalysisRunStatus", None)
    status["canary"] = canary_status
    work.plan.event("RolloutStepCompleted",
                    f"Step {index + 1}/{work.step_count} completed ({detail})")
    conditions.set_condition(status, "Progressing", True, "RolloutStepCompleted",
                             f"Step {index + 1} of {work.step_count} completed", work.now,
                             touch=True)
    work.plan.requeue = True


def _evaluate_step(work: Pass, step: CanaryStep, traffic: _Traffic) -> None:
    action = step.action
    if step.set_weight is not None and action is not None:
        if traffic.ready and traffic.at_weight:
            _advance(work, f"setWeight: {step.set_weight}")
    elif step.pause is not None and action is not None:
        _pause_step(work, step.pause.duration_seconds)
    elif step.analysis is not None and action is not None:
        _analysis_step(work, step.analysis)
    elif step.set_canary_scale is not None and action is not None:
        if traffic.view is None:
            # Without a traffic router the canary's size is its weight: nothing to do.
            _advance(work, "setCanaryScale: no traffic router, scale follows the weight")
        elif traffic.ready and traffic.verified:
            _advance(work, "setCanaryScale")
    elif (step.set_header_route is not None or step.set_mirror_route is not None) and (
            action is not None):
        _route_step(work, step, traffic)
    elif step.experiment is not None and action is not None:
        done = experiment_step(work, step)
        if done is not None:
            _advance(work, done)
    else:
        names = ", ".join(step.actions) or "no action"
        work.plan.event("StepNotSupported",
                        f"Step {work.step_index + 1} ({names}) is not supported; skipped",
                        warning=True)
        _advance(work, f"skipped unsupported step: {names}")


def _route_step(work: Pass, step: CanaryStep, traffic: _Traffic) -> None:
    """setHeaderRoute / setMirrorRoute: done once the routers carry the route."""
    key = "setHeaderRoute" if step.set_header_route is not None else "setMirrorRoute"
    if traffic.view is None or not managed_routes_supported(traffic.view, step):
        routers = ", ".join(r.name for r in traffic.view.routers) if traffic.view else "none"
        work.plan.event("StepNotSupported",
                        f"Step {work.step_index + 1} ({key}): no router of this Rollout "
                        f"carries it (routers: {routers}); skipped", warning=True)
        _advance(work, f"{key}: not carried by the router; skipped")
    elif traffic.verified:
        _advance(work, key)


def _pause_step(work: Pass, duration: float | None) -> None:
    status = work.status
    mine = next((c for c in pause_conditions(work) if c.get("reason") == PAUSE_STEP), None)
    if mine is not None:
        if duration is None:
            return  # until promoted
        expiry = parse_time(str(mine["startTime"])) + timedelta(seconds=duration)
        if work.now >= expiry:
            clear_pause(work, PAUSE_STEP)
            work.plan.event("RolloutResumed", f"Pause of {duration:g}s ended")
            _advance(work, f"pause: {duration:g}s")
        else:
            work.plan.wake_at["pause"] = expiry
        return
    if status.get("controllerPause"):
        # We paused, and our condition is gone: someone promoted.
        work.plan.event("RolloutResumed", "Rollout promoted")
        _advance(work, "pause: promoted")
        return
    if duration is not None and duration <= 0:
        _advance(work, "pause: 0s")
        return
    set_pause(work, PAUSE_STEP)
    if duration is not None:
        work.plan.wake_at["pause"] = work.now + timedelta(seconds=duration)


def _analysis_step(work: Pass, analysis: RolloutAnalysis) -> None:
    index = work.step_index
    name = run_name(work, str(index))
    phase = ensure_run(work, analysis, name, "Step", index)
    if phase is None:
        return
    record_run(work, "canary", "currentStepAnalysisRunStatus", name, phase)
    if phase.completed and verdict(work, name, phase, "step"):
        clear_pause(work, PAUSE_INCONCLUSIVE)
        _advance(work, f"analysis {name}: {phase.value}")


def _background_analysis(work: Pass) -> None:
    background = work.canary.analysis
    if background is None or not background.templates:
        return
    if work.step_index < background.starting_step_or_default and not work.status.get(
            "promoteFull"):
        return
    name = run_name(work, None)
    phase = ensure_run(work, background, name, "Background", None)
    if phase is None:
        return
    record_run(work, "canary", "currentBackgroundAnalysisRunStatus", name, phase)
    if phase.completed and verdict(work, name, phase, "background"):
        clear_pause(work, PAUSE_INCONCLUSIVE)


def _maybe_complete(work: Pass, traffic: _Traffic) -> None:
    if traffic.view is None:
        if not traffic.ready or (work.stable_rs is not None and work.stable_rs.replicas):
            return
    elif not (traffic.ready and traffic.at_weight):
        return
    status = work.status
    status["stableRS"] = work.new_hash
    status["currentStepIndex"] = work.step_count
    status["promoteFull"] = False
    status.pop("pauseConditions", None)
    status["controllerPause"] = False
    terminate_runs(work)
    work.plan.event("RolloutCompleted",
                    f"Rollout completed: revision {work.revision} ({work.new_hash}) is stable")
    conditions.set_condition(status, "Completed", True, "RolloutCompleted",
                             "Rollout completed update to revision "
                             f"{work.revision} ({work.new_hash})", work.now)
    conditions.set_condition(status, "Progressing", True, "NewReplicaSetAvailable",
                             f"ReplicaSet {work.name}-{work.new_hash} is stable", work.now,
                             touch=True)
    work.plan.requeue = True


def _record_weights(work: Pass, weight: int) -> None:
    canary_status = dict(work.status.get("canary") or {})
    canary_status["weights"] = {
        "canary": _destination(work.canary.canary_service, work.new_hash, weight),
        "stable": _destination(work.canary.stable_service, work.stable_hash, 100 - weight),
    }
    work.status["canary"] = canary_status


def _destination(service: str | None, pod_hash: str | None, weight: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"weight": weight}
    if service:
        entry["serviceName"] = service
    if pod_hash:
        entry["podTemplateHash"] = pod_hash
    return entry
