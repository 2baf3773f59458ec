"""Health of live objects and of an Application, with Argo CD's semantics.

`resource_health(obj)` returns a `Health(status, message)` for one live object, following
Argo CD's built-in checks (gitops-engine `pkg/health`) and its Lua checks for the Argo
kinds; `missing_health()` is the health of an object that should exist but does not;
`app_health(statuses)` is the worst of them (`HealthStatusCode.worst`, Argo's order
Healthy < Suspended < Progressing < Missing < Degraded < Unknown: a Missing object makes
the app worse than a Progressing one, a Degraded one worse than a Missing one).

- Deployment: Suspended when `spec.paused`; Progressing until the generation is
  observed and updated == replicas, no old replicas are left and all updated are
  available; Degraded when its Progressing condition says ProgressDeadlineExceeded.
- ReplicaSet: Progressing until observed and available >= replicas; Degraded on
  ReplicaFailure=True.
- StatefulSet: Progressing until observed and ready >= replicas (and the partition or
  the rolling update is done); DaemonSet: until observed, updated and available.
- Service: a LoadBalancer is Progressing until it has an ingress IP or hostname; other
  Services are Healthy. Ingress: Progressing until it has a load-balancer ingress.
- PersistentVolumeClaim: Bound Healthy, Pending Progressing, Lost Degraded.
- Job: Complete Healthy, Failed Degraded, suspended (`spec.suspend` or a Suspended
  condition) Suspended, else Progressing.
- Pod: Succeeded or Running+Ready Healthy; Pending Progressing; Failed Degraded; a
  container waiting in `*BackOff` / `Err*` / `*Error` (CrashLoopBackOff,
  ImagePullBackOff) Degraded when restartPolicy is Always; a Running pod that runs to
  completion (Never / OnFailure, a hook) is Progressing until it ends.
- Rollout: Progressing until `status.observedGeneration` equals `metadata.generation`,
  then by `status.phase`: Paused Suspended, Degraded Degraded, Progressing Progressing,
  Healthy Healthy.
- Application: its own `status.health` (Progressing until it has one).

Any object being deleted is Progressing ("Pending deletion"); a kind without a check is
Healthy. Pure functions of the object; the Application controller calls them on cached
live objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from reconciler.syncplan_annotations import hook_info
from reconciler.tracking import group_of
from rollouts.api.phases import HealthStatusCode

__all__ = [
    "Health",
    "affects_app_health",
    "app_health",
    "missing_health",
    "resource_health",
]

HEALTHY = HealthStatusCode.HEALTHY
PROGRESSING = HealthStatusCode.PROGRESSING
DEGRADED = HealthStatusCode.DEGRADED
SUSPENDED = HealthStatusCode.SUSPENDED
IGNORE_RESTART_POLICY = "argocd.argoproj.io/ignore-restart-policy"


class Health(NamedTuple):
    """The health of one object and why (`message` may be empty)."""

    status: HealthStatusCode
    message: str = ""


Obj = dict[str, Any]


def missing_health() -> Health:
    """The health of an object that is in Git but not in the cluster."""
    return Health(HealthStatusCode.MISSING, "the object does not exist")


def resource_health(obj: Obj) -> Health:
    """The health of one live object."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(PROGRESSING, "Pending deletion")
    check = _CHECKS.get((group_of(obj), str(obj.get("kind") or "")))
    if check is None:
        return Health(HEALTHY)  # no health check for this kind, as in Argo CD
    return check(obj)


def app_health(statuses: Iterable[HealthStatusCode]) -> HealthStatusCode:
    """An Application's health: the worst of its resources' (Healthy when it has none)."""
    return HealthStatusCode.worst(statuses)


def affects_app_health(obj: Obj, status: HealthStatusCode) -> bool:
    """Whether an object's health counts toward its Application's (Argo CD's exceptions).

    Hooks (Argo CD's or Helm's) and objects marked `hook: Skip` do not count (hooks come
    and go with syncs), and a child Application that is Missing or Unknown does not make
    its parent unhealthy (app of apps).
    """
    hook = hook_info(obj)
    if hook.is_hook or hook.skip:
        return False
    is_application = obj.get("kind") == "Application" and group_of(obj) == "argoproj.io"
    return not (is_application and status in (HealthStatusCode.MISSING, HealthStatusCode.UNKNOWN))


# --- per kind ------------------------------------------------------------------------------


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _parts(obj: Obj) -> tuple[Obj, Obj, Obj]:
    return obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}


def _condition(status: Obj, type_: str) -> Obj | None:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return None


def _generation_observed(metadata: Obj, status: Obj) -> bool:
    return _int(metadata.get("generation")) <= _int(status.get("observedGeneration"))


