"""The Istio and Gateway API routers' writes, accepted by a real API server.

The Istio CRDs and the Gateway API HTTPRoute CRD of ../shared/compat/crds are
installed; the VirtualService of Argo's e2e file `istio-host-split.yaml` and an
HTTPRoute are created; each router's writes are sent as JSON merge patches (what the
executor will send), read back, and `verify_weight` must hold on what the server
returns. A patch carrying a stale resourceVersion must be refused with a conflict.
Header routes (Istio, Gateway API) and a mirror route (Istio) are added by `sync`, read
back, must need no further write, and are removed again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from rollouts.traffic.base import (
    HeaderMatch,
    HeaderRoute,
    MirrorRoute,
    ObjectKey,
    TrafficState,
    Weights,
    Write,
)
from rollouts.traffic.gatewayapi import (
    MANAGED_ROUTES_ANNOTATION,
    PLUGIN_NAME,
    GatewayAPIRouter,
)
from rollouts.traffic.istio import HASH_LABEL, IstioRouter

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat"
CRDS = [COMPAT / "crds" / "istio-crds.yaml",
        COMPAT / "crds" / "gateway.networking.k8s.io_httproutes.yaml"]
HOST_SPLIT = COMPAT / "argo-rollouts" / "e2e-istio-istio-host-split.yaml"


def _crd_names(path: Path) -> list[str]:
    return [doc["metadata"]["name"] for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"]


@pytest.fixture(scope="module")
def router_crds(cluster: TestCluster) -> None:
    if not all(path.is_file() for path in CRDS):
        pytest.skip("compat Istio / Gateway API CRDs not present")
    args = ["apply", "--server-side", "--force-conflicts"]
    for path in CRDS:
        args += ["-f", str(path)]
    cluster.kubectl_run(*args)
    cluster.state.wait_for_crds([n for p in CRDS for n in _crd_names(p)], timeout=120)


def _resource(key: ObjectKey) -> str:
    return f"{key.plural}.{key.version}.{key.group}"


def _get(cluster: TestCluster, key: ObjectKey) -> dict[str, Any]:
    out = cluster.kubectl_run("get", _resource(key), key.name, "-n", str(key.namespace),
                              "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def _send(cluster: TestCluster, write: Write, check: bool = True) -> str:
    assert write.patch is not None and write.create is None
    result = cluster.kubectl_run("patch", _resource(write.key), write.key.name,
                                 "-n", str(write.key.namespace), "--type=merge",
                                 "-p", json.dumps(write.patch), check=check)
    return result.stderr


def _create(cluster: TestCluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl_run("create", "-n", namespace, "-f", "-", input=json.dumps(obj))


def _compat_docs(namespace: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(HOST_SPLIT.read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return {doc["kind"]: doc for doc in docs}


def test_istio_router_writes_are_accepted_and_verified(
    cluster: TestCluster, namespace: str, router_crds: None
) -> None:
    docs = _compat_docs(namespace)
    _create(cluster, namespace, docs["VirtualService"])
    router = IstioRouter(docs["Rollout"])
    [key] = router.reads()
    canary = docs["Rollout"]["spec"]["strategy"]["canary"]

    for weight in (10, 55, 100, 0):
        wanted = Weights(weight, canary["canaryService"], canary["stableService"])
        live = {key: _get(cluster, key)}
        writes = router.set_weight(live, wanted)
        assert len(writes) == 1
        for write in writes:
            _send(cluster, write)
        again = {key: _get(cluster, key)}
        assert router.verify_weight(again, wanted), again[key]["spec"]
        assert router.set_weight(again, wanted) == []
        weights = [d.get("weight") for d in again[key]["spec"]["http"][0]["route"]]
        assert weights == [100 - weight, weight]

    # A write computed from a stale read must be refused, not lost.
    stale = {key: _get(cluster, key)}
    _send(cluster, router.set_weight(stale, Weights(20, canary["canaryService"],
                                                    canary["stableService"]))[0])
    [late] = router.set_weight(stale, Weights(30, canary["canaryService"],
                                              canary["stableService"]))
    assert "conflict" in _send(cluster, late, check=False).lower()


def test_istio_subset_split_writes_are_accepted_and_verified(
    cluster: TestCluster, namespace: str, router_crds: None
) -> None:
    rollout = {
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {"istio": {
                "virtualService": {"name": "shop-vsvc", "routes": ["primary"]},
                "destinationRule": {"name": "shop-dr", "canarySubsetName": "canary",
                                    "stableSubsetName": "stable"}}}}}},
    }
    _create(cluster, namespace, {
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
        "metadata": {"name": "shop-dr"},
        "spec": {"host": "shop", "subsets": [{"name": "canary", "labels": {"app": "shop"}},
                                             {"name": "stable", "labels": {"app": "shop"}}]}})
    _create(cluster, namespace, {
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
        "metadata": {"name": "shop-vsvc"},
        "spec": {"hosts": ["shop"], "http": [{"name": "primary", "route": [
            {"destination": {"host": "shop", "subset": "stable"}, "weight": 100},
            {"destination": {"host": "shop", "subset": "canary"}, "weight": 0}]}]}})
    router = IstioRouter(rollout)
    wanted = Weights(25, "shop-canary", "shop-stable", "c4n4ry", "st4bl3")

    live = {key: _get(cluster, key) for key in router.reads()}
    writes = router.set_weight(live, wanted)
    assert [w.key.kind for w in writes] == ["DestinationRule", "VirtualService"]
    for write in writes:
        _send(cluster, write)

    again = {key: _get(cluster, key) for key in router.reads()}
    assert router.verify_weight(again, wanted)
    rule = next(obj for obj in again.values() if obj["kind"] == "DestinationRule")
    assert [s["labels"][HASH_LABEL] for s in rule["spec"]["subsets"]] == ["c4n4ry", "st4bl3"]


def test_gateway_api_router_writes_are_accepted_and_verified(
    cluster: TestCluster, namespace: str, router_crds: None
) -> None:
    rollout = {
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {"plugins": {PLUGIN_NAME: {"httpRoute": "shop-route"}}}}}},
    }
    _create(cluster, namespace, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop-route"},
        "spec": {
            "parentRefs": [{"name": "shop-gateway"}],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "shop-stable", "port": 80},
                                 {"name": "shop-canary", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                 "backendRefs": [{"name": "docs", "port": 80}]},
            ],
        },
    })
    router = GatewayAPIRouter(rollout)
    [key] = router.reads()

    for weight in (5, 50, 100, 0):
        wanted = Weights(weight, "shop-canary", "shop-stable")
        live = {key: _get(cluster, key)}
        writes = router.set_weight(live, wanted)
        assert len(writes) == 1
        _send(cluster, writes[0])
        again = {key: _get(cluster, key)}
        assert router.verify_weight(again, wanted), again[key]["spec"]
        assert router.set_weight(again, wanted) == []
        rules = again[key]["spec"]["rules"]
        assert [r["weight"] for r in rules[0]["backendRefs"]] == [100 - weight, weight]
        assert rules[1]["backendRefs"][0]["name"] == "docs"


def _sync_until_settled(
    cluster: TestCluster, router: IstioRouter | GatewayAPIRouter, state: TrafficState
) -> dict[ObjectKey, dict[str, Any]]:
    """One controller pass (sync, send), then the server's copy must need no write."""
    live = {key: _get(cluster, key) for key in router.reads()}
    writes = router.sync(live, state)
    assert writes, "expected writes"
    assert len({(w.key.plural, w.key.name) for w in writes}) == len(writes)
    for write in writes:
        _send(cluster, write)
    again = {key: _get(cluster, key) for key in router.reads()}
    assert router.sync(again, state) == [], [obj.get("spec") for obj in again.values()]
    return again


