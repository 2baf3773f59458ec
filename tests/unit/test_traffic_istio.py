"""IstioRouter: VirtualService weights (host and subset split), DestinationRule hashes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollouts.traffic.base import ObjectKey, RouterError, Weights, Write
from rollouts.traffic.istio import HASH_LABEL, MANAGED_BY_ANNOTATION, IstioRouter


def rollout(istio: dict[str, Any], **canary: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": "apps"},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {"istio": istio}, **canary,
        }}},
    }


def vs_key(
    name: str = "shop-vsvc", namespace: str = "apps", version: str = "v1alpha3"
) -> ObjectKey:
    return ObjectKey("networking.istio.io", version, "virtualservices", "VirtualService",
                     namespace, name)


DR_KEY = ObjectKey("networking.istio.io", "v1alpha3", "destinationrules", "DestinationRule",
                   "apps", "shop-dr")


def dest(host: str, weight: int | None = None, subset: str | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host}
    if subset:
        destination["subset"] = subset
    item: dict[str, Any] = {"destination": destination}
    if weight is not None:
        item["weight"] = weight
    return item


def virtual_service(http: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hosts": ["shop"], **spec}
    if http is not None:
        body["http"] = http
    return {"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "shop-vsvc", "namespace": "apps", "resourceVersion": "7"},
            "spec": body}


def primary(stable: int = 100, canary: int = 0) -> dict[str, Any]:
    return {"name": "primary",
            "route": [dest("shop-stable", stable), dest("shop-canary", canary)]}


def weights(canary: int, canary_hash: str | None = None,
            stable_hash: str | None = None) -> Weights:
    return Weights(canary, "shop-canary", "shop-stable", canary_hash, stable_hash)


def apply(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch, as the API server applies it."""
    out = copy.deepcopy(obj)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def applied(live: dict[ObjectKey, dict[str, Any]], writes: list[Write]) -> dict[ObjectKey, Any]:
    out = dict(live)
    for write in writes:
        key = next(k for k in out if (k.plural, k.namespace, k.name)
                   == (write.key.plural, write.key.namespace, write.key.name))
        assert write.patch is not None
        out[key] = apply(out[key], write.patch)
    return out


HOST_SPLIT = {"virtualService": {"name": "shop-vsvc", "routes": ["primary"]}}


def test_host_split_sets_canary_and_stable_weights_on_the_named_route() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    live = {vs_key(): virtual_service([primary()])}

    [write] = router.set_weight(live, weights(20))

    assert write.key == vs_key()
    assert write.patch == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"http": [{"name": "primary", "route": [
            dest("shop-stable", 80), dest("shop-canary", 20)]}]},
    }


def test_second_call_on_the_patched_object_writes_nothing_and_verifies() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    live = {vs_key(): virtual_service([primary()])}

    patched = applied(live, router.set_weight(live, weights(30)))

    assert router.set_weight(patched, weights(30)) == []
    assert router.verify_weight(patched, weights(30))
    assert not router.verify_weight(live, weights(30))
    assert not router.verify_weight(patched, weights(40))


def test_fully_qualified_hosts_are_compared_by_their_short_name() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    route = {"name": "primary", "route": [
        dest("shop-stable.apps.svc.cluster.local", 100),
        dest("shop-canary.apps.svc.cluster.local", 0)]}
    live = {vs_key(): virtual_service([route])}

    [write] = router.set_weight(live, weights(50))

    assert write.patch is not None
    assert [d["weight"] for d in write.patch["spec"]["http"][0]["route"]] == [50, 50]
    assert write.patch["spec"]["http"][0]["route"][0]["destination"]["host"] == (
        "shop-stable.apps.svc.cluster.local")


def test_only_named_routes_change_and_other_routes_are_kept_as_they_are() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    other = {"name": "admin", "route": [dest("admin", 100)]}
    live = {vs_key(): virtual_service([other, primary()])}

    [write] = router.set_weight(live, weights(10))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0] == other
    assert write.patch["spec"]["http"][1]["route"][1]["weight"] == 10


