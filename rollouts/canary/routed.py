"""The canary with a traffic router: replica counts, the router's state, and when a step
that needs the router is done. Pure; the routers themselves are in `rollouts.traffic`.

Argo Rollouts' semantics, which this follows:

- Replicas: the canary gets ceil(N * weight / 100) pods for the current step's weight
  (or what a `setCanaryScale` in force says: `replicas`, `weight`, or
  `matchTrafficWeight: true` to follow the weight again); the stable keeps N pods,
  unless `dynamicStableScale`, where it keeps the complement of the weight the router
  carries (so it only shrinks once the traffic has left it, and grows back before the
  weight returns to it). maxSurge/maxUnavailable do not apply: traffic does not follow
  pods.
- Services first: the stable Service is pinned to the stable pods and the canary
  Service to the canary pods before any weight moves; a canary Service is moved to a
  new revision's pods only once the router sends it nothing (or those pods are all
  available), so no request reaches a Service whose pods are not ready.
- Weight: the current step's `setWeight` once the canary pods for it are available;
  until then the weight of the previous `setWeight` step (Argo's rule). 100 after the
  last step or on `promote --full` (again once the canary runs at full size). 0 at
  once on abort (with `dynamicStableScale`: as fast as the stable's available pods
  can take the traffic back, the canary Service staying on the canary pods until 0),
  and 0 once the canary is stable (both Services then select it).
- Managed routes (`setHeaderRoute`, `setMirrorRoute`): the routes set by the steps up
  to the current one (a later step of the same name replaces it, one without `match`
  removes it); all removed on abort, promote --full and completion.
- The router gets the whole state every pass (`TrafficRouter.sync`); a pass that
  writes nothing has verified it. A step that needs the router completes only in a
  pass that verified it, so a controller killed between a write and the step's
  completion repeats the (idempotent) write check, never the step.
- Scale-down: a ReplicaSet that leaves service (the old stable after promotion, an
  intermediate canary) keeps its pods `scaleDownDelaySeconds` (default 30) via Argo's
  `scale-down-deadline` annotation, at most `scaleDownDelayRevisionLimit` of them; on
  abort the canary keeps its pods `abortScaleDownDelaySeconds` (default 30; 0 keeps
  them until the next change); with `dynamicStableScale` and no explicit delay it keeps
  only the pods for the weight the router still sends it.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from rollouts.api.rollout import CanaryStep, SetCanaryScale
from rollouts.core.scale_down import retire_older, set_deadline
from rollouts.core.work import Pass, parse_time
from rollouts.traffic.base import (
    HeaderMatch,
    HeaderRoute,
    MirrorRoute,
    RouterError,
    TrafficState,
    Weights,
)
from rollouts.traffic.select import TrafficView

__all__ = [
    "abort_canary_replicas",
    "abort_weight",
    "canary_ready",
    "canary_service_target",
    "desired_weight",
    "managed_routes_supported",
    "recorded_weight",
    "retire_with_delay",
    "routed_targets",
    "routing_of",
    "sync_router",
]


def routing_of(work: Pass) -> TrafficView | None:
    """The Rollout's routers, when it has any we implement."""
    view = work.observed.traffic
    return view if view is not None and view.routers else None


def _in_progress(work: Pass) -> bool:
    status = work.status
    return not (status.get("abort") or status.get("promoteFull")
                or work.step_index >= work.step_count or work.new_hash == work.stable_hash)


def _scale_in_force(work: Pass) -> SetCanaryScale | None:
    if not _in_progress(work):
        return None
    found: SetCanaryScale | None = None
    for step in work.canary.step_list[: work.step_index + 1]:
        if step.set_canary_scale is not None:
            found = step.set_canary_scale
    if found is not None and found.match_traffic_weight:
        return None
    return found


def recorded_weight(work: Pass) -> int:
    """The canary weight the last pass wrote (status.canary.weights)."""
    weights = (work.status.get("canary") or {}).get("weights") or {}
    try:
        return int((weights.get("canary") or {}).get("weight") or 0)
    except (TypeError, ValueError):
        return 0


