"""The canary controller driving real traffic-router objects on the real control plane:
a controller process, router CRDs from ../shared/compat/crds, kwok making pods Ready,
and every object read back from the API server.

For each router (SMI, NGINX, Istio host and subset split, Gateway API): the weight of
each step lands on the router object, the Services are pinned first, the canary runs
the weight's share of pods while the stable stays whole, `status.canary.weights` says
so, and after completion the weight is 0, both Services select the new pods and the old
stable goes after `scaleDownDelaySeconds`. Then the controls (promote, promote --full,
abort, retry) and a controller killed between a weight write and its step's completion.
A `Recorder` samples the cluster throughout, so no weight is ever seen on pods that are
not available, wherever the test was not looking.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollouts.kube import ROLLOUT, KubeClient
from tests.conftest import TestCluster
from tests.integration.router_support import (
    DESTINATION_RULE,
    HASH,
    ROUTERS,
    Recorder,
    apply,
    at_phase,
    canary_replicas,
    canary_weight,
    cli,
    install_router_crds,
    recording,
    rollout,
    router_object,
    router_objects,
    wait_status,
)
from tests.integration.support import (
    Controller,
    events,
    running_controller,
    set_image,
    wait_for,
)

NAME = "web"
REPLICAS = 4


@pytest.fixture(scope="module")
def router_crds(cluster: TestCluster) -> None:
    install_router_crds(cluster)


def _cli(cluster: TestCluster, namespace: str, *args: str) -> None:
    cli(cluster, *args, NAME, "-n", namespace)


@pytest.fixture
def client(cluster: TestCluster) -> Iterator[KubeClient]:
    kube = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield kube
    kube.close()


def _phase(client: KubeClient, namespace: str, phase: str, step: int | None = None,
           timeout: float = 60) -> dict[str, Any]:
    what = f"{NAME} {phase}" + (f" at step {step}" if step is not None else "")
    return wait_status(client, namespace, NAME, at_phase(phase, step), what, timeout)


def _weight_events(cluster: TestCluster, namespace: str) -> list[int]:
    """The canary weights the controller wrote, in order, repeats folded."""
    seen: list[int] = []
    for reason, message in events(cluster, namespace, NAME):
        match = re.search(r"canary weight (\d+)", message)
        if reason == "TrafficWeightUpdated" and match:
            weight = int(match.group(1))
            if not seen or seen[-1] != weight:
                seen.append(weight)
    return seen


def _expected_weights(weight: int, canary: str, stable: str
                      ) -> dict[str, Any]:
    return {
        "canary": {"weight": weight, "podTemplateHash": canary,
                   "serviceName": f"{NAME}-canary"},
        "stable": {"weight": 100 - weight, "podTemplateHash": stable,
                   "serviceName": f"{NAME}-stable"},
        "verified": True,
    }


@pytest.fixture
def started(cluster: TestCluster, namespace: str, tmp_path: Path, router_crds: None
            ) -> Iterator[Controller]:
    with running_controller(cluster, namespace, tmp_path) as controller:
        yield controller


def _deploy(cluster: TestCluster, client: KubeClient, namespace: str, router: str,
            steps: list[dict[str, Any]], **canary: Any) -> str:
    """Create the router's objects and the Rollout; its stable hash once Healthy."""
    routing = canary.pop("routing", None)
    apply(cluster, namespace, *router_objects(router, NAME),
          rollout(NAME, router, steps, replicas=REPLICAS, routing=routing, **canary))
    return str(_phase(client, namespace, "Healthy")["stableRS"])


def _wait_weight(recorder: Recorder, weight: int, what: str, timeout: float = 10) -> None:
    wait_for(lambda: recorder.now().weight == weight, timeout, f"weight {weight}: {what}",
             lambda: recorder.now().weight)


def _wait_completed(client: KubeClient, namespace: str, canary: str) -> dict[str, Any]:
    return wait_status(client, namespace, NAME,
                       lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == canary,
                       f"{NAME} Healthy on {canary}")


# -- 1. every router, step by step ---------------------------------------------------------


