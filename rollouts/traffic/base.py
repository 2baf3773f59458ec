"""The one interface every traffic router implements. Pure: no client, no I/O.

A router turns "the canary should get W% of the traffic" into writes of the router's
own objects (an SMI TrafficSplit, a canary Ingress, a VirtualService, an HTTPRoute).
It never reads the cluster itself: the controller fetches the objects the router
`reads()` and passes them in as `live` (None for one that does not exist); the router
answers with the `Write`s that bring them to the wanted state (none when they are
already there), so a write is idempotent and safe to repeat after a crash.

    router = make_router(rollout)                  # rollouts.traffic.make_router
    live = {key: cluster_get(key) for key in router.reads()}
    writes = router.set_weight(live, Weights(canary_weight=20, ...))
    ... the executor creates / patches ...
    router.verify_weight(live_again, weights)      # True once the object says so

The canary planner decides weights and never knows which router applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["HeaderMatch", "HeaderRoute", "Live", "MirrorRoute", "ObjectKey", "RouterError",
           "TrafficRouter", "TrafficState", "Weights", "Write", "writes_nothing"]


@dataclass(frozen=True)
class ObjectKey:
    """Which object: API group/version/plural/kind, namespace and name."""

    group: str
    version: str
    plural: str
    kind: str
    namespace: str | None
    name: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class Weights:
    """What the traffic should look like: the canary's share, and where each share goes."""

    canary_weight: int  # 0..100; the stable gets the rest
    canary_service: str
    stable_service: str
    canary_hash: str | None = None
    stable_hash: str | None = None
    # Experiment templates that take a share too (Argo's `weights.additional`):
    # (service name, weight, pod hash). The stable gets 100 - canary - these.
    additional: tuple[tuple[str, int, str | None], ...] = ()

    @property
    def stable_weight(self) -> int:
        return 100 - self.canary_weight - sum(w for _, w, _ in self.additional)


@dataclass(frozen=True)
class HeaderMatch:
    """One header condition: `name` equals `exact`, starts with `prefix`, or matches
    `regex` (exactly one of the three is set)."""

    name: str
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


@dataclass(frozen=True)
class HeaderRoute:
    """`setHeaderRoute`: requests matching `match` go to the canary. How several headers
    combine is the router's, as Argo writes them: the Gateway API puts them in one match
    (all must hold), Istio in one match block each (any may)."""

    name: str  # one of trafficRouting.managedRoutes
    match: tuple[HeaderMatch, ...]


@dataclass(frozen=True)
class MirrorRoute:
    """`setMirrorRoute`: requests matching any entry of `match` keep going to the stable
    and are copied to the canary (`percentage` of them, default 100)."""

    name: str  # one of trafficRouting.managedRoutes
    # Each entry: {"method"?: {exact|prefix|regex}, "path"?: {...},
    #              "headers"?: {name: {exact|prefix|regex}}}; entries are OR-ed.
    match: tuple[dict[str, Any], ...]
    percentage: int = 100


@dataclass(frozen=True)
class TrafficState:
    """The whole state the router should carry: weights plus the managed routes in
    force. Routes named in `managed_routes` but absent here are removed; routes a
    router cannot carry are ignored by it (see `supports_header_routes`)."""

    weights: Weights
    header_routes: tuple[HeaderRoute, ...] = ()
    mirror_routes: tuple[MirrorRoute, ...] = ()
    # trafficRouting.managedRoutes names, in order (it orders the routes added).
    managed_routes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Write:
    """One object to create (`create`, a whole manifest) or to patch (`patch`, a JSON
    merge patch; it carries `metadata.resourceVersion` when it replaces a list, so a
    concurrent change makes it fail with a conflict instead of being lost)."""

    key: ObjectKey
    create: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None
    reason: str = ""


Live = Mapping[ObjectKey, dict[str, Any] | None]


class TrafficRouter(Protocol):
    """A traffic router for one Rollout, built from its `trafficRouting` settings."""

    @property
    def name(self) -> str:
        """Argo's name of the router (`nginx`, `istio`, `smi`, `gatewayAPI`)."""
        ...

    def reads(self) -> list[ObjectKey]:
        """The objects the router needs to see before it can decide its writes."""
        ...

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        """Writes that give the canary `weights.canary_weight` percent (none if so already).
        Raises `RouterError` when the live objects cannot carry the weight (a missing
        VirtualService, a route that names neither Service), with a one-line reason."""
        ...

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        """Whether the live objects already carry `weights`."""
        ...

    def remove_managed_routes(self, live: Live) -> list[Write]:
        """Writes that undo what the router added besides weights (header/mirror routes)."""
        ...

    @property
    def supports_header_routes(self) -> bool:
        """Whether `sync` carries `TrafficState.header_routes` (else they are ignored)."""
        ...

    @property
    def supports_mirror_routes(self) -> bool:
        """Whether `sync` carries `TrafficState.mirror_routes` (else they are ignored)."""
        ...

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        """Writes that make the live objects carry `state` whole (weights and managed
        routes; none when they already do). At most one write per object, so the
        weights and the routes of one VirtualService never race each other."""
        ...


class RouterError(Exception):
    """The router's objects cannot carry the weight; the message says why and what to do."""


def writes_nothing(router: TrafficRouter, live: Live, weights: Weights) -> bool:
    """`verify_weight` for a router whose `set_weight` writes only what differs: the live
    objects carry `weights` when no write is needed (and they can carry it at all)."""
    try:
        return not router.set_weight(live, weights)
    except RouterError:
        return False
