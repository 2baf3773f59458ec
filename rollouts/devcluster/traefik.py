"""Traefik in front of the dev cluster's pods: the data plane that makes a weight real.

Used by `make demo` (its traffic stage) and by the real-traffic tests
(tests/integration/traffic_support.py, tests/bench/traffic.py). Its neighbours:
`podnet` makes kwok's pod IPs answer HTTP, `cluster` is the control plane Traefik
watches, `process` starts and stops what runs here.

- `unavailable()`: why real traffic cannot run on this machine (Traefik not built by
  `make traefik`, not root, no `ip`), or None.
- `install_crds(cluster, paths)`: the Gateway API CRDs Traefik's provider watches
  (`crd_files()`: the standard-channel ones built beside the binary).
- `pod_network(cluster, log)`: `podnet` attached to the pod CIDR and its responder
  running while the block runs; it refuses to take over a namespace that another
  responder still serves.
- `running_traefik(cluster, namespace, log)`: the binary run outside the cluster with
  its Kubernetes Gateway API provider (the admin token, our CA, one namespace), the
  `web` entry point and the `traefik` one (API, `/ping`, Prometheus metrics) on free
  ports of 127.0.0.1, update checks and usage reports off, scraped by the cluster's
  Prometheus (job `traefik`) while it runs.
- `register=True` (the demo) records both processes in the cluster's state file while
  they run, so `rollouts dev down` stops them if the demo could not (the responder then
  removes its namespace itself).
- `gateway(...)`, `http_route(...)`: a GatewayClass, a Gateway on Traefik's `web` port,
  an HTTPRoute for one host.
- `send(url, n, host)`: n sequential GETs on one keep-alive connection, counted by the
  answering pod's version (its JSON body, see `podnet.answer`) and by status.

Standard library only, like the rest of `rollouts.devcluster`.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.devcluster import podnet, process
from rollouts.devcluster.cluster import POD_CIDR, Cluster
from rollouts.devcluster.errors import DevClusterError
from rollouts.devcluster.process import Running, free_port
from rollouts.devcluster.versions import cache_dir

TRAEFIK_VERSION = os.environ.get("TRAEFIK_VERSION", "v3.6.12")
TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
GATEWAY_CLASS = "rollouts-traefik"
GATEWAY = "edge"
DATA_PLANE = ("podnet", "traefik")  # the process names `register=True` records
# What Traefik's Gateway provider watches; build_traefik.sh copies these CRDs, from the
# gateway-api module Traefik was built with, into crds/ beside the binary.
GATEWAY_CRDS = ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants",
                "backendtlspolicies")


def traefik_dir() -> Path:
    return cache_dir() / "bin" / f"traefik-{TRAEFIK_VERSION}"


def traefik_binary() -> Path:
    return traefik_dir() / "traefik"


def crd_files(plurals: Sequence[str] = GATEWAY_CRDS) -> list[Path]:
    return [traefik_dir() / "crds" / f"gateway.networking.k8s.io_{plural}.yaml"
            for plural in plurals]


def unavailable() -> str | None:
    """Why real traffic cannot run here, saying what to do; None when it can."""
    if not (traefik_dir() / ".done").exists() or not traefik_binary().exists():
        return f"Traefik {TRAEFIK_VERSION} is not built; run `make traefik`"
    if os.geteuid() != 0:
        return "the pod network needs root (it makes a network namespace)"
    if shutil.which("ip") is None:
        return "the pod network needs `ip`; apt-get install iproute2"
    return None


def install_crds(cluster: Cluster, paths: Sequence[Path], timeout: float = 120) -> None:
    """Apply the CRD files server-side and wait until every one is Established."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DevClusterError(f"Gateway API CRDs missing: {', '.join(missing)}; "
                              "run `make traefik`")
    args = ["apply", "--server-side", "--force-conflicts", "-o", "name"]
    for path in paths:
        args += ["-f", str(path)]
    # `-o name` prints `customresourcedefinition.apiextensions.k8s.io/<name>` per CRD.
    names = [line.split("/", 1)[1] for line in cluster.kubectl_run(*args).splitlines()
             if "/" in line]
    cluster.wait_for_crds(names, timeout=timeout)


def _launch(cluster: Cluster, name: str, argv: list[str], log: Path, *,
            register: bool) -> Running:
    running = process.start(name, argv, log, env={"PYTHONUNBUFFERED": "1"})
    if register:
        cluster.processes.append(running)
        cluster.save()
    return running


def _finish(cluster: Cluster, running: Running, *, register: bool) -> None:
    process.stop(running)
    if register:
        fresh = Cluster.load(cluster.directory)
        if fresh is not None:
            fresh.processes = [p for p in fresh.processes if p.pid != running.pid]
            fresh.save()
        cluster.processes = [p for p in cluster.processes if p.pid != running.pid]


def stop_registered(cluster: Cluster) -> list[str]:
    """Stop the data plane a run that did not finish left recorded in the cluster's
    state (`register=True`); returns what was stopped, by name and PID."""
    stopped = []
    for running in [p for p in cluster.processes if p.name in DATA_PLANE]:
        _finish(cluster, running, register=True)
        stopped.append(f"{running.name} (pid {running.pid})")
    if stopped:
        podnet.detach()
    return stopped


# --- the pod network ------------------------------------------------------------------