def test_istio_header_and_mirror_routes_are_accepted_and_settle(
    cluster: TestCluster, namespace: str, router_crds: None
) -> None:
    rollout = {
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {
                "istio": {"virtualService": {"name": "shop-vsvc", "routes": ["primary"]}},
                "managedRoutes": [{"name": "set-header-1"}, {"name": "mirror-1"}]}}}},
    }
    _create(cluster, namespace, {
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
        "metadata": {"name": "shop-vsvc"},
        "spec": {"hosts": ["shop"], "http": [
            {"name": "docs", "match": [{"uri": {"prefix": "/docs"}}],
             "route": [{"destination": {"host": "docs"}}]},
            {"name": "primary", "route": [
                {"destination": {"host": "shop-stable", "port": {"number": 80}}, "weight": 100},
                {"destination": {"host": "shop-canary", "port": {"number": 80}}, "weight": 0}]},
        ]}})
    router = IstioRouter(rollout)
    [key] = router.reads()
    managed = ("set-header-1", "mirror-1")
    header = HeaderRoute("set-header-1", (HeaderMatch("x-canary", exact="yes"),
                                          HeaderMatch("x-beta", prefix="on")))
    mirror = MirrorRoute("mirror-1", ({"method": {"exact": "GET"},
                                       "path": {"prefix": "/api"}},), percentage=25)
    weights = Weights(20, "shop-canary", "shop-stable")

    live = _sync_until_settled(cluster, router, TrafficState(
        weights, header_routes=(header,), mirror_routes=(mirror,), managed_routes=managed))
    http = live[key]["spec"]["http"]
    assert [r["name"] for r in http] == ["set-header-1", "mirror-1", "docs", "primary"]
    assert http[0]["route"] == [{"destination": {"host": "shop-canary", "port": {"number": 80}},
                                 "weight": 100}]
    assert http[1]["mirror"] == {"host": "shop-canary", "port": {"number": 80}}
    assert [d["weight"] for d in http[1]["route"]] == [80, 20]

    # the mirror step is over, the weight moves: one write does both
    live = _sync_until_settled(cluster, router, TrafficState(
        Weights(50, "shop-canary", "shop-stable"), header_routes=(header,),
        managed_routes=managed))
    assert [r["name"] for r in live[key]["spec"]["http"]] == ["set-header-1", "docs", "primary"]

    [write] = router.remove_managed_routes(live)
    _send(cluster, write)
    assert [r["name"] for r in _get(cluster, key)["spec"]["http"]] == ["docs", "primary"]


