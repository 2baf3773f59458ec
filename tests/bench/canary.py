"""Benchmarks of the canary controller on the real local control plane.

- step latency: from a gate clearing to the next weight written to the API server, seen
  as the canary ReplicaSet's new `spec.replicas` arriving on a watch in this process
  (same machine, same clock). Three gates: a timed pause (from its planned end,
  `pauseConditions[].startTime` + duration), a promote (from the patch being sent) and
  an analysis verdict (from the step AnalysisRun's last measurement's `finishedAt`);
  several Rollouts run the loop side by side so N reaches 100 in a few minutes;
- steady state: the controller's API requests (watch re-opens counted apart from the
  rest) and CPU per minute with N idle Rollouts, over a window of 15 minutes by default,
  long enough for every informer's watch to time out and be re-opened at least once;
- scale: the time for all N Rollouts to reach their pause after an image change sent
  to all of them at once, with the controller's CPU seconds and API requests.

The controller runs as its own process (`rollouts controller --controllers
rollouts,analysis`, the default); its request counts come from its `/metrics`
(`rollouts_kube_requests_total`), its CPU and peak RSS from /proc. Knobs: CANARY_N
(latency samples per gate, default 100), CANARY_PARALLEL (Rollouts looping side by
side, default 4), CANARY_COUNT (Rollouts in the scale and idle parts, default 100),
CANARY_IDLE_SECONDS (default 900).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    REPLICA_SET,
    ROLLOUT,
    Informer,
    KubeClient,
)
from tests.bench.report import latency_rows, record

NAMESPACE = "bench"
CONTROLLERS = "rollouts,analysis"
WORKERS = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
             "--controllers", CONTROLLERS, "--port", str(self.port),
             "--workers", str(WORKERS)],
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
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

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


def _template(prometheus: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "up", "namespace": NAMESPACE},
            "spec": {"metrics": [{"name": "up", "count": 1, "successCondition":
                                  "result[0] == 1",
                                  "provider": {"prometheus": {"address": prometheus,
                                                              "query": "vector(1)"}}}]}}


# replicas 5: the canary ReplicaSet is 1, 2, 3, 4 then 5 pods at these steps.
LATENCY_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20}, {"pause": {"duration": "2s"}}, {"setWeight": 40},
    {"analysis": {"templates": [{"templateName": "up"}]}}, {"setWeight": 60},
    {"pause": {}}, {"setWeight": 80}]


def step_latency(client: KubeClient, prometheus: str, samples: int, parallel: int
                 ) -> dict[str, list[float]]:
    """Seconds from a gate clearing to the canary ReplicaSet's next size, per gate."""
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    replica_sets = Informer(client, REPLICA_SET, NAMESPACE)
    runs = Informer(client, ANALYSIS_RUN, NAMESPACE)
    seen: dict[tuple[str, int], float] = {}
    lock = threading.Lock()

    def on_rs(_type: str, obj: dict[str, Any], _old: Any) -> None:
        key = (obj["metadata"]["name"], int(obj["spec"].get("replicas", 0)))
        with lock:
            seen.setdefault(key, time.time())

    replica_sets.add_handler(on_rs)
    for informer in (rollouts, replica_sets, runs):
        informer.start()
        informer.wait_for_sync(30)
    client.create(ANALYSIS_TEMPLATE, NAMESPACE, _template(prometheus))
    latency: dict[str, list[float]] = {"pause": [], "analysis": [], "promote": []}

    def loop(name: str, iterations: int) -> None:
        def status() -> dict[str, Any]:
            return dict((rollouts.get(NAMESPACE, name) or {}).get("status") or {})

        def at(step: int, phase: str | None = None) -> bool:
            now = status()
            return now.get("currentStepIndex") == step and (
                phase is None or now.get("phase") == phase)

        client.create(ROLLOUT, NAMESPACE, _rollout(name, LATENCY_STEPS, 5, "app:0"))
        _wait(lambda: status().get("phase") == "Healthy", 120, f"{name} Healthy")
        for i in range(1, iterations + 1):
            client.patch(ROLLOUT, NAMESPACE, name, _image_patch(f"app:{i}"), "json")
            _wait(lambda: at(1, "Paused"), 60, f"{name}: the timed pause")
            start = _parse(status()["pauseConditions"][0]["startTime"])
            planned_end = (start + timedelta(seconds=2)).timestamp()
            rs = f"{name}-{status()['currentPodHash']}"
            _wait(lambda r=rs: (r, 2) in seen, 60, f"{name}: setWeight 40 written")
            pause = seen[(rs, 2)] - planned_end
            _wait(lambda r=rs: (r, 3) in seen, 120, f"{name}: setWeight 60 written")
            verdict = _verdict_time(runs, name, status(), rs.rsplit("-", 1)[1])
            analysis = seen[(rs, 3)] - verdict
            _wait(lambda: at(5, "Paused"), 60, f"{name}: the indefinite pause")
            sent = time.time()
            client.patch_status(ROLLOUT, NAMESPACE, name, {"status": {"pauseConditions": None}})
            _wait(lambda r=rs: (r, 4) in seen, 60, f"{name}: setWeight 80 written")
            with lock:
                latency["pause"].append(pause)
                latency["analysis"].append(analysis)
                latency["promote"].append(seen[(rs, 4)] - sent)
            _wait(lambda: status().get("phase") == "Healthy", 120, f"{name} Healthy")
        client.delete(ROLLOUT, NAMESPACE, name)

    per_rollout = -(-samples // parallel)
    with ThreadPoolExecutor(parallel) as pool:
        for future in [pool.submit(loop, f"lat{i}", per_rollout) for i in range(parallel)]:
            future.result()
    for informer in (rollouts, replica_sets, runs):
        informer.stop()
    return latency


def _verdict_time(runs: Informer, rollout: str, status: dict[str, Any], pod_hash: str
                  ) -> float:
    """When the step AnalysisRun's verdict was taken: its last measurement's finishedAt.

    The run's final status and the ReplicaSet change arrive on two watches in either
    order, so this waits a little for the run's."""
    named = ((status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}).get(
        "name")
    deadline = time.monotonic() + 10
    while True:
        finished = [_parse(m["finishedAt"]).timestamp()
                    for run in runs.list(NAMESPACE)
                    if run["metadata"]["name"] == named or (
                        named is None
                        and run["metadata"]["name"].startswith(f"{rollout}-{pod_hash}-"))
                    for result in (run.get("status") or {}).get("metricResults") or []
                    for m in result.get("measurements") or [] if m.get("finishedAt")]
        if finished:
            return max(finished)
        if time.monotonic() > deadline:
            raise RuntimeError(f"benchmark: no finished measurement for {rollout}'s step run")
        time.sleep(0.05)


# Rollouts of 2 replicas; reaching the pause from an image change takes three step
# actions: a new ReplicaSet at weight 20, scaled at weight 40, then the pause entered.
SCALE_STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"setWeight": 40}, {"pause": {}}]
STEPS_TO_PAUSE = 3


