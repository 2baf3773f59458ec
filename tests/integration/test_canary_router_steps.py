"""Canary steps that need a traffic router, and Argo's e2e Rollouts with routers, on the
real control plane: setCanaryScale (replicas, weight, matchTrafficWeight),
dynamicStableScale (the stable shrinks only once the weight left it, and grows back
before the weight returns on abort), setHeaderRoute (Istio, Gateway API) and
setMirrorRoute (Istio) present at their step and gone afterwards; then the compat files
of ../shared/compat/argo-rollouts reaching Healthy after an image change.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.kube import EXPERIMENT, POD, ROLLOUT, KubeClient
from tests.conftest import TestCluster
from tests.integration.router_support import (
    View,
    apply,
    at_phase,
    cli,
    install_router_crds,
    recording,
    rollout,
    router_object,
    router_objects,
    wait_status,
)
from tests.integration.support import (
    COMPAT,
    Controller,
    events,
    running_controller,
    set_image,
    wait_for,
)

NAME = "web"
REPLICAS = 4
ARGO = COMPAT / "argo-rollouts"


@pytest.fixture(scope="module")
def router_crds(cluster: TestCluster) -> None:
    install_router_crds(cluster)


@pytest.fixture
def client(cluster: TestCluster) -> Iterator[KubeClient]:
    kube = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield kube
    kube.close()


@pytest.fixture
def started(cluster: TestCluster, namespace: str, tmp_path: Path, router_crds: None
            ) -> Iterator[Controller]:
    with running_controller(cluster, namespace, tmp_path) as controller:
        yield controller


def _phase(client: KubeClient, namespace: str, phase: str, step: int | None = None,
           name: str = NAME, timeout: float = 60) -> dict[str, Any]:
    what = f"{name} {phase}" + (f" at step {step}" if step is not None else "")
    return wait_status(client, namespace, name, at_phase(phase, step), what, timeout)


def _deploy(cluster: TestCluster, client: KubeClient, namespace: str, router: str,
            steps: list[dict[str, Any]], routing: dict[str, Any] | None = None,
            **canary: Any) -> str:
    apply(cluster, namespace, *router_objects(router, NAME),
          rollout(NAME, router, steps, replicas=REPLICAS, routing=routing, **canary))
    return str(_phase(client, namespace, "Healthy")["stableRS"])


def _promote(cluster: TestCluster, namespace: str, *flags: str) -> None:
    cli(cluster, "promote", NAME, "-n", namespace, *flags)


def _completed(client: KubeClient, namespace: str, canary: str) -> None:
    wait_status(client, namespace, NAME,
                lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == canary,
                "completed")


# -- setCanaryScale ------------------------------------------------------------------------


def test_set_canary_scale_sizes_the_canary_apart_from_the_weight(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller
) -> None:
    steps = [{"setCanaryScale": {"replicas": 2}}, {"setWeight": 10}, {"pause": {}},
             {"setCanaryScale": {"weight": 75}}, {"pause": {}},
             {"setCanaryScale": {"matchTrafficWeight": True}}, {"pause": {}}]
    stable = _deploy(cluster, client, namespace, "smi", steps)
    with recording(cluster, "smi", namespace, NAME) as recorder:
        set_image(cluster, namespace, NAME, "app:2")
        for index, canary_pods in ((2, 2), (4, 3), (6, 1)):  # 10% of 4 pods: 1
            canary = _phase(client, namespace, "Paused", step=index)["currentPodHash"]
            view = recorder.now()
            assert view.weight == 10, index
            assert view.counts() == {stable: REPLICAS, canary: canary_pods}, index
            _promote(cluster, namespace)
        _completed(client, namespace, canary)
    recorder.check_weight_only_on_ready_pods()


# -- dynamicStableScale --------------------------------------------------------------------


def _stable_covers_its_share(view: View) -> bool:
    """The stable's available pods carry the share of traffic the router sends it
    (ReplicaSets read before and after the router object: either may be the one that
    reflects the order of the controller's writes)."""
    stable = str(view.status.get("stableRS"))
    if view.weight is None or stable not in view.sets or stable not in view.sets_before:
        return True
    available = max(view.sets_before[stable].available, view.sets[stable].available)
    return 100 - view.weight <= 100 * available / REPLICAS


def test_dynamic_stable_scale_shrinks_the_stable_after_the_weight_and_grows_it_back_first(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller
) -> None:
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    stable = _deploy(cluster, client, namespace, "istio-host", steps, dynamicStableScale=True)
    with recording(cluster, "istio-host", namespace, NAME) as recorder:
        set_image(cluster, namespace, NAME, "app:2")
        for index, weight in ((1, 25), (3, 75)):
            canary = _phase(client, namespace, "Paused", step=index)["currentPodHash"]
            wait_for(lambda w=weight, c=canary: recorder.now().counts() == {
                stable: math.ceil(REPLICAS * (100 - w) / 100),
                c: math.ceil(REPLICAS * w / 100)}, 10, f"sets sized for weight {weight}",
                lambda: recorder.now().counts())
            assert recorder.now().weight == weight
            if index == 1:
                _promote(cluster, namespace)

        cli(cluster, "abort", NAME, "-n", namespace)
        _phase(client, namespace, "Degraded")
        wait_for(lambda: (v := recorder.now()).weight == 0 and v.counts() == {
            stable: REPLICAS, canary: 0}, 20, "all back on the stable",
            lambda: (recorder.now().weight, recorder.now().counts()))

        cli(cluster, "retry", NAME, "-n", namespace)
        _phase(client, namespace, "Paused", step=1)
        _promote(cluster, namespace, "--full")
        _completed(client, namespace, canary)
        wait_for(lambda: recorder.now().counts() == {stable: 0, canary: REPLICAS}, 20,
                 "the old stable gone", lambda: recorder.now().counts())
    bad = [(v.weight, v.sets_before.get(stable), v.sets.get(stable))
           for v in recorder.views if not _stable_covers_its_share(v)]
    assert not bad, f"weight on a stable too small for it: {bad[:5]}"
    recorder.check_weight_only_on_ready_pods()


# -- managed routes ------------------------------------------------------------------------


def _managed_route(router: str, obj: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The route/rule of `name` the controller added, if present."""
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    if router.startswith("istio"):
        return next((r for r in spec.get("http") or [] if r.get("name") == name), None)
    record = json.loads((obj["metadata"].get("annotations") or {}).get(
        "rollouts.argoproj.io/managed-routes") or "{}")
    rules = spec.get("rules") or []
    return rules[-1] if name in record and len(rules) > 1 else None


@pytest.mark.parametrize("ending", ["complete", "abort"])
@pytest.mark.parametrize("router", ["istio-host", "gatewayapi"])
def test_a_header_route_is_there_from_its_step_until_the_end(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller,
    router: str, ending: str,
) -> None:
    steps = [{"setWeight": 20}, {"pause": {}},
             {"setHeaderRoute": {"name": "beta", "match": [
                 {"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
             {"pause": {}}, {"setWeight": 40}, {"pause": {}}]
    _deploy(cluster, client, namespace, router, steps,
            routing={"managedRoutes": [{"name": "beta"}]}, abortScaleDownDelaySeconds=1)
    set_image(cluster, namespace, NAME, "app:2")
    canary = _phase(client, namespace, "Paused", step=1)["currentPodHash"]
    assert _managed_route(router, router_object(client, router, namespace, NAME), "beta") is None
    _promote(cluster, namespace)
    _phase(client, namespace, "Paused", step=3)
    route = _managed_route(router, router_object(client, router, namespace, NAME), "beta")
    assert route is not None
    if router == "istio-host":
        assert route["match"] == [{"headers": {"x-beta": {"exact": "yes"}}}]
        assert route["route"][0]["destination"]["host"] == f"{NAME}-canary"
    else:
        assert route["matches"][0]["headers"] == [
            {"type": "Exact", "name": "x-beta", "value": "yes"}]
        assert [b["name"] for b in route["backendRefs"]] == [f"{NAME}-canary"]
    _promote(cluster, namespace)
    _phase(client, namespace, "Paused", step=5)  # later steps keep it
    assert _managed_route(router, router_object(client, router, namespace, NAME), "beta")

    if ending == "complete":
        _promote(cluster, namespace)
        _completed(client, namespace, canary)
    else:
        cli(cluster, "abort", NAME, "-n", namespace)
        _phase(client, namespace, "Degraded")
    wait_for(lambda: _managed_route(router, router_object(client, router, namespace, NAME),
                                    "beta") is None, 10, f"the header route gone ({ending})")


def test_a_mirror_route_on_istio_is_there_at_its_step_and_gone_after_completion(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller
) -> None:
    router = "istio-host"
    steps = [{"setWeight": 20},
             {"setMirrorRoute": {"name": "copy", "percentage": 50, "match": [
                 {"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
             {"pause": {}}]
    _deploy(cluster, client, namespace, router, steps,
            routing={"managedRoutes": [{"name": "copy"}]})
    set_image(cluster, namespace, NAME, "app:2")
    canary = _phase(client, namespace, "Paused", step=2)["currentPodHash"]
    route = _managed_route(router, router_object(client, router, namespace, NAME), "copy")
    assert route is not None
    assert route["mirror"]["host"] == f"{NAME}-canary"
    assert route["mirrorPercentage"] == {"value": 50}
    assert route["match"] == [{"method": {"exact": "GET"}, "uri": {"prefix": "/api"}}]
    assert [d["weight"] for d in route["route"]] == [80, 20]
    _promote(cluster, namespace)
    _completed(client, namespace, canary)
    wait_for(lambda: _managed_route(router, router_object(client, router, namespace, NAME),
                                    "copy") is None, 10, "the mirror route gone")


# -- Argo's e2e files ----------------------------------------------------------------------


def _ready_gate(client: KubeClient, namespace: str, app: str, stop: threading.Event) -> None:
    """Play Argo's e2e part: mark `argoproj.io/e2e-readiness` True on each pod."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            for pod in client.list(POD, namespace, label_selector=f"app={app}").items:
                conditions = {c.get("type"): c.get("status")
                              for c in (pod.get("status") or {}).get("conditions") or []}
                # Only once kwok has started the pod: a condition patched in earlier
                # keeps kwok from ever starting it.
                if (conditions.get("argoproj.io/e2e-readiness") == "True"
                        or conditions.get("ContainersReady") != "True"):
                    continue
                client.patch_status(POD, namespace, pod["metadata"]["name"], {"status": {
                    "conditions": [{"type": "argoproj.io/e2e-readiness", "status": "True"}]}})
        stop.wait(0.2)


def _at_running_experiment(client: KubeClient, namespace: str, name: str,
                           status: dict[str, Any]) -> bool:
    experiment = (status.get("canary") or {}).get("currentExperiment")
    if not experiment:
        return False
    with contextlib.suppress(Exception):
        found = client.get(EXPERIMENT, namespace, str(experiment))
        return bool((found.get("status") or {}).get("phase") == "Running")
    return False


def _compat_docs(file: str) -> str:
    text = (ARGO / file).read_text()
    return text.replace("REPLACEME", "nginx-tmpl")


@pytest.mark.parametrize(("file", "name"), [
    ("e2e-istio-istio-host-split.yaml", "istio-host-split"),
    ("e2e-functional-nginx-template.yaml", "nginx-tmpl"),
    ("e2e-smi-rollout-smi-experiment.yaml", "rollout-smi-experiment"),
    ("e2e-functional-canary-dynamic-stable-scale.yaml", "dynamic-stable-scale"),
    ("e2e-functional-canary-scaledowndelay.yaml", "canary-scaledowndelay"),
])
def test_argo_e2e_rollouts_with_routers_reach_healthy_after_an_image_change(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller,
    file: str, name: str,
) -> None:
    docs = [d for d in yaml.safe_load_all(_compat_docs(file)) if d]
    gate_needed = any(
        (d.get("spec") or {}).get("template", {}).get("spec", {}).get("readinessGates")
        for d in docs if d.get("kind") == "Rollout")
    stop = threading.Event()
    gate = threading.Thread(target=_ready_gate, args=(client, namespace, name, stop),
                            daemon=True)
    if gate_needed:
        gate.start()
    try:
        apply(cluster, namespace, _compat_docs(file))
        first = _phase(client, namespace, "Healthy", name=name, timeout=90)
        set_image(cluster, namespace, name, "registry.local/new:2")
        deadline = time.monotonic() + 120
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = client.get(ROLLOUT, namespace, name).get("status") or {}
            if status.get("phase") == "Healthy" and status.get("stableRS") != first["stableRS"]:
                break
            if status.get("phase") == "Paused" and status.get("pauseConditions"):
                cli(cluster, "promote", name, "-n", namespace)
            elif _at_running_experiment(client, namespace, name, status):
                # An experiment without a duration runs until the user moves on.
                cli(cluster, "promote", name, "-n", namespace)
            time.sleep(0.3)
        assert status.get("phase") == "Healthy", status
        assert status["stableRS"] == status["currentPodHash"] != first["stableRS"]
    finally:
        stop.set()
    warnings = [(r, m) for r, m in events(cluster, namespace, name) if "Error" in r]
    assert not warnings, warnings
