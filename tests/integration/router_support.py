"""Traffic routers for controller tests: the objects each router needs, the Rollout that
uses it, and what the router object, the Services and the ReplicaSets look like on the
API server at one instant (a `View`), read by a `Recorder` in the background so that
invariants can be checked across the whole rollout, not only where the test looked.

Routers: `smi` (a TrafficSplit the controller creates), `nginx` (a stable Ingress; the
controller creates the canary Ingress), `istio-host` (a VirtualService with two hosts),
`istio-subset` (a VirtualService with two subsets plus a DestinationRule), `gatewayapi`
(an HTTPRoute, through `plugins["argoproj-labs/gatewayAPI"]`).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from rollouts.cli.main import cli as rollouts_cli
from rollouts.kube import INGRESS, REPLICA_SET, ROLLOUT, SERVICE, Kind, KubeClient, NotFound
from tests.conftest import TestCluster
from tests.integration.support import COMPAT

ROUTERS = ("smi", "nginx", "istio-host", "istio-subset", "gatewayapi")
CRDS = [COMPAT / "crds" / "smi-trafficsplit-crds.yaml", COMPAT / "crds" / "istio-crds.yaml",
        COMPAT / "crds" / "gateway.networking.k8s.io_httproutes.yaml"]
HASH = "rollouts-pod-template-hash"
GATEWAY_PLUGIN = "argoproj-labs/gatewayAPI"

TRAFFIC_SPLIT = Kind("split.smi-spec.io", "v1alpha4", "trafficsplits", "TrafficSplit")
VIRTUAL_SERVICE = Kind("networking.istio.io", "v1alpha3", "virtualservices", "VirtualService")
DESTINATION_RULE = Kind("networking.istio.io", "v1alpha3", "destinationrules",
                        "DestinationRule")
HTTP_ROUTE = Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")


def install_router_crds(cluster: TestCluster) -> None:
    args = ["apply", "--server-side", "--force-conflicts"]
    for path in CRDS:
        args += ["-f", str(path)]
    cluster.kubectl_run(*args)
    names = [doc["metadata"]["name"] for path in CRDS
             for doc in yaml.safe_load_all(path.read_text())
             if doc and doc.get("kind") == "CustomResourceDefinition"]
    cluster.state.wait_for_crds(names, timeout=120)


def apply(cluster: TestCluster, namespace: str, *objects: dict[str, Any] | str | Path) -> None:
    for obj in objects:
        if isinstance(obj, Path):
            cluster.kubectl_run("apply", "-n", namespace, "-f", str(obj))
        else:
            text = obj if isinstance(obj, str) else json.dumps(obj)
            cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=text)


# -- the objects of each router --------------------------------------------------------


def _service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def router_objects(router: str, name: str) -> list[dict[str, Any]]:
    """The Services and the router objects that must exist before the Rollout."""
    canary, stable = f"{name}-canary", f"{name}-stable"
    objects = [_service(canary, name), _service(stable, name)]
    if router == "nginx":
        objects.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": f"{name}-ingress",
                         "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": stable, "port": {"number": 80}}}}]}}]}})
    elif router == "istio-host":
        objects.append({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": f"{name}-vsvc"},
            "spec": {"hosts": [name], "http": [{"name": "primary", "route": [
                {"destination": {"host": stable, "port": {"number": 80}}, "weight": 100},
                {"destination": {"host": canary, "port": {"number": 80}}, "weight": 0}]}]}})
    elif router == "istio-subset":
        objects.append({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
            "metadata": {"name": f"{name}-dr"},
            "spec": {"host": name, "subsets": [{"name": "canary", "labels": {"app": name}},
                                               {"name": "stable", "labels": {"app": name}}]}})
        objects.append({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": f"{name}-vsvc"},
            "spec": {"hosts": [name], "http": [{"name": "primary", "route": [
                {"destination": {"host": name, "subset": "stable"}, "weight": 100},
                {"destination": {"host": name, "subset": "canary"}, "weight": 0}]}]}})
    elif router == "gatewayapi":
        objects.append({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": f"{name}-route"},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": stable, "port": 80, "weight": 100},
                                {"name": canary, "port": 80, "weight": 0}]}]}})
    return objects


def traffic_routing(router: str, name: str) -> dict[str, Any]:
    if router == "smi":
        return {"smi": {"trafficSplitName": f"{name}-split"}}
    if router == "nginx":
        return {"nginx": {"stableIngress": f"{name}-ingress"}}
    if router == "istio-host":
        return {"istio": {"virtualService": {"name": f"{name}-vsvc", "routes": ["primary"]}}}
    if router == "istio-subset":
        return {"istio": {"virtualService": {"name": f"{name}-vsvc", "routes": ["primary"]},
                          "destinationRule": {"name": f"{name}-dr", "canarySubsetName": "canary",
                                              "stableSubsetName": "stable"}}}
    if router == "gatewayapi":
        return {"plugins": {GATEWAY_PLUGIN: {"httpRoute": f"{name}-route"}}}
    raise ValueError(router)


def rollout(name: str, router: str, steps: list[dict[str, Any]], *, replicas: int = 4,
            routing: dict[str, Any] | None = None, **canary: Any) -> dict[str, Any]:
    """A Rollout of image `app:1` whose canary uses `router`; `routing` adds settings
    to trafficRouting (managedRoutes...), `canary` to the canary strategy."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {
                "canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                "trafficRouting": {**traffic_routing(router, name), **(routing or {})},
                "steps": steps, **canary}},
        },
    }


# -- reading back ----------------------------------------------------------------------


