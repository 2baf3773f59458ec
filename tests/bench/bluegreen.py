"""Benchmark of the blue-green controller on the real local control plane: promote latency.

A blue-green Rollout (2 replicas, `autoPromotionEnabled: false`, Services `bg-active`
and `bg-preview`) is updated N times. Each time: change the image, wait until the
controller pauses it for promotion (phase Paused, a BlueGreenPause pause condition, the
preview Service on the new hash), then send the patch `rollouts promote` sends
(`rollout_controls.promote_patches`: the pause condition removed through the status
subresource) and measure the time until the active Service's selector carries the new
hash, seen on a Service watch in this process (same machine, same clock). Then wait for
Healthy (the new hash stable) before the next update.

Also reported: the time from the image change to the BlueGreenPause (the preview
ReplicaSet created and available, the preview Service switched, the pause written).

The controller runs as its own process (`rollouts controller`, 4 workers) on a cluster of
its own (`~/.cache/rollouts/bench-bluegreen-cluster`), so a test session or another
benchmark sharing the machine keeps its cluster.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from rollouts.cli.rollout_controls import promote_patches
from rollouts.devcluster import down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import ROLLOUT, SERVICE, Informer, KubeClient
from tests.bench.canary import CONTROLLERS, WORKERS, ControllerProcess, _wait
from tests.bench.report import latency_rows, record

NAMESPACE = "bench"
NAME = "bg"
HASH = "rollouts-pod-template-hash"
REPO = Path(__file__).resolve().parents[2]


def _rollout(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": NAME}},
                 "template": {"metadata": {"labels": {"app": NAME}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 "strategy": {"blueGreen": {"activeService": f"{NAME}-active",
                                            "previewService": f"{NAME}-preview",
                                            "autoPromotionEnabled": False,
                                            "scaleDownDelaySeconds": 5}}},
    }


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"selector": {"app": NAME}, "ports": [{"port": 80}]}}


def _image_patch(image: str) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]


def _paused_for_promotion(status: dict[str, Any], pod_hash: str) -> bool:
    reasons = [c.get("reason") for c in status.get("pauseConditions") or []]
    return (status.get("currentPodHash") == pod_hash and status.get("phase") == "Paused"
            and "BlueGreenPause" in reasons
            and (status.get("blueGreen") or {}).get("previewSelector") == pod_hash)


def promote_latency(client: KubeClient, iterations: int) -> dict[str, list[float]]:
    """Seconds from the promote patch to the active Service on the new hash, and from
    the image change to the BlueGreenPause."""
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    services = Informer(client, SERVICE, NAMESPACE)
    seen: dict[tuple[str, str], float] = {}
    lock = threading.Lock()

    def on_service(_type: str, obj: dict[str, Any], _old: Any) -> None:
        selected = str((obj.get("spec") or {}).get("selector", {}).get(HASH) or "")
        with lock:
            seen.setdefault((obj["metadata"]["name"], selected), time.time())

    services.add_handler(on_service)
    for informer in (rollouts, services):
        informer.start()
        informer.wait_for_sync(30)
    for svc in (f"{NAME}-active", f"{NAME}-preview"):
        client.create(SERVICE, NAMESPACE, _service(svc))
    client.create(ROLLOUT, NAMESPACE, _rollout("app:0"))

    def current() -> dict[str, Any]:
        return rollouts.get(NAMESPACE, NAME) or {}

    def status() -> dict[str, Any]:
        return dict(current().get("status") or {})

    _wait(lambda: status().get("phase") == "Healthy", 60, f"{NAME} Healthy")
    promote: list[float] = []
    to_pause: list[float] = []
    for i in range(1, iterations + 1):
        before = status().get("currentPodHash")
        changed = time.time()
        client.patch(ROLLOUT, NAMESPACE, NAME, _image_patch(f"app:{i}"), "json")
        _wait(lambda b=before: status().get("currentPodHash") not in (None, b), 60,
              f"update {i}: a new pod-template hash")
        new_hash = str(status()["currentPodHash"])
        _wait(lambda h=new_hash: _paused_for_promotion(status(), h), 60,
              f"update {i}: BlueGreenPause with the preview on {new_hash}")
        to_pause.append(time.time() - changed)
        patches = promote_patches(current())
        if not patches:
            raise RuntimeError(f"update {i}: promote_patches found nothing to promote")
        sent = time.time()
        for patch in patches:
            client.patch(ROLLOUT, NAMESPACE, NAME, patch.body, patch.patch_type,
                         subresource=patch.subresource)
        key = (f"{NAME}-active", new_hash)
        _wait(lambda k=key: k in seen, 60,
              f"update {i}: the active Service on {new_hash}")
        promote.append(seen[key] - sent)
        _wait(lambda h=new_hash: status().get("phase") == "Healthy"
              and status().get("stableRS") == h, 60, f"update {i}: Healthy on {new_hash}")
        if i % 10 == 0:
            print(f"   {i}/{iterations}: promote -> active switched "
                  f"{statistics.median(promote) * 1000:.0f} ms median so far", flush=True)
    for informer in (rollouts, services):
        informer.stop()
    client.delete(ROLLOUT, NAMESPACE, NAME)
    return {"promote": promote, "pause": to_pause}


def _rows(latency: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [*latency_rows("promote -> active Service switched", latency["promote"]),
            *latency_rows("image change -> BlueGreenPause (preview up)", latency["pause"])]


def run(iterations: int = 100) -> None:
    directory = cache_dir() / "bench-bluegreen-cluster"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    try:
        subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "apply",
                        "--server-side", "-k", str(REPO / "manifests")],
                       check=True, capture_output=True)
        subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "create",
                        "namespace", NAMESPACE], check=False, capture_output=True)
        cluster.wait_for_crds(["rollouts.argoproj.io"])
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        controller = ControllerProcess(cluster, directory / "logs" / "bench-controller.log")
        try:
            rows = _rows(promote_latency(client, iterations))
        finally:
            controller.stop()
    finally:
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("bluegreen", "Blue-green controller: promote latency", rows,
           "Each of N updates changes the image of one blue-green Rollout (2 replicas, "
           "autoPromotionEnabled false, scaleDownDelaySeconds 5), waits for the "
           "BlueGreenPause with the preview Service on the new hash, then sends the patch "
           "`rollouts promote` sends (pauseConditions cleared on the status subresource). "
           "Latency runs from that patch being sent to the active Service's new selector "
           "arriving on a watch in the benchmark process; the next update starts once the "
           "Rollout is Healthy on the new hash. The controller runs 4 workers; the API "
           "server, etcd, kwok and the controller share the machine's cores. p99 is the "
           "nearest-rank value. The image change -> BlueGreenPause figures are read by "
           "polling the benchmark's Rollout cache every 50 ms (resolution +50 ms); the "
           "promote figures are watch-event times.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": CONTROLLERS, "workers": str(WORKERS), "leader election": "off"})
