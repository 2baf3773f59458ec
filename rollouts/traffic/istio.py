"""Istio: the canary's share as destination weights in VirtualServices. Pure.

Reads `spec.strategy.canary.trafficRouting.istio` as Argo Rollouts does:

- `virtualService: {name, routes, tlsRoutes, tcpRoutes}` or `virtualServices: [...]`
  (the list wins when both are given). A name may carry its namespace as
  `name.namespace`; otherwise the Rollout's namespace.
- HTTP routes are picked by name (`routes`). Without `routes` the VirtualService must
  have exactly one HTTP route (routes listed in `trafficRouting.managedRoutes` aside),
  and that one is used. TLS routes are picked by `{port, sniHosts}`: a route matches
  when all its match blocks name one single port equal to `port` (0 when absent) and
  its SNI hosts are exactly `sniHosts`; TCP routes likewise by `port` alone. Without
  `tlsRoutes`/`tcpRoutes` the first TLS/TCP route is used when there is exactly one.
- Host-level split: a destination belongs to the canary (stable) Service when the
  short form of its host (what precedes the first dot) is the Service's name; it gets
  weight W (100 - W). Subset-level split (`destinationRule: {name, canarySubsetName,
  stableSubsetName}`): destinations are told apart by `destination.subset`, and the
  DestinationRule's two subsets get the label `rollouts-pod-template-hash` set to the
  canary/stable hash (removed when the hash is unknown), plus Argo's
  `argo-rollouts.argoproj.io/managed-by-rollouts` annotation.
- Any other destination in a weighted route is dropped, as Argo does, so the weights
  of the route add up to 100. A route without both destinations is refused.

Experiment shares (`Weights.additional`): a weighted route also sends its share to
each experiment Service: an existing destination whose short host is that Service
gets its weight, a missing one is appended as `{destination: {host: <service>},
weight}` (in a subset-level split too: experiments are told apart by host, as Argo
does; the DestinationRule is not given subsets for them).

Managed routes (`sync` with a `TrafficState`), on every VirtualService, as Argo's
`setHeaderRoute`/`setMirrorRoute` leave them:

- The routes named in `managed_routes` and present in the state come first in
  `spec.http`, in `managed_routes` order; a named route absent from the state (or
  with an empty `match`, Argo's "remove") is dropped; other routes keep their order.
- Header route: `{name, match: [{headers: {<header>: {exact|prefix|regex: v}}}, ...],
  route: [{destination: <canary>, weight: 100}]}`. One match block per header, as
  Argo writes it, so Istio ORs them. `<canary>` is the canary destination of the
  (first) weighted HTTP route: its host (or subset) and port.
- Mirror route: `{name, match: [{method, uri (the entry's path), headers}, ...],
  route: <the weighted route's destinations and weights>, mirror: <canary>,
  mirrorPercentage: {value: percentage}}`: matching requests keep the weighted split
  and are copied to the canary, and the copy follows every weight change.
- A managed route is never the weighted route (`routes` may not name one).

One write per VirtualService carries the weights and the routes together. Each write
is a JSON merge patch replacing `spec.http`/`spec.tls`/`spec.tcp` (or `spec.subsets`)
whole, so it carries the live `metadata.resourceVersion`.
"""

from __future__ import annotations

import copy
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from rollouts.traffic.base import (
    HeaderMatch,
    HeaderRoute,
    Live,
    MirrorRoute,
    ObjectKey,
    RouterError,
    TrafficState,
    Weights,
    Write,
    writes_nothing,
)

__all__ = ["HASH_LABEL", "MANAGED_BY_ANNOTATION", "IstioRouter"]

GROUP = "networking.istio.io"
DEFAULT_VERSION = "v1alpha3"
HASH_LABEL = "rollouts-pod-template-hash"
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
_KINDS = {"http": "HTTP", "tls": "TLS", "tcp": "TCP"}


@dataclass(frozen=True)
class _VirtualServiceRef:
    key: ObjectKey
    routes: tuple[str, ...]
    tls_routes: tuple[dict[str, Any], ...]
    tcp_routes: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _DestinationRuleRef:
    key: ObjectKey
    canary_subset: str
    stable_subset: str


