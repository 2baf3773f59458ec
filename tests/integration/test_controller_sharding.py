"""`--instance-id` shards like Argo Rollouts': two installs on one namespace, each serving
only its own Rollouts (by the `argo-rollouts.argoproj.io/controller-instance-id` label) and
the AnalysisRuns they create, and a Rollout labelled for an install that is not running is
touched by neither."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rollouts.api.sharding import INSTANCE_ID_LABEL
from tests.conftest import TestCluster
from tests.integration.support import rollout_status, set_image, wait_phase


def _template(address: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "always"},
            "spec": {"metrics": [{"name": "one", "interval": "1s", "count": 1,
                                  "successCondition": "result[0] >= 1",
                                  "provider": {"prometheus": {"address": address,
                                                              "query": "vector(1)"}}}]}}


def _rollout(name: str, instance: str | None) -> dict[str, Any]:
    labels = {"app": name}
    meta: dict[str, Any] = {"name": name}
    if instance is not None:
        meta["labels"] = {INSTANCE_ID_LABEL: instance}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": meta,
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
                     "strategy": {"canary": {"steps": [
                         {"setWeight": 50},
                         {"analysis": {"templates": [{"templateName": "always"}]}},
                         {"pause": {"duration": "1s"}}]}}}}


def _controller(cluster: TestCluster, namespace: str, log: Path, *extra: str
                ) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
            f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "--no-leader-elect",
            "--controllers", "rollouts,analysis", "--port", "0", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _runs(cluster: TestCluster, namespace: str) -> dict[str, dict[str, str]]:
    out = cluster.kubectl_run("get", "analysisruns", "-n", namespace, "-o", "json").stdout
    return {run["metadata"]["labels"]["rollouts.argoproj.io/rollout"]: run["metadata"]["labels"]
            for run in json.loads(out)["items"]}


def test_two_installs_each_serve_only_their_own_rollouts(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    objects = [_template(cluster.prometheus_url), _rollout("blue-app", "blue"),
               _rollout("plain-app", None), _rollout("green-app", "green")]
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    blue = _controller(cluster, namespace, tmp_path / "blue.log", "--instance-id", "blue")
    plain = _controller(cluster, namespace, tmp_path / "plain.log")
    try:
        for name in ("blue-app", "plain-app"):
            wait_phase(cluster, namespace, name, "Healthy", timeout=60)
            set_image(cluster, namespace, name, "app:2")
        for name in ("blue-app", "plain-app"):
            wait_phase(cluster, namespace, name, "Healthy", timeout=90, step=3)
        runs = _runs(cluster, namespace)
        assert runs["blue-app"].get(INSTANCE_ID_LABEL) == "blue"
        assert INSTANCE_ID_LABEL not in runs["plain-app"]
        assert "green-app" not in runs
        time.sleep(2)  # both had every chance to pick green-app up
        assert rollout_status(cluster, namespace, "green-app") == {}
        assert blue.poll() is None and plain.poll() is None
    finally:
        for process in (blue, plain):
            process.terminate()
            process.wait(20)