def _deployment(obj: Obj) -> Health:
    metadata, spec, status = _parts(obj)
    if spec.get("paused"):
        return Health(SUSPENDED, "Deployment is paused")
    if not _generation_observed(metadata, status):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed deployment "
                                   "generation less than desired generation")
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(DEGRADED, f"Deployment {metadata.get('name')!r} exceeded its progress "
                                "deadline")
    replicas = spec.get("replicas")
    updated, total = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    if replicas is not None and updated < _int(replicas):
        return Health(PROGRESSING, f"Waiting for rollout to finish: {updated} out of "
                                   f"{_int(replicas)} new replicas have been updated...")
    if total > updated:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {total - updated} old "
                                   "replicas are pending termination...")
    if available < updated:
        return Health(PROGRESSING, f"Waiting for rollout to finish: {available} of {updated} "
                                   "updated replicas are available...")
    return Health(HEALTHY)


def _replica_set(obj: Obj) -> Health:
    metadata, spec, status = _parts(obj)
    if not _generation_observed(metadata, status):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed replica set "
                                   "generation less than desired generation")
    failure = _condition(status, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return Health(DEGRADED, str(failure.get("message") or "ReplicaFailure"))
    replicas, available = spec.get("replicas"), _int(status.get("availableReplicas"))
    if replicas is not None and available < _int(replicas):
        return Health(PROGRESSING, f"Waiting for rollout to finish: {available} out of "
                                   f"{_int(replicas)} new replicas are available...")
    return Health(HEALTHY)


def _stateful_set(obj: Obj) -> Health:
    metadata, spec, status = _parts(obj)
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(metadata.get("generation")) > observed:
        return Health(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    replicas, ready = spec.get("replicas"), _int(status.get("readyReplicas"))
    if replicas is not None and ready < _int(replicas):
        return Health(PROGRESSING, f"Waiting for {_int(replicas) - ready} pods to be ready...")
    strategy = spec.get("updateStrategy") or {}
    updated = _int(status.get("updatedReplicas"))
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and strategy.get("rollingUpdate"):
        partition = (strategy.get("rollingUpdate") or {}).get("partition")
        if replicas is not None and partition is not None:
            wanted = _int(replicas) - _int(partition)
            if updated < wanted:
                return Health(PROGRESSING, "Waiting for partitioned roll out to finish: "
                                           f"{updated} out of {wanted} new pods have been "
                                           "updated...")
        return Health(HEALTHY, f"partitioned roll out complete: {updated} new pods have been "
                               "updated...")
    if strategy.get("type") == "OnDelete":
        return Health(HEALTHY, f"statefulset has {ready} ready pods")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Health(PROGRESSING, "waiting for statefulset rolling update to complete "
                                   f"{updated} pods at revision {status.get('updateRevision')}...")
    return Health(HEALTHY, "statefulset rolling update complete "
                           f"{_int(status.get('currentReplicas'))} pods at revision "
                           f"{status.get('currentRevision')}...")


def _daemon_set(obj: Obj) -> Health:
    metadata, spec, status = _parts(obj)
    if not _generation_observed(metadata, status):
        return Health(PROGRESSING, "Waiting for rollout to finish: observed daemon set "
                                   "generation less than desired generation")
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return Health(HEALTHY, f"daemon set {updated} out of {desired} new pods have been "
                               "updated")
    if updated < desired:
        return Health(PROGRESSING, f"Waiting for daemon set {metadata.get('name')!r} rollout "
                                   f"to finish: {updated} out of {desired} new pods have been "
                                   "updated...")
    available = _int(status.get("numberAvailable"))
    if available < desired:
        return Health(PROGRESSING, f"Waiting for daemon set {metadata.get('name')!r} rollout "
                                   f"to finish: {available} of {desired} updated pods are "
                                   "available...")
    return Health(HEALTHY)


def _has_lb_ingress(status: Obj) -> bool:
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return any(isinstance(i, dict) and (i.get("ip") or i.get("hostname")) for i in ingress)


def _service(obj: Obj) -> Health:
    _, spec, status = _parts(obj)
    if spec.get("type") == "LoadBalancer" and not _has_lb_ingress(status):
        return Health(PROGRESSING, "Waiting for the load balancer to get an address")
    return Health(HEALTHY)


def _ingress(obj: Obj) -> Health:
    if not _has_lb_ingress(obj.get("status") or {}):
        return Health(PROGRESSING, "Waiting for the ingress to get an address")
    return Health(HEALTHY)


def _pvc(obj: Obj) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    by_phase = {"Bound": HEALTHY, "Pending": PROGRESSING, "Lost": DEGRADED}
    if phase not in by_phase:
        return Health(HealthStatusCode.UNKNOWN, f"unknown claim phase {phase!r}")
    return Health(by_phase[phase], f"claim is {phase}" if phase != "Bound" else "")


def _job(obj: Obj) -> Health:
    _, spec, status = _parts(obj)
    failed = _condition(status, "Failed")
    if failed is not None and failed.get("status", "True") == "True":
        return Health(DEGRADED, str(failed.get("message") or "Job failed"))
    complete = _condition(status, "Complete")
    if complete is not None and complete.get("status", "True") == "True":
        return Health(HEALTHY, str(complete.get("message") or ""))
    suspended = _condition(status, "Suspended")
    if spec.get("suspend") or (suspended is not None and suspended.get("status") == "True"):
        return Health(SUSPENDED, str((suspended or {}).get("message") or "Job is suspended"))
    return Health(PROGRESSING, "Job is running")


def _is_waiting_on_error(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith(("Error", "BackOff"))


def _pod(obj: Obj) -> Health:
    metadata, spec, status = _parts(obj)
    message = str(status.get("message") or "")
    restart_policy = spec.get("restartPolicy", "Always")
    containers = [c for c in status.get("containerStatuses") or [] if isinstance(c, dict)]
    if restart_policy == "Always":
        # Only for long-running pods: a hook pod (Never/OnFailure) in ImagePullBackOff may
        # still recover, and failing it early would fail the sync (Argo CD's reasoning).
        errors = [((c.get("state") or {}).get("waiting") or {}) for c in containers]
        errors = [w for w in errors if _is_waiting_on_error(str(w.get("reason") or ""))]
        if errors:
            return Health(DEGRADED, ", ".join(str(w.get("message") or w.get("reason"))
                                              for w in errors))
    phase = status.get("phase")
    if phase == "Pending":
        return Health(PROGRESSING, message)
    if phase == "Succeeded":
        return Health(HEALTHY, message)
    if phase == "Failed":
        return Health(DEGRADED, message or _pod_failure(status))
    if phase == "Running":
        annotations = metadata.get("annotations") or {}
        if restart_policy != "Always" and IGNORE_RESTART_POLICY not in annotations:
            return Health(PROGRESSING, message)  # a run-to-completion pod is not done yet
        ready = _condition(status, "Ready")
        if ready is not None and ready.get("status") == "True":
            return Health(HEALTHY, message)
        if any((c.get("lastState") or {}).get("terminated") for c in containers):
            return Health(DEGRADED, message or "a container terminated and the pod is not ready")
        return Health(PROGRESSING, message)
    return Health(HealthStatusCode.UNKNOWN, message)


def _pod_failure(status: Obj) -> str:
    for container in [*(status.get("initContainerStatuses") or []),
                      *(status.get("containerStatuses") or [])]:
        terminated = ((container or {}).get("state") or {}).get("terminated") or {}
        if terminated.get("message"):
            return str(terminated["message"])
        if terminated.get("reason") == "OOMKilled":
            return "OOMKilled"
        if _int(terminated.get("exitCode")):
            return (f"container {container.get('name')!r} failed with exit code "
                    f"{_int(terminated.get('exitCode'))}")
    return ""


def _rollout(obj: Obj) -> Health:
    metadata, _, status = _parts(obj)
    observed = status.get("observedGeneration")
    if observed is None or str(observed) != str(metadata.get("generation")):
        return Health(PROGRESSING, "Waiting for rollout spec update to be observed")
    phase = status.get("phase")
    message = str(status.get("message") or "")
    by_phase = {"Healthy": HEALTHY, "Progressing": PROGRESSING, "Paused": SUSPENDED,
                "Degraded": DEGRADED}
    if phase not in by_phase:
        return Health(PROGRESSING, message or "Waiting for the Rollout controller")
    return Health(by_phase[phase], message)


def _application(obj: Obj) -> Health:
    health = ((obj.get("status") or {}).get("health")) or {}
    try:
        status = HealthStatusCode(str(health.get("status")))
    except ValueError:
        return Health(PROGRESSING, "Waiting for the Application's health")
    return Health(status, str(health.get("message") or ""))


_CHECKS: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("extensions", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replica_set,
    ("extensions", "ReplicaSet"): _replica_set,
    ("apps", "StatefulSet"): _stateful_set,
    ("apps", "DaemonSet"): _daemon_set,
    ("extensions", "DaemonSet"): _daemon_set,
    ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("extensions", "Ingress"): _ingress,
    ("", "PersistentVolumeClaim"): _pvc,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("argoproj.io", "Rollout"): _rollout,
    ("argoproj.io", "Application"): _application,
}