def test_gateway_api_header_route_is_accepted_and_settles(
    cluster: TestCluster, namespace: str, router_crds: None
) -> None:
    rollout = {
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": "shop-canary", "stableService": "shop-stable",
            "trafficRouting": {
                "plugins": {PLUGIN_NAME: {"httpRoute": "shop-route"}},
                "managedRoutes": [{"name": "set-header-1"}]}}}},
    }
    _create(cluster, namespace, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop-route"},
        "spec": {
            "parentRefs": [{"name": "shop-gateway"}],
            "rules": [
                # no matches: the server fills in the default PathPrefix "/"
                {"backendRefs": [{"name": "shop-stable", "port": 80},
                                 {"name": "shop-canary", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                 "backendRefs": [{"name": "docs", "port": 80}]},
            ],
        },
    })
    router = GatewayAPIRouter(rollout)
    [key] = router.reads()
    header = HeaderRoute("set-header-1", (HeaderMatch("X-Canary", exact="yes"),
                                          HeaderMatch("X-Beta", prefix="v1.")))
    state = TrafficState(Weights(10, "shop-canary", "shop-stable"), header_routes=(header,),
                         managed_routes=("set-header-1",))

    live = _sync_until_settled(cluster, router, state)
    rules = live[key]["spec"]["rules"]
    assert len(rules) == 3
    assert rules[2]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [
        {"type": "Exact", "name": "X-Canary", "value": "yes"},
        {"type": "RegularExpression", "name": "X-Beta", "value": r"^v1\..*"}]}]
    assert [b["name"] for b in rules[2]["backendRefs"]] == ["shop-canary"]
    assert MANAGED_ROUTES_ANNOTATION in live[key]["metadata"]["annotations"]

    # set_weight moves the weight and keeps the header rule
    [write] = router.set_weight(live, Weights(60, "shop-canary", "shop-stable"))
    _send(cluster, write)
    rules = _get(cluster, key)["spec"]["rules"]
    assert len(rules) == 3 and [b["weight"] for b in rules[0]["backendRefs"]] == [40, 60]

    # the header route is no longer in force: its rule and record go
    live = _sync_until_settled(cluster, router, TrafficState(
        Weights(60, "shop-canary", "shop-stable"), managed_routes=("set-header-1",)))
    assert len(live[key]["spec"]["rules"]) == 2
    assert MANAGED_ROUTES_ANNOTATION not in (live[key]["metadata"].get("annotations") or {})
