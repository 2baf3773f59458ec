"""`analysis backtest --rollout NAME` reading the Rollout, its template and a Secret from the
real control plane, against a real Prometheus with backfilled history.

The Rollout's step analysis passes the stable pod hash (`podTemplateHashValue: Stable`,
from the Rollout's status, patched in as the controller would write it) into the query,
and the template reads a tenant header from a Secret (`secretKeyRef`). The history holds
the error ratio only for the series labelled with that stable hash, so a wrong hash
would find no data: an Error for every measurement instead of the verdicts below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TestCluster
from tests.integration.prom_history import Series, prometheus_with_history

STABLE, LATEST = "stable7c9", "latest4b2"


def objects(url: str) -> list[dict[str, Any]]:
    template = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "stable-error-ratio"},
        "spec": {
            "args": [{"name": "hash"},
                     {"name": "tenant", "valueFrom": {"secretKeyRef": {"name": "prom",
                                                                       "key": "tenant"}}}],
            "metrics": [{
                "name": "error-ratio", "successCondition": "result[0] < 0.05",
                "provider": {"prometheus": {
                    "address": url,
                    "headers": [{"key": "X-Scope-OrgID", "value": "{{args.tenant}}"}],
                    "query": 'max(http_error_ratio{hash="{{args.hash}}"})'}}}],
        },
    }
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout"},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [{"name": "app", "image": "checkout:2"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"analysis": {
                "templates": [{"templateName": "stable-error-ratio"}],
                "args": [{"name": "hash",
                          "valueFrom": {"podTemplateHashValue": "Stable"}}]}}]}},
        },
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prom"},
              "stringData": {"tenant": "team-checkout"}}
    return [template, rollout, secret]


def test_a_live_rollouts_analysis_with_its_stable_hash_and_a_secret(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    """30 minutes, a run a minute (31); the stable series goes bad at minute 20, so the
    runs of minutes 20..30 (11) fail, the first at 20."""
    end = int(time.time()) // 60 * 60 - 60
    start = end - 30 * 60
    points = [(float(t), 0.09 if t >= start + 20 * 60 else 0.01)
              for t in range(start - 600, end + 1, 30)]
    series = [Series("http_error_ratio", points, {"hash": STABLE}),
              Series("http_error_ratio", [(p[0], 0.5) for p in points], {"hash": LATEST})]
    with prometheus_with_history(tmp_path / "prom", series) as url:
        manifest = tmp_path / "objects.yaml"
        manifest.write_text(yaml.safe_dump_all(objects(url)))
        cluster.kubectl_run("apply", "-n", namespace, "-f", str(manifest))
        cluster.kubectl_run("patch", "rollout", "checkout", "-n", namespace,
                            "--subresource=status", "--type=merge", "-p",
                            json.dumps({"status": {"stableRS": STABLE,
                                                   "currentPodHash": LATEST}}))

        def at(minutes: int) -> str:
            moment = datetime.fromtimestamp(start, UTC) + timedelta(minutes=minutes)
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

        done = subprocess.run(
            [sys.executable, "-m", "rollouts.cli.main", "analysis", "backtest",
             "--rollout", "checkout", "-n", namespace, f"--kubeconfig={cluster.kubeconfig}",
             "--from", at(0), "--to", at(30), "-o", "json"],
            capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    [step] = report["analyses"]
    assert step["label"] == f"Rollout checkout step 1 (the cluster, namespace {namespace})"
    assert step["args"] == f"hash={STABLE}  tenant=*****"
    assert step["runCounts"] == {"Successful": 20, "Failed": 11}
    assert step["firstFailure"]["startedAt"] == at(20)
    assert "team-checkout" not in done.stdout
