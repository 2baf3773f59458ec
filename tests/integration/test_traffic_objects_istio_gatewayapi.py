"""The Istio and Gateway API routers' writes, accepted by a real API server.

The Istio CRDs and the Gateway API HTTPRoute CRD of ../shared/compat/crds are
installed; the VirtualService of Argo's e2e file `istio-host-split.yaml` and an
HTTPRoute are created; each router's writes are sent as JSON merge patches (what the
executor will send), read back, and `verify_weight` must hold on what the server
returns. A patch carrying a stale resourceVersion must be refused with a conflict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from rollouts.traffic.base import ObjectKey, Weights, Write
from rollouts.traffic.gatewayapi import PLUGIN_NAME, GatewayAPIRouter
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
