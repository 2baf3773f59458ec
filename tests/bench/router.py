"""Benchmark of the canary with a traffic router on the real local control plane: how
long from a gate clearing to the router's object carrying the next weight.

One canary Rollout (4 replicas, `trafficRouting.smi`, the SMI TrafficSplit CRD from
../shared/compat/crds) has the steps `setCanaryScale: {replicas: 1}` then
`setWeight: w, pause: {}` for w = 1..100, so each promote clears a gate whose next
step only moves the weight (the canary's pod count never changes: the figure is the
controller's, not kwok's). For each pause: send the patch `rollouts promote` sends,
and measure the time until a TrafficSplit whose canary backend has weight w + 1 arrives
on a watch in this process (same machine, same clock). Two image changes give 2 x 99
samples.

The controller runs as its own process (`rollouts controller`, 4 workers) on a cluster
of its own (`~/.cache/rollouts/bench-router-cluster`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from typing import Any

from rollouts.cli.rollout_controls import promote_patches
from rollouts.devcluster import down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import ROLLOUT, SERVICE, Informer, Kind, KubeClient
from tests.bench.bluegreen import REPO, _image_patch
from tests.bench.canary import CONTROLLERS, WORKERS, ControllerProcess, _wait
from tests.bench.report import latency_rows, record

NAMESPACE = "bench"
NAME = "routed"
SPLIT = Kind("split.smi-spec.io", "v1alpha4", "trafficsplits", "TrafficSplit")
SMI_CRDS = REPO.parent / "shared" / "compat" / "crds" / "smi-trafficsplit-crds.yaml"
WEIGHTS = range(1, 101)


def _rollout(image: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"setCanaryScale": {"replicas": 1}}]
    for weight in WEIGHTS:
        steps += [{"setWeight": weight}, {"pause": {}}]
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": NAME}},
                 "template": {"metadata": {"labels": {"app": NAME}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 "strategy": {"canary": {
                     "canaryService": f"{NAME}-canary", "stableService": f"{NAME}-stable",
                     "trafficRouting": {"smi": {}}, "scaleDownDelaySeconds": 1,
                     "steps": steps}}},
    }


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"selector": {"app": NAME}, "ports": [{"port": 80}]}}


def _canary_weight(split: dict[str, Any]) -> int | None:
    for backend in (split.get("spec") or {}).get("backends") or []:
        if backend.get("service") == f"{NAME}-canary":
            try:
                return int(backend.get("weight"))
            except (TypeError, ValueError):
                return None
    return None


def gate_to_weight(client: KubeClient, updates: int) -> list[float]:
    """Seconds from each promote patch to the TrafficSplit carrying the next weight."""
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    splits = Informer(client, SPLIT, NAMESPACE)
    seen: dict[tuple[str, int], float] = {}
    lock = threading.Lock()
    revision = {"hash": ""}

    def on_split(_type: str, obj: dict[str, Any], _old: Any) -> None:
        weight = _canary_weight(obj)
        if weight is not None:
            with lock:
                seen.setdefault((revision["hash"], weight), time.time())

    splits.add_handler(on_split)
    for informer in (rollouts, splits):
        informer.start()
        informer.wait_for_sync(30)
    for svc in (f"{NAME}-canary", f"{NAME}-stable"):
        client.create(SERVICE, NAMESPACE, _service(svc))
    client.create(ROLLOUT, NAMESPACE, _rollout("app:0"))

    def current() -> dict[str, Any]:
        return rollouts.get(NAMESPACE, NAME) or {}

    def status() -> dict[str, Any]:
        return dict(current().get("status") or {})

    _wait(lambda: status().get("phase") == "Healthy", 120, f"{NAME} Healthy")
    samples: list[float] = []
    for update in range(1, updates + 1):
        before = status().get("currentPodHash")
        client.patch(ROLLOUT, NAMESPACE, NAME, _image_patch(f"app:{update}"), "json")
        _wait(lambda b=before: status().get("currentPodHash") not in (None, b), 60,
              f"update {update}: a new pod-template hash")
        new_hash = str(status()["currentPodHash"])
        with lock:
            revision["hash"] = new_hash
        for weight in WEIGHTS:
            pause_index = 2 + 2 * (weight - 1)  # setCanaryScale, then (setWeight, pause)*
            _wait(lambda i=pause_index: status().get("currentStepIndex") == i
                  and status().get("pauseConditions"), 120,
                  f"update {update}: the pause after setWeight {weight}")
            patches = promote_patches(current())
            if not patches:
                raise RuntimeError(f"update {update}: nothing to promote at weight {weight}")
            sent = time.time()
            for patch in patches:
                client.patch(ROLLOUT, NAMESPACE, NAME, patch.body, patch.patch_type,
                             subresource=patch.subresource)
            if weight == WEIGHTS[-1]:
                break  # the last pause leads to completion, not to a weight
            key = (new_hash, weight + 1)
            _wait(lambda k=key: k in seen, 60,
                  f"update {update}: the TrafficSplit at weight {weight + 1}")
            samples.append(seen[key] - sent)
        _wait(lambda h=new_hash: status().get("phase") == "Healthy"
              and status().get("stableRS") == h, 120, f"update {update}: Healthy on {new_hash}")
        print(f"   update {update}/{updates}: gate -> weight written "
              f"{statistics.median(samples) * 1000:.0f} ms median so far", flush=True)
    for informer in (rollouts, splits):
        informer.stop()
    client.delete(ROLLOUT, NAMESPACE, NAME)
    return samples


def _rows(samples: list[float]) -> list[dict[str, Any]]:
    return latency_rows("gate cleared (promote) -> TrafficSplit at the next weight", samples)


def run(updates: int = 2) -> None:
    directory = cache_dir() / "bench-router-cluster"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    try:
        kubectl = [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
        subprocess.run([*kubectl, "apply", "--server-side", "-k", str(REPO / "manifests")],
                       check=True, capture_output=True)
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(SMI_CRDS)],
                       check=True, capture_output=True)
        subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=False,
                       capture_output=True)
        cluster.wait_for_crds(["rollouts.argoproj.io", "trafficsplits.split.smi-spec.io"])
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        controller = ControllerProcess(cluster, directory / "logs" / "bench-controller.log")
        try:
            rows = _rows(gate_to_weight(client, updates))
        finally:
            controller.stop()
    finally:
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("router", "Canary with a traffic router: gate cleared -> weight written", rows,
           "One canary Rollout (4 replicas, trafficRouting.smi) with setCanaryScale "
           "{replicas: 1} then (setWeight w, pause {}) for w = 1..100, updated N/99 times. "
           "At each pause the benchmark sends the patch `rollouts promote` sends and "
           "measures until a TrafficSplit whose canary backend carries weight w + 1 "
           "arrives on a watch in the benchmark process (the canary's pod count never "
           "changes, so this is the controller's latency: promote seen, step advanced, "
           "weight planned, TrafficSplit patched). The controller runs 4 workers; the API "
           "server, etcd, kwok and the controller share the machine's cores. p99 is the "
           "nearest-rank value.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": CONTROLLERS, "workers": str(WORKERS), "leader election": "off"})
