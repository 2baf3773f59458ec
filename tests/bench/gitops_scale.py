"""Benchmark: GitOps at scale, N Applications from one Git repository (issue 13 item 4).

One repository served by `git daemon` on 127.0.0.1 holds `apps/app-NNNN/` (a ConfigMap,
a headless Service and a ServiceAccount each) for N Applications (env `GITOPS_APPS`, default
1000) and `big/` (1,000 ConfigMaps) for one more. One controller process
(`rollouts controller --controllers reconciler`) serves them on the local control plane.

Figures:
- from the first Application created (they are created by 4 client threads) to all N
  Synced and Healthy (seen on a watch of Applications), the controller's CPU seconds
  (utime+stime from /proc) and peak RSS (VmHWM) over that, and its API requests by verb
  (`rollouts_kube_requests_total` from its /metrics);
- a no-op resync window: nothing changes in Git or the cluster for `GITOPS_WINDOW_RESYNCS`
  (default 2.5) resync periods, so every Application polls Git at least twice; the
  controller's write requests in that window must be 0, and its `git ls-remote` count
  shows how many polls reached the server;
- `rollouts app diff` of the synced 1,000-object Application, run as a user runs it (a
  subprocess, interpreter start-up included), exit code in the label (0: in sync).

Env: GITOPS_APPS (1000), GITOPS_RESYNC (60 s), GITOPS_WORKERS (10, the default),
GITOPS_WINDOW_RESYNCS (2.5). The cluster is its own (`~/.cache/rollouts/bench-gitops`),
stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rollouts.devcluster import down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import APPLICATION, Informer, KubeClient
from tests.bench.report import env_number, record
from tests.integration.gitserver import GitDaemon

NAMESPACE = "bench-gitops"
WRITES = ("create", "update", "patch", "apply", "delete", "replace")
BIG_OBJECTS = 1000


def _app_files(index: int) -> dict[str, str | None]:
    name = f"app-{index:04d}"
    objects = {
        "cm.yaml": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-cm"},
                    "data": {"app": name, "level": "info"}},
        "svc.yaml": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-svc"},
                     "spec": {"clusterIP": "None", "selector": {"app": name},
                              "ports": [{"port": 80, "targetPort": 8080}]}},
        "sa.yaml": {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": f"{name}-sa"}},
    }
    return {f"apps/{name}/{file}": json.dumps(obj) for file, obj in objects.items()}


def _big_files() -> dict[str, str | None]:
    return {f"big/cm-{i:04d}.yaml": json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{i:04d}"},
         "data": {"v": str(i)}}) for i in range(BIG_OBJECTS)}


def fleet_files(apps: int) -> dict[str, str | None]:
    """The whole repository: `apps/app-NNNN/` for `apps` apps, and `big/`."""
    files: dict[str, str | None] = {}
    for index in range(apps):
        files.update(_app_files(index))
    files.update(_big_files())
    return files


def application(name: str, url: str, path: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "main", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": NAMESPACE},
                     "syncPolicy": {"automated": {"prune": True}}}}


class Controller:
    """The reconciler as its own process; its /metrics, CPU and peak RSS."""

    def __init__(self, kubeconfig: Path, log: Path, *, workers: int, resync: float) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
             f"--kubeconfig={kubeconfig}", "--no-leader-elect", "--controllers", "reconciler",
             "--port", str(self.port), "--workers", str(workers), "--app-resync", str(resync)],
            stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def metrics(self) -> dict[str, float]:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                            timeout=30) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(("rollouts_kube_requests_total{", "git_request_total{")):
                key, value = line.rsplit(" ", 1)
                values[key] = values.get(key, 0.0) + float(value)
        return values

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def by_verb(delta: dict[str, float]) -> dict[str, float]:
    verbs: dict[str, float] = {}
    for key, value in delta.items():
        if key.startswith("rollouts_kube_requests_total") and 'verb="' in key:
            verb = key.split('verb="', 1)[1].split('"', 1)[0]
            verbs[verb] = verbs.get(verb, 0.0) + value
    return verbs


def metrics_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def app_ready(app: dict[str, Any]) -> bool:
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status") == "Synced" and \
        (status.get("health") or {}).get("status") == "Healthy"


def wait_all(apps: Informer, names: set[str], timeout: float) -> float:
    """When all `names` are Synced+Healthy, seen on a watch (a LIST a second of 1,000
    Applications would load the API server the controller is measured against)."""
    started = time.monotonic()
    while True:
        done = {a["metadata"]["name"] for a in apps.list(NAMESPACE) if app_ready(a)} & names
        if len(done) == len(names):
            return time.monotonic()
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"benchmark: {len(names) - len(done)} of {len(names)} "
                               f"Applications not Synced+Healthy after {timeout:.0f} s")
        time.sleep(0.2)


def run() -> None:
    apps = int(env_number("GITOPS_APPS", 1000))
    resync = env_number("GITOPS_RESYNC", 60.0)
    workers = int(env_number("GITOPS_WORKERS", 10))  # the controller's default
    window = env_number("GITOPS_WINDOW_RESYNCS", 2.5) * resync
    directory = cache_dir() / "bench-gitops"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    kubectl = [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
    manifests = Path(__file__).resolve().parents[2] / "manifests"
    subprocess.run([*kubectl, "apply", "--server-side", "-k", str(manifests)], check=True,
                   capture_output=True)
    subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=False,
                   capture_output=True)
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    log = directory / "logs" / "bench-gitops-controller.log"
    controller = Controller(cluster.kubeconfig, log, workers=workers, resync=resync)
    rows: list[dict[str, Any]] = []
    watched = Informer(client, APPLICATION, NAMESPACE)
    watched.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, GitDaemon(Path(tmp)) as daemon:
            daemon.create_repo("fleet", fleet_files(apps))
            url = daemon.url("fleet")
            before = controller.metrics()
            cpu_before = controller.cpu_seconds()
            names = {f"app-{i:04d}" for i in range(apps)}
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda n: client.create(
                    APPLICATION, NAMESPACE, application(n, url, f"apps/{n}")), sorted(names)))
            created = time.monotonic() - started
            finished = wait_all(watched, names, timeout=max(600.0, apps * 1.5))
            sync_seconds = finished - started
            cpu = controller.cpu_seconds() - cpu_before
            verbs = by_verb(metrics_delta(controller.metrics(), before))
            total = sum(verbs.values())
            rows += [
                {"figure": f"{apps} Applications from one repository: first created -> all "
                           "Synced+Healthy", "n": apps, "value": f"{sync_seconds:.1f}",
                 "unit": "s"},
                {"figure": f"  of which creating the {apps} Applications (4 client threads)",
                 "n": apps, "value": f"{created:.1f}", "unit": "s"},
                {"figure": "controller CPU over that", "n": 1, "value": f"{cpu:.1f}",
                 "unit": "CPU-s"},
                {"figure": "controller peak RSS (VmHWM)", "n": 1,
                 "value": f"{controller.peak_rss_mib():.0f}", "unit": "MiB"},
                {"figure": "controller API requests per Application (all verbs: "
                           + ", ".join(f"{v} {n:.0f}" for v, n in sorted(verbs.items())) + ")",
                 "n": apps, "value": f"{total / apps:.1f}", "unit": ""},
            ]
            print(json.dumps(rows, indent=1), flush=True)

            time.sleep(10)  # the last statuses reach the cache; nothing is pending
            before = controller.metrics()
            cpu_before = controller.cpu_seconds()
            time.sleep(window)
            delta = metrics_delta(controller.metrics(), before)
            idle_cpu = controller.cpu_seconds() - cpu_before
            verbs = by_verb(delta)
            writes = sum(n for v, n in verbs.items() if v in WRITES)
            ls_remote = sum(v for k, v in delta.items() if "ls-remote" in k)
            fetches = sum(v for k, v in delta.items()
                          if k.startswith("git_request_total") and "fetch" in k)
            rows += [
                {"figure": f"no-op resync ({window:.0f} s = {window / resync:.1f} resync "
                           f"periods, {apps} apps): API writes", "n": 1,
                 "value": f"{writes:.0f}", "unit": ""},
                {"figure": "no-op resync: API requests, all verbs (" + ", ".join(
                    f"{v} {n:.0f}" for v, n in sorted(verbs.items()) if n) + ")", "n": 1,
                 "value": f"{sum(verbs.values()):.0f}", "unit": ""},
                {"figure": "no-op resync: git ls-remote / git fetch", "n": 1,
                 "value": f"{ls_remote:.0f} / {fetches:.0f}", "unit": ""},
                {"figure": "no-op resync: controller CPU", "n": 1,
                 "value": f"{idle_cpu:.1f}", "unit": "CPU-s"},
            ]
            print(json.dumps(rows[-4:], indent=1), flush=True)

            started = time.monotonic()
            client.create(APPLICATION, NAMESPACE, application("big", url, "big"))
            wait_all(watched, {"big"}, timeout=600)
            big_sync = time.monotonic() - started
            started = time.monotonic()
            diff = subprocess.run(
                [sys.executable, "-m", "rollouts.cli.main", "app", "diff", "big", "-n",
                 NAMESPACE, f"--kubeconfig={cluster.kubeconfig}"],
                capture_output=True, text=True, check=False, timeout=600)
            diff_seconds = time.monotonic() - started
            if diff.returncode not in (0, 1):
                print(diff.stderr, flush=True)
            rows += [
                {"figure": f"Application of {BIG_OBJECTS} ConfigMaps (beside the {apps}): "
                           "create -> Synced+Healthy", "n": 1, "value": f"{big_sync:.1f}",
                 "unit": "s"},
                {"figure": f"`rollouts app diff` of the synced {BIG_OBJECTS}-object app, "
                           f"subprocess (exit {diff.returncode})", "n": 1,
                 "value": f"{diff_seconds:.2f}", "unit": "s"},
            ]
    finally:
        watched.stop()
        controller.stop()
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("gitops_scale", f"GitOps at scale: {apps} Applications from one repository",
           rows, f"One controller process (`--controllers reconciler`, {workers} workers, "
           f"resync {resync:.0f} s) and one `git daemon` repository on 127.0.0.1; each "
           "Application is its own path (a ConfigMap, a headless Service, a "
           "ServiceAccount: the dev cluster's Service range holds too few ClusterIPs for "
           "1,000). Request counts are the controller's own "
           "(`rollouts_kube_requests_total`, watches included); writes are "
           "create/update/patch/apply/delete. Taken on the bench "
           "machine as it was, other work included.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": "reconciler", "workers": str(workers), "resync": f"{resync:.0f} s",
            "apps": str(apps)})