def routed_targets(work: Pass, step_weight: int) -> tuple[int, int]:
    """(canary, stable) replicas for the step's weight."""
    replicas = work.replicas
    scale = _scale_in_force(work)
    if scale is None:
        canary = math.ceil(replicas * step_weight / 100)
    elif scale.replicas is not None:
        canary = scale.replicas
    else:
        canary = math.ceil(replicas * (scale.weight or 0) / 100)
    stable = replicas
    if work.canary.dynamic_stable_scale:
        share = min(recorded_weight(work), step_weight)
        stable = math.ceil(replicas * (100 - share) / 100)
    return canary, stable


def canary_ready(work: Pass, target: int) -> bool:
    """The canary ReplicaSet runs `target` pods, all available."""
    if work.plan.create_replica_set is not None:
        return False
    new = work.new_rs
    if new is None:
        return target == 0
    return new.name not in work.plan.scale and new.replicas == target and (
        new.available >= target)


def _previous_weight(work: Pass) -> int:
    """The weight of the last setWeight step before the current one (0 if none)."""
    for step in reversed(work.canary.step_list[: work.step_index]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


def services_pinned(work: Pass) -> bool:
    services = work.observed.services
    return (services.get(work.canary.canary_service or "") == work.new_hash
            and services.get(work.canary.stable_service or "") == work.stable_hash)


def abort_weight(work: Pass) -> int:
    """The canary's weight once aborted (or rolled back to stable): 0 at once, since the
    stable runs at full size; with `dynamicStableScale` the stable may still be small,
    so it takes back only what its available pods carry, never raising the weight again
    (Argo's calculateDesiredWeightOnAbortOrStableRollback):

        weight = min(100 - 100 * stable_available // N, recorded canary weight)

    e.g. N=4 at weight 75, the stable growing back from 1 pod: 2 available -> 50,
    3 -> 25, 4 -> 0."""
    if not work.canary.dynamic_stable_scale or not work.replicas:
        return 0
    stable = work.new_rs if work.new_hash == work.stable_hash else work.stable_rs
    available = stable.available if stable is not None else 0
    share = 100 - (100 * available) // work.replicas
    return max(0, min(share, recorded_weight(work)))


def desired_weight(work: Pass, step_weight: int, ready: bool) -> int:
    if work.status.get("abort"):
        return abort_weight(work)
    if work.new_hash == work.stable_hash:
        return 0
    if not services_pinned(work):
        return 0
    return step_weight if ready else _previous_weight(work)


def canary_service_target(work: Pass) -> str | None:
    """The pod hash the canary Service should select: the stable's on abort or once
    stable; the new pods once the router sends the canary nothing or they are ready."""
    current = work.observed.services.get(work.canary.canary_service or "")
    rolling_back = work.status.get("abort") or work.new_hash == work.stable_hash
    if rolling_back and work.canary.dynamic_stable_scale and (
            recorded_weight(work) > 0 and current is not None):
        return current  # the stable is not yet big enough for the canary's share
    if work.status.get("abort") or work.new_rs is None:
        return work.stable_hash
    if current == work.new_hash:
        return work.new_hash
    weights = (work.status.get("canary") or {}).get("weights") or {}
    idle = recorded_weight(work) == 0 and weights.get("verified") is not False
    new = work.new_rs
    if idle or (new.replicas and new.available >= new.replicas):
        return work.new_hash
    return current


# -- managed routes -----------------------------------------------------------------


def _header_route(step: CanaryStep) -> tuple[str, HeaderRoute | None] | None:
    route = step.set_header_route
    if route is None:
        return None
    if not route.match:
        return route.name, None
    matches = tuple(HeaderMatch(m.header_name, m.header_value.exact, m.header_value.prefix,
                                m.header_value.regex) for m in route.match)
    return route.name, HeaderRoute(route.name, matches)


def _mirror_route(step: CanaryStep) -> tuple[str, MirrorRoute | None] | None:
    route = step.set_mirror_route
    if route is None:
        return None
    if not route.match:
        return route.name, None
    matches = tuple(m.model_dump(by_alias=True, exclude_none=True) for m in route.match)
    percentage = 100 if route.percentage is None else route.percentage
    return route.name, MirrorRoute(route.name, matches, percentage)


def _routes_in_force(work: Pass) -> tuple[tuple[HeaderRoute, ...], tuple[MirrorRoute, ...]]:
    if not _in_progress(work):
        return (), ()
    headers: dict[str, HeaderRoute | None] = {}
    mirrors: dict[str, MirrorRoute | None] = {}
    for step in work.canary.step_list[: work.step_index + 1]:
        header = _header_route(step)
        if header is not None:
            headers[header[0]] = header[1]
        mirror = _mirror_route(step)
        if mirror is not None:
            mirrors[mirror[0]] = mirror[1]
    return (tuple(r for r in headers.values() if r is not None),
            tuple(r for r in mirrors.values() if r is not None))


def managed_routes_supported(view: TrafficView, step: CanaryStep) -> bool:
    """Whether some router carries the step's header or mirror route."""
    if step.set_header_route is not None:
        return any(router.supports_header_routes for router in view.routers)
    return any(router.supports_mirror_routes for router in view.routers)


# -- the router's state -------------------------------------------------------------


def sync_router(work: Pass, view: TrafficView, weight: int,
                additional: tuple[tuple[str, int, str | None], ...] = ()) -> bool:
    """Plan the writes that make every router carry `weight` and the routes in force;
    record `status.canary.weights`. True when the routers already carry it (verified)."""
    canary = work.canary
    canary_hash = work.new_hash if work.new_rs is not None else work.stable_hash
    weights = Weights(weight, canary.canary_service or "", canary.stable_service or "",
                      canary_hash, work.stable_hash, additional)
    headers, mirrors = _routes_in_force(work)
    routing = canary.traffic_routing
    managed = tuple(r.name for r in (routing.managed_routes or [])) if routing else ()
    state = TrafficState(weights, headers, mirrors, managed)
    problem = view.problem
    writes = []
    if problem is None:
        try:
            for router in view.routers:
                writes.extend(router.sync(view.live, state))
        except RouterError as error:
            problem = str(error)
    verified = problem is None and not writes
    _record_weights(work, weights, verified)
    if problem is not None:
        work.plan.event("TrafficRoutingError", problem, warning=True)
        work.plan.wake_at["traffic-routing"] = work.now + timedelta(seconds=10)
        return False
    if writes:
        work.plan.router_writes.extend(writes)
        for write in writes:
            if write.reason:
                work.plan.event("TrafficWeightUpdated", write.reason)
        work.plan.requeue = True
    return verified


def _record_weights(work: Pass, weights: Weights, verified: bool) -> None:
    entry: dict[str, Any] = {
        "canary": _destination(weights.canary_service, weights.canary_hash,
                               weights.canary_weight),
        "stable": _destination(weights.stable_service, weights.stable_hash,
                               weights.stable_weight),
        "verified": verified,
    }
    if weights.additional:
        entry["additional"] = [_destination(service, pod_hash, weight)
                               for service, weight, pod_hash in weights.additional]
    section = dict(work.status.get("canary") or {})
    section["weights"] = entry
    work.status["canary"] = section


def _destination(service: str | None, pod_hash: str | None, weight: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"weight": weight}
    if service:
        entry["serviceName"] = service
    if pod_hash:
        entry["podTemplateHash"] = pod_hash
    return entry


# -- scale-down -----------------------------------------------------------------------


def retire_with_delay(work: Pass) -> None:
    """Older sets keep their pods `scaleDownDelaySeconds` after they leave service."""
    canary = work.canary
    delay = canary.scale_down_delay_seconds_or_default
    if delay > 0 and not canary.dynamic_stable_scale:
        for rs in work.older:
            if rs.replicas > 0:
                set_deadline(work, rs, delay)
    retire_older(work, canary.scale_down_delay_revision_limit)


def abort_canary_replicas(work: Pass) -> int | None:
    """The aborted canary's replicas: kept until `abortScaleDownDelaySeconds` after the
    abort (None: keep as is), then 0."""
    new = work.new_rs
    if new is None or not new.replicas:
        return None
    if work.canary.dynamic_stable_scale and work.canary.abort_scale_down_delay_seconds is None:
        # Argo: with dynamicStableScale and no explicit delay the canary follows the
        # weight back down: it keeps the pods for the share the router still sends it.
        return math.ceil(work.replicas * recorded_weight(work) / 100)
    delay = work.canary.abort_scale_down_delay_seconds_or_default
    if delay == 0:
        return None  # Argo: 0 leaves the canary up until the next change
    aborted_at = work.status.get("abortedAt")
    deadline = (parse_time(str(aborted_at)) if aborted_at else work.now) + timedelta(
        seconds=delay)
    if work.now >= deadline:
        return 0
    work.plan.wake_at["abort-scale-down"] = deadline
    return None
