"""Benchmarks of the canary controller on the real local control plane.

- step latency: from a gate clearing (a pause's expiry, a promote patch) to the next
  weight written to the API server, seen as the canary ReplicaSet's new
  `spec.replicas` arriving on a watch in this process (same machine, same clock);
- scale: N Rollouts in one controller process; CPU seconds, peak RSS and API requests
  of the controller, and the time for all to reach step 2 after a mass image change;
- steady state: API requests per minute of the controller with N idle Rollouts.

The controller runs as its own process (`rollouts controller`); its request counts
come from its `/metrics` (`rollouts_kube_requests_total`), its CPU and peak RSS from
/proc.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import REPLICA_SET, ROLLOUT, Informer, KubeClient
from tests.bench.report import record

NAMESPACE = "bench"


def _rollout(name: str, steps: list[dict[str, Any]], replicas: int, image: str
             ) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 "strategy": {"canary": {"steps": steps}}},
    }


def _image_patch(image: str) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]


class ControllerProcess:
    def __init__(self, cluster: Cluster, log: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
             f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect",
             "--port", str(self.port), "--workers", "4"],
            stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def requests(self) -> dict[str, float]:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics") as r:
                    text = r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("rollouts_kube_requests_total{"):
                verb = line.split('verb="', 1)[1].split('"', 1)[0]
                counts[verb] = float(line.rsplit(" ", 1)[1])
        return counts

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def _delta(after: dict[str, float], before: dict[str, float], skip: tuple[str, ...] = ()
           ) -> float:
    return sum(v - before.get(k, 0) for k, v in after.items() if k not in skip)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"benchmark: timed out waiting for {what}")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def step_latency(client: KubeClient, iterations: int) -> dict[str, list[float]]:
    """Seconds from pause expiry / promote to the canary ReplicaSet's next size."""
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    replica_sets = Informer(client, REPLICA_SET, NAMESPACE)
    seen: dict[tuple[str, int], float] = {}
    lock = threading.Lock()

    def on_rs(_type: str, obj: dict[str, Any], _old: Any) -> None:
        key = (obj["metadata"]["name"], int(obj["spec"].get("replicas", 0)))
        with lock:
            seen.setdefault(key, time.time())

    replica_sets.add_handler(on_rs)
    for informer in (rollouts, replica_sets):
        informer.start()
        informer.wait_for_sync(30)
    steps = [{"setWeight": 20}, {"pause": {"duration": "2s"}}, {"setWeight": 60}, {"pause": {}}]
    client.create(ROLLOUT, NAMESPACE, _rollout("lat", steps, 5, "app:0"))
    status = lambda: (rollouts.get(NAMESPACE, "lat") or {}).get("status") or {}  # noqa: E731
    _wait(lambda: status().get("phase") == "Healthy", 60, "lat Healthy")
    pause_latency: list[float] = []
    promote_latency: list[float] = []
    for i in range(1, iterations + 1):
        client.patch(ROLLOUT, NAMESPACE, "lat", _image_patch(f"app:{i}"), "json")
        _wait(lambda: status().get("phase") == "Paused" and status().get("currentStepIndex")
              == 1, 60, "pause step")
        start = _parse(status()["pauseConditions"][0]["startTime"])
        expiry = (start + timedelta(seconds=2)).timestamp()
        rs_name = f"lat-{status()['currentPodHash']}"
        _wait(lambda rs=rs_name: (rs, 3) in seen, 60, "setWeight 60 written")
        pause_latency.append(seen[(rs_name, 3)] - expiry)
        _wait(lambda: status().get("currentStepIndex") == 3 and status().get("phase")
              == "Paused", 60, "indefinite pause")
        sent = time.time()
        client.patch_status(ROLLOUT, NAMESPACE, "lat", {"status": {"pauseConditions": None}})
        _wait(lambda rs=rs_name: (rs, 5) in seen, 60, "full weight written")
        promote_latency.append(seen[(rs_name, 5)] - sent)
        _wait(lambda: status().get("phase") == "Healthy", 60, "Healthy")
    for informer in (rollouts, replica_sets):
        informer.stop()
    client.delete(ROLLOUT, NAMESPACE, "lat")
    return {"pause": pause_latency, "promote": promote_latency}