@pytest.mark.parametrize("router", ROUTERS)
def test_each_weight_lands_on_the_router_with_services_pinned_and_pods_at_its_share(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller,
    router: str,
) -> None:
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}},
             {"setWeight": 75}, {"pause": {}}]
    stable = _deploy(cluster, client, namespace, router, steps, scaleDownDelaySeconds=3)
    with recording(cluster, router, namespace, NAME) as recorder:
        healthy = recorder.now()
        assert healthy.weight == 0
        assert healthy.services == {f"{NAME}-canary": stable, f"{NAME}-stable": stable}

        set_image(cluster, namespace, NAME, "app:2")
        canary = ""
        for index, weight in ((1, 25), (3, 50), (5, 75)):
            status = _phase(client, namespace, "Paused", step=index)
            canary = status["currentPodHash"]
            view = recorder.now()
            assert view.weight == weight, (index, view.router_object)
            assert view.services == {f"{NAME}-canary": canary, f"{NAME}-stable": stable}
            assert view.counts() == {stable: REPLICAS,
                                     canary: canary_replicas(REPLICAS, weight)}
            assert view.status["canary"]["weights"] == _expected_weights(
                weight, canary, stable)
            if router == "istio-subset":
                _check_subsets(client, namespace, canary, stable)
            _cli(cluster, namespace, "promote")

        final = _wait_completed(client, namespace, canary)
        completed_at = time.monotonic()
        # The status says completed first; the next pass moves the weight off the canary.
        _wait_weight(recorder, 0, "the canary is stable")
        view = recorder.now()
        assert view.services == {f"{NAME}-canary": canary, f"{NAME}-stable": canary}
        assert final["stableRS"] == final["currentPodHash"] == canary
        wait_status(client, namespace, NAME,
                    lambda s: s["canary"]["weights"] == _expected_weights(0, canary, canary),
                    "status.canary.weights: all on the new stable, verified")
        # The old stable keeps its pods for scaleDownDelaySeconds, then goes.
        assert view.sets[stable].replicas == REPLICAS
        assert "scale-down-deadline" in view.sets[stable].annotations
        wait_for(lambda: recorder.now().sets[stable].replicas == 0, 20,
                 "the old stable scaled down after its delay")
        assert time.monotonic() - completed_at > 1.0
        assert recorder.now().sets[canary].replicas == REPLICAS
        if router == "istio-subset":
            _check_subsets(client, namespace, canary, canary)
        time.sleep(0.2)

    recorder.check_weight_only_on_ready_pods()
    # Weight on the canary only while the canary Service is pinned to the canary pods.
    for sample in recorder.views:
        if sample.weight and sample.status.get("stableRS") == stable:
            assert sample.services[f"{NAME}-canary"] == canary, sample
    assert _weight_events(cluster, namespace)[-5:] == [25, 50, 75, 100, 0]
    assert [w for w in recorder.weights() if w is not None][-1] == 0


def _check_subsets(client: KubeClient, namespace: str, canary: str, stable: str) -> None:
    rule = client.get(DESTINATION_RULE, namespace, f"{NAME}-dr")
    labels = {s["name"]: (s.get("labels") or {}).get(HASH) for s in rule["spec"]["subsets"]}
    assert labels == {"canary": canary, "stable": stable}, rule["spec"]


# -- 2. promote, promote --full, abort, retry -------------------------------------------


