"""Real HTTP requests through a real data plane, split by our Gateway API router.

kwok's pods answer HTTP on their own IPs (`rollouts.devcluster.podnet`), the
controller-manager lists them in EndpointSlices, and Traefik (built by `make traefik`,
run outside the cluster with its Kubernetes Gateway API provider) routes requests
to them by the HTTPRoute's backendRef weights. So a weight is measured as the share of
real answers that come from the canary's pods:

- the router alone: `GatewayAPIRouter.set_weight` writes sent through our client;
- a Rollout with `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`, moved step by
  step by the controller and `rollouts promote`;
- an analysis step whose Prometheus query reads Traefik's own request counters passes
  a healthy canary and fails one whose pods answer 500 (the Rollout aborts and the
  weight, measured again, is back on the stable).

Marked `real_traffic` (and `integration`): `pytest -m real_traffic` selects it.
Skipped, saying why, without the Traefik binary or without root.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollouts.kube import KubeClient
from rollouts.traffic import GatewayAPIRouter, Weights
from rollouts.traffic.gatewayapi import PLUGIN_NAME
from tests.conftest import TestCluster
from tests.integration.exporter import query_prometheus
from tests.integration.support import (
    get,
    rollouts_cli,
    running_controller,
    wait_for,
    wait_phase,
)
from tests.integration.traffic_support import (
    Tally,
    Traefik,
    apply,
    deployment,
    gateway,
    http_route,
    install_gateway_crds,
    pod_network,
    ready_endpoints,
    require_real_traffic,
    running_traefik,
    send,
    service,
)

pytestmark = [pytest.mark.integration, pytest.mark.real_traffic]

REQUESTS = 2000
TOLERANCE = 3.0  # percentage points


@pytest.fixture(scope="module")
def traffic_namespace(cluster: TestCluster) -> Iterator[str]:
    name = f"rt-{uuid.uuid4().hex[:10]}"
    cluster.kubectl_run("create", "namespace", name)
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def traefik(cluster: TestCluster, traffic_namespace: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traefik]:
    binary = require_real_traffic()
    install_gateway_crds(cluster)
    logs = tmp_path_factory.mktemp("real-traffic")
    with pod_network(cluster, logs / "podnet.log"), \
            running_traefik(binary, cluster, traffic_namespace, logs / "traefik.log") as proxy:
        apply(cluster, *gateway(traffic_namespace, proxy.web_port))
        print(f"\n[real traffic] Traefik answering /ping {proxy.started_seconds:.2f}s "
              f"after start; logs in {logs}")
        yield proxy


def _route_kind(client: KubeClient) -> Any:
    return client.discover_kind("gateway.networking.k8s.io/v1", "HTTPRoute")


def _set_weight(client: KubeClient, router: GatewayAPIRouter, namespace: str,
                wanted: Weights) -> None:
    """What the canary controller will do once routers are wired: read the route,
    let the router decide its writes, send them as merge patches."""
    kind = _route_kind(client)
    live = {key: client.get(kind, namespace, key.name) for key in router.reads()}
    for write in router.set_weight(live, wanted):
        assert write.patch is not None
        client.patch(kind, namespace, write.key.name, write.patch)


def _router(namespace: str, route: str, canary: str, stable: str) -> GatewayAPIRouter:
    return GatewayAPIRouter({
        "metadata": {"name": route, "namespace": namespace},
        "spec": {"strategy": {"canary": {
            "canaryService": canary, "stableService": stable,
            "trafficRouting": {"plugins": {PLUGIN_NAME: {"httpRoute": route}}}}}},
    })


def _report(source: str, weight: int, tally: Tally, canary: str) -> None:
    print(f"[real traffic] {source} weight {weight}%: {tally.versions[canary]}/{tally.total} "
          f"answers from the canary = {tally.share(canary):.1f}% "
          f"({tally.total / max(tally.seconds, 1e-9):.0f} req/s, statuses "
          f"{dict(tally.statuses)})")


# --- the split -------------------------------------------------------------------------

def test_the_canary_share_of_real_requests_follows_the_httproute_weight(
    cluster: TestCluster, traffic_namespace: str, traefik: Traefik
) -> None:
    ns = traffic_namespace
    apply(cluster,
          deployment(ns, "shop-stable", {"app": "shop", "version": "v1"}),
          deployment(ns, "shop-canary", {"app": "shop", "version": "v2"}),
          service(ns, "shop-stable", {"app": "shop", "version": "v1"}),
          service(ns, "shop-canary", {"app": "shop", "version": "v2"}),
          http_route(ns, "shop-route", "shop-stable", "shop-canary"))
    wait_for(lambda: [ready_endpoints(cluster, ns, f"shop-{track}")
                      for track in ("stable", "canary")] == [2, 2], 60,
             "two ready endpoints behind each Service")
    traefik.wait_weights({"shop-stable": 100, "shop-canary": 0})
    traefik.wait_servers({"shop-stable": 2, "shop-canary": 2})
    # Traefik learns the endpoints from the API server and the pod responder learns the
    # pods (and opens a port's listener) from its own watch: wait for the slower one.
    wait_for(lambda: send(traefik.url, 1, "shop-route.test").versions == {"v1": 1}, 30,
             "a stable pod answering through Traefik")
    first = send(traefik.url, 50, "shop-route.test")
    assert first.versions == {"v1": 50}, first.errors

    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    router = _router(ns, "shop-route", "shop-canary", "shop-stable")
    for weight in (20, 50):
        _set_weight(client, router, ns, Weights(weight, "shop-canary", "shop-stable"))
        traefik.wait_weights({"shop-stable": 100 - weight, "shop-canary": weight})
        tally = send(traefik.url, REQUESTS, "shop-route.test")
        _report("router", weight, tally, "v2")
        assert tally.statuses == {200: REQUESTS}
        assert set(tally.versions) == {"v1", "v2"}
        assert abs(tally.share("v2") - weight) <= TOLERANCE, tally


def test_a_rollout_moves_real_traffic_step_by_step(
    cluster: TestCluster, traffic_namespace: str, traefik: Traefik, tmp_path: Path
) -> None:
    ns, host = traffic_namespace, "steps-route.test"
    _deploy(cluster, ns, "steps", [{"setWeight": 20}, {"pause": {}},
                                   {"setWeight": 50}, {"pause": {}}])
    with running_controller(cluster, ns, tmp_path):
        old = wait_phase(cluster, ns, "steps", "Healthy", timeout=90)["stableRS"]
        traefik.wait_weights({"steps-stable": 100, "steps-canary": 0})
        traefik.wait_servers({"steps-stable": 2})
        wait_for(lambda: send(traefik.url, 1, host).versions == {old: 1}, 30,
                 "a stable pod answering through Traefik")
        assert send(traefik.url, 50, host).versions == {old: 50}
        _update(cluster, ns, "steps", {})
        for step, weight in ((1, 20), (3, 50)):
            new = wait_phase(cluster, ns, "steps", "Paused", timeout=90,
                             step=step)["currentPodHash"]
            traefik.wait_weights({"steps-stable": 100 - weight, "steps-canary": weight})
            tally = send(traefik.url, REQUESTS, host)
            _report("rollout", weight, tally, new)
            assert tally.statuses == {200: REQUESTS}, tally.errors
            assert set(tally.versions) == {old, new}
            assert abs(tally.share(new) - weight) <= TOLERANCE, tally
            assert rollouts_cli(cluster, "promote", "steps", "-n", ns).returncode == 0
        wait_phase(cluster, ns, "steps", "Healthy", timeout=90)
        traefik.wait_weights({"steps-stable": 100, "steps-canary": 0})
        # The stable Service now selects the new pods; Traefik follows its EndpointSlice.
        wait_for(lambda: send(traefik.url, 20, host).versions == {new: 20}, 30,
                 "every answer from the new stable")
        assert send(traefik.url, 50, host).versions == {new: 50}


# --- a step gated by Traefik's own counters ---------------------------------------------

class Load:
    """Requests through Traefik in the background while a step runs; bounded by
    `limit` requests and `seconds`, stops by itself."""

    def __init__(self, url: str, host: str, seconds: float = 150, limit: int = 30000) -> None:
        self.url, self.host, self.seconds, self.limit = url, host, seconds, limit
        self.stop = threading.Event()
        self.tally = Tally()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while (not self.stop.is_set() and time.monotonic() < deadline
               and self.tally.total < self.limit):
            batch = send(self.url, 20, self.host)
            self.tally.versions.update(batch.versions)
            self.tally.statuses.update(batch.statuses)
            self.tally.errors.update(batch.errors)
            self.stop.wait(0.05)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _error_ratio_template(namespace: str, address: str) -> dict[str, Any]:
    # Traefik names a Gateway backend `<namespace>-<service>-<port>@kubernetesgateway`.
    selector = f'service=~"{namespace}-{{{{args.service}}}}-.*"'
    query = (f'(sum(rate(traefik_service_requests_total{{{selector},code=~"5.."}}[5s]))'
             f' or vector(0)) / sum(rate(traefik_service_requests_total{{{selector}}}[5s]))')
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "error-ratio", "namespace": namespace},
        "spec": {"args": [{"name": "service"}],
                 "metrics": [{"name": "error-ratio", "initialDelay": "8s", "interval": "2s",
                              "count": 3, "successCondition": "result[0] < 0.05",
                              "failureCondition": "result[0] >= 0.05",
                              "provider": {"prometheus": {"address": address,
                                                          "query": query}}}]},
    }


def _rollout(namespace: str, name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A Rollout whose canary weight goes through the Gateway API plugin's HTTPRoute."""
    labels = {"app": name}
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "app:1",
                                                  "ports": [{"containerPort": 8080}]}]}},
            "strategy": {"canary": {
                "canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                "trafficRouting": {"plugins": {PLUGIN_NAME: {"httpRoute": f"{name}-route"}}},
                "steps": steps}},
        },
    }