def test_a_third_destination_in_a_managed_route_is_dropped_as_argo_does() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    route = {"name": "primary", "route": [
        dest("shop-stable", 90), dest("shop-canary", 0), dest("shop-experiment", 10)]}
    live = {vs_key(): virtual_service([route])}

    [write] = router.set_weight(live, weights(10))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0]["route"] == [
        dest("shop-stable", 90), dest("shop-canary", 10)]


def test_without_routes_the_single_http_route_is_used() -> None:
    router = IstioRouter(rollout({"virtualService": {"name": "shop-vsvc"}}))
    live = {vs_key(): virtual_service([{"route": primary()["route"]}])}

    [write] = router.set_weight(live, weights(5))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0]["route"][1]["weight"] == 5


def test_without_routes_several_http_routes_are_refused() -> None:
    router = IstioRouter(rollout({"virtualService": {"name": "shop-vsvc"}}))
    live = {vs_key(): virtual_service([primary(), {"name": "b", "route": [dest("x")]}])}

    with pytest.raises(RouterError, match=r"apps/shop-vsvc has 2 HTTP routes"):
        router.set_weight(live, weights(5))


def test_without_routes_routes_listed_in_managed_routes_are_not_counted() -> None:
    router = IstioRouter(rollout({"virtualService": {"name": "shop-vsvc"}},
                                 trafficRouting={
                                     "istio": {"virtualService": {"name": "shop-vsvc"}},
                                     "managedRoutes": [{"name": "header"}]}))
    header = {"name": "header", "route": [dest("shop-canary", 100)]}
    live = {vs_key(): virtual_service([header, primary()])}

    [write] = router.set_weight(live, weights(25))

    assert write.patch is not None
    assert write.patch["spec"]["http"][0] == header
    assert write.patch["spec"]["http"][1]["route"][1]["weight"] == 25


def test_a_missing_named_route_is_refused_naming_virtual_service_and_route() -> None:
    router = IstioRouter(rollout({"virtualService": {"name": "shop-vsvc",
                                                     "routes": ["primary", "secondary"]}}))
    live = {vs_key(): virtual_service([primary()])}

    with pytest.raises(RouterError) as caught:
        router.set_weight(live, weights(10))

    message = str(caught.value)
    assert "\n" not in message
    assert "VirtualService apps/shop-vsvc" in message and "'secondary'" in message


def test_a_route_without_the_canary_destination_is_refused() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    live = {vs_key(): virtual_service([{"name": "primary", "route": [dest("shop-stable", 100)]}])}

    with pytest.raises(RouterError, match=r"shop-vsvc: HTTP route 'primary' has no destination "
                                          r"for the canary Service 'shop-canary'"):
        router.set_weight(live, weights(10))
    assert not router.verify_weight(live, weights(10))


def test_a_missing_virtual_service_is_refused() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))

    with pytest.raises(RouterError, match=r"VirtualService apps/shop-vsvc not found"):
        router.set_weight({vs_key(): None}, weights(10))


def test_several_virtual_services_each_get_a_write_and_a_namespace_suffix_is_honoured() -> None:
    router = IstioRouter(rollout({"virtualServices": [
        {"name": "shop-vsvc", "routes": ["primary"]},
        {"name": "edge-vsvc.gateways", "routes": ["primary"]},
    ]}))
    edge = virtual_service([primary(80, 20)])
    edge["metadata"] = {"name": "edge-vsvc", "namespace": "gateways", "resourceVersion": "3"}
    live = {vs_key(): virtual_service([primary(80, 20)]),
            vs_key("edge-vsvc", "gateways"): edge}

    assert router.reads() == [vs_key(), vs_key("edge-vsvc", "gateways")]
    writes = router.set_weight(live, weights(40))

    assert [w.key for w in writes] == [vs_key(), vs_key("edge-vsvc", "gateways")]
    assert [w.patch["metadata"]["resourceVersion"] for w in writes if w.patch] == ["7", "3"]
    assert router.verify_weight(applied(live, writes), weights(40))


def test_an_up_to_date_virtual_service_among_several_gets_no_write() -> None:
    router = IstioRouter(rollout({"virtualServices": [
        {"name": "shop-vsvc", "routes": ["primary"]},
        {"name": "edge-vsvc", "routes": ["primary"]},
    ]}))
    live = {vs_key(): virtual_service([primary(60, 40)]),
            vs_key("edge-vsvc"): virtual_service([primary(100, 0)])}

    writes = router.set_weight(live, weights(40))

    assert [w.key.name for w in writes] == ["edge-vsvc"]


