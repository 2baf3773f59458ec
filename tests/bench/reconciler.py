"""Benchmark: the Git reconciler on the real local control plane and a real git daemon.

- commit-to-applied latency: a commit changes a ConfigMap's data; time until the new
  value is in the API server, by polling (`--app-resync 5`) and by a signed webhook;
- one Application of N ConfigMaps: time from creating the Application to Synced
  (render + diff + apply), and `rollouts app diff` on the synced app (render + N
  server-side dry-runs);
- steady state of a synced app: the controller's API writes and Git requests over a
  minute with nothing changing (from its /metrics).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rollouts.devcluster import down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import APPLICATION, CONFIG_MAP, KubeClient, NotFound
from tests.bench.report import record
from tests.integration.gitserver import GitDaemon

NAMESPACE = "bench-apps"
SECRET = "bench-secret"
WRITES = ("create", "update", "patch", "apply", "delete", "replace")


def _config_map(index: int, value: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"cm-{index:04d}"}, "data": {"v": value}})


def _application(name: str, url: str, resync_auto: bool = True) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "main", "path": "."},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": NAMESPACE},
                     "syncPolicy": {"automated": {"prune": True}} if resync_auto else {}}}


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("rollouts_kube_requests_total{", "git_request_total{")):
            key, value = line.rsplit(" ", 1)
            values[key] = values.get(key, 0.0) + float(value)
    return values


def _wait(predicate: Any, timeout: float, what: str, step: float = 0.02) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise RuntimeError(f"benchmark: timed out waiting for {what}")


def _value(client: KubeClient, name: str) -> str | None:
    try:
        return str(client.get(CONFIG_MAP, NAMESPACE, name).get("data", {}).get("v"))
    except NotFound:
        return None


def _synced(client: KubeClient, name: str) -> bool:
    try:
        status = client.get(APPLICATION, NAMESPACE, name).get("status") or {}
    except NotFound:
        return False
    return (status.get("sync") or {}).get("status") == "Synced" and (
        (status.get("operationState") or {}).get("phase") == "Succeeded")


def run(iterations: int = 10, objects: int = 1000, idle_seconds: float = 60) -> None:
    directory = cache_dir() / "bench-cluster"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    kubectl = [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
    manifests = Path(__file__).resolve().parents[2] / "manifests"
    subprocess.run([*kubectl, "apply", "--server-side", "-k", str(manifests)], check=True,
                   capture_output=True)
    subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=False,
                   capture_output=True)
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    metrics_port, webhook_port = free_port(), free_port()
    log = directory / "logs" / "bench-reconciler.log"
    controller = subprocess.Popen(
        [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect", "--controllers",
         "reconciler", "--port", str(metrics_port), "--app-resync", "5",
         "--webhook-port", str(webhook_port), "--webhook-secret", SECRET],
        stdout=log.open("ab"), stderr=subprocess.STDOUT)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, GitDaemon(Path(tmp)) as daemon:
            small = daemon.create_repo("small", {"cm.yaml": _config_map(0, "v0")})
            client.create(APPLICATION, NAMESPACE, _application("small", daemon.url("small")))
            _wait(lambda: _synced(client, "small"), 120, "small app synced", 0.2)
            polled, hooked = [], []
            for i in range(1, iterations + 1):
                small.commit({"cm.yaml": _config_map(0, f"poll-{i}")})
                polled.append(_wait(lambda i=i: _value(client, "cm-0000") == f"poll-{i}", 60,
                                    "polled commit applied"))
                small.commit({"cm.yaml": _config_map(0, f"hook-{i}")})
                started = time.monotonic()
                body = json.dumps({"ref": "refs/heads/main", "repository": {
                    "clone_url": daemon.url("small"), "html_url": daemon.url("small")}}).encode()
                signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                request = urllib.request.Request(
                    f"http://127.0.0.1:{webhook_port}/api/webhook", data=body, method="POST",
                    headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature,
                             "Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=10).read()
                _wait(lambda i=i: _value(client, "cm-0000") == f"hook-{i}", 60,
                      "webhook commit applied")
                hooked.append(time.monotonic() - started)
                time.sleep(1)
            rows += [
                {"figure": "commit -> applied by polling (resync 5 s), median", "n": iterations,
                 "value": f"{statistics.median(polled):.2f}", "unit": "s"},
                {"figure": "commit -> applied by polling (resync 5 s), max", "n": iterations,
                 "value": f"{max(polled):.2f}", "unit": "s"},
                {"figure": "commit -> applied by webhook, median", "n": iterations,
                 "value": f"{statistics.median(hooked) * 1000:.0f}", "unit": "ms"},
                {"figure": "commit -> applied by webhook, max", "n": iterations,
                 "value": f"{max(hooked) * 1000:.0f}", "unit": "ms"},
            ]

            files: dict[str, str | None] = {f"cm-{i:04d}.yaml": _config_map(i, "x")
                                            for i in range(1, objects + 1)}
            daemon.create_repo("big", files)
            started = time.monotonic()
            client.create(APPLICATION, NAMESPACE, _application("big", daemon.url("big")))
            _wait(lambda: _synced(client, "big"), 1200, "big app synced", 0.5)
            sync_seconds = time.monotonic() - started
            started = time.monotonic()
            diff = subprocess.run(
                [sys.executable, "-m", "rollouts.cli.main", "app", "diff", "big", "-n",
                 NAMESPACE, f"--kubeconfig={cluster.kubeconfig}"],
                capture_output=True, text=True, check=False, timeout=1200)
            diff_seconds = time.monotonic() - started
            rows += [
                {"figure": f"Application of {objects} ConfigMaps: create -> Synced", "n": 1,
                 "value": f"{sync_seconds:.1f}", "unit": "s"},
                {"figure": f"`rollouts app diff` of the synced {objects}-object app "
                           f"(exit {diff.returncode})", "n": 1,
                 "value": f"{diff_seconds:.1f}", "unit": "s"},
            ]
            time.sleep(10)
            before = _metrics(metrics_port)
            time.sleep(idle_seconds)
            after = _metrics(metrics_port)
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            writes = sum(v for k, v in delta.items()
                         if k.startswith("rollouts_kube_requests_total")
                         and any(f'verb="{w}"' in k for w in WRITES))
            ls_remote = sum(v for k, v in delta.items() if "ls-remote" in k)
            fetches = sum(v for k, v in delta.items()
                          if k.startswith("git_request_total") and "fetch" in k)
            polls = 2 * idle_seconds / 5  # two apps, resync 5 s
            rows += [
                {"figure": f"steady state (2 synced apps, {idle_seconds:.0f} s): API writes",
                 "n": 1, "value": f"{writes:.0f}", "unit": ""},
                {"figure": "steady state: git ls-remote per poll", "n": int(polls),
                 "value": f"{ls_remote / polls:.2f}", "unit": ""},
                {"figure": "steady state: git fetches per poll", "n": int(polls),
                 "value": f"{fetches / polls:.2f}", "unit": ""},
            ]
            print(json.dumps(delta, indent=1))
    finally:
        controller.terminate()
        controller.wait(30)
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("reconciler", "Git reconciler: commit-to-applied, 1,000 objects, steady state",
           rows, "One controller process (`--controllers reconciler`, 4 workers) against a "
           "git daemon on 127.0.0.1; latency is from `git commit` returning (and, for the "
           "webhook, the signed push being sent right after) to the new ConfigMap value "
           "read back from the API server (polled every 20 ms). The steady state counts the "
           "controller's own requests from its /metrics; writes are create/update/patch/"
           "apply/delete.", {"kubernetes": KUBERNETES.version})