def _deploy(cluster: TestCluster, namespace: str, name: str,
            steps: list[dict[str, Any]]) -> None:
    apply(cluster,
          service(namespace, f"{name}-stable", {"app": name}),
          service(namespace, f"{name}-canary", {"app": name}),
          http_route(namespace, f"{name}-route", f"{name}-stable", f"{name}-canary"),
          _rollout(namespace, name, steps))


def _update(cluster: TestCluster, namespace: str, name: str,
            annotations: dict[str, str]) -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {
        **annotations, "rollouts.dev/revision": "2"}}}}}
    cluster.kubectl_run("patch", "rollout", name, "-n", namespace, "--type=merge",
                        "-p", json.dumps(patch))


def _gated_rollout(cluster: TestCluster, namespace: str, traefik: Traefik, tmp: Path,
                   name: str, canary_annotations: dict[str, str]) -> tuple[str, Tally]:
    """Deploy `name` (setWeight 50, then the error-ratio analysis), update it to a
    canary carrying `canary_annotations` under a steady load, and return the rollout's
    final phase and what the load saw. The controller moves the weight itself."""
    apply(cluster, _error_ratio_template(namespace, cluster.prometheus_url))
    _deploy(cluster, namespace, name, [
        {"setWeight": 50},
        {"analysis": {"templates": [{"templateName": "error-ratio"}],
                      "args": [{"name": "service", "value": f"{name}-canary"}]}}])
    with running_controller(cluster, namespace, tmp):
        stable = wait_phase(cluster, namespace, name, "Healthy", timeout=90)["stableRS"]
        # Ready pods reach Traefik through the EndpointSlice a moment later.
        traefik.wait_servers({f"{name}-stable": 2})
        with Load(traefik.url, f"{name}-route.test") as load:
            _update(cluster, namespace, name, canary_annotations)
            wait_for(lambda: _finished(cluster, namespace, name, stable), 120,
                     f"rollout {name} to finish its analysis step")
        status = get(cluster, namespace, "rollout", name)["status"]
    return str(status.get("phase")), load.tally