@contextmanager
def pod_network(cluster: Cluster, log: Path, *, register: bool = False) -> Iterator[None]:
    """Pod IPs answer HTTP while the block runs (needs root and `ip`)."""
    others = podnet.responders()
    if podnet.attached() and others:
        raise DevClusterError(
            f"the pod network namespace {podnet.NETNS} is in use by the responder "
            f"(pid {', '.join(map(str, others))}) of another test run or demo; wait for it "
            "to finish, or stop it if it is left over")
    podnet.attach(POD_CIDR)
    try:
        responder = _launch(cluster, "podnet", [
            sys.executable, "-m", "rollouts.devcluster.podnet",
            f"--cluster-dir={cluster.directory}", "--detach-on-exit"], log, register=register)
    except BaseException:
        podnet.detach()
        raise
    try:
        yield
    finally:
        _finish(cluster, responder, register=register)
        podnet.detach()


# --- Traefik --------------------------------------------------------------------------

@dataclass
class Traefik:
    """One Traefik process serving the Gateways of one namespace."""

    cluster: Cluster
    namespace: str
    log: Path
    binary: Path = field(default_factory=traefik_binary)
    web_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    running: Running | None = None
    started_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def argv(self) -> list[str]:
        gateway_provider = "--providers.kubernetesGateway"
        return [
            str(self.binary),
            "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
            f"--entryPoints.web.address=127.0.0.1:{self.web_port}",
            f"--entryPoints.traefik.address=127.0.0.1:{self.admin_port}",
            "--api.insecure=true", "--api.dashboard=false", "--ping=true",
            "--metrics.prometheus=true", "--metrics.prometheus.addServicesLabels=true",
            "--providers.providersThrottleDuration=200ms",
            f"{gateway_provider}=true", f"{gateway_provider}.endpoint={self.cluster.server}",
            f"{gateway_provider}.token={self.cluster.admin_token}",
            f"{gateway_provider}.certAuthFilePath={self.cluster.pki.ca_cert}",
            f"{gateway_provider}.namespaces={self.namespace}",
            "--log.level=INFO", "--log.noColor=true",
        ]

    def start(self, *, register: bool = False) -> None:
        started = time.monotonic()
        self.running = _launch(self.cluster, "traefik", self.argv(), self.log,
                               register=register)
        deadline = time.monotonic() + 60
        while not _ok(f"{self.admin_url}/ping"):
            if not self.running.alive() or time.monotonic() > deadline:
                raise DevClusterError(f"Traefik did not answer /ping; see its log: {self.log}"
                                      f"\n{self._log_tail()}")
            time.sleep(0.1)
        self.started_seconds = round(time.monotonic() - started, 2)

    def stop(self, *, register: bool = False) -> None:
        if self.running is not None:
            _finish(self.cluster, self.running, register=register)
            self.running = None

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

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
        """Wait until Traefik balances over as many pods per Service as `wanted`: ready
        pods reach it through the EndpointSlice a moment after the Rollout says so."""
        deadline = time.monotonic() + timeout
        while (seen := {name: self.servers(name) for name in wanted}) != wanted:
            if time.monotonic() > deadline:
                raise DevClusterError(f"Traefik has servers {seen}, not {wanted}, after "
                                      f"{timeout:.0f}s; log: {self._log_tail()}")
            time.sleep(0.1)

    def wait_weights(self, wanted: dict[str, int], timeout: float = 30) -> None:
        """Wait until Traefik routes by `wanted` (Service name -> weight)."""
        deadline = time.monotonic() + timeout
        while (seen := self.weights(*wanted)) != wanted:
            if time.monotonic() > deadline:
                raise DevClusterError(f"Traefik routes by {seen}, not {wanted}, after "
                                      f"{timeout:.0f}s; log: {self._log_tail()}")
            time.sleep(0.1)


@contextmanager
def running_traefik(cluster: Cluster, namespace: str, log: Path, *,
                    binary: Path | None = None, register: bool = False) -> Iterator[Traefik]:
    """Traefik running, and scraped by the cluster's Prometheus (job `traefik`, label
    `namespace`) through a file_sd target file removed afterwards."""
    traefik = Traefik(cluster, namespace, log, binary=binary or traefik_binary())
    traefik.start(register=register)
    target = cluster.prometheus_targets / f"traefik-{namespace}.json"
    try:
        target.write_text(json.dumps([{"targets": [f"127.0.0.1:{traefik.admin_port}"],
                                       "labels": {"job": "traefik", "namespace": namespace}}]))
        yield traefik
    finally:
        target.unlink(missing_ok=True)
        traefik.stop(register=register)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


# --- requests -------------------------------------------------------------------------

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


# --- manifests ------------------------------------------------------------------------

def gateway(namespace: str, port: int) -> list[dict[str, Any]]:
    """A GatewayClass for Traefik and a Gateway `edge` listening on Traefik's `web` port
    (Traefik matches a listener to the entry point with the same port)."""
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
         "metadata": {"name": GATEWAY_CLASS},
         "spec": {"controllerName": TRAEFIK_CONTROLLER}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": GATEWAY, "namespace": namespace},
         "spec": {"gatewayClassName": GATEWAY_CLASS,
                  "listeners": [{"name": "web", "protocol": "HTTP", "port": port}]}},
    ]


def http_route(namespace: str, name: str, stable: str, canary: str) -> dict[str, Any]:
    """An HTTPRoute on `edge` for the host `<name>.test`, sending everything to `stable`
    (weight 100) and `canary` (0)."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [{"name": GATEWAY}], "hostnames": [f"{name}.test"],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": stable, "port": 80, "weight": 100},
                                                {"name": canary, "port": 80, "weight": 0}]}]}}
