"""The SMI and NGINX routers' writes on a real API server: accepted as written, and read back
as carrying the weight.

No controller runs here: each test creates a Rollout (for its uid, the owner of what the
routers create), then plays the controller's part by hand: get what the router `reads()`,
create or merge-patch what `set_weight` answers, get it again and ask `verify_weight`.
A second `set_weight` on the server's copy must write nothing (no field the server adds
makes the router patch forever). The SMI CRD is the one in ../shared/compat/crds, which
serves `split.smi-spec.io/v1alpha4` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from rollouts.traffic import ObjectKey, RouterError, Weights, Write
from rollouts.traffic.base import TrafficState
from rollouts.traffic.nginx import NginxRouter
from rollouts.traffic.smi import SMIRouter

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat"
SMI_CRDS = COMPAT / "crds" / "smi-trafficsplit-crds.yaml"
NGINX_TEMPLATE = COMPAT / "argo-rollouts" / "e2e-functional-nginx-template.yaml"


@pytest.fixture(scope="module")
def smi_crd(cluster: TestCluster) -> None:
    if not SMI_CRDS.is_file():
        pytest.skip(f"{SMI_CRDS} not present")
    cluster.kubectl_run("apply", "--server-side", "--force-conflicts", "-f", str(SMI_CRDS))
    cluster.state.wait_for_crds(["trafficsplits.split.smi-spec.io"])


def _resource(key: ObjectKey) -> str:
    return f"{key.plural}.{key.version}.{key.group}" if key.group else key.plural


def _get(cluster: TestCluster, key: ObjectKey) -> dict[str, Any] | None:
    result = cluster.kubectl_run("get", _resource(key), key.name, "-n", str(key.namespace),
                                 "-o", "json", "--ignore-not-found")
    return json.loads(result.stdout) if result.stdout.strip() else None


def _live(cluster: TestCluster, keys: list[ObjectKey]) -> dict[ObjectKey, dict[str, Any] | None]:
    return {key: _get(cluster, key) for key in keys}


def _create(cluster: TestCluster, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    result = cluster.kubectl_run("create", "-n", namespace, "-o", "json", "-f", "-",
                                 input=json.dumps(manifest))
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def _execute(cluster: TestCluster, writes: list[Write]) -> None:
    for write in writes:
        namespace = str(write.key.namespace)
        if write.create is not None:
            _create(cluster, namespace, write.create)
        else:
            cluster.kubectl_run("patch", _resource(write.key), write.key.name, "-n", namespace,
                                "--type=merge", "-p", json.dumps(write.patch))


def _template(kind: str, name: str) -> dict[str, Any]:
    """The `kind` document of Argo's nginx e2e template, its placeholder replaced."""
    text = NGINX_TEMPLATE.read_text().replace("REPLACEME", name)
    (doc,) = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == kind]
    result: dict[str, Any] = doc
    return result


def _rollout(cluster: TestCluster, namespace: str, routing: dict[str, Any]) -> dict[str, Any]:
    rollout = _template("Rollout", "shop")
    rollout["spec"]["strategy"]["canary"]["trafficRouting"] = routing
    return _create(cluster, namespace, rollout)


def _weights(canary: int) -> Weights:
    return Weights(canary_weight=canary, canary_service="shop-canary", stable_service="shop-stable")


def _step(cluster: TestCluster, router: SMIRouter | NginxRouter, canary: int) -> None:
    """One controller pass: set the weight, check the server's copy carries it, and that a
    second pass on it writes nothing."""
    writes = router.set_weight(_live(cluster, router.reads()), _weights(canary))
    assert writes, f"expected writes for weight {canary}"
    _execute(cluster, writes)
    live = _live(cluster, router.reads())
    assert router.verify_weight(live, _weights(canary))
    assert router.set_weight(live, _weights(canary)) == []


