"""Benchmark: the Git reconciler on the real local control plane and a real git daemon.

- commit-to-applied latency: a commit changes a ConfigMap's data; time until the new
  value is in the API server, by polling (`--app-resync 5`) and by a signed webhook.
  Each polled commit is made at a random moment: after the previous value is applied the
  benchmark waits a random 0..resync*1.1 s (a seeded RNG: `RECONCILER_SEED`, recorded),
  so the commit does not fall at a fixed offset from the app's poll timer. N per
  latency is `RECONCILER_ITERATIONS` (default 100: a p99 needs N >= 100). Each push is
  what GitHub sends (`before`/`after` shas, a delivery id), so no two bodies are alike:
  the webhook ignores a replayed body, and an earlier version of this benchmark sent the
  same body every time, so every push after the first waited for a poll. The webhook's
  answer must name the app it refreshed, or the benchmark stops;
- one Application of N ConfigMaps: time from creating the Application to Synced
  (render + diff + apply), and `rollouts app diff` on the synced app (render + N
  server-side dry-runs);
- steady state of a synced app: the controller's API writes and Git requests over a
  minute with nothing changing (from its /metrics); the polls in that minute are counted
  from the controller's log (one DEBUG line "<app>: polled ..." per poll), not assumed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from rollouts.devcluster import down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import APPLICATION, CONFIG_MAP, KubeClient, NotFound
from tests.bench.report import latency_rows, record
from tests.integration.gitserver import GitDaemon

NAMESPACE = "bench-apps"
SECRET = "bench-secret"
WRITES = ("create", "update", "patch", "apply", "delete", "replace")
RESYNC = 5.0
WORKERS = 4


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


def _push(port: int, url: str, before: str, after: str) -> Any:
    """A signed push as GitHub sends it: `before`/`after` and a delivery id make each
    body unique (an identical body is a replay, which the webhook ignores by design)."""
    body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                       "head_commit": {"id": after},
                       "repository": {"clone_url": url, "html_url": url}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/webhook", data=body, method="POST",
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                 "X-Hub-Signature-256": signature, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


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


def run(iterations: int = 0, objects: int = 1000, idle_seconds: float = 60) -> None:
    iterations = iterations or int(os.environ.get("RECONCILER_ITERATIONS") or 100)
    seed = int(os.environ.get("RECONCILER_SEED") or 13)
    rng = random.Random(seed)
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
         "reconciler", "--port", str(metrics_port), "--app-resync", str(RESYNC),
         "--workers", str(WORKERS), "--log-level", "DEBUG",
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
                time.sleep(rng.uniform(0.0, RESYNC * 1.1))  # a random moment of the poll cycle
                small.commit({"cm.yaml": _config_map(0, f"poll-{i}")})
                polled.append(_wait(lambda i=i: _value(client, "cm-0000") == f"poll-{i}", 60,
                                    "polled commit applied"))
                parent = small.head()
                pushed = small.commit({"cm.yaml": _config_map(0, f"hook-{i}")})
                started = time.monotonic()
                answer = _push(webhook_port, daemon.url("small"), parent, pushed)
                if answer != {"refreshed": [f"{NAMESPACE}/small"]}:
                    raise RuntimeError(f"benchmark: the webhook answered {answer}")
                _wait(lambda i=i: _value(client, "cm-0000") == f"hook-{i}", 60,
                      "webhook commit applied")
                hooked.append(time.monotonic() - started)
            rows += latency_rows(f"commit at a random moment -> applied by polling (resync "
                                 f"{RESYNC:.0f} s, seed {seed})", polled)
            rows += latency_rows("commit -> applied by webhook", hooked)

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
            log_from = log.stat().st_size
            time.sleep(idle_seconds)
            after = _metrics(metrics_port)
            with log.open("rb") as lines:
                lines.seek(log_from)
                window_log = lines.read().decode(errors="replace")
            polls = sum(window_log.count(f"{NAMESPACE}/{app}: polled ")
                        for app in ("small", "big"))
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            writes = sum(v for k, v in delta.items()
                         if k.startswith("rollouts_kube_requests_total")
                         and any(f'verb="{w}"' in k for w in WRITES))
            ls_remote = sum(v for k, v in delta.items() if "ls-remote" in k)
            fetches = sum(v for k, v in delta.items()
                          if k.startswith("git_request_total") and "fetch" in k)
            rows += [
                {"figure": f"steady state (2 synced apps, {idle_seconds:.0f} s): API writes",
                 "n": 1, "value": f"{writes:.0f}", "unit": ""},
                {"figure": "steady state: polls counted in the controller's log", "n": 1,
                 "value": f"{polls}", "unit": ""},
                {"figure": "steady state: git ls-remote per poll", "n": polls,
                 "value": f"{ls_remote / max(polls, 1):.2f}", "unit": ""},
                {"figure": "steady state: git fetches per poll", "n": polls,
                 "value": f"{fetches / max(polls, 1):.2f}", "unit": ""},
            ]
            print(json.dumps(delta, indent=1))
    finally:
        controller.terminate()
        controller.wait(30)
        down(lambda _line: None, directory=directory)
    print(json.dumps(rows, indent=2))
    record("reconciler", "Git reconciler: commit-to-applied, 1,000 objects, steady state",
           rows, "One controller process against a git daemon on 127.0.0.1; latency is from "
           "`git commit` returning (and, for the webhook, the signed push being sent right "
           "after) to the new ConfigMap value read back from the API server (polled every "
           "20 ms). Each polled commit follows a random wait of 0..1.1 x resync after the "
           "previous value was applied (seeded RNG, seed in the label). The steady state "
           "counts the controller's own requests from its /metrics (writes are create/"
           "update/patch/apply/delete) and its polls from its log.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": "reconciler", "workers": str(WORKERS), "resync": f"{RESYNC:.0f} s",
            "log level": "DEBUG (the poll lines are counted)", "seed": str(seed),
            "iterations": str(iterations)})