@pytest.mark.parametrize("router", ["smi", "istio-subset", "gatewayapi"])
def test_abort_moves_the_weight_back_at_once_then_retry_starts_over(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller,
    router: str,
) -> None:
    steps = [{"setWeight": 50}, {"pause": {}}]
    stable = _deploy(cluster, client, namespace, router, steps, abortScaleDownDelaySeconds=3)
    with recording(cluster, router, namespace, NAME) as recorder:
        set_image(cluster, namespace, NAME, "app:2")
        canary = _phase(client, namespace, "Paused", step=1)["currentPodHash"]
        assert recorder.now().weight == 50

        _cli(cluster, namespace, "abort")
        aborted_at = time.monotonic()
        wait_for(lambda: recorder.now().weight == 0, 5, "weight 0 after the abort")
        view = recorder.now()
        assert time.monotonic() - aborted_at < 3
        assert view.services == {f"{NAME}-canary": stable, f"{NAME}-stable": stable}
        assert view.counts() == {stable: REPLICAS, canary: 2}  # kept for the delay
        status = _phase(client, namespace, "Degraded", timeout=10)
        assert status["message"].startswith("RolloutAborted")
        assert status["canary"]["weights"]["canary"]["weight"] == 0
        wait_for(lambda: recorder.now().counts() == {stable: REPLICAS, canary: 0}, 20,
                 "the canary scaled down after abortScaleDownDelaySeconds",
                 lambda: recorder.now().counts())
        assert time.monotonic() - aborted_at > 2.0

        _cli(cluster, namespace, "retry")
        _phase(client, namespace, "Paused", step=1)
        view = recorder.now()
        assert view.weight == 50
        assert view.services == {f"{NAME}-canary": canary, f"{NAME}-stable": stable}
        assert view.counts() == {stable: REPLICAS, canary: 2}

        _cli(cluster, namespace, "promote")
        _wait_completed(client, namespace, canary)
        _wait_weight(recorder, 0, "the canary is stable")
    recorder.check_weight_only_on_ready_pods()
    assert _weight_events(cluster, namespace)[-5:] == [50, 0, 50, 100, 0]


@pytest.mark.parametrize("router", ["smi", "nginx", "istio-host"])
def test_promote_moves_one_step_and_promote_full_goes_to_100_then_completes(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller,
    router: str,
) -> None:
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}},
             {"setWeight": 75}, {"pause": {}}]
    stable = _deploy(cluster, client, namespace, router, steps, scaleDownDelaySeconds=2)
    with recording(cluster, router, namespace, NAME) as recorder:
        set_image(cluster, namespace, NAME, "app:2")
        _phase(client, namespace, "Paused", step=1)
        _cli(cluster, namespace, "promote")
        canary = _phase(client, namespace, "Paused", step=3)["currentPodHash"]
        assert recorder.now().weight == 50

        _cli(cluster, namespace, "promote", "--full")
        final = _wait_completed(client, namespace, canary)
        assert final["currentStepIndex"] == len(steps)
        _wait_weight(recorder, 0, "the canary is stable")
        wait_for(lambda: recorder.now().counts() == {stable: 0, canary: REPLICAS}, 20,
                 "old stable scaled down", lambda: recorder.now().counts())
    recorder.check_weight_only_on_ready_pods()
    assert _weight_events(cluster, namespace)[-4:] == [25, 50, 100, 0]  # 75 skipped
    for sample in recorder.views:
        if sample.weight == 100:
            assert sample.sets[canary].available == REPLICAS, sample
    completed = [m for r, m in events(cluster, namespace, NAME) if r == "RolloutStepCompleted"]
    # promote --full skips the rest: the pause it ended is not a completed step
    assert [m.split(" completed")[0] for m in completed] == ["Step 1/6", "Step 2/6", "Step 3/6"]


# -- 4. a controller killed between a weight write and the step's completion --------------


def test_a_kill_right_after_the_weight_write_repeats_the_check_never_the_step(
    cluster: TestCluster, client: KubeClient, namespace: str, started: Controller
) -> None:
    router = "smi"
    steps = [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}]
    _deploy(cluster, client, namespace, router, steps)
    set_image(cluster, namespace, NAME, "app:2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if canary_weight(router, NAME, router_object(client, router, namespace, NAME)) == 50:
            break
        time.sleep(0.005)
    started.kill()
    index_at_kill = client.get(ROLLOUT, namespace, NAME)["status"].get("currentStepIndex")
    print(f"step index when killed: {index_at_kill} (0: inside the window)")
    time.sleep(1)
    started.start()
    canary = _phase(client, namespace, "Paused", step=1)["currentPodHash"]
    _cli(cluster, namespace, "promote")
    _wait_completed(client, namespace, canary)
    completed = [m for r, m in events(cluster, namespace, NAME) if r == "RolloutStepCompleted"]
    assert [m.split(" completed")[0] for m in completed] == ["Step 1/3", "Step 2/3", "Step 3/3"]
    assert [r for r, _ in events(cluster, namespace, NAME)].count("RolloutCompleted") == 1
