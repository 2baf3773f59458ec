"""Benchmark: the controller's memory, CPU and API requests with N idle Rollouts.

For each point N (env `SCALE_POINTS`, default 100,1000,10000, capped by `SCALE_N`,
default 10000, which is always a point), on its own dev cluster:

1. Rollouts are added until there are N (plain canary, 1 replica, steps setWeight 20
   and pause {}, spread over `NAMESPACES` namespaces) with 8 parallel creates, while a
   controller process runs (the "building" controller); each gets a ReplicaSet and a
   Pod through kube-controller-manager, the scheduler and kwok (fake nodes are added
   so the pods fit). Creation time and the time until all are Healthy are reported.
2. The building controller is stopped and a fresh one started (as a restart in
   production finds N Rollouts): the time until its caches synced (`/readyz`) and until
   its CPU settled (less than `SETTLED_CPU` CPU-s over `SETTLE_WINDOW` s) is reported.
3. Over an idle window of `SCALE_IDLE_SECONDS` (default 900: the issue's steady state
   over at least 15 minutes) its CPU seconds per minute, API requests per minute (its
   `/metrics` `rollouts_kube_requests_total`; watch opens counted apart from the rest),
   and at the end its VmRSS and VmHWM (peak, startup included) from /proc.

The controller is `rollouts controller` with its default controllers, all namespaces,
no leader election, 4 workers. Every point's raw numbers are stored in the rows, so a
chart of RSS and CPU against N can be drawn from BENCHMARKS.json.
Neighbours: `tests/bench/canary.py` (the same controller process, at 100 Rollouts).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import ROLLOUT, AlreadyExists, Informer, Kind, KubeClient, KubeError
from tests.bench.report import record

NAMESPACES = 10
CREATE_WORKERS = 8
PODS_PER_NODE = 500
WORKERS = 4
SETTLE_WINDOW = 10.0
SETTLED_CPU = 0.5
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]
REPO = Path(__file__).resolve().parents[2]
NODE = Kind("", "v1", "nodes", "Node", namespaced=False)


def points(n_max: int, spec: str) -> list[int]:
    """The Ns to measure: those of `spec` (comma-separated) below `n_max`, then `n_max`."""
    wanted = {int(p) for p in spec.split(",") if p.strip()}
    return sorted({p for p in wanted if 0 < p < n_max} | {n_max})


def namespace_of(index: int) -> str:
    return f"scale-{index % NAMESPACES}"


def rollout(index: int) -> dict[str, Any]:
    name = f"r{index:05d}"
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace_of(index)},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
                 "strategy": {"canary": {"steps": STEPS}}},
    }


@dataclass
class Point:
    """The raw numbers of one N."""

    n: int
    create_seconds: float = 0.0
    healthy_seconds: float = 0.0
    building_hwm_mib: float = 0.0
    sync_seconds: float = 0.0
    settle_seconds: float = 0.0
    startup_cpu_seconds: float = 0.0
    idle_seconds: float = 0.0
    idle_cpu_seconds: float = 0.0
    idle_requests: float = 0.0
    idle_watches: float = 0.0
    idle_lists: float = 0.0
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    max_sampled_rss_mib: float = 0.0
    threads: int = 0


class ControllerProcess:
    """`rollouts controller` on all namespaces, with /proc and /metrics readings."""

    def __init__(self, cluster: Cluster, log: Path) -> None:
        self.port = free_port()
        log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollouts.cli.main", "controller",
             f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect",
             "--port", str(self.port), "--workers", str(WORKERS)],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=REPO)
        self.started = time.monotonic()

    def _get(self, path: str, timeout: float = 60) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=timeout) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def wait_ready(self, timeout: float) -> float:
        """Seconds from start until /readyz answers 200 (caches synced)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the controller exited with {self.process.returncode}")
            try:
                if self._get("/readyz", 5)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("benchmark: the controller did not become ready")

    def requests(self) -> dict[str, float]:
        status, text = self._get("/metrics")
        if status != 200:
            raise RuntimeError(f"benchmark: /metrics answered {status}")
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("rollouts_kube_requests_total{"):
                verb = line.split('verb="', 1)[1].split('"', 1)[0]
                counts[verb] = float(line.rsplit(" ", 1)[1])
        return counts

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status(self, field: str) -> float:
        """A /proc/<pid>/status field: VmRSS / VmHWM in MiB, Threads as is."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                value = int(line.split()[1])
                return value / 1024 if line.rstrip().endswith("kB") else float(value)
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise RuntimeError(f"benchmark: timed out waiting for {what}")


def _at_least(items: set[tuple[str, str]], count: int) -> bool:
    return len(items) >= count


def _add_nodes(client: KubeClient, pods: int) -> None:
    """Fake nodes (kwok manages those annotated so) with room for `pods` more pods."""
    for index in range(math.ceil(pods / PODS_PER_NODE)):
        capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
        name = f"scale-node-{index}"
        with contextlib.suppress(AlreadyExists):
            client.create(NODE, None, {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                             "labels": {"kubernetes.io/hostname": name, "type": "kwok"}},
                "status": {"allocatable": capacity, "capacity": capacity}})


def _create(kubeconfig: str, indexes: Sequence[int]) -> float:
    """Create the Rollouts `indexes` with `CREATE_WORKERS` in parallel; seconds taken."""
    local = threading.local()

    def one(index: int) -> None:
        if not hasattr(local, "client"):
            local.client = KubeClient.from_kubeconfig(kubeconfig)
        for attempt in range(20):
            try:
                local.client.create(ROLLOUT, namespace_of(index), rollout(index))
                return
            except AlreadyExists:
                return
            except KubeError as error:
                if not error.temporary or attempt == 19:
                    raise
                time.sleep(min(5.0, 0.2 * 2 ** attempt))

    started = time.monotonic()
    with ThreadPoolExecutor(CREATE_WORKERS) as pool:
        list(pool.map(one, indexes))
    return time.monotonic() - started


def _settle(controller: ControllerProcess, timeout: float) -> None:
    """Wait until the controller used less than `SETTLED_CPU` over `SETTLE_WINDOW` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = controller.cpu_seconds()
        time.sleep(SETTLE_WINDOW)
        if controller.cpu_seconds() - before < SETTLED_CPU:
            return
    raise RuntimeError("benchmark: the controller's CPU did not settle")