def _key(plural: str, kind: str, namespace: str, name: str) -> ObjectKey:
    return ObjectKey(GROUP, DEFAULT_VERSION, plural, kind, namespace, name)


def _live_key(key: ObjectKey, obj: dict[str, Any]) -> ObjectKey:
    """The key with the version the live object was read in (`v1alpha3` by default)."""
    group, _, version = str(obj.get("apiVersion") or "").partition("/")
    if group == GROUP and version and version != key.version:
        return ObjectKey(key.group, version, key.plural, key.kind, key.namespace, key.name)
    return key


def _short_host(host: str) -> str:
    return host.split(".", 1)[0]


def _list_patch(obj: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {"spec": spec}
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if version:
        patch["metadata"] = {"resourceVersion": version}
    return patch


class IstioRouter:
    """The Istio router of one Rollout (host-level or subset-level split)."""

    def __init__(self, rollout: dict[str, Any]) -> None:
        meta = rollout.get("metadata") or {}
        canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
        routing = canary.get("trafficRouting") or {}
        istio = routing.get("istio") or {}
        self._rollout_name = str(meta.get("name") or "")
        namespace = str(meta.get("namespace") or "default")
        self._canary_service = str(canary.get("canaryService") or "")
        self._stable_service = str(canary.get("stableService") or "")
        self._managed_routes = {
            str(r.get("name")) for r in routing.get("managedRoutes") or [] if isinstance(r, dict)
        }
        specs = istio.get("virtualServices")
        if specs is None:
            specs = [istio["virtualService"]] if istio.get("virtualService") else []
        self._virtual_services = [self._virtual_service(s, namespace) for s in specs]
        if not self._virtual_services:
            raise RouterError("trafficRouting.istio names no virtualService(s)")
        rule = istio.get("destinationRule")
        self._destination_rule: _DestinationRuleRef | None = None
        if rule:
            if not (rule.get("name") and rule.get("canarySubsetName")
                    and rule.get("stableSubsetName")):
                raise RouterError("trafficRouting.istio.destinationRule needs name, "
                                  "canarySubsetName and stableSubsetName")
            self._destination_rule = _DestinationRuleRef(
                _key("destinationrules", "DestinationRule", namespace, str(rule["name"])),
                str(rule["canarySubsetName"]), str(rule["stableSubsetName"]))
        elif not (self._canary_service and self._stable_service):
            raise RouterError("the Istio router needs canaryService and stableService")

    @staticmethod
    def _virtual_service(spec: dict[str, Any], namespace: str) -> _VirtualServiceRef:
        name, _, in_namespace = str(spec.get("name") or "").partition(".")
        if not name:
            raise RouterError("trafficRouting.istio: a virtualService has no name")
        in_namespace = in_namespace.split(".", 1)[0] or namespace
        return _VirtualServiceRef(
            _key("virtualservices", "VirtualService", in_namespace, name),
            tuple(str(r) for r in spec.get("routes") or []),
            tuple(spec.get("tlsRoutes") or []), tuple(spec.get("tcpRoutes") or []))

    @property
    def name(self) -> str:
        return "istio"

    def reads(self) -> list[ObjectKey]:
        keys = [vs.key for vs in self._virtual_services]
        if self._destination_rule is not None:
            keys.append(self._destination_rule.key)
        return keys

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        return self.sync(live, TrafficState(weights))

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        return writes_nothing(self, live, weights)

    def remove_managed_routes(self, live: Live) -> list[Write]:
        writes: list[Write] = []
        for vs in self._virtual_services:
            obj = live.get(vs.key)
            http = ((obj or {}).get("spec") or {}).get("http") or []
            kept = [r for r in http if r.get("name") not in self._managed_routes]
            if obj is not None and kept != http:
                where = f"VirtualService {vs.key.namespace}/{vs.key.name}"
                writes.append(Write(_live_key(vs.key, obj), patch=_list_patch(obj, {"http": kept}),
                                    reason=f"{where}: managed routes removed"))
        return writes

    @property
    def supports_header_routes(self) -> bool:
        return True

    @property
    def supports_mirror_routes(self) -> bool:
        return True

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        if state.weights.stable_weight < 0:
            raise RouterError(f"the canary ({state.weights.canary_weight}) and experiment "
                              "weights add up to more than 100")
        wanted = _wanted_routes(state)
        writes: list[Write] = []
        if self._destination_rule is not None:
            write = self._destination_rule_write(live, state.weights)
            if write is not None:
                writes.append(write)
        for vs in self._virtual_services:
            write = self._virtual_service_write(vs, live, state, wanted)
            if write is not None:
                writes.append(write)
        return writes

    # -- VirtualService -------------------------------------------------------------

    def _virtual_service_write(
        self, vs: _VirtualServiceRef, live: Live, state: TrafficState,
        wanted: dict[str, HeaderRoute | MirrorRoute],
    ) -> Write | None:
        obj = live.get(vs.key)
        where = f"VirtualService {vs.key.namespace}/{vs.key.name}"
        if obj is None:
            raise RouterError(f"{where} not found: create it before the rollout uses it")
        named_managed = [n for n in vs.routes if n in state.managed_routes]
        if named_managed:
            raise RouterError(f"{where}: route '{named_managed[0]}' is both weighted "
                              "(virtualService.routes) and in trafficRouting.managedRoutes: "
                              "take it out of one of them")
        managed = self._managed_routes | set(state.managed_routes)
        spec = obj.get("spec") or {}
        changed: dict[str, Any] = {}
        for field, indexes in (
            ("http", self._http_indexes(vs, spec.get("http"), where, managed)),
            ("tls", self._tls_indexes(vs, spec.get("tls"), where)),
            ("tcp", self._tcp_indexes(vs, spec.get("tcp"), where)),
        ):
            routes = copy.deepcopy(spec.get(field) or [])
            for index in indexes:
                label = f"{_KINDS[field]} route {_route_name(routes[index], index)}"
                routes[index]["route"] = self._weighted(routes[index], state.weights,
                                                        where, label)
            if field == "http" and state.managed_routes:
                weighted = routes[indexes[0]] if indexes else None
                routes = self._with_managed_routes(routes, weighted, state, wanted, where)
            if routes != (spec.get(field) or []):
                changed[field] = routes
        if not changed:
            return None
        reason = f"{where}: canary weight {state.weights.canary_weight}"
        if wanted:
            reason += f", managed routes {', '.join(wanted)}"
        return Write(_live_key(vs.key, obj), patch=_list_patch(obj, changed), reason=reason)

    def _with_managed_routes(
        self, routes: list[dict[str, Any]], weighted: dict[str, Any] | None,
        state: TrafficState, wanted: dict[str, HeaderRoute | MirrorRoute], where: str,
    ) -> list[dict[str, Any]]:
        """`routes` with the wanted managed routes on top, in `managed_routes` order, and
        the other routes named there dropped."""
        top: list[dict[str, Any]] = []
        for name in state.managed_routes:
            route = wanted.get(name)
            if route is None:
                continue
            if weighted is None:
                raise RouterError(f"{where} has no HTTP route to weight, so managed route "
                                  f"'{name}' has no canary to send to: add an HTTP route")
            canary = self._canary_destination(weighted)
            if isinstance(route, HeaderRoute):
                top.append({"name": name, "match": _header_matches(route, where),
                            "route": [{"destination": canary, "weight": 100}]})
            else:
                top.append({"name": name, "match": _mirror_matches(route),
                            "route": copy.deepcopy(weighted.get("route") or []),
                            "mirror": canary,
                            "mirrorPercentage": {"value": route.percentage}})
        managed = set(state.managed_routes)
        return top + [r for r in routes if r.get("name") not in managed]

    def _canary_destination(self, weighted: dict[str, Any]) -> dict[str, Any]:
        """The weighted route's canary destination (host or subset, and port)."""
        for item in weighted.get("route") or []:
            if self._role(item.get("destination") or {}, ()) == "canary":
                return copy.deepcopy(dict(item["destination"]))
        raise AssertionError("a weighted route always has a canary destination")

    @staticmethod
    def _http_indexes(
        vs: _VirtualServiceRef, routes: Any, where: str, managed: set[str]
    ) -> list[int]:
        routes = routes if isinstance(routes, list) else []
        if vs.routes:
            names = [r.get("name") if isinstance(r, dict) else None for r in routes]
            missing = [n for n in vs.routes if n not in names]
            if missing:
                raise RouterError(f"{where}: HTTP route '{missing[0]}' not found "
                                  f"(routes named there: {_names(names)})")
            return [names.index(n) for n in vs.routes]
        if not routes:
            return []
        unmanaged = [i for i, r in enumerate(routes) if r.get("name") not in managed]
        if len(unmanaged) != 1:
            raise RouterError(f"{where} has {len(unmanaged)} HTTP routes: name the one(s) "
                              "to weight in virtualService.routes")
        return unmanaged

    @staticmethod
    def _tls_indexes(vs: _VirtualServiceRef, routes: Any, where: str) -> list[int]:
        routes = routes if isinstance(routes, list) else []
        if not vs.tls_routes:
            return _only_route(routes, where, "TLS", "tlsRoutes")
        found: list[int] = []
        for wanted in vs.tls_routes:
            port = int(wanted.get("port") or 0)
            hosts = sorted({str(h) for h in wanted.get("sniHosts") or []})
            hits = [i for i, r in enumerate(routes)
                    if _match_port(r) == port and _sni_hosts(r) == hosts]
            if not hits:
                raise RouterError(f"{where}: no TLS route matches port {port} and "
                                  f"sniHosts {hosts}")
            found.extend(i for i in hits if i not in found)
        return found

    @staticmethod
    def _tcp_indexes(vs: _VirtualServiceRef, routes: Any, where: str) -> list[int]:
        routes = routes if isinstance(routes, list) else []
        if not vs.tcp_routes:
            return _only_route(routes, where, "TCP", "tcpRoutes")
        found: list[int] = []
        for wanted in vs.tcp_routes:
            port = int(wanted.get("port") or 0)
            hits = [i for i, r in enumerate(routes) if _match_port(r) == port]
            if not hits:
                raise RouterError(f"{where}: no TCP route matches port {port}")
            found.extend(i for i in hits if i not in found)
        return found

    def _weighted(
        self, route: dict[str, Any], weights: Weights, where: str, label: str
    ) -> list[dict[str, Any]]:
        """The route's destinations with the canary/stable/experiment weights, a missing
        experiment destination appended; any other destination dropped."""
        experiments = {service: weight for service, weight, _ in weights.additional}
        out: list[dict[str, Any]] = []
        seen = {"canary": False, "stable": False}
        for item in route.get("route") or []:
            destination = item.get("destination") or {}
            role = self._role(destination, experiments)
            if role is None:
                continue
            if role in seen:
                seen[role] = True
                weight = weights.canary_weight if role == "canary" else weights.stable_weight
            else:
                weight = experiments.pop(role)
            out.append({**item, "weight": weight})
        for role, present in seen.items():
            if not present:
                raise RouterError(f"{where}: {label} has no destination for the "
                                  f"{self._target(role)}")
        out.extend({"destination": {"host": service}, "weight": weight}
                   for service, weight in experiments.items())
        return out

    def _role(self, destination: dict[str, Any], experiments: Container[str]) -> str | None:
        """The destination's role: "canary", "stable", the experiment Service it names, or None."""
        rule = self._destination_rule
        host = _short_host(str(destination.get("host") or ""))
        if rule is not None:
            subset = destination.get("subset")
            if subset == rule.canary_subset:
                return "canary"
            if subset == rule.stable_subset:
                return "stable"
        elif host == self._canary_service:
            return "canary"
        elif host == self._stable_service:
            return "stable"
        return host if host in experiments else None

    def _target(self, role: str) -> str:
        rule = self._destination_rule
        if rule is not None:
            subset = rule.canary_subset if role == "canary" else rule.stable_subset
            return f"{role} subset '{subset}'"
        service = self._canary_service if role == "canary" else self._stable_service
        return f"{role} Service '{service}'"

    # -- DestinationRule ------------------------------------------------------------

    def _destination_rule_write(self, live: Live, weights: Weights) -> Write | None:
        rule = self._destination_rule
        assert rule is not None
        obj = live.get(rule.key)
        where = f"DestinationRule {rule.key.namespace}/{rule.key.name}"
        if obj is None:
            raise RouterError(f"{where} not found: create it before the rollout uses it")
        subsets = (obj.get("spec") or {}).get("subsets") or []
        wanted = {rule.canary_subset: weights.canary_hash,
                  rule.stable_subset: weights.stable_hash}
        names = [s.get("name") for s in subsets]
        for subset_name in wanted:
            if subset_name not in names:
                raise RouterError(f"{where} has no subset '{subset_name}' "
                                  f"(subsets there: {_names(names)})")
        new_subsets = copy.deepcopy(subsets)
        for subset in new_subsets:
            if subset.get("name") not in wanted:
                continue
            labels = dict(subset.get("labels") or {})
            value = wanted[subset["name"]]
            if value:
                labels[HASH_LABEL] = value
            else:
                labels.pop(HASH_LABEL, None)
            subset["labels"] = labels
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        manages = annotations.get(MANAGED_BY_ANNOTATION) == self._rollout_name
        if new_subsets == subsets and manages:
            return None
        patch = _list_patch(obj, {"subsets": new_subsets})
        if not manages:
            patch.setdefault("metadata", {})["annotations"] = {
                MANAGED_BY_ANNOTATION: self._rollout_name}
        return Write(_live_key(rule.key, obj), patch=patch,
                     reason=f"{where}: subsets {rule.canary_subset}={weights.canary_hash}, "
                            f"{rule.stable_subset}={weights.stable_hash}")


def _route_name(route: dict[str, Any], index: int) -> str:
    name = route.get("name")
    return f"'{name}'" if name else f"#{index}"


def _names(names: list[Any]) -> str:
    shown = [str(n) for n in names if n]
    return ", ".join(shown) if shown else "none"


def _only_route(routes: list[Any], where: str, kind: str, field: str) -> list[int]:
    if len(routes) > 1:
        raise RouterError(f"{where} has {len(routes)} {kind} routes: name the one(s) "
                          f"to weight in virtualService.{field}")
    return [0] if routes else []


def _match_port(route: dict[str, Any]) -> int | None:
    """The one port all match blocks name (0 for none); None when they name several."""
    ports = {int(m.get("port") or 0) for m in route.get("match") or []}
    if len(ports) > 1:
        return None
    return ports.pop() if ports else 0


def _sni_hosts(route: dict[str, Any]) -> list[str]:
    return sorted({str(h) for m in route.get("match") or [] for h in m.get("sniHosts") or []})


def _wanted_routes(state: TrafficState) -> dict[str, HeaderRoute | MirrorRoute]:
    """The header and mirror routes to carry, by name; one with no match is Argo's way
    of removing it. A name outside `managed_routes` is refused: nothing could remove it."""
    wanted: dict[str, HeaderRoute | MirrorRoute] = {}
    routes: list[HeaderRoute | MirrorRoute] = [*state.header_routes, *state.mirror_routes]
    for route in routes:
        if route.name not in state.managed_routes:
            raise RouterError(f"route '{route.name}' is not listed in "
                              "trafficRouting.managedRoutes: add it there")
        if route.match:
            wanted[route.name] = route
    return wanted


def _string_match(match: HeaderMatch, where: str, route: str) -> dict[str, str]:
    given = {kind: value for kind, value in (("exact", match.exact), ("prefix", match.prefix),
                                             ("regex", match.regex)) if value is not None}
    if len(given) != 1:
        raise RouterError(f"{where}: header route '{route}': header '{match.name}' needs "
                          "exactly one of exact, prefix or regex")
    return given


def _header_matches(route: HeaderRoute, where: str) -> list[dict[str, Any]]:
    return [{"headers": {m.name: _string_match(m, where, route.name)}} for m in route.match]


def _mirror_matches(route: MirrorRoute) -> list[dict[str, Any]]:
    """MirrorRoute entries as Istio match blocks (`path` is Istio's `uri`)."""
    out: list[dict[str, Any]] = []
    for entry in route.match:
        block: dict[str, Any] = {}
        for field, istio_field in (("method", "method"), ("path", "uri"), ("headers", "headers")):
            if entry.get(field):
                block[istio_field] = copy.deepcopy(entry[field])
        out.append(block)
    return out
