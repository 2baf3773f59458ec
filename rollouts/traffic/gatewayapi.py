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

Header routes (`sync`, Argo's `setHeaderRoute`) go on the HTTPRoutes whose
`useHeaderRoutes` is true (`httpRoute`, the single form, always): each header route in
force becomes one rule after the route's own rules, in `managedRoutes` order:

    - matches: <each match of the first rule naming both Services, its headers plus
               [{type: Exact | RegularExpression, name, value}, ...] (all must hold)>
      filters: <that rule's filters>
      backendRefs: [<its canary backendRef: name, port, namespace, group, kind>]

A `prefix` header match becomes `RegularExpression` `^<prefix, escaped>.*`. The
plugin copies only path and query matches into the header rule; keeping the whole
match (method, other headers) keeps the header rule from catching traffic the
weighted rule never saw. Our rules are never weighted (the plugin weights every
canary backendRef, its header rule's too, which at weight 0 sends it nothing).

Rules have no names everywhere (`name` is recent), so the plugin keeps rule indexes
in a ConfigMap. Here the route itself says which rules are ours, statelessly: the
annotation `rollouts.argoproj.io/managed-routes` holds JSON `{"<route name>":
"<digest>"}`, the digest being a sha256 prefix of the rule's content with the API's
defaults filled in. A rule is ours only while its content has that digest: a rule
someone changed or removed is never touched again, and its entry is dropped. Rules
of names outside `TrafficState.managed_routes` are left as they are (so `set_weight`
keeps them); names listed there but not in force are removed.

Not supported: mirror routes (`supports_mirror_routes` is False; the plugin's
RequestMirror support is recent and has two modes), and experiment shares
(`Weights.additional`: the plugin needs each experiment Service's port from the
cluster and the Rollout's status to know what to remove; a non-empty one is refused).

A write is a JSON merge patch replacing"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from rollouts.traffic.base import (
    HeaderMatch,
    HeaderRoute,
    Live,
    ObjectKey,
    RouterError,
    TrafficState,
    Weights,
    Write,
    writes_nothing,
)

__all__ = ["MANAGED_ROUTES_ANNOTATION", "PLUGIN_NAME", "GatewayAPIRouter"]

PLUGIN_NAME = "argoproj-labs/gatewayAPI"
GROUP = "gateway.networking.k8s.io"
DEFAULT_BACKEND_WEIGHT = 1
MANAGED_ROUTES_ANNOTATION = "rollouts.argoproj.io/managed-routes"
_REGEX_SPECIALS = frozenset("\\.+*?()|[]{}^$")

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
        return self.sync(live, TrafficState(weights))

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        return writes_nothing(self, live, weights)

    def remove_managed_routes(self, live: Live) -> list[Write]:
        writes: list[Write] = []
        for ref in self.routes:
            obj = live.get(ref.key)
            if obj is None or ref.key.kind != "HTTPRoute":
                continue
            rules = (obj.get("spec") or {}).get("rules") or []
            ours = _our_rules(obj, rules)
            if ours:
                kept = [rule for i, rule in enumerate(rules) if i not in ours]
                where = f"{ref.key.kind} {ref.key.namespace}/{ref.key.name}"
                writes.append(Write(ref.key, patch=_patch(obj, kept, {}),
                                    reason=f"{where}: managed routes removed"))
        return writes

    @property
    def supports_header_routes(self) -> bool:
        return True

    @property
    def supports_mirror_routes(self) -> bool:
        return False

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        if state.weights.additional:
            raise RouterError(
                "experiments with weights are not supported by the Gateway API router: "
                "drop `weight` from the experiment step's templates")
        headers = {route.name: route for route in state.header_routes if route.match}
        unlisted = [name for name in headers if name not in state.managed_routes]
        if unlisted:
            raise RouterError(f"header route '{unlisted[0]}' is not listed in "
                              "trafficRouting.managedRoutes: add it there")
        writes: list[Write] = []
        for ref in self.routes:
            write = self._route_write(ref, live, state, headers)
            if write is not None:
                writes.append(write)
        return writes

    def _route_write(
        self, ref: RouteRef, live: Live, state: TrafficState, headers: dict[str, HeaderRoute]
    ) -> Write | None:
        key, weights = ref.key, state.weights
        obj = live.get(key)
        where = f"{key.kind} {key.namespace}/{key.name}"
        if obj is None:
            raise RouterError(f"{where} not found: create it before the rollout uses it")
        rules = (obj.get("spec") or {}).get("rules") or []
        ours = _our_rules(obj, rules) if key.kind == "HTTPRoute" else {}
        own = [copy.deepcopy(rule) for i, rule in enumerate(rules) if i not in ours]
        if not any(self._has_both(rule) for rule in own):
            raise RouterError(
                f"{where}: no rule has backendRefs to both the canary Service "
                f"'{self._canary_service}' and the stable Service '{self._stable_service}'")
        for rule in own:
            for backend in rule.get("backendRefs") or []:
                if backend.get("name") == self._canary_service:
                    backend["weight"] = weights.canary_weight
                elif backend.get("name") == self._stable_service:
                    backend["weight"] = weights.stable_weight
        # Rules of names this state does not speak for stay as they are.
        kept = {name: rules[i] for i, name in ours.items() if name not in state.managed_routes}
        added: dict[str, dict[str, Any]] = {}
        if ref.use_header_routes and key.kind == "HTTPRoute":
            weighted = next(rule for rule in own if self._has_both(rule))
            for name in state.managed_routes:
                if name in headers:
                    added[name] = self._header_rule(weighted, headers[name], where)
        new_rules = [*own, *copy.deepcopy(list(kept.values())), *added.values()]
        record = {name: _digest(rule) for name, rule in {**kept, **added}.items()}
        if _normal(new_rules) == _normal(rules) and record == _recorded(obj):
            return None
        reason = f"{where}: canary weight {weights.canary_weight}"
        if added:
            reason += f", header routes {', '.join(added)}"
        return Write(key, patch=_patch(obj, new_rules, record), reason=reason)

    def _header_rule(
        self, weighted: dict[str, Any], route: HeaderRoute, where: str
    ) -> dict[str, Any]:
        ours = [_header_match(match, where, route.name) for match in route.match]
        names = {match["name"].lower() for match in ours}
        matches = []
        for match in weighted.get("matches") or [{}]:
            match = copy.deepcopy(match)
            match["headers"] = [h for h in match.get("headers") or []
                                if str(h.get("name", "")).lower() not in names] + ours
            matches.append(match)
        canary = next(b for b in weighted.get("backendRefs") or []
                      if b.get("name") == self._canary_service)
        backend = {k: copy.deepcopy(v) for k, v in canary.items()
                   if k in ("name", "port", "namespace", "group", "kind")}
        rule: dict[str, Any] = {"matches": matches, "backendRefs": [backend]}
        if weighted.get("filters"):
            rule["filters"] = copy.deepcopy(weighted["filters"])
        return rule

    def _has_both(self, rule: dict[str, Any]) -> bool:
        names = {ref.get("name") for ref in rule.get("backendRefs") or []}
        return self._canary_service in names and self._stable_service in names


def _header_match(match: HeaderMatch, where: str, route: str) -> dict[str, str]:
    if [match.exact, match.prefix, match.regex].count(None) != 2:
        raise RouterError(f"{where}: header route '{route}': header '{match.name}' needs "
                          "exactly one of exact, prefix or regex")
    if match.exact is not None:
        return {"type": "Exact", "name": match.name, "value": match.exact}
    if match.prefix is not None:
        escaped = "".join(f"\\{c}" if c in _REGEX_SPECIALS else c for c in match.prefix)
        return {"type": "RegularExpression", "name": match.name, "value": f"^{escaped}.*"}
    return {"type": "RegularExpression", "name": match.name, "value": str(match.regex)}


def _recorded(obj: dict[str, Any]) -> dict[str, str]:
    """The annotation's {route name: digest}; anything unreadable counts as nothing."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(MANAGED_ROUTES_ANNOTATION)
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _our_rules(obj: dict[str, Any], rules: list[dict[str, Any]]) -> dict[int, str]:
    """Index -> route name of the rules the annotation says we added (content unchanged)."""
    ours: dict[int, str] = {}
    for name, digest in _recorded(obj).items():
        for index, rule in enumerate(rules):
            if index not in ours and _digest(rule) == digest:
                ours[index] = name
                break
    return ours


def _digest(rule: dict[str, Any]) -> str:
    text = json.dumps(_normal([rule])[0], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _normal(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules with the defaults the API server fills in (so a rule read back compares
    equal to the rule written): backendRef group/kind/weight, match path and types."""
    out = copy.deepcopy(rules)
    for rule in out:
        for backend in rule.get("backendRefs") or []:
            backend.setdefault("group", "")
            backend.setdefault("kind", "Service")
            backend.setdefault("weight", DEFAULT_BACKEND_WEIGHT)
        if "matches" not in rule:
            rule["matches"] = [{}]
        for match in rule["matches"] or []:
            path = match.setdefault("path", {})
            path.setdefault("type", "PathPrefix")
            path.setdefault("value", "/")
            for item in (*(match.get("headers") or []), *(match.get("queryParams") or [])):
                item.setdefault("type", "Exact")
        if not rule.get("filters"):
            rule.pop("filters", None)
    return out


def _patch(obj: dict[str, Any], rules: list[dict[str, Any]],
           record: dict[str, str]) -> dict[str, Any]:
    patch: dict[str, Any] = {"spec": {"rules": rules}}
    metadata: dict[str, Any] = {}
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if version:
        metadata["resourceVersion"] = version
    if record != _recorded(obj) or (not record and MANAGED_ROUTES_ANNOTATION in (
            (obj.get("metadata") or {}).get("annotations") or {})):
        value = json.dumps(record, sort_keys=True, separators=(",", ":")) if record else None
        metadata["annotations"] = {MANAGED_ROUTES_ANNOTATION: value}
    if metadata:
        patch["metadata"] = metadata
    return patch
