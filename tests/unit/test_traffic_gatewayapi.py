"""GatewayAPIRouter: backendRef weights in HTTP/GRPC/TCP routes, as the plugin sets them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollouts.traffic.base import ObjectKey, RouterError, Weights, Write
from rollouts.traffic.gatewayapi import PLUGIN_NAME, GatewayAPIRouter


def rollout(config: dict[str, Any], namespace: str = "apps") -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {"plugins": {PLUGIN_NAME: config}},
        }}},
    }


def key(name: str = "shop-route", kind: str = "HTTPRoute", namespace: str = "apps") -> ObjectKey:
    version = "v1alpha2" if kind == "TCPRoute" else "v1"
    return ObjectKey("gateway.networking.k8s.io", version, kind.lower() + "s", kind,
                     namespace, name)


def ref(name: str, weight: int | None = None, port: int = 80) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "port": port}
    if weight is not None:
        out["weight"] = weight
    return out


def route(*rules: list[dict[str, Any]], name: str = "shop-route",
          kind: str = "HTTPRoute") -> dict[str, Any]:
    version = "v1alpha2" if kind == "TCPRoute" else "v1"
    return {"apiVersion": f"gateway.networking.k8s.io/{version}", "kind": kind,
            "metadata": {"name": name, "namespace": "apps", "resourceVersion": "5"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"backendRefs": refs} for refs in rules]}}


def split(stable: int = 100, canary: int = 0) -> list[dict[str, Any]]:
    return [ref("shop-stable", stable), ref("shop-canary", canary)]


def weights(canary: int) -> Weights:
    return Weights(canary, "shop-canary", "shop-stable")


def apply(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch, as the API server applies it."""
    out = copy.deepcopy(obj)
    for k, value in patch.items():
        if value is None:
            out.pop(k, None)
        elif isinstance(value, dict) and isinstance(out.get(k), dict):
            out[k] = apply(out[k], value)
        else:
            out[k] = copy.deepcopy(value)
    return out


def applied(live: dict[ObjectKey, dict[str, Any]], writes: list[Write]) -> dict[ObjectKey, Any]:
    out = dict(live)
    for write in writes:
        assert write.patch is not None
        out[write.key] = apply(out[write.key], write.patch)
    return out


def test_http_route_gets_stable_and_canary_weights() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): route(split())}

    [write] = router.set_weight(live, weights(30))

    assert write.key == key()
    assert write.patch == {"metadata": {"resourceVersion": "5"},
                           "spec": {"rules": [{"backendRefs": split(70, 30)}]}}


def test_second_call_on_the_patched_route_writes_nothing_and_verifies() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): route(split())}

    patched = applied(live, router.set_weight(live, weights(30)))

    assert router.set_weight(patched, weights(30)) == []
    assert router.verify_weight(patched, weights(30))
    assert not router.verify_weight(live, weights(30))
    assert not router.verify_weight(patched, weights(31))


def test_every_rule_naming_the_services_is_weighted_and_rules_naming_neither_are_kept() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    other = [ref("docs", 1)]
    stable_only = [ref("shop-stable", 1)]
    live = {key(): route(split(), other, stable_only, split(90, 10))}

    [write] = router.set_weight(live, weights(25))

    assert write.patch is not None
    assert write.patch["spec"]["rules"] == [
        {"backendRefs": split(75, 25)}, {"backendRefs": other},
        {"backendRefs": [ref("shop-stable", 75)]}, {"backendRefs": split(75, 25)}]


def test_a_missing_weight_counts_as_the_api_default_of_one() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): route([ref("shop-stable"), ref("shop-canary", 99)])}

    assert router.set_weight(live, weights(99)) == []
    assert router.verify_weight(live, weights(99))
    assert router.set_weight(live, weights(50)) != []


def test_a_route_where_no_rule_references_both_services_is_refused() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))
    live = {key(): route([ref("shop-stable", 100)], [ref("shop-canary", 0)])}

    with pytest.raises(RouterError) as caught:
        router.set_weight(live, weights(10))

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("HTTPRoute apps/shop-route: no rule has backendRefs to both")
    assert not router.verify_weight(live, weights(10))


def test_a_missing_route_is_refused() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))

    with pytest.raises(RouterError, match=r"HTTPRoute apps/shop-route not found"):
        router.set_weight({key(): None}, weights(10))


def test_several_routes_of_each_kind_are_read_and_written() -> None:
    router = GatewayAPIRouter(rollout({
        "httpRoutes": [{"name": "web", "useHeaderRoutes": True}, {"name": "api"}],
        "httpRoute": "shop-route",
        "grpcRoute": "rpc",
        "tcpRoutes": [{"name": "db"}],
    }))
    keys = [key("web"), key("api"), key("shop-route"), key("rpc", "GRPCRoute"),
            key("db", "TCPRoute")]

    assert router.reads() == keys
    assert [r.use_header_routes for r in router.routes] == [True, False, True, True, False]

    live = {k: route(split(), name=k.name, kind=k.kind) for k in keys}
    live[key("api")] = route(split(80, 20), name="api")
    writes = router.set_weight(live, weights(20))

    assert [w.key for w in writes] == [k for k in keys if k != key("api")]
    assert router.verify_weight(applied(live, writes), weights(20))


def test_namespace_setting_overrides_the_rollouts_namespace() -> None:
    assert GatewayAPIRouter(rollout({"httpRoute": "r"})).reads() == [key("r")]
    assert GatewayAPIRouter(rollout({"httpRoute": "r", "namespace": "edge"})).reads() == [
        key("r", namespace="edge")]


def test_a_route_named_twice_is_read_once() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "r", "httpRoutes": [{"name": "r"}]}))

    assert router.reads() == [key("r")]


def test_settings_naming_no_route_are_refused() -> None:
    with pytest.raises(RouterError, match="names no route"):
        GatewayAPIRouter(rollout({"namespace": "apps"}))


def test_the_router_is_named_gateway_api_and_without_header_rules_removes_nothing() -> None:
    router = GatewayAPIRouter(rollout({"httpRoute": "shop-route"}))

    assert router.name == "gatewayAPI"
    assert router.remove_managed_routes({key(): route(split())}) == []
