"""Argo's own analysis examples (../shared/compat/argo-rollouts) on the local cluster.

kwok runs no containers: a Job's pod "exits" 0 unless it carries the annotation
`rollouts.dev/exit-code`, so the examples' Jobs succeed, which is what `pass`,
`always-pass` and `sleep-job` with its default arguments intend. (`random-fail` flips a
coin in a shell; here it always passes.) There is no network: URLs outside this machine
are replaced, never the files themselves.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TestCluster
from tests.integration.exporter import Reply, ScriptedServer
from tests.integration.support import (
    COMPAT,
    get,
    rollout_status,
    rollouts_cli,
    running_controller,
    set_image,
    wait_for,
    wait_phase,
)

ARGO = COMPAT / "argo-rollouts"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ARGO / name).read_text()) if d]


def _apply(cluster: TestCluster, namespace: str, *docs: dict[str, Any]) -> None:
    for doc in docs:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def _runs(cluster: TestCluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl_run("get", "analysisruns", "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def test_inline_job_analyses_gate_each_step(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, *_docs("e2e-functional-analysistemplate-sleep-job.yaml"),
               *_docs("e2e-functional-rollout-inline-analysis.yaml"))
        wait_phase(cluster, namespace, "rollout-inline-analysis", "Healthy", timeout=60)
        set_image(cluster, namespace, "rollout-inline-analysis", "nginx:1.20-alpine")
        wait_phase(cluster, namespace, "rollout-inline-analysis", "Paused", step=2, timeout=90)
        result = rollouts_cli(cluster, "promote", "rollout-inline-analysis", "-n", namespace)
        assert result.returncode == 0, result.stderr
        wait_phase(cluster, namespace, "rollout-inline-analysis", "Healthy", timeout=120)
    runs = _runs(cluster, namespace)
    assert len(runs) == 3
    assert {r["status"]["phase"] for r in runs} == {"Successful"}
    jobs = json.loads(cluster.kubectl_run("get", "jobs", "-n", namespace, "-o", "json").stdout)
    assert len(jobs["items"]) >= 3  # one Job per measurement, owned by its run


def test_namespaced_and_cluster_templates_merge_into_one_run(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    templates = _docs("examples-analysis-templates.yaml")
    cluster_template = _docs("examples-cluster-analysis-templates.yaml")[0]
    rollout = _docs("examples-rollout-analysis-step.yaml")[0]
    cluster.kubectl_run("apply", "-f", "-", input=json.dumps(cluster_template))
    try:
        with running_controller(cluster, namespace, tmp_path):
            _apply(cluster, namespace, *templates, rollout)
            first = wait_phase(cluster, namespace, "rollout-analysis-step", "Healthy",
                               timeout=60)
            set_image(cluster, namespace, "rollout-analysis-step",
                      "argoproj/rollouts-demo:green")
            wait_for(lambda: rollout_status(cluster, namespace, "rollout-analysis-step").get(
                "stableRS") != first["stableRS"], 120, "the analysed canary to become stable")
    finally:
        # Cluster-scoped: it outlives the namespace, and other tests create it too.
        cluster.kubectl_run("delete", "clusteranalysistemplate", "always-pass",
                            "--ignore-not-found", check=False)
    runs = _runs(cluster, namespace)
    assert len(runs) == 1
    assert sorted(m["name"] for m in runs[0]["spec"]["metrics"]) == ["pass", "random-fail"]
    assert runs[0]["status"]["phase"] == "Successful"


def test_web_background_template_reads_the_api_servers_version(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    template = _docs("e2e-functional-analysistemplate-web-background.yaml")[0]
    spec = dict(template["spec"])
    # The template's default URL is the in-cluster name of the API server; from this
    # machine the same server is at the dev cluster's address.
    spec["args"] = [{"name": "url-val", "value": f"{cluster.state.server}/version"}]
    spec["metrics"] = [dict(spec["metrics"][0], count=2)]
    run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
           "metadata": {"name": "web-version"}, "spec": spec}
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, run)
        wait_for(lambda: (get(cluster, namespace, "analysisrun", "web-version").get("status")
                          or {}).get("phase") in ("Successful", "Failed", "Error"),
                 60, "the run to finish")
    status = get(cluster, namespace, "analysisrun", "web-version")["status"]
    assert status["phase"] == "Successful", status


def test_rollout_secret_example_reads_its_url_from_the_secret(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    docs = _docs("examples-rollout-secret.yaml")
    rollout, secret, template = docs
    with ScriptedServer() as server:
        url = server.reply("/example.json", Reply(body={"message": "It worked!"}))
        # The example's Secret points at a page on the internet; ours at a local copy.
        secret = dict(secret, data={"secretUrl": base64.b64encode(url.encode()).decode()})
        with running_controller(cluster, namespace, tmp_path) as controller:
            _apply(cluster, namespace, secret, template, rollout)
            wait_phase(cluster, namespace, "rollout-secret", "Healthy", timeout=60)
            set_image(cluster, namespace, "rollout-secret", "argoproj/rollouts-demo:green")
            paused = wait_phase(cluster, namespace, "rollout-secret", "Paused", step=2,
                                timeout=90)
            log = controller.log.read_text()
    assert paused["currentStepIndex"] == 2
    runs = _runs(cluster, namespace)
    assert runs[0]["status"]["phase"] == "Successful"
    assert url not in json.dumps(runs) + log  # a secret's value is never stored or logged
    assert rollout_status(cluster, namespace, "rollout-secret")["phase"] == "Paused"
