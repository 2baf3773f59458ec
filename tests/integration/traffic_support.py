"""Real traffic for integration tests: kwok pods that answer, Traefik in front of them.

- `pod_network(cluster)`: `rollouts.devcluster.podnet` attached to the dev cluster's
  pod CIDR, its responder running as a child process (needs root and `ip`).
- `Traefik`: the binary `make traefik` builds, run outside the cluster with the
  Kubernetes Gateway API provider against our API server (admin token, our CA),
  watching one namespace. Entry point `web` and the `traefik` entry point (API and
  Prometheus metrics) listen on free ports of 127.0.0.1; global update checks and
  usage reports are off (there is no internet here).
- `send(url, n)`: n sequential GETs on one keep-alive connection, counted by the
  answering pod's version (its JSON body) and by status.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.devcluster import podnet
from rollouts.devcluster.cluster import POD_CIDR
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import cache_dir
from tests.conftest import COMPAT, TestCluster

TRAEFIK_VERSION = os.environ.get("TRAEFIK_VERSION", "v3.6.12")
TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
GATEWAY_CLASS = "rollouts-traefik"
# Traefik's Gateway provider watches these too: they come from the gateway-api module
# Traefik was built with (build_traefik.sh copies them next to the binary); the three
# our routers write are the compat ones the other Gateway API tests install.
COMPAT_CRDS = [COMPAT / "crds" / f"gateway.networking.k8s.io_{plural}.yaml"
               for plural in ("gatewayclasses", "gateways", "httproutes")]
EXTRA_CRDS = ("grpcroutes", "referencegrants", "backendtlspolicies")


def traefik_dir() -> Path:
    return cache_dir() / "bin" / f"traefik-{TRAEFIK_VERSION}"


def require_real_traffic() -> Path:
    """The Traefik binary, or skip saying what is missing and how to get it."""
    binary = traefik_dir() / "traefik"
    if not (traefik_dir() / ".done").exists() or not binary.exists():
        pytest.skip(f"Traefik {TRAEFIK_VERSION} is not built; run `make traefik`")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the pod network needs root and `ip` (iproute2)")
    return binary


def _crd_names(path: Path) -> list[str]:
    return [doc["metadata"]["name"] for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"]


def install_gateway_crds(cluster: TestCluster) -> None:
    extra = [traefik_dir() / "crds" / f"gateway.networking.k8s.io_{plural}.yaml"
             for plural in EXTRA_CRDS]
    paths = [*COMPAT_CRDS, *extra]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        pytest.skip(f"Gateway API CRDs missing: {', '.join(missing)}; run `make traefik`")
    args = ["apply", "--server-side", "--force-conflicts"]
    for path in paths:
        args += ["-f", str(path)]
    cluster.kubectl_run(*args)
    cluster.state.wait_for_crds([n for p in paths for n in _crd_names(p)], timeout=120)


@contextmanager
def pod_network(cluster: TestCluster, log: Path) -> Iterator[None]:
    """Pod IPs answer HTTP while the block runs."""
    podnet.attach(POD_CIDR)
    with log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "rollouts.devcluster.podnet",
             f"--cluster-dir={cluster.state.directory}"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        podnet.detach()


@dataclass
class Traefik:
    """One Traefik process serving the Gateways of one namespace."""

    binary: Path
    cluster: TestCluster
    namespace: str
    log: Path
    web_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def argv(self) -> list[str]:
        state = self.cluster.state
        gateway = "--providers.kubernetesGateway"
        return [
            str(self.binary),
            "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
            f"--entryPoints.web.address=127.0.0.1:{self.web_port}",
            f"--entryPoints.traefik.address=127.0.0.1:{self.admin_port}",
            "--api.insecure=true", "--api.dashboard=false", "--ping=true",
            "--metrics.prometheus=true", "--metrics.prometheus.addServicesLabels=true",
            "--providers.providersThrottleDuration=200ms",
            f"{gateway}=true", f"{gateway}.endpoint={state.server}",
            f"{gateway}.token={state.admin_token}",
            f"{gateway}.certAuthFilePath={state.pki.ca_cert}",
            f"{gateway}.namespaces={self.namespace}",
            "--log.level=INFO", "--log.noColor=true",
        ]

    def start(self) -> None:
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not _ok(f"{self.admin_url}/ping"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Traefik did not answer /ping; log: "
                                     f"{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        self.started_seconds = round(time.monotonic() - started, 2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.admin_url}/api{path}", timeout=5) as response:
            return json.load(response)

    def weights(self, *service_names: str) -> dict[str, int]:
        """The weights Traefik routes by, for the weighted service whose members are
        the named Kubernetes Services (member name -> weight); {} until it has one."""
        for service in self.api("/http/services"):
            members = (service.get("weighted") or {}).get("services") or []
            found = {name: weight for name in service_names for member in members
                     if name in member["name"]
                     for weight in [int(member.get("weight", 1))]}
            if len(found) == len(service_names):
                return found
        return {}

    def servers(self, service_name: str) -> int:
        """How many servers (pod endpoints) Traefik balances over for a Service."""
        prefix = f"{self.namespace}-{service_name}-"
        return sum(len((service.get("loadBalancer") or {}).get("servers") or [])
                   for service in self.api("/http/services")
                   if str(service.get("name", "")).startswith(prefix))

    def wait_servers(self, wanted: dict[str, int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (seen := {name: self.servers(name) for name in wanted}) != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"Traefik has servers {seen}, not {wanted}, after "
                                     f"{timeout:.0f}s; log: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def wait_weights(self, wanted: dict[str, int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (seen := self.weights(*wanted)) != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"Traefik routes by {seen}, not {wanted}, after "
                                     f"{timeout:.0f}s; log: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)


@contextmanager
def running_traefik(binary: Path, cluster: TestCluster, namespace: str,
                    log: Path) -> Iterator[Traefik]:
    """Traefik running, and scraped by the dev cluster's Prometheus (job `traefik`,
    label `namespace`) through a file_sd target file removed afterwards."""
    traefik = Traefik(binary, cluster, namespace, log)
    traefik.start()
    target = cluster.state.prometheus_targets / f"traefik-{namespace}.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{traefik.admin_port}"],
                                   "labels": {"job": "traefik", "namespace": namespace}}]))
    try:
        yield traefik
    finally:
        target.unlink(missing_ok=True)
        traefik.stop()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


@dataclass
class Tally:
    """What n requests got: answers per version and per status, and how long it took."""

    versions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "<status> <body>", not 200
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def share(self, version: str) -> float:
        """Percent of the answers that came from `version`."""
        return 100.0 * self.versions[version] / max(1, self.total)


def send(url: str, count: int, host: str, path: str = "/") -> Tally:
    """`count` GETs for `host`, one after another on one keep-alive connection
    (reopened if the proxy closes it). Bounded by count and a 5 s timeout each."""
    address, port = url.removeprefix("http://").split(":")
    tally = Tally()
    started = time.monotonic()
    connection = http.client.HTTPConnection(address, int(port), timeout=5)
    try:
        for _ in range(count):
            try:
                connection.request("GET", path, headers={"Host": host})
                response = connection.getresponse()
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                connection = http.client.HTTPConnection(address, int(port), timeout=5)
                connection.request("GET", path, headers={"Host": host})
                response = connection.getresponse()
            body = response.read()
            tally.statuses[response.status] += 1
            if response.status != 200:
                tally.errors[f"{response.status} {body[:120].decode(errors='replace')}"] += 1
            try:
                tally.versions[str(json.loads(body)["version"])] += 1
            except (ValueError, KeyError, TypeError):
                tally.versions["(no pod)"] += 1
    finally:
        connection.close()
    tally.seconds = round(time.monotonic() - started, 3)
    return tally


def gateway(namespace: str, port: int) -> list[dict[str, Any]]:
    """A GatewayClass for Traefik and a Gateway `edge` listening on Traefik's `web` port
    (Traefik matches a listener to the entry point with the same port)."""
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
         "metadata": {"name": GATEWAY_CLASS},
         "spec": {"controllerName": TRAEFIK_CONTROLLER}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "edge", "namespace": namespace},
         "spec": {"gatewayClassName": GATEWAY_CLASS,
                  "listeners": [{"name": "web", "protocol": "HTTP", "port": port}]}},
    ]


def http_route(namespace: str, name: str, stable: str, canary: str) -> dict[str, Any]:
    """An HTTPRoute on `edge` for the host `<name>.test`, sending everything to `stable`
    (weight 100) and `canary` (0)."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [f"{name}.test"],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": stable, "port": 80, "weight": 100},
                                                {"name": canary, "port": 80, "weight": 0}]}]}}


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
