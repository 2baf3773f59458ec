"""`rollouts plan` against the real control plane: a live Rollout paused by the real
controller is shown from its current step on, and the plan's sizes are the ones the
controller made; a manifest from the Argo corpus plans offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TestCluster
from tests.integration.support import (
    COMPAT,
    replica_counts,
    rollouts_cli,
    running_controller,
    set_image,
    wait_phase,
)

pytestmark = pytest.mark.integration

ARGO = COMPAT / "argo-rollouts"
TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
    "metadata": {"name": "error-rate"},
    "spec": {"args": [{"name": "service"}, {"name": "stable-hash"}],
             "metrics": [{"name": "errors", "interval": "1m", "count": 5,
                          "successCondition": "result[0] < 0.01",
                          "provider": {"prometheus": {
                              "address": "http://prometheus.invalid:9090",
                              "query": 'sum(rate(errors{service="{{args.service}}",'
                                       'hash="{{args.stable-hash}}"}[1m]))'}}}]},
}
ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "planned"},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "planned"}},
        "template": {"metadata": {"labels": {"app": "planned"}},
                     "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        "strategy": {"canary": {"maxSurge": 1, "maxUnavailable": 0, "steps": [
            {"setWeight": 25}, {"pause": {}}, {"setWeight": 50},
            {"pause": {"duration": "2m"}},
            {"analysis": {"templates": [{"templateName": "error-rate"}],
                          "args": [{"name": "service", "value": "checkout"},
                                   {"name": "stable-hash", "valueFrom": {
                                       "podTemplateHashValue": "Stable"}}]}}]}},
    },
}


@pytest.mark.timeout(180)
def test_plan_of_a_live_rollout_marks_its_pause_and_shows_what_remains(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    with running_controller(cluster, namespace, tmp_path):
        for obj in (TEMPLATE, ROLLOUT):
            cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
        first = wait_phase(cluster, namespace, "planned", "Healthy", timeout=90)
        set_image(cluster, namespace, "planned", "app:2")
        paused = wait_phase(cluster, namespace, "planned", "Paused", timeout=90, step=1)

        result = rollouts_cli(cluster, "plan", "planned", "-n", namespace)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        # Table rows: a mark column (done, current, pending), then the step number.
        row = {line[1:].split()[0]: line for line in lines
               if line[1:].split() and line[1:].split()[0] in {"1", "2", "3", "4", "5"}}
        assert row["1"].startswith("✓") and "setWeight: 25" in row["1"]
        assert row["2"].startswith(">") and "pause until promoted" in row["2"]
        assert row["3"].startswith(" ") and "setWeight: 50" in row["3"]
        # The template was read from the cluster and its query filled in, the stable pod
        # hash from the live status.
        assert (f'sum(rate(errors{{service="checkout",hash="{first["stableRS"]}"}}[1m]))'
                in result.stdout)
        assert "Minimum total time: 6m from now, plus:" in result.stdout  # 2m + 4 x 1m

        done = rollouts_cli(cluster, "plan", "planned", "-n", namespace, "-o", "json")
        assert done.returncode == 0, done.stderr
        plan = json.loads(done.stdout)
        assert plan["current"] == 1
        assert [s["state"] for s in plan["stages"]] == ["done", "current", "pending",
                                                        "pending", "pending", "pending"]
        # The sizes the plan gives the current step are the ones the controller made.
        counts = replica_counts(cluster, namespace)
        current = plan["stages"][1]["replicas"]
        assert counts[paused["currentPodHash"]] == current["new"] == 1
        assert counts[first["stableRS"]] == current["stable"] == 3


def test_plan_of_a_corpus_manifest_offline(cluster: TestCluster) -> None:
    files = ("examples-rollout-analysis-step.yaml", "examples-analysis-templates.yaml",
             "examples-cluster-analysis-templates.yaml")  # always-pass is cluster-scoped
    result = rollouts_cli(cluster, "plan", *[a for f in files for a in ("-f", str(ARGO / f))])
    assert result.returncode == 0, result.stderr
    assert "analysis: random-fail, always-pass" in result.stdout
    assert "random-fail (job, interval 5s, count 2)" in result.stdout
    assert "Minimum total time: 5s" in result.stdout


def test_plan_of_a_rollout_that_does_not_exist(cluster: TestCluster, namespace: str) -> None:
    result = rollouts_cli(cluster, "plan", "nothing-here", "-n", namespace)
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1 and "nothing-here" in result.stderr