def test_the_write_uses_the_version_the_live_object_was_read_in() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))
    obj = virtual_service([primary()])
    obj["apiVersion"] = "networking.istio.io/v1beta1"

    [write] = router.set_weight({vs_key(): obj}, weights(10))

    assert write.key == vs_key(version="v1beta1")


def tls_route(port: int, *hosts: str, stable: int = 100, canary: int = 0) -> dict[str, Any]:
    return {"match": [{"port": port, "sniHosts": list(hosts)}],
            "route": [dest("shop-stable", stable), dest("shop-canary", canary)]}


def test_tls_routes_are_picked_by_port_and_sni_hosts() -> None:
    router = IstioRouter(rollout({"virtualService": {
        "name": "shop-vsvc",
        "tlsRoutes": [{"port": 443, "sniHosts": ["b.example.com", "a.example.com"]}]}}))
    other = tls_route(443, "c.example.com")
    live = {vs_key(): virtual_service(tls=[other, tls_route(443, "a.example.com",
                                                               "b.example.com")])}

    [write] = router.set_weight(live, weights(15))

    assert write.patch is not None
    assert set(write.patch["spec"]) == {"tls"}
    assert write.patch["spec"]["tls"][0] == other
    assert [d["weight"] for d in write.patch["spec"]["tls"][1]["route"]] == [85, 15]


def test_a_tls_route_spec_matching_nothing_is_refused() -> None:
    router = IstioRouter(rollout({"virtualService": {
        "name": "shop-vsvc", "tlsRoutes": [{"port": 8443, "sniHosts": ["a.example.com"]}]}}))
    live = {vs_key(): virtual_service(tls=[tls_route(443, "a.example.com")])}

    with pytest.raises(RouterError, match=r"no TLS route matches port 8443"):
        router.set_weight(live, weights(15))


def test_tcp_routes_are_picked_by_port() -> None:
    router = IstioRouter(rollout({"virtualService": {
        "name": "shop-vsvc", "tcpRoutes": [{"port": 5432}]}}))
    db = {"match": [{"port": 5432}], "route": [dest("shop-stable", 100), dest("shop-canary", 0)]}
    other = {"match": [{"port": 6379}], "route": [dest("cache", 100)]}
    live = {vs_key(): virtual_service(tcp=[other, db])}

    [write] = router.set_weight(live, weights(100))

    assert write.patch is not None
    assert write.patch["spec"]["tcp"][0] == other
    assert [d["weight"] for d in write.patch["spec"]["tcp"][1]["route"]] == [0, 100]


def test_http_and_tcp_routes_of_one_virtual_service_are_patched_together() -> None:
    router = IstioRouter(rollout({"virtualService": {
        "name": "shop-vsvc", "routes": ["primary"], "tcpRoutes": [{"port": 5432}]}}))
    db = {"match": [{"port": 5432}], "route": [dest("shop-stable", 100), dest("shop-canary", 0)]}
    live = {vs_key(): virtual_service([primary()], tcp=[db])}

    [write] = router.set_weight(live, weights(10))

    assert write.patch is not None
    assert set(write.patch["spec"]) == {"http", "tcp"}
    assert router.verify_weight(applied(live, [write]), weights(10))


SUBSET_SPLIT = {
    "virtualService": {"name": "shop-vsvc", "routes": ["primary"]},
    "destinationRule": {"name": "shop-dr", "canarySubsetName": "canary",
                        "stableSubsetName": "stable"},
}


def destination_rule(canary_hash: str | None = None, stable_hash: str | None = None,
                     annotated: bool = False) -> dict[str, Any]:
    def subset(name: str, value: str | None) -> dict[str, Any]:
        labels = {"app": "shop"} | ({HASH_LABEL: value} if value else {})
        return {"name": name, "labels": labels}

    metadata: dict[str, Any] = {"name": "shop-dr", "namespace": "apps", "resourceVersion": "11"}
    if annotated:
        metadata["annotations"] = {MANAGED_BY_ANNOTATION: "shop"}
    return {"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
            "metadata": metadata,
            "spec": {"host": "shop", "subsets": [
                subset("canary", canary_hash), subset("stable", stable_hash),
                {"name": "debug", "labels": {"debug": "true"}}]}}