def scale(client: KubeClient, controller: ControllerProcess, count: int, idle_seconds: float
          ) -> list[dict[str, Any]]:
    rollouts = Informer(client, ROLLOUT, NAMESPACE)
    rollouts.start()
    rollouts.wait_for_sync(30)
    names = [f"r{i:05d}" for i in range(count)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: client.create(
            ROLLOUT, NAMESPACE, _rollout(name, SCALE_STEPS, 2, "app:1")), names))

    def all_in(phase: str, step: int | None = None) -> bool:
        ready = 0
        for obj in rollouts.list(NAMESPACE):
            status = obj.get("status") or {}
            if obj["metadata"]["name"] in names and status.get("phase") == phase and (
                    step is None or status.get("currentStepIndex") == step):
                ready += 1
        return ready == count

    _wait(lambda: all_in("Healthy"), 1800, f"{count} rollouts Healthy")
    time.sleep(5)
    before, cpu_before = controller.requests(), controller.cpu_seconds()
    print(f"   idle window: {idle_seconds:.0f} s with {count} Rollouts", flush=True)
    time.sleep(idle_seconds)
    after, cpu_after = controller.requests(), controller.cpu_seconds()
    watches = after.get("watch", 0) - before.get("watch", 0)
    idle_non_watch = _delta(after, before, skip=("watch",))
    per_minute = 60 / idle_seconds

    cpu_before = controller.cpu_seconds()
    requests_before = controller.requests()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: client.patch(ROLLOUT, NAMESPACE, name,
                                                _image_patch("app:2"), "json"), names))
    _wait(lambda: all_in("Paused", 2), 1800, f"{count} rollouts at step 2")
    elapsed = time.monotonic() - started
    requests = _delta(controller.requests(), requests_before, skip=("watch",))
    cpu = controller.cpu_seconds() - cpu_before
    rollouts.stop()
    return [
        {"figure": f"idle, {count} Rollouts: non-watch API requests/min", "n": 1,
         "value": f"{idle_non_watch * per_minute:.2f}", "unit": "req/min"},
        {"figure": f"idle, {count} Rollouts: watch (re-)opens/min", "n": round(watches),
         "value": f"{watches * per_minute:.2f}", "unit": "req/min"},
        {"figure": f"idle, {count} Rollouts: controller CPU per minute", "n": 1,
         "value": f"{(cpu_after - cpu_before) * per_minute:.2f}", "unit": "CPU-s/min"},
        {"figure": f"mass image change: time for all {count} to reach the pause", "n": count,
         "value": f"{elapsed:.1f}", "unit": "s"},
        {"figure": "mass image change: controller CPU", "n": count, "value": f"{cpu:.1f}",
         "unit": "CPU-s"},
        {"figure": "mass image change: API requests per Rollout per step (non-watch)",
         "n": count, "value": f"{requests / count / STEPS_TO_PAUSE:.1f}", "unit": "req"},
        {"figure": "controller peak RSS (whole run)", "n": 1,
         "value": f"{controller.peak_rss_mib():.0f}", "unit": "MiB"},
    ]