def _get(client: KubeClient, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return client.get(kind, namespace, name)
    except NotFound:
        return None


def router_object(client: KubeClient, router: str, namespace: str, name: str
                  ) -> dict[str, Any] | None:
    """The object that carries the weight."""
    if router == "smi":
        return _get(client, TRAFFIC_SPLIT, namespace, f"{name}-split")
    if router == "nginx":
        return _get(client, INGRESS, namespace, f"{name}-{name}-ingress-canary")
    if router in ("istio-host", "istio-subset"):
        return _get(client, VIRTUAL_SERVICE, namespace, f"{name}-vsvc")
    return _get(client, HTTP_ROUTE, namespace, f"{name}-route")


def canary_weight(router: str, name: str, obj: dict[str, Any] | None) -> int | None:
    """The canary's weight in the router object (None: not there yet)."""
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    canary = f"{name}-canary"
    if router == "smi":
        return next((int(b["weight"]) for b in spec.get("backends") or []
                     if b.get("service") == canary), None)
    if router == "nginx":
        annotations = obj["metadata"].get("annotations") or {}
        value = annotations.get("nginx.ingress.kubernetes.io/canary-weight")
        return None if value is None else int(value)
    if router in ("istio-host", "istio-subset"):
        route = next(r for r in spec.get("http") or [] if r.get("name") == "primary")
        for destination in route.get("route") or []:
            where = destination.get("destination") or {}
            if (where.get("subset") == "canary" if router == "istio-subset"
                    else where.get("host") == canary):
                return int(destination.get("weight") or 0)
        return None
    rule = (spec.get("rules") or [{}])[0]
    return next((int(b.get("weight", 1)) for b in rule.get("backendRefs") or []
                 if b.get("name") == canary), None)


@dataclass(frozen=True)
class SetView:
    replicas: int
    available: int
    annotations: dict[str, str]


@dataclass(frozen=True)
class View:
    """One look at the cluster. ReplicaSets are read before and after the router object
    and the Services (`sets_before`, `sets`), so a check may pick the read that a
    concurrent change cannot make wrong."""

    at: float
    weight: int | None
    router_object: dict[str, Any] | None
    services: dict[str, str | None]
    sets_before: dict[str, SetView]
    sets: dict[str, SetView]
    status: dict[str, Any]

    def counts(self) -> dict[str, int]:
        return {h: s.replicas for h, s in self.sets.items()}


def _sets(client: KubeClient, namespace: str) -> dict[str, SetView]:
    out = {}
    for rs in client.list(REPLICA_SET, namespace).items:
        meta = rs["metadata"]
        out[str(meta["labels"].get(HASH))] = SetView(
            int(rs["spec"].get("replicas") or 0),
            int((rs.get("status") or {}).get("availableReplicas") or 0),
            dict(meta.get("annotations") or {}))
    return out


def look(client: KubeClient, router: str, namespace: str, name: str) -> View:
    before = _sets(client, namespace)
    obj = router_object(client, router, namespace, name)
    services = {str(s["metadata"]["name"]): ((s.get("spec") or {}).get("selector") or {}).get(HASH)
                for s in client.list(SERVICE, namespace).items}
    after = _sets(client, namespace)
    status = dict((_get(client, ROLLOUT, namespace, name) or {}).get("status") or {})
    return View(time.monotonic(), canary_weight(router, name, obj), obj, services, before, after,
                status)


@dataclass
class Recorder:
    """Looks at the cluster every few tens of milliseconds while a test runs."""

    client: KubeClient
    router: str
    namespace: str
    name: str
    views: list[View] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> View:
        return look(self.client, self.router, self.namespace, self.name)

    def run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a failed look: one sample fewer
                self.views.append(self.now())
            self._stop.wait(0.03)

    def weights(self) -> list[int | None]:
        """The canary weights seen, consecutive repeats folded."""
        seen: list[int | None] = []
        for view in self.views:
            if not seen or seen[-1] != view.weight:
                seen.append(view.weight)
        return seen

    def check_weight_only_on_ready_pods(self) -> None:
        """No sample shows weight on a Service whose selected pods are not available."""
        for view in self.views:
            if not view.weight:
                continue
            selected = view.services.get(f"{self.name}-canary")
            pods = view.sets.get(str(selected))
            assert selected is not None and pods is not None and pods.available > 0, (
                f"weight {view.weight} on {self.name}-canary selecting {selected} "
                f"({pods}); status {view.status.get('currentPodHash')}")


@contextmanager
def recording(cluster: TestCluster, router: str, namespace: str, name: str
              ) -> Iterator[Recorder]:
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    recorder = Recorder(client, router, namespace, name)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        recorder._stop.set()
        thread.join(5)
        client.close()


def canary_replicas(replicas: int, weight: int) -> int:
    return math.ceil(replicas * weight / 100)


def cli(cluster: TestCluster, *args: str) -> None:
    """`rollouts ARGS...` run in this process (the same click commands as the binary,
    without a Python start-up per call on a loaded machine); it must succeed."""
    result = CliRunner().invoke(rollouts_cli, [*args, f"--kubeconfig={cluster.kubeconfig}"])
    assert result.exit_code == 0, (args, result.output, result.exception)


def wait_status(client: KubeClient, namespace: str, name: str,
                done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
                ) -> dict[str, Any]:
    """Poll the Rollout's status until `done(status)`; the status then."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = dict((_get(client, ROLLOUT, namespace, name) or {}).get("status") or {})
        if done(status):
            return status
        time.sleep(0.05)
    brief = {k: status.get(k) for k in ("phase", "message", "currentStepIndex", "stableRS",
                                          "currentPodHash")}
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {brief}")


def at_phase(phase: str, step: int | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == phase and (step is None
                                                   or s.get("currentStepIndex") == step)
