"""Benchmark (opt-in, needs `make traefik` and root): the measured canary split.

`python -m tests.bench.run traffic` brings up the bench cluster, makes kwok's pods
answer (`rollouts.devcluster.podnet`), runs Traefik with its Gateway API provider,
and for each weight has our `GatewayAPIRouter` write the HTTPRoute, waits until
Traefik routes by it (its API), then sends N sequential requests on one keep-alive
connection and counts the answers by the pod's version. Records the canary share
measured at each weight, the request rate and Traefik's start time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rollouts.devcluster import down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import KubeClient
from rollouts.traffic import GatewayAPIRouter, Weights
from rollouts.traffic.gatewayapi import PLUGIN_NAME
from tests.bench.report import record
from tests.conftest import TestCluster
from tests.integration.support import wait_for
from tests.integration.traffic_support import (
    TRAEFIK_VERSION,
    apply,
    deployment,
    gateway,
    http_route,
    install_gateway_crds,
    pod_network,
    ready_endpoints,
    running_traefik,
    send,
    service,
    traefik_dir,
)

NAMESPACE = "bench-traffic"
WEIGHTS = (5, 20, 50, 80)


def run(requests: int = 2000) -> None:
    binary = traefik_dir() / "traefik"
    if not binary.exists() or os.geteuid() != 0:
        sys.exit("the traffic benchmark needs `make traefik` and root")
    directory = cache_dir() / "bench-cluster"
    state = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    cluster = TestCluster(state)
    subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "create",
                    "namespace", NAMESPACE], check=False, capture_output=True)
    install_gateway_crds(cluster)
    logs = directory / "logs"
    rows = []
    ns = NAMESPACE
    with pod_network(cluster, logs / "bench-podnet.log"), \
            running_traefik(binary, cluster, ns, logs / "bench-traefik.log") as traefik:
        apply(cluster,
              deployment(ns, "shop-stable", {"app": "shop", "version": "v1"}),
              deployment(ns, "shop-canary", {"app": "shop", "version": "v2"}),
              service(ns, "shop-stable", {"app": "shop", "version": "v1"}),
              service(ns, "shop-canary", {"app": "shop", "version": "v2"}),
              *gateway(ns, traefik.web_port),
              http_route(ns, "shop-route", "shop-stable", "shop-canary"))
        wait_for(lambda: [ready_endpoints(cluster, ns, f"shop-{track}")
                          for track in ("stable", "canary")] == [2, 2], 60,
                 "two ready endpoints behind each Service")
        traefik.wait_servers({"shop-stable": 2, "shop-canary": 2})
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        kind = client.discover_kind("gateway.networking.k8s.io/v1", "HTTPRoute")
        router = GatewayAPIRouter({
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {"strategy": {"canary": {
                "canaryService": "shop-canary", "stableService": "shop-stable",
                "trafficRouting": {"plugins": {PLUGIN_NAME: {"httpRoute": "shop-route"}}}}}},
        })
        rates = []
        for weight in WEIGHTS:
            wanted = Weights(weight, "shop-canary", "shop-stable")
            written = time.monotonic()
            live = {key: client.get(kind, ns, key.name) for key in router.reads()}
            for write in router.set_weight(live, wanted):
                assert write.patch is not None
                client.patch(kind, ns, write.key.name, write.patch)
            traefik.wait_weights({"shop-stable": 100 - weight, "shop-canary": weight})
            applied = time.monotonic() - written
            tally = send(traefik.url, requests, "shop-route.test")
            rates.append(tally.total / tally.seconds)
            rows.append({"figure": f"weight {weight} %: canary share of answers",
                         "n": tally.total, "value": f"{tally.share('v2'):.1f}", "unit": "%"})
            rows.append({"figure": f"weight {weight} %: HTTPRoute patch -> Traefik routes by it",
                         "n": 1, "value": f"{applied * 1000:.0f}", "unit": "ms"})
        rows.append({"figure": "requests through Traefik, sequential, one connection",
                     "n": requests * len(WEIGHTS),
                     "value": f"{sum(rates) / len(rates):.0f}", "unit": "req/s"})
        rows.append({"figure": "Traefik start -> /ping answers", "n": 1,
                     "value": f"{traefik.started_seconds:.2f}", "unit": "s"})
    down(lambda _line: None, directory=directory)
    print(rows)
    record("traffic", "Real traffic: canary share through Traefik by HTTPRoute weight", rows,
           f"{requests} GETs per weight through Traefik {TRAEFIK_VERSION} (Gateway API "
           "provider, outside the cluster) to kwok pods answered by "
           "rollouts.devcluster.podnet: 2 stable and 2 canary pods, each answer counted by "
           "the pod's version label. The weight is written by GatewayAPIRouter as a merge "
           "patch; 'routes by it' is read from Traefik's API (polled every 100 ms, "
           "provider throttle 200 ms). Traefik's weighted round robin is deterministic, so "
           "the share is exact up to where the run starts in its cycle.",
           {"kubernetes": KUBERNETES.version, "traefik": TRAEFIK_VERSION})