def scale(client: KubeClient, controller: ControllerProcess, count: int, idle_seconds: float
          ) -> list[dict[str, Any]]:
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    rollouts.start()
    rollouts.wait_for_sync(30)
    steps = [{"setWeight": 20}, {"setWeight": 40}, {"pause": {}}]
    names = [f"r{i:03d}" for i in range(count)]
    for name in names:
        client.create(ROLLOUT, NAMESPACE, _rollout(name, steps, 2, "app:1"))

    def all_in(phase: str, step: int | None = None) -> bool:
        ready = 0
        for obj in rollouts.list(NAMESPACE):
            status = obj.get("status") or {}
            if obj["metadata"]["name"] in names and status.get("phase") == phase and (
                    step is None or status.get("currentStepIndex") == step):
                ready += 1
        return ready == count

    _wait(lambda: all_in("Healthy"), 600, f"{count} rollouts Healthy")
    time.sleep(5)
    before = controller.requests()
    time.sleep(idle_seconds)
    after = controller.requests()
    idle_total = _delta(after, before)
    idle_non_watch = _delta(after, before, skip=("watch",))

    cpu_before = controller.cpu_seconds()
    requests_before = controller.requests()
    started = time.monotonic()
    for name in names:
        client.patch(ROLLOUT, NAMESPACE, name, _image_patch("app:2"), "json")
    _wait(lambda: all_in("Paused", 2), 900, f"{count} rollouts at step 2")
    elapsed = time.monotonic() - started
    requests = _delta(controller.requests(), requests_before, skip=("watch",))
    cpu = controller.cpu_seconds() - cpu_before
    rollouts.stop()
    per_minute = 60 / idle_seconds
    return [
        {"figure": f"steady state: API requests/min, {count} idle Rollouts (all verbs)",
         "n": 1, "value": f"{idle_total * per_minute:.1f}", "unit": "req/min"},
        {"figure": f"steady state: non-watch API requests/min, {count} idle Rollouts",
         "n": 1, "value": f"{idle_non_watch * per_minute:.1f}", "unit": "req/min"},
        {"figure": f"mass image change: time for all {count} to reach step 2", "n": 1,
         "value": f"{elapsed:.1f}", "unit": "s"},
        {"figure": "mass image change: controller CPU", "n": 1, "value": f"{cpu:.1f}",
         "unit": "CPU-s"},
        {"figure": "mass image change: API requests per Rollout per step (non-watch)",
         "n": count, "value": f"{requests / count / 2:.1f}", "unit": "req"},
        {"figure": "controller peak RSS (whole run)", "n": 1,
         "value": f"{controller.peak_rss_mib():.0f}", "unit": "MiB"},
    ]


def _summary(name: str, values: list[float]) -> list[dict[str, Any]]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return [
        {"figure": f"step latency after {name}: median", "n": len(values),
         "value": f"{statistics.median(values) * 1000:.0f}", "unit": "ms"},
        {"figure": f"step latency after {name}: p99", "n": len(values),
         "value": f"{p99 * 1000:.0f}", "unit": "ms"},
    ]


def run(iterations: int = 20, count: int = 100, idle_seconds: float = 60) -> None:
    directory = cache_dir() / "bench-cluster"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    try:
        subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "apply",
                        "--server-side", "-k", str(Path(__file__).resolve().parents[2]
                                                   / "manifests")],
                       check=True, capture_output=True)
        subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "create",
                        "namespace", NAMESPACE], check=False, capture_output=True)
        time.sleep(2)
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        controller = ControllerProcess(cluster, directory / "logs" / "bench-controller.log")
        try:
            latency = step_latency(client, iterations)
            rows = _summary("a pause expires", latency["pause"])
            rows += _summary("promote", latency["promote"])
            rows += scale(client, controller, count, idle_seconds)
        finally:
            controller.stop()
    finally:
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("canary", "Canary controller: step latency, scale, steady state", rows,
           "Latency is measured from the gate clearing (pause start + duration, or the "
           "promote patch being sent) to the canary ReplicaSet's new size arriving on a "
           "watch in the benchmark process. Scale uses Rollouts of 2 replicas with steps "
           "setWeight 20, setWeight 40, pause {}; `step 2` is the pause. Requests are the "
           "controller's own (its /metrics), watches excluded where stated. The controller "
           "runs 4 workers; the API server, etcd, kwok and the controller share 2 cores.",
           {"kubernetes": KUBERNETES.version})
