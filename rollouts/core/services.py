"""Services a Rollout steers, for both strategies: existence check and selector pinning.

A steered Service selects pods by `rollouts-pod-template-hash`; the executor writes the
selector together with Argo's `argo-rollouts.argoproj.io/managed-by-rollouts` annotation.
"""

from __future__ import annotations

from rollouts.core.work import Pass


def missing_service(work: Pass, path: str, services: list[tuple[str, str | None]]) -> str | None:
    """The InvalidSpec message for the first named Service that does not exist."""
    for field_name, service in services:
        if service and service not in work.observed.services:
            return (f"{path}.{field_name}: Service '{service}' not found; "
                    "create it or fix the name")
    return None


def selected_hash(work: Pass, service: str | None) -> str | None:
    """The pod hash a Service selects now (as this pass leaves it)."""
    if not service:
        return None
    if service in work.plan.service_selectors:
        return work.plan.service_selectors[service]
    return work.observed.services.get(service)


def point_service(work: Pass, service: str | None, pod_hash: str | None) -> None:
    """Pin `service` to `pod_hash` (no-op when it already selects it)."""
    if not service or not pod_hash:
        return
    current = work.observed.services.get(service)
    if current == pod_hash or work.plan.service_selectors.get(service) == pod_hash:
        return
    work.plan.service_selectors[service] = pod_hash
    if not work.is_canary:
        work.plan.event("SwitchService", f"Switched selector for service '{service}' "
                        f"from '{current or ''}' to '{pod_hash}'")
