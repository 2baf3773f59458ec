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
- Rollout (canary and blue-green): Progressing until `status.observedGeneration` equals
  `metadata.generation`, then by `status.phase`: Paused Suspended (a canary pause, a
  blue-green rollout waiting for promotion), Degraded Degraded, Progressing Progressing,
  Healthy Healthy; without a phase, Argo CD's older rules (see `_rollout`), where a
  blue-green rollout is Progressing until its active Service selects the new hash.
- Application: its own `status.health` (Progressing until it has one).
- SealedSecret (`bitnami.com`, Argo CD's Lua check): its `Synced` condition, True
  Healthy, False Degraded (with the controller's message: "no key could decrypt
  secret ..."), none yet Progressing ("Waiting for Sealed Secret to be decrypted");
  a condition written for an older generation (`status.observedGeneration` set and
  behind) is Progressing too. Without `observedGeneration` (old sealed-secrets
  controllers) the condition is trusted, as Argo CD's bundled check does.
- ExternalSecret (`external-secrets.io`, Argo CD's Lua check): its `Ready` condition,
  True Healthy, False Degraded, none yet Progressing ("Waiting for ExternalSecret");
  with `spec.refreshPolicy: OnChange` a Ready condition older than `status.refreshTime`
  does not count yet.

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
ROLLOUT_WORKLOAD_GENERATION = "rollout.argoproj.io/workload-generation"


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


def _number(value: Any) -> float | None:
    """Lua's `tonumber`: a number, or a string holding one; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rollout_observed(metadata: Obj, spec: Obj, status: Obj) -> bool:
    """Argo CD's isGenerationObserved and isWorkloadGenerationObserved.

    A non-numeric observedGeneration (a pre-v0.10 hash) or one above the generation
    counts as observed, as in Argo CD; a missing one does not (Argo CD's script fails on
    such a status). With a workloadRef, the annotation `rollout.argoproj.io/workload-
    generation` must equal `status.workloadObservedGeneration` (both absent is equal).
    """
    if status.get("observedGeneration") is None:
        return False
    observed = _number(status.get("observedGeneration"))
    generation = _number(metadata.get("generation"))
    if observed is not None and generation is not None and observed <= generation and (
            observed != generation):
        return False
    annotations = metadata.get("annotations") or {}
    if spec.get("workloadRef") is None or not annotations:
        return True
    return (_number(annotations.get(ROLLOUT_WORKLOAD_GENERATION))
            == _number(status.get("workloadObservedGeneration")))


def _rollout(obj: Obj) -> Health:
    """Argo CD's Lua health check for argoproj.io/Rollout.

    Once the spec is observed, a `status.phase` is surfaced as is (Paused -> Suspended):
    Argo Rollouts since v1.0, and our controller, always write one; for a blue-green
    Rollout that is Paused while it waits for promotion (BlueGreenPause), Progressing
    until the active Service selects the new hash and post-promotion analysis passed,
    Degraded when aborted. Without a phase (an older controller, or ours before its
    first pass), Argo CD's older rules apply: conditions (InvalidSpec, RolloutAborted,
    ProgressDeadlineExceeded -> Degraded), pauses (Suspended), replica counts, then per
    strategy: blue-green is Progressing until `status.blueGreen.activeSelector` equals
    `status.currentPodHash` ("active service cutover pending") and until stableRS is
    the current hash ("waiting for analysis to complete"); a canary until old replicas
    are gone and stableRS is the current hash.
    """
    metadata, spec, status = _parts(obj)
    if not _rollout_observed(metadata, spec, status):
        return Health(PROGRESSING, "Waiting for rollout spec update to be observed")
    phase = status.get("phase")
    message = str(status.get("message") or "")
    by_phase = {"Healthy": HEALTHY, "Progressing": PROGRESSING, "Paused": SUSPENDED,
                "Degraded": DEGRADED}
    if phase in by_phase:
        return Health(by_phase[phase], message)
    if phase:
        return Health(PROGRESSING, message or f"Unknown rollout phase {phase!r}")
    return _rollout_without_phase(spec, status)


def _rollout_without_phase(spec: Obj, status: Obj) -> Health:
    for condition in status.get("conditions") or []:
        if not isinstance(condition, dict):
            continue
        degraded = condition.get("type") == "InvalidSpec" or (
            condition.get("type") == "Progressing"
            and condition.get("reason") in ("RolloutAborted", "ProgressDeadlineExceeded"))
        if degraded:
            return Health(DEGRADED, str(condition.get("message") or ""))
    if status.get("pauseConditions") or spec.get("paused"):
        return Health(SUSPENDED, "Rollout is paused")
    current = status.get("currentPodHash")
    if current is None:
        return Health(PROGRESSING, "Waiting for rollout to finish: status has not been "
                      "reconciled.")
    desired = 1 if spec.get("replicas") is None else _int(spec.get("replicas"))
    replicas, updated = _int(status.get("replicas")), _int(status.get("updatedReplicas"))
    if updated < desired:
        return Health(PROGRESSING, "Waiting for roll out to finish: More replicas need to "
                      "be updated")
    if _int(status.get("availableReplicas")) < updated:
        return Health(PROGRESSING, "Waiting for roll out to finish: updated replicas are "
                      "still becoming available")
    stable = status.get("stableRS") or (status.get("canary") or {}).get("stableRS") or ""
    strategy = spec.get("strategy") or {}
    if strategy.get("blueGreen") is not None:
        if (status.get("blueGreen") or {}).get("activeSelector") != current:
            return Health(PROGRESSING, "active service cutover pending")
        if stable and stable != current:
            return Health(PROGRESSING, "waiting for analysis to complete")
    elif strategy.get("canary") is not None:
        if replicas > updated:
            return Health(PROGRESSING, "Waiting for roll out to finish: old replicas are "
                          "pending termination")
        if stable != current:
            return Health(PROGRESSING, "Waiting for rollout to finish steps")
    return Health(HEALTHY)


def _application(obj: Obj) -> Health:
    health = ((obj.get("status") or {}).get("health")) or {}
    try:
        status = HealthStatusCode(str(health.get("status")))
    except ValueError:
        return Health(PROGRESSING, "Waiting for the Application's health")
    return Health(status, str(health.get("message") or ""))


def _by_condition(status: Obj, type_: str) -> Health | None:
    """True Healthy, False Degraded (each with the condition's message), else None."""
    condition = _condition(status, type_)
    if condition is None or condition.get("status") not in ("True", "False"):
        return None
    return Health(HEALTHY if condition["status"] == "True" else DEGRADED,
                  str(condition.get("message") or ""))


def _sealed_secret(obj: Obj) -> Health:
    metadata, _, status = _parts(obj)
    waiting = Health(PROGRESSING, "Waiting for Sealed Secret to be decrypted")
    if "observedGeneration" in status and not _generation_observed(metadata, status):
        return waiting  # its Synced condition is about an older spec
    return _by_condition(status, "Synced") or waiting


def _external_secret(obj: Obj) -> Health:
    _, spec, status = _parts(obj)
    waiting = Health(PROGRESSING, "Waiting for ExternalSecret")
    ready = _condition(status, "Ready")
    if ready is not None and spec.get("refreshPolicy") == "OnChange" and \
            status.get("refreshTime") and \
            str(ready.get("lastTransitionTime") or "") < str(status["refreshTime"]):
        return waiting  # refreshed since the condition was written: not answered yet
    return _by_condition(status, "Ready") or waiting


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
    ("bitnami.com", "SealedSecret"): _sealed_secret,
    ("external-secrets.io", "ExternalSecret"): _external_secret,
}
