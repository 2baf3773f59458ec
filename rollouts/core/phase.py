"""Phase, message and conditions of a Rollout's status, and the progress deadline: pure.

Phase, worst first: Degraded (invalid spec, aborted, progress deadline exceeded),
Paused (`spec.paused` or a pause condition), Progressing (anything left to do),
Healthy (the stable ReplicaSet runs the current template, fully available, nothing
else left running).

The deadline: the Progressing condition's `lastUpdateTime` is moved whenever something
progresses (replica counts, step, template). While the rollout is neither paused,
aborted nor complete, `lastUpdateTime + progressDeadlineSeconds` in the past means
ProgressDeadlineExceeded (and an abort with `progressDeadlineAbort`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rollouts.core import conditions
from rollouts.core.work import Pass, parse_time

_PROGRESS_FIELDS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                    "currentStepIndex", "currentPodHash", "stableRS")


def _progressed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(key) != new.get(key) for key in _PROGRESS_FIELDS)


def settle_phase(work: Pass) -> None:
    status = work.status
    replicas = work.replicas
    unavailable = work.unavailable
    available = int(status.get("availableReplicas") or 0)
    conditions.set_condition(
        status, "Available", available >= replicas - unavailable,
        "AvailableReason" if available >= replicas - unavailable else "MinimumReplicasUnavailable",
        f"{available} of {replicas} replicas available", work.now)

    complete = status.get("currentPodHash") == status.get("stableRS")
    new = work.new_rs
    everything_settled = (
        complete and new is not None and new.available >= replicas and new.replicas == replicas
        and all(rs.replicas == 0 and rs.status_replicas == 0 for rs in work.older
                if rs.name not in work.delayed)
        and not work.plan.scale and work.plan.create_replica_set is None
        and not work.plan.router_writes and _traffic_settled(status))
    paused = bool(work.rollout.spec.paused) or bool(status.get("pauseConditions"))

    if _progressed(work.old, status):
        progressing = conditions.find(status, "Progressing")
        reason = progressing.get("reason") if progressing else "ReplicaSetUpdated"
        message = progressing.get("message") if progressing else "Rollout is progressing"
        conditions.set_condition(status, "Progressing", True, str(reason), str(message),
                                 work.now, touch=True)

    if status.get("abort"):
        phase, message = "Degraded", str(status.get("message") or "RolloutAborted")
        conditions.set_condition(status, "Progressing", False, "RolloutAborted", message,
                                 work.now)
    elif _deadline_exceeded(work, paused or everything_settled):
        phase, message = "Degraded", str(status["message"])
    elif paused:
        phase = "Paused"
        if work.rollout.spec.paused:
            message = "manually paused"
        else:
            message = str(status["pauseConditions"][0].get("reason"))
    elif everything_settled:
        phase, message = "Healthy", ""
    else:
        phase, message = "Progressing", _progress_message(work, complete)
        if str(status.get("message", "")).startswith("waiting for"):
            message = str(status["message"])

    conditions.set_condition(status, "Paused", paused, "RolloutPaused" if paused
                             else "RolloutResumed",
                             "Rollout is paused" if paused else "Rollout is not paused",
                             work.now)
    conditions.set_condition(status, "Healthy", phase == "Healthy",
                             "RolloutHealthy" if phase == "Healthy" else "RolloutNotHealthy",
                             "Rollout is healthy" if phase == "Healthy"
                             else "Rollout is not healthy", work.now)
    status["phase"] = phase
    status["message"] = message


def _deadline_exceeded(work: Pass, idle: bool) -> bool:
    status = work.status
    progressing = conditions.find(status, "Progressing")
    if idle or progressing is None:
        return False
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        status["message"] = f"ProgressDeadlineExceeded: {progressing.get('message')}"
        return True
    deadline = parse_time(str(progressing["lastUpdateTime"])) + timedelta(
        seconds=work.rollout.spec.progress_deadline_seconds_or_default)
    if work.now < deadline:
        work.plan.wake_at["deadline"] = deadline
        return False
    rs_name = f"{work.name}-{work.new_hash}"
    text = f"ReplicaSet {rs_name} has timed out progressing."
    conditions.set_condition(status, "Progressing", False, "ProgressDeadlineExceeded", text,
                             work.now)
    status["message"] = f"ProgressDeadlineExceeded: {text}"
    work.plan.event("ProgressDeadlineExceeded", text, warning=True)
    if work.rollout.spec.progress_deadline_abort and not status.get("abort"):
        status["abort"] = True
        work.plan.requeue = True
    return True


def _traffic_settled(status: dict[str, Any]) -> bool:
    """With a traffic router (weights carry `verified`), a finished canary sends the
    canary Service nothing, and the router says so (Healthy waits for it)."""
    weights = (status.get("canary") or {}).get("weights") or {}
    if "verified" not in weights:
        return True
    return bool(weights["verified"]) and not (weights.get("canary") or {}).get("weight")


def _progress_message(work: Pass, complete: bool) -> str:
    new = work.new_rs
    if new is None or (new.replicas < work.replicas and complete):
        return "more replicas need to be updated"
    if new.available < new.replicas:
        return "updated replicas are still becoming available"
    if not work.is_canary and not complete:
        active = (work.status.get("blueGreen") or {}).get("activeSelector")
        return ("active service cutover pending" if active != work.new_hash
                else "waiting for post-promotion analysis to complete")
    if any(rs.replicas or rs.status_replicas for rs in work.older
           if rs.name not in work.delayed) or (
            work.stable_rs is not None and work.stable_rs.replicas and complete):
        return "old replicas are pending termination"
    if complete and not _traffic_settled(work.status):
        return "waiting for the traffic router to send the canary no traffic"
    if not complete:
        step = work.step_index
        return f"waiting for step {step + 1} of {work.step_count}"
    return "waiting for replicas to settle"