def _measure_point(point: Point, cluster: Cluster, directory: Path, idle_seconds: float
                   ) -> None:
    controller = ControllerProcess(cluster, directory / "logs" / f"scale-{point.n}.log")
    try:
        point.sync_seconds = controller.wait_ready(60 + point.n / 10)
        _settle(controller, 300 + point.n / 5)
        point.settle_seconds = time.monotonic() - controller.started
        point.startup_cpu_seconds = controller.cpu_seconds()
        cpu_before, requests_before = controller.cpu_seconds(), controller.requests()
        started = time.monotonic()
        samples: list[float] = []
        while time.monotonic() - started < idle_seconds:
            samples.append(controller.status("VmRSS"))
            time.sleep(min(5.0, max(0.0, idle_seconds - (time.monotonic() - started))))
        point.idle_seconds = time.monotonic() - started
        point.idle_cpu_seconds = controller.cpu_seconds() - cpu_before
        after = controller.requests()
        delta = {verb: after[verb] - requests_before.get(verb, 0.0) for verb in after}
        point.idle_watches = delta.get("watch", 0.0)
        point.idle_lists = delta.get("list", 0.0)
        point.idle_requests = sum(v for verb, v in delta.items() if verb != "watch")
        point.rss_mib = controller.status("VmRSS")
        point.hwm_mib = controller.status("VmHWM")
        point.max_sampled_rss_mib = max([*samples, point.rss_mib])
        point.threads = int(controller.status("Threads"))
    finally:
        controller.stop()


