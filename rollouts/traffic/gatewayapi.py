"""Gateway API: the canary's share as backendRef weights in HTTP/GRPC/TCP routes. Pure.

Reads `spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"]` as the
Argo Rollouts Gateway API plugin does: `httpRoute` (one name) and `httpRoutes`
(`[{name, useHeaderRoutes}]`), likewise `grpcRoute(s)` and `tcpRoute(s)`, all in
`namespace` (default: the Rollout's). The single-name form is added after the list.

In every rule of each route, every backendRef named like the stable Service gets
weight 100 - W and every one named like the canary Service gets W (the plugin matches
by name only, across all rules); rules naming neither are left as they are. The plugin
only asks that each Service be referenced somewhere in the route; this router is
stricter and refuses a route where no single rule references both, since no rule of
such a route would split traffic. A backendRef without `weight` counts as 1, the API's
default.

A write is a JSON merge patch replacing `spec.rules` whole, so it carries the live
`metadata.resourceVersion`. HTTPRoute and GRPCRoute are `gateway.networking.k8s.io/v1`,
TCPRoute `v1alpha2`. The plugin's in-progress label and its header routes (kept in a
ConfigMap) are not written here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from rollouts.traffic.base import (
    Live,
    ObjectKey,
    RouterError,
    TrafficState,
    Weights,
    Write,
    writes_nothing,
)

__all__ = ["PLUGIN_NAME", "GatewayAPIRouter"]

PLUGIN_NAME = "argoproj-labs/gatewayAPI"
GROUP = "gateway.networking.k8s.io"
DEFAULT_BACKEND_WEIGHT = 1

# config field (single name), config field (list), version, plural, kind
_ROUTE_KINDS = (
    ("httpRoute", "httpRoutes", "v1", "httproutes", "HTTPRoute"),
    ("grpcRoute", "grpcRoutes", "v1", "grpcroutes", "GRPCRoute"),
    ("tcpRoute", "tcpRoutes", "v1alpha2", "tcproutes", "TCPRoute"),
)


@dataclass(frozen=True)
class RouteRef:
    """One route the plugin configuration names."""

    key: ObjectKey
    use_header_routes: bool


class GatewayAPIRouter:
    """The Gateway API plugin router of one Rollout."""

    def __init__(self, rollout: dict[str, Any]) -> None:
        meta = rollout.get("metadata") or {}
        canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
        plugins = (canary.get("trafficRouting") or {}).get("plugins") or {}
        config = plugins.get(PLUGIN_NAME)
        if not isinstance(config, dict):
            raise RouterError(f"trafficRouting.plugins has no {PLUGIN_NAME!r} settings")
        self._canary_service = str(canary.get("canaryService") or "")
        self._stable_service = str(canary.get("stableService") or "")
        if not (self._canary_service and self._stable_service):
            raise RouterError("the Gateway API router needs canaryService and stableService")
        namespace = str(config.get("namespace") or meta.get("namespace") or "default")
        self.routes: list[RouteRef] = []
        for single, several, version, plural, kind in _ROUTE_KINDS:
            entries = [
                (str(item.get("name") or ""), bool(item.get("useHeaderRoutes")))
                for item in config.get(several) or []
                if isinstance(item, dict)
            ]
            if config.get(single):
                entries.append((str(config[single]), True))
            for name, use_header_routes in entries:
                if not name:
                    raise RouterError(f"{PLUGIN_NAME}: an entry of {several} has no name")
                key = ObjectKey(GROUP, version, plural, kind, namespace, name)
                if all(ref.key != key for ref in self.routes):
                    self.routes.append(RouteRef(key, use_header_routes))
        if not self.routes:
            raise RouterError(f"{PLUGIN_NAME} names no route: set httpRoute(s), "
                              "grpcRoute(s) or tcpRoute(s)")

    @property
    def name(self) -> str:
        return "gatewayAPI"

    def reads(self) -> list[ObjectKey]:
        return [ref.key for ref in self.routes]

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        writes: list[Write] = []
        for ref in self.routes:
            write = self._route_write(ref.key, live, weights)
            if write is not None:
                writes.append(write)
        return writes

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        return writes_nothing(self, live, weights)

    def remove_managed_routes(self, live: Live) -> list[Write]:
        return []  # this router adds no header routes

    @property
    def supports_header_routes(self) -> bool:
        return False

    @property
    def supports_mirror_routes(self) -> bool:
        return False

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        return self.set_weight(live, state.weights)

    def _route_write(self, key: ObjectKey, live: Live, weights: Weights) -> Write | None:
        obj = live.get(key)
        where = f"{key.kind} {key.namespace}/{key.name}"
        if obj is None:
            raise RouterError(f"{where} not found: create it before the rollout uses it")
        rules = (obj.get("spec") or {}).get("rules") or []
        if not any(self._has_both(rule) for rule in rules):
            raise RouterError(
                f"{where}: no rule has backendRefs to both the canary Service "
                f"'{self._canary_service}' and the stable Service '{self._stable_service}'")
        new_rules = copy.deepcopy(rules)
        for rule in new_rules:
            for ref in rule.get("backendRefs") or []:
                if ref.get("name") == self._canary_service:
                    ref["weight"] = weights.canary_weight
                elif ref.get("name") == self._stable_service:
                    ref["weight"] = weights.stable_weight
        if _weights_of(new_rules) == _weights_of(rules):
            return None
        patch: dict[str, Any] = {"spec": {"rules": new_rules}}
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            patch["metadata"] = {"resourceVersion": version}
        return Write(key, patch=patch, reason=f"{where}: canary weight {weights.canary_weight}")

    def _has_both(self, rule: dict[str, Any]) -> bool:
        names = {ref.get("name") for ref in rule.get("backendRefs") or []}
        return self._canary_service in names and self._stable_service in names


def _weights_of(rules: list[dict[str, Any]]) -> list[list[Any]]:
    """Each rule's backendRef weights, a missing weight counted as the API's default."""
    return [
        [ref.get("weight", DEFAULT_BACKEND_WEIGHT) for ref in rule.get("backendRefs") or []]
        for rule in rules
    ]
