"""`spec.restartAt` and the workloadRef Deployment's scale-down: pure decisions.

Restart: once every ReplicaSet is at its size and all pods are available, pods created
before `restartAt` are deleted, at most `maxUnavailable` (at least one) at a time; their
ReplicaSets replace them. When no such pod is left, `status.restartedAt` records it.

workloadRef `scaleDown`: `never` (default) leaves the Deployment alone; `onsuccess`
scales it to 0 once the Rollout is Healthy; `progressively` scales it down as the
Rollout's pods become available (Deployment = spec.replicas - available, floored at 0).
"""

from __future__ import annotations

from datetime import datetime

from rollouts.api.common import format_time
from rollouts.core.work import Pass


def plan_restart(work: Pass) -> None:
    restart_at = work.rollout.spec.restart_at
    status = work.status
    if restart_at is None:
        return
    if restart_at > work.now:
        work.plan.wake_at["restart"] = restart_at
        return
    recorded = status.get("restartedAt")
    if recorded is not None and datetime.fromisoformat(
            str(recorded).replace("Z", "+00:00")) >= restart_at:
        return
    pods = work.observed.pods
    if pods is None:
        work.plan.needs_pods = True
        return
    stale = sorted((p for p in pods if p.created < restart_at and not p.deleting),
                   key=lambda p: p.created)
    if not stale:
        status["restartedAt"] = _text(restart_at)
        work.plan.event("RolloutRestarted", "All pods created before restartAt were replaced")
        return
    settled = (not work.plan.scale and work.plan.create_replica_set is None
               and all(p.ready for p in pods) and not any(p.deleting for p in pods))
    if not settled:
        work.plan.requeue = True
        return
    for pod in stale[: max(1, work.unavailable)]:
        work.plan.delete_pods.append(pod.name)
    work.plan.event("RestartingPods", f"Restarting {len(work.plan.delete_pods)} pod(s): "
                    + ", ".join(work.plan.delete_pods))
    work.plan.requeue = True


def _text(moment: datetime) -> str:
    return format_time(moment)


def plan_workload_scale_down(work: Pass) -> None:
    ref = work.rollout.spec.workload_ref
    current = work.observed.workload_replicas
    if ref is None or current is None or ref.scale_down is None:
        return
    policy = ref.scale_down.value
    healthy = work.status.get("phase") == "Healthy"
    if policy == "onsuccess":
        desired = 0 if healthy else current
    elif policy == "progressively":
        available = work.new_rs.available if work.new_rs else 0
        desired = 0 if healthy else max(0, min(current, work.replicas - available))
    else:
        return
    if desired != current:
        work.plan.scale_workload = desired
        work.plan.event("ScalingDeployment",
                        f"Scaled Deployment {ref.name} from {current} to {desired} "
                        f"(scaleDown: {policy})")