def subset_route(stable: int = 100, canary: int = 0) -> dict[str, Any]:
    return {"name": "primary", "route": [
        dest("shop", stable, subset="stable"), dest("shop", canary, subset="canary")]}


def test_subset_split_labels_the_subsets_and_weights_routes_by_subset() -> None:
    router = IstioRouter(rollout(SUBSET_SPLIT))
    live = {vs_key(): virtual_service([subset_route()]), DR_KEY: destination_rule()}

    assert router.reads() == [vs_key(), DR_KEY]
    rule_write, vs_write = router.set_weight(live, weights(20, "c4n4ry", "st4bl3"))

    assert rule_write.key == DR_KEY
    assert rule_write.patch == {
        "metadata": {"resourceVersion": "11", "annotations": {MANAGED_BY_ANNOTATION: "shop"}},
        "spec": {"subsets": [
            {"name": "canary", "labels": {"app": "shop", HASH_LABEL: "c4n4ry"}},
            {"name": "stable", "labels": {"app": "shop", HASH_LABEL: "st4bl3"}},
            {"name": "debug", "labels": {"debug": "true"}}]},
    }
    assert vs_write.patch is not None
    assert vs_write.patch["spec"]["http"] == [subset_route(80, 20)]


def test_subset_split_is_idempotent_and_verified() -> None:
    router = IstioRouter(rollout(SUBSET_SPLIT))
    live = {vs_key(): virtual_service([subset_route()]), DR_KEY: destination_rule()}
    w = weights(20, "c4n4ry", "st4bl3")

    patched = applied(live, router.set_weight(live, w))

    assert router.set_weight(patched, w) == []
    assert router.verify_weight(patched, w)
    assert not router.verify_weight(patched, weights(20, "n3w", "st4bl3"))


def test_an_unknown_hash_removes_the_subset_label() -> None:
    router = IstioRouter(rollout(SUBSET_SPLIT))
    live = {vs_key(): virtual_service([subset_route(100, 0)]),
            DR_KEY: destination_rule("old", "st4bl3", annotated=True)}

    [rule_write] = router.set_weight(live, weights(0, None, "st4bl3"))

    assert rule_write.patch is not None
    assert rule_write.patch["spec"]["subsets"][0] == {"name": "canary", "labels": {"app": "shop"}}
    assert "annotations" not in rule_write.patch["metadata"]


def test_a_destination_rule_without_the_canary_subset_is_refused() -> None:
    router = IstioRouter(rollout(SUBSET_SPLIT))
    rule = destination_rule()
    rule["spec"]["subsets"] = rule["spec"]["subsets"][1:]
    live = {vs_key(): virtual_service([subset_route()]), DR_KEY: rule}

    with pytest.raises(RouterError, match=r"DestinationRule apps/shop-dr has no subset 'canary'"):
        router.set_weight(live, weights(10, "c", "s"))


def test_a_route_without_the_stable_subset_is_refused() -> None:
    router = IstioRouter(rollout(SUBSET_SPLIT))
    route = {"name": "primary", "route": [dest("shop", 100, subset="canary")]}
    live = {vs_key(): virtual_service([route]), DR_KEY: destination_rule("c", "s", True)}

    with pytest.raises(RouterError, match=r"route 'primary' has no destination for the stable "
                                          r"subset 'stable'"):
        router.set_weight(live, weights(10, "c", "s"))


def test_a_rollout_naming_no_virtual_service_is_refused() -> None:
    with pytest.raises(RouterError, match="names no virtualService"):
        IstioRouter(rollout({}))


def test_the_router_is_named_istio_and_carries_header_and_mirror_routes() -> None:
    router = IstioRouter(rollout(HOST_SPLIT))

    assert router.name == "istio"
    assert router.supports_header_routes and router.supports_mirror_routes
    assert router.remove_managed_routes({vs_key(): virtual_service([primary()])}) == []