def measure(n_max: int, wanted: Sequence[int], idle_seconds: float,
            say: Callable[[str], None] = print) -> list[Point]:
    """Bring up a dev cluster, measure every point of `wanted`, stop the cluster."""
    directory = cache_dir() / "bench-scale-cluster"
    cluster = up(lambda line: say(f"   {line}"), directory=directory)
    results: list[Point] = []
    try:
        subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", "apply",
                        "--server-side", "-k", str(REPO / "manifests")],
                       check=True, capture_output=True)
        for index in range(NAMESPACES):
            subprocess.run([str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}",
                            "create", "namespace", f"scale-{index}"],
                           check=False, capture_output=True)
        client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
        _add_nodes(client, n_max)
        time.sleep(3)  # default ServiceAccounts of the new namespaces
        healthy: set[tuple[str, str]] = set()
        lock = threading.Lock()

        def on_rollout(kind: str, obj: dict[str, Any], _old: Any) -> None:
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            with lock:
                if kind != "DELETED" and (obj.get("status") or {}).get("phase") == "Healthy":
                    healthy.add(key)
                else:
                    healthy.discard(key)

        watcher = Informer(client, ROLLOUT)
        watcher.add_handler(on_rollout)
        watcher.start()
        watcher.wait_for_sync(60)
        made = 0
        for n in wanted:
            point = Point(n)
            building = ControllerProcess(cluster, directory / "logs" / f"build-{n}.log")
            try:
                building.wait_ready(60 + n / 10)
                started = time.monotonic()
                point.create_seconds = _create(str(cluster.kubeconfig), range(made, n))
                made = n
                _wait(partial(_at_least, healthy, n), 600 + n / 2, f"{n} Rollouts Healthy")
                point.healthy_seconds = time.monotonic() - started
                point.building_hwm_mib = building.status("VmHWM")
            finally:
                building.stop()
            say(f"   {n} Rollouts Healthy after {point.healthy_seconds:.0f} s; measuring")
            _measure_point(point, cluster, directory, idle_seconds)
            say(f"   {json.dumps(asdict(point))}")
            results.append(point)
        watcher.stop()
    finally:
        down(lambda _line: None, directory=directory)
    return results


def rows(results: Sequence[Point]) -> list[dict[str, Any]]:
    """Report rows: per N, the figures a chart of RSS and CPU against N needs."""
    out: list[dict[str, Any]] = []
    for p in results:
        per_minute = 60 / p.idle_seconds if p.idle_seconds else 0.0

        def row(figure: str, value: str, unit: str, p: Point = p) -> None:
            out.append({"figure": f"{p.n} idle Rollouts: {figure}", "n": p.n,
                        "value": value, "unit": unit, "raw": asdict(p)})
        row("controller RSS after the idle window", f"{p.rss_mib:.0f}", "MiB")
        row("controller peak RSS (VmHWM, startup included)", f"{p.hwm_mib:.0f}", "MiB")
        row("controller CPU while idle", f"{p.idle_cpu_seconds * per_minute:.2f}",
            "CPU-s/min")
        row("non-watch API requests while idle", f"{p.idle_requests * per_minute:.1f}",
            "req/min")
        row("watch (re)opens while idle", f"{p.idle_watches * per_minute:.2f}", "per min")
        row("restart: caches synced (/readyz)", f"{p.sync_seconds:.1f}", "s")
        row("restart: CPU settled", f"{p.settle_seconds:.1f}", "s")
        row("restart: CPU until settled", f"{p.startup_cpu_seconds:.1f}", "CPU-s")
        row("creation: 8 parallel creates", f"{p.create_seconds:.1f}", "s")
        row("creation: until all Healthy", f"{p.healthy_seconds:.1f}", "s")
        row("controller threads", str(p.threads), "")
    return out


def run() -> None:
    n_max = int(os.environ.get("SCALE_N", "10000"))
    idle_seconds = float(os.environ.get("SCALE_IDLE_SECONDS", "900"))
    wanted = points(n_max, os.environ.get("SCALE_POINTS", "100,1000,10000"))
    results = measure(n_max, wanted, idle_seconds)
    table = rows(results)
    print(json.dumps([{k: v for k, v in r.items() if k != "raw"} for r in table], indent=2))
    record("scale", "Idle Rollouts at scale: controller memory, CPU, API requests", table,
           "Each N: Rollouts (canary, 1 replica, steps setWeight 20 and pause {}) created "
           f"8 at a time over {NAMESPACES} namespaces, all Healthy; then a fresh controller "
           "process is started, left until its CPU settles, and measured over the idle "
           "window: RSS and VmHWM from /proc at its end, CPU and API requests (its "
           "/metrics; watch opens apart) per minute. Each row's `raw` holds all the "
           "numbers of its N. The API server, etcd, kwok and the controller share the "
           "machine's cores.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": "rollouts,analysis,experiments (default)",
            "workers": str(WORKERS), "namespaces": "all", "leader election": "off",
            "idle window": f"{idle_seconds:g} s", "points": ",".join(map(str, wanted))})