def _finished(cluster: TestCluster, namespace: str, name: str, stable: str) -> bool:
    status = get(cluster, namespace, "rollout", name).get("status") or {}
    return (status.get("phase") == "Degraded"
            or (status.get("phase") == "Healthy" and status.get("stableRS") != stable))


def _analysis_run(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl_run("get", "analysisruns", "-n", namespace, "-o", "json").stdout
    runs = [run for run in json.loads(out)["items"]
            if any(ref.get("name") == name
                   for ref in run["metadata"].get("ownerReferences") or [])]
    assert len(runs) == 1, [run["metadata"]["name"] for run in runs]
    return dict(runs[0])


def test_traefik_counters_pass_the_step_of_a_healthy_canary(
    cluster: TestCluster, traffic_namespace: str, traefik: Traefik, tmp_path: Path
) -> None:
    phase, seen = _gated_rollout(cluster, traffic_namespace, traefik, tmp_path,
                                 "good", canary_annotations={})
    print(f"[real traffic] healthy canary: {seen.total} requests, statuses "
          f"{dict(seen.statuses)}, errors {dict(seen.errors)}")
    run = _analysis_run(cluster, traffic_namespace, "good")
    assert phase == "Healthy", run.get("status")
    assert run["status"]["phase"] == "Successful"
    assert seen.statuses[500] == 0, seen.errors
    # The controller pins the canary Service only once its pods are ready and kwok's
    # deleted pods keep answering through their grace: nothing else should fail.
    assert seen.statuses[200] >= 0.995 * seen.total, seen.errors


def test_traefik_counters_fail_the_step_when_the_canary_answers_500(
    cluster: TestCluster, traffic_namespace: str, traefik: Traefik, tmp_path: Path
) -> None:
    phase, seen = _gated_rollout(cluster, traffic_namespace, traefik, tmp_path,
                                 "bad", canary_annotations={"rollouts.dev/http-status": "500"})
    print(f"[real traffic] failing canary: {seen.total} requests, statuses "
          f"{dict(seen.statuses)}, errors {dict(seen.errors)}")
    run = _analysis_run(cluster, traffic_namespace, "bad")
    assert phase == "Degraded", run.get("status")
    assert run["status"]["phase"] == "Failed"
    measured = run["status"]["metricResults"][0]["measurements"][-1]["value"]
    assert float(measured.strip("[]")) > 0.3, measured
    assert seen.statuses[500] > 0 and seen.statuses[200] > 0
    # The Prometheus series the gate read is Traefik's own, by code.
    answer = query_prometheus(cluster.prometheus_url,
                              f'traefik_service_requests_total{{code="500",service=~'
                              f'"{traffic_namespace}-bad-canary-.*"}}')
    assert answer["data"]["result"], "Traefik counted no 500 for the canary service"
    # The abort took the weight back at once: every request reaches the stable again.
    traefik.wait_weights({"bad-stable": 100, "bad-canary": 0})
    after = send(traefik.url, 200, "bad-route.test")
    assert after.statuses == {200: 200}, after.errors
