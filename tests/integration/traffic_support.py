"""Real traffic for integration tests: kwok pods that answer, Traefik in front of them.

The data plane itself is package code, shared with `make demo`:
`rollouts.devcluster.traefik` (Traefik, the pod network, `send`, the Gateway and
HTTPRoute manifests). This module adapts it to tests:

- `require_real_traffic()`: the Traefik binary, or skip saying what is missing;
- `install_gateway_crds(cluster)`: the compat CRDs the other Gateway API tests install
  for the kinds our routers write, Traefik's own for the rest it watches;
- `pod_network(cluster, log)` and `running_traefik(binary, cluster, namespace, log)`:
  the package's, on a `TestCluster` (skipping when another run holds the pod network);
- manifests for plain Deployments and Services, `apply`, `ready_endpoints`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rollouts.devcluster import podnet, traefik
from rollouts.devcluster.traefik import (
    TRAEFIK_VERSION,
    Tally,
    Traefik,
    gateway,
    http_route,
    send,
    traefik_dir,
)
from tests.conftest import COMPAT, TestCluster

__all__ = [
    "TRAEFIK_VERSION", "Tally", "Traefik", "apply", "deployment", "gateway", "http_route",
    "install_gateway_crds", "pod_network", "ready_endpoints", "require_real_traffic",
    "running_traefik", "send", "service", "traefik_dir",
]

# The three kinds our routers write come from the compat CRDs the other Gateway API
# tests install; Traefik's provider also watches these three, taken from its build.
COMPAT_CRDS = [COMPAT / "crds" / f"gateway.networking.k8s.io_{plural}.yaml"
               for plural in ("gatewayclasses", "gateways", "httproutes")]
EXTRA_CRDS = ("grpcroutes", "referencegrants", "backendtlspolicies")


def require_real_traffic() -> Path:
    """The Traefik binary, or skip saying what is missing and how to get it."""
    reason = traefik.unavailable()
    if reason is not None:
        pytest.skip(reason)
    return traefik.traefik_binary()


def install_gateway_crds(cluster: TestCluster) -> None:
    paths = [*COMPAT_CRDS, *traefik.crd_files(EXTRA_CRDS)]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        pytest.skip(f"Gateway API CRDs missing: {', '.join(missing)}; run `make traefik`")
    traefik.install_crds(cluster.state, paths)


@contextmanager
def pod_network(cluster: TestCluster, log: Path) -> Iterator[None]:
    """Pod IPs answer HTTP while the block runs."""
    if podnet.attached() and (others := podnet.responders()):
        pytest.skip(f"the pod network is in use by the responder pid {others} "
                    "(another test run or `make demo`)")
    with traefik.pod_network(cluster.state, log):
        yield


@contextmanager
def running_traefik(binary: Path, cluster: TestCluster, namespace: str,
                    log: Path) -> Iterator[Traefik]:
    """Traefik running, scraped by the dev cluster's Prometheus (job `traefik`)."""
    with traefik.running_traefik(cluster.state, namespace, log, binary=binary) as proxy:
        yield proxy


def service(namespace: str, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def deployment(namespace: str, name: str, labels: dict[str, str], replicas: int = 2,
               annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": annotations or {}},
                                  "spec": {"containers": [{
                                      "name": "app", "image": "app:1",
                                      "ports": [{"containerPort": 8080}]}]}}}}


def apply(cluster: TestCluster, *objects: dict[str, Any]) -> None:
    cluster.kubectl_run("apply", "--server-side", "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "List",
                                          "items": list(objects)}))


def ready_endpoints(cluster: TestCluster, namespace: str, service_name: str) -> int:
    out = cluster.kubectl_run("get", "endpointslices", "-n", namespace, "-l",
                              f"kubernetes.io/service-name={service_name}", "-o", "json").stdout
    return sum(1 for item in json.loads(out)["items"] for endpoint in item.get("endpoints") or []
               if (endpoint.get("conditions") or {}).get("ready"))