def run() -> None:
    samples = int(os.environ.get("CANARY_N", "100"))
    parallel = int(os.environ.get("CANARY_PARALLEL", "4"))
    count = int(os.environ.get("CANARY_COUNT", "100"))
    idle_seconds = float(os.environ.get("CANARY_IDLE_SECONDS", "900"))
    begun = time.monotonic()
    directory = cache_dir() / "bench-canary"
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
            latency = step_latency(client, cluster.prometheus_url, samples, parallel)
            rows = latency_rows("step latency after a timed pause ends", latency["pause"])
            rows += latency_rows("step latency after an analysis verdict", latency["analysis"])
            rows += latency_rows("step latency after promote", latency["promote"])
            rows += scale(client, controller, count, idle_seconds)
        finally:
            controller.stop()
    finally:
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("canary", "Canary controller: step latency, scale, steady state", rows,
           "Latency runs from the gate clearing to the canary ReplicaSet's new size arriving "
           "on a watch in the benchmark process: a timed pause (2 s) from its planned end "
           "(pauseConditions startTime + 2 s, as the controller stored it), an analysis "
           "step (one Prometheus measurement of vector(1) against the dev cluster's "
           "Prometheus) from the measurement's finishedAt, a promote from the moment the "
           "patch `rollouts promote` sends is sent. Rollouts of 5 replicas, "
           f"{parallel} looping side by side. Scale and idle use {count} Rollouts of 2 "
           "replicas with steps setWeight 20, setWeight 40, pause {}; the image change is "
           "sent to all of them from 8 threads; 'per step' divides by the 3 step actions "
           "each Rollout takes to reach its pause. The idle window starts 5 s after all are "
           f"Healthy and lasts {idle_seconds:.0f} s; informer watches time out after 5-10 "
           "minutes and are re-opened, counted apart from the other requests. Requests are "
           "the controller's own (its /metrics); CPU is utime + stime from /proc. kwok "
           "makes pods Ready at once, so no figure includes pod start-up. The API server, "
           "etcd, kwok, Prometheus and the controller share the machine's cores. "
           f"Whole benchmark: {(time.monotonic() - begun) / 60:.1f} min.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": CONTROLLERS, "workers": str(WORKERS), "leader election": "off"})