@pytest.mark.usefixtures("smi_crd")
def test_smi_traffic_split_is_created_then_patched_and_read_back_with_the_weight(
    cluster: TestCluster, namespace: str
) -> None:
    rollout = _rollout(cluster, namespace, {"smi": {"trafficSplitName": "shop-split"}})
    router = SMIRouter(rollout, api_version="split.smi-spec.io/v1alpha4")
    (key,) = router.reads()

    _step(cluster, router, 0)
    _step(cluster, router, 20)
    _step(cluster, router, 100)

    split = _get(cluster, key)
    assert split is not None
    assert split["spec"] == {"service": "shop-stable", "backends": [
        {"service": "shop-canary", "weight": 100}, {"service": "shop-stable", "weight": 0}]}
    (owner,) = split["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Rollout", "shop", rollout["metadata"]["uid"], True)
    assert not router.verify_weight(_live(cluster, [key]), _weights(20))


@pytest.mark.usefixtures("smi_crd")
def test_smi_experiment_shares_are_backends_the_server_keeps(
    cluster: TestCluster, namespace: str
) -> None:
    rollout = _rollout(cluster, namespace, {"smi": {}})
    router = SMIRouter(rollout)
    (key,) = router.reads()
    shares = Weights(canary_weight=10, canary_service="shop-canary",
                     stable_service="shop-stable", additional=(("shop-exp", 15, "e1"),))

    for wanted in (shares, _weights(10)):  # the experiment starts, then ends
        _execute(cluster, router.sync(_live(cluster, [key]), TrafficState(wanted)))
        live = _live(cluster, [key])
        assert router.verify_weight(live, wanted)
        assert router.sync(live, TrafficState(wanted)) == []

    split = _get(cluster, key)
    assert split is not None
    assert [b["service"] for b in split["spec"]["backends"]] == ["shop-canary", "shop-stable"]


@pytest.mark.usefixtures("smi_crd")
def test_smi_traffic_split_of_another_owner_is_refused(
    cluster: TestCluster, namespace: str
) -> None:
    rollout = _rollout(cluster, namespace, {"smi": {}})
    router = SMIRouter(rollout)
    (key,) = router.reads()
    assert key.name == "shop"  # named after the Rollout by default
    _create(cluster, namespace, {
        "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
        "metadata": {"name": "shop"},
        "spec": {"service": "shop-stable", "backends": [
            {"service": "shop-stable", "weight": 100}]},
    })
    with pytest.raises(RouterError, match="does not own it"):
        router.set_weight(_live(cluster, [key]), _weights(20))


def test_nginx_canary_ingress_is_created_then_patched_and_read_back_with_the_weight(
    cluster: TestCluster, namespace: str
) -> None:
    stable = _template("Ingress", "shop")
    stable["spec"]["ingressClassName"] = "nginx"
    stable["spec"]["tls"] = [{"hosts": ["shop.example"], "secretName": "shop-tls"}]
    _create(cluster, namespace, stable)
    rollout = _rollout(cluster, namespace, {"nginx": {
        "stableIngress": "shop-ingress",
        "additionalIngressAnnotations": {"canary-by-header": "X-Canary"},
        "canaryIngressAnnotations": {"team.example/owner": "shop"},
    }})
    router = NginxRouter(rollout)
    stable_key, canary_key = router.reads()
    assert canary_key.name == "shop-shop-ingress-canary"

    _step(cluster, router, 0)
    _step(cluster, router, 40)

    canary = _get(cluster, canary_key)
    assert canary is not None
    assert canary["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "nginx",
        "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
        "team.example/owner": "shop",
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "40",
    }
    assert canary["spec"]["ingressClassName"] == "nginx"
    assert canary["spec"]["tls"] == stable["spec"]["tls"]
    backend = canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "shop-canary"
    (owner,) = canary["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Rollout", rollout["metadata"]["uid"], True)
    # the stable Ingress is only read
    after = _get(cluster, stable_key)
    assert after is not None
    assert after["spec"]["rules"] == stable["spec"]["rules"]


def test_nginx_missing_stable_ingress_is_refused_by_name(
    cluster: TestCluster, namespace: str
) -> None:
    rollout = _rollout(cluster, namespace, {"nginx": {"stableIngress": "nowhere"}})
    router = NginxRouter(rollout)
    with pytest.raises(RouterError, match="stable Ingress `nowhere` not found"):
        router.set_weight(_live(cluster, router.reads()), _weights(20))
