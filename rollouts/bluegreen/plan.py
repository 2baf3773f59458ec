"""The blue-green Rollout planner: (rollout, observed objects, now) -> Plan. Pure.

Argo Rollouts' blue-green, read top to bottom; each stage returns early while it is
not done, and the next pass (an informer event or a timer) picks up from the status:

1. the shared head (`rollouts.core.pipeline.begin`): invalid spec, ReplicaSets,
   a new pod template starts a new revision;
2. the template is the stable one (first deployment, steady state, a rollback before
   promotion): that set runs in full, both Services select it, older sets go;
3. otherwise the new revision:
   a. `abort` keeps (or puts back) both Services on the stable set and scales the new
      one down `abortScaleDownDelaySeconds` after `abortedAt` (0: never);
   b. the new set is scaled to `previewReplicaCount` (full size once promotion
      started: `status.blueGreen.scaleUpPreviewCheckPoint`), the stable set stays full,
      older sets go (unless within their `scale-down-deadline`);
   c. once the new pods are available the preview Service selects them;
   d. pre-promotion analysis runs against the preview: Failed/Error aborts;
   e. without auto-promotion (`autoPromotionEnabled: false`) the rollout pauses
      (`BlueGreenPause`) until `rollouts promote`, or until `autoPromotionSeconds` after
      the pause began (a timer recomputed from the stored `startTime`);
   f. promotion: the new set is scaled to full, and only once every pod is available
      does the active Service switch; the previous active set gets a
      `scale-down-deadline` of now + `scaleDownDelaySeconds`;
   g. post-promotion analysis runs after the switch: Failed/Error aborts, which puts
      the active Service back on the stable set (still running: it is not scaled down
      before the new set is stable); success makes the new set stable;
4. the shared tail (`finish`): history, restart, run collection, status.

`status.blueGreen.activeSelector` / `previewSelector` say what the Services select
after this pass.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rollouts.api.common import format_time
from rollouts.api.rollout import Rollout
from rollouts.core import conditions
from rollouts.core.control import (
    abort,
    aborted_message,
    clear_pause,
    handle_retry,
    has_pause,
    set_pause,
    terminate_runs,
)
from rollouts.core.observed import SCALE_DOWN_DEADLINE_ANNOTATION, Observed
from rollouts.core.pipeline import begin, finish
from rollouts.core.replica_sets import retire_role_metadata, scale_to, sync_role_metadata
from rollouts.core.runs import PAUSE_INCONCLUSIVE, ensure_run, record_run, run_name, verdict
from rollouts.core.scale_down import clear_deadline, retire_older
from rollouts.core.services import point_service, selected_hash
from rollouts.core.work import Pass, Plan, parse_time, selector_string

__all__ = ["PAUSE_BLUE_GREEN", "plan_blue_green"]

PAUSE_BLUE_GREEN = "BlueGreenPause"
_PRE = "prePromotionAnalysisRunStatus"
_POST = "postPromotionAnalysisRunStatus"
_CHECKPOINT = "scaleUpPreviewCheckPoint"


def plan_blue_green(
    raw: dict[str, Any], rollout: Rollout, observed: Observed, problems: list[str]
) -> Plan:
    """Plan one pass for a blue-green Rollout. `problems` are spec errors from validation."""
    strategy = rollout.spec.strategy.blue_green if rollout.spec.strategy else None
    work = begin(raw, rollout, observed, problems, strategy,
                 strategy_path="spec.strategy.blueGreen",
                 services=[("activeService", strategy.active_service if strategy else None),
                           ("previewService", strategy.preview_service if strategy else None)])
    if isinstance(work, Plan):
        return work
    work.status.pop("currentStepIndex", None)
    if work.template_changed:
        section = _section(work)
        for key in (_PRE, _POST, _CHECKPOINT):
            section.pop(key, None)
    if work.new_hash == work.stable_hash:
        _plan_stable(work)
    else:
        _plan_new_version(work)
    retire_older(work, work.blue_green.scale_down_delay_revision_limit)
    _sync_metadata(work)
    _record_selectors(work)
    return finish(work)


def _section(work: Pass) -> dict[str, Any]:
    section = dict(work.status.get("blueGreen") or {})
    work.status["blueGreen"] = section
    return section


def _plan_stable(work: Pass) -> None:
    """The stable template: run it in full, point both Services at it."""
    bg = work.blue_green
    scale_to(work, work.new_rs, work.replicas, bg.active_metadata)
    work.status.pop("pauseConditions", None)
    work.status["controllerPause"] = False
    if work.status.get("abort") or work.status.get("abortedAt"):
        # Aborting or retrying the stable version means nothing: there is nothing to undo.
        work.status["abort"] = False
        work.status.pop("abortedAt", None)
    if work.new_rs is None or work.new_rs.available < min(work.replicas, work.new_rs.replicas):
        return
    point_service(work, bg.active_service, work.new_hash)
    point_service(work, bg.preview_service, work.new_hash)
    clear_deadline(work, work.new_rs)


def _plan_new_version(work: Pass) -> None:
    bg = work.blue_green
    status = work.status
    handle_retry(work, run_name(work, None), first_step="the preview")
    if status.get("abort"):
        _plan_abort(work)
        return
    section = _section(work)
    promoting = bool(section.get(_CHECKPOINT)) or bool(status.get("promoteFull"))
    preview_count = bg.preview_replica_count
    target = work.replicas if promoting or preview_count is None else min(
        preview_count, work.replicas)
    scale_to(work, work.new_rs, target, bg.preview_metadata)
    if work.stable_rs is not None:
        scale_to(work, work.stable_rs, work.replicas)
    new = work.new_rs
    if new is None or new.replicas != target or new.available < target:
        return  # (b) the new set is still coming up
    point_service(work, bg.preview_service, work.new_hash)  # (c)
    if work.rollout.spec.paused:
        return
    active = selected_hash(work, bg.active_service)
    if active != work.new_hash and not promoting:
        if not _pre_promotion(work) or not _promotion_gate(work):
            return
        # Recording the pre-promotion run replaced the section: write to the current one.
        _section(work)[_CHECKPOINT] = True
        if target != work.replicas:
            work.plan.requeue = True
            return  # (f) next pass scales the new set up in full
    if active != work.new_hash:
        if new.replicas != work.replicas or new.available < work.replicas:
            return  # (f) never switch to pods that are not all available
        _switch_active(work)
        return
    _post_promotion(work)


def _pre_promotion(work: Pass) -> bool:
    analysis = work.blue_green.pre_promotion_analysis
    if analysis is None or not analysis.templates or work.status.get("promoteFull"):
        return True
    name = run_name(work, "pre")
    phase = ensure_run(work, analysis, name, "PrePromotion", None)
    if phase is None:
        return False
    record_run(work, "blueGreen", _PRE, name, phase)
    if not phase.completed or not verdict(work, name, phase, "pre-promotion"):
        return False
    clear_pause(work, PAUSE_INCONCLUSIVE)
    return True


def _promotion_gate(work: Pass) -> bool:
    """(e) The BlueGreenPause; True once promotion may go ahead."""
    bg = work.blue_green
    status = work.status
    if bg.auto_promotion_enabled_or_default or status.get("promoteFull"):
        return True
    if _fast_rollback(work):
        return True
    if has_pause(work, PAUSE_BLUE_GREEN):
        seconds = bg.auto_promotion_seconds_or_default
        if not seconds:
            return False
        started = next(c for c in status.get("pauseConditions") or []
                       if c.get("reason") == PAUSE_BLUE_GREEN)["startTime"]
        deadline = parse_time(str(started)) + timedelta(seconds=seconds)
        if work.now < deadline:
            work.plan.wake_at["auto-promotion"] = deadline
            return False
        clear_pause(work, PAUSE_BLUE_GREEN)
        status["controllerPause"] = False
        work.plan.event("RolloutResumed", f"Auto-promoted after {seconds}s")
        return True
    if status.get("controllerPause"):
        # We paused, and our condition is gone: someone promoted.
        status["controllerPause"] = False
        work.plan.event("RolloutResumed", "Rollout promoted")
        return True
    set_pause(work, PAUSE_BLUE_GREEN)
    if bg.auto_promotion_seconds_or_default:
        work.plan.wake_at["auto-promotion"] = work.now + timedelta(
            seconds=bg.auto_promotion_seconds_or_default)
    return False


def _fast_rollback(work: Pass) -> bool:
    """Back to a set still within its scale-down delay: no pause, as in Argo."""
    return work.new_rs is not None and work.new_rs.scale_down_deadline is not None


def _switch_active(work: Pass) -> None:
    bg = work.blue_green
    previous = work.stable_rs
    point_service(work, bg.active_service, work.new_hash)
    point_service(work, bg.preview_service, work.new_hash)
    work.status.pop("pauseConditions", None)
    work.status["controllerPause"] = False
    if work.new_rs is not None:
        clear_deadline(work, work.new_rs)
    delay = bg.scale_down_delay_seconds_or_default
    if previous is not None and previous.replicas and delay > 0:
        deadline = format_time(work.now + timedelta(seconds=delay))
        work.plan.annotate_replica_sets[previous.name] = {
            SCALE_DOWN_DEADLINE_ANNOTATION: deadline}
    conditions.set_condition(work.status, "Progressing", True, "RolloutUpdated",
                             f"Active service switched to {work.new_hash}", work.now,
                             touch=True)
    work.plan.requeue = True


def _post_promotion(work: Pass) -> None:
    analysis = work.blue_green.post_promotion_analysis
    if analysis is not None and analysis.templates and not work.status.get("promoteFull"):
        name = run_name(work, "post")
        phase = ensure_run(work, analysis, name, "PostPromotion", None)
        if phase is None:
            return
        record_run(work, "blueGreen", _POST, name, phase)
        if not phase.completed:
            return
        if not verdict(work, name, phase, "post-promotion"):
            if work.status.get("abort"):
                _plan_abort(work)
            return
    _complete(work)


def _complete(work: Pass) -> None:
    status = work.status
    status["stableRS"] = work.new_hash
    status["promoteFull"] = False
    status.pop("pauseConditions", None)
    status["controllerPause"] = False
    _section(work).pop(_CHECKPOINT, None)
    terminate_runs(work)
    work.plan.event("RolloutCompleted",
                    f"Rollout completed: revision {work.revision} ({work.new_hash}) is active "
                    "and stable")
    conditions.set_condition(status, "Completed", True, "RolloutCompleted",
                             f"Rollout completed update to revision {work.revision} "
                             f"({work.new_hash})", work.now)
    conditions.set_condition(status, "Progressing", True, "NewReplicaSetAvailable",
                             f"ReplicaSet {work.name}-{work.new_hash} is stable", work.now,
                             touch=True)
    # The previous stable set is now an older one, still within its scale-down delay.
    if work.stable_rs is not None:
        work.older.append(work.stable_rs)
    work.stable_hash, work.stable_rs = work.new_hash, work.new_rs
    work.plan.requeue = True


def _plan_abort(work: Pass) -> None:
    """(a) Services back on the stable set; the new set goes after the abort delay."""
    bg = work.blue_green
    abort(work, aborted_message(work))
    _section(work).pop(_CHECKPOINT, None)
    stable = work.stable_rs
    if stable is not None:
        scale_to(work, stable, work.replicas, bg.active_metadata)
        if stable.available >= min(work.replicas, stable.replicas) and stable.replicas:
            point_service(work, bg.active_service, work.stable_hash)
            point_service(work, bg.preview_service, work.stable_hash)
            clear_deadline(work, stable)
    if work.new_rs is None or not work.new_rs.replicas:
        return
    delay = bg.abort_scale_down_delay_seconds_or_default
    if delay == 0:
        return  # Argo: 0 leaves the new set up until the next change
    aborted_at = work.status.get("abortedAt")
    deadline = (parse_time(str(aborted_at)) if aborted_at else work.now) + timedelta(
        seconds=delay)
    if work.now >= deadline:
        scale_to(work, work.new_rs, 0)
    else:
        work.plan.wake_at["abort-scale-down"] = deadline


def _sync_metadata(work: Pass) -> None:
    """Argo's roles: the stable set and an active new set carry `activeMetadata`, a new set
    still in preview `previewMetadata`; older sets lose theirs (template only)."""
    bg = work.blue_green
    active = selected_hash(work, bg.active_service)
    if work.new_rs is not None:
        promoted = work.new_hash == work.stable_hash or active == work.new_hash
        sync_role_metadata(work, work.new_rs,
                           bg.active_metadata if promoted else bg.preview_metadata)
    if work.stable_rs is not None and work.stable_rs is not work.new_rs:
        sync_role_metadata(work, work.stable_rs, bg.active_metadata)
    retire_role_metadata(work)


def _record_selectors(work: Pass) -> None:
    bg = work.blue_green
    section = _section(work)
    for key, service in (("activeSelector", bg.active_service),
                         ("previewSelector", bg.preview_service)):
        value = selected_hash(work, service)
        if value:
            section[key] = value
        else:
            section.pop(key, None)
    # Argo's status.selector for a blue-green Rollout: the active set's pods (HPA, scale).
    if work.observed.by_hash(section.get("activeSelector")) is not None:
        work.status["selector"] = selector_string(work.raw, work.observed.match_labels,
                                                  pod_hash=section["activeSelector"])
