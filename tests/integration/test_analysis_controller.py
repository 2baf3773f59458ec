"""Analysis gating canary steps, end to end: the real controller process (rollouts and
analysis controllers), the dev cluster's real Prometheus scraping a test exporter."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rollouts.devcluster.process import free_port
from tests.conftest import TestCluster
from tests.integration.exporter import Exporter, closed_port, wait_until_scraped
from tests.integration.support import (
    events,
    get,
    replica_counts,
    rollout_status,
    rollouts_cli,
    running_controller,
    set_image,
    wait_for,
    wait_phase,
)


@pytest.fixture
def exporter(cluster: TestCluster) -> Iterator[Exporter]:
    with Exporter(cluster.state.prometheus_targets) as serving:
        yield serving


def _template(name: str, address: str, metric: dict[str, Any],
              args: list[dict[str, Any]] | None = None) -> str:
    query = metric.pop("query", 'demo_success_ratio{job="{{args.job}}"}')
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {
            "args": args or [{"name": "job"}],
            "metrics": [{"name": "success-rate", "interval": "1s", "count": 3,
                         "provider": {"prometheus": {"address": address, "query": query}},
                         **metric}],
        },
    })


def _rollout(template: str, job: str, replicas: int = 4) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {"steps": [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": template}],
                              "args": [{"name": "job", "value": job}]}},
                {"setWeight": 75},
            ]}},
        },
    })


def _deploy(cluster: TestCluster, namespace: str, *manifests: str) -> str:
    for manifest in manifests:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)
    stable = str(wait_phase(cluster, namespace, "web", "Healthy")["stableRS"])
    set_image(cluster, namespace, "web", "app:2")
    return stable


def _step_run(cluster: TestCluster, namespace: str) -> dict[str, Any]:
    def name() -> str | None:
        canary = rollout_status(cluster, namespace, "web").get("canary") or {}
        return (canary.get("currentStepAnalysisRunStatus") or {}).get("name")

    wait_for(lambda: name() is not None, 60, "the step's AnalysisRun")
    return get(cluster, namespace, "analysisrun", str(name()))


def _finished_run(cluster: TestCluster, namespace: str) -> dict[str, Any]:
    out = cluster.kubectl_run("get", "analysisruns", "-n", namespace, "-o", "json").stdout
    runs = json.loads(out)["items"]
    assert len(runs) == 1, [r["metadata"]["name"] for r in runs]
    return dict(runs[0])


def test_good_metrics_pass_the_gate_and_the_canary_completes(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    exporter.set("demo_success_ratio", 0.99)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    with running_controller(cluster, namespace, tmp_path):
        _deploy(cluster, namespace,
                _template("rate", cluster.prometheus_url,
                          {"successCondition": "result[0] >= 0.95"}),
                _rollout("rate", exporter.job))
        run = _step_run(cluster, namespace)
        assert run["spec"]["args"] == [{"name": "job", "value": exporter.job}]
        final = wait_phase(cluster, namespace, "web", "Healthy", timeout=90)
        assert final["stableRS"] == final["currentPodHash"]
    run = _finished_run(cluster, namespace)
    assert run["status"]["phase"] == "Successful"
    result = run["status"]["metricResults"][0]
    assert result["count"] == 3 and result["successful"] == 3
    assert result["measurements"][-1]["value"] == "[0.99]"
    # startedAt is stamped before the query and finishedAt after its answer, so each
    # measurement spans the real query (review finding 9: they used to be equal).
    for measurement in result["measurements"]:
        started, finished = (datetime.fromisoformat(measurement[k].replace("Z", "+00:00"))
                             for k in ("startedAt", "finishedAt"))
        assert started < finished, measurement


def test_an_error_rate_spike_fails_the_step_and_the_rollout_aborts_to_stable(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    exporter.set("demo_success_ratio", 0.99)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    with running_controller(cluster, namespace, tmp_path):
        stable = _deploy(cluster, namespace,
                         _template("rate", cluster.prometheus_url,
                                   {"successCondition": "result[0] >= 0.95", "count": 30}),
                         _rollout("rate", exporter.job))
        _step_run(cluster, namespace)
        exporter.set("demo_success_ratio", 0.42)  # the spike
        status = wait_phase(cluster, namespace, "web", "Degraded", timeout=60)
        assert status["abort"] is True and "Failed" in status["message"]
        wait_for(lambda: replica_counts(cluster, namespace).get(stable) == 4, 60,
                 "all replicas back on stable", lambda: replica_counts(cluster, namespace))
        assert sum(replica_counts(cluster, namespace).values()) == 4
    run = _finished_run(cluster, namespace)
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["metricResults"][0]["measurements"][-1]["value"] == "[0.42]"


def test_unreachable_prometheus_errors_then_aborts_never_promotes(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    with running_controller(cluster, namespace, tmp_path):
        _deploy(cluster, namespace,
                _template("rate", address, {"successCondition": "result[0] >= 0.95",
                                            "consecutiveErrorLimit": 2}),
                _rollout("rate", "any"))
        status = wait_phase(cluster, namespace, "web", "Degraded", timeout=60)
        assert status["abort"] is True
    run = _finished_run(cluster, namespace)
    assert run["status"]["phase"] == "Error"
    measurements = run["status"]["metricResults"][0]["measurements"]
    assert [m["phase"] for m in measurements] == ["Error", "Error", "Error"]
    assert run["status"]["metricResults"][0].get("successful", 0) == 0


def test_an_empty_result_passes_when_the_condition_says_so(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _deploy(cluster, namespace,
                _template("errors", cluster.prometheus_url, {
                    "query": 'no_such_series_total{job="{{args.job}}"}', "count": 1,
                    "successCondition": "len(result) == 0 || result[0] < 5"}),
                _rollout("errors", "nobody"))
        wait_phase(cluster, namespace, "web", "Healthy", timeout=60)
    run = _finished_run(cluster, namespace)
    assert run["status"]["phase"] == "Successful"
    assert run["status"]["metricResults"][0]["measurements"][0]["value"] == "[]"


def test_inconclusive_pauses_the_rollout_until_promoted(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    exporter.set("demo_success_ratio", 0.7)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    with running_controller(cluster, namespace, tmp_path):
        _deploy(cluster, namespace,
                _template("rate", cluster.prometheus_url, {
                    "count": 1, "successCondition": "result[0] >= 0.95",
                    "failureCondition": "result[0] < 0.5"}),
                _rollout("rate", exporter.job))
        paused = wait_phase(cluster, namespace, "web", "Paused", timeout=60)
        assert paused["pauseConditions"][0]["reason"] == "InconclusiveAnalysisRun"
        assert rollouts_cli(cluster, "promote", "web", "-n", namespace).returncode == 0
        wait_phase(cluster, namespace, "web", "Healthy", timeout=60)


def test_secret_valued_headers_never_appear_in_status_events_or_logs(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    token = "s3cr3t-token-value-7781"
    exporter.set("demo_success_ratio", 0.99)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    cluster.kubectl_run("create", "secret", "generic", "prom-token", "-n", namespace,
                        f"--from-literal=token={token}")
    metric = {"successCondition": "result[0] >= 0.95", "count": 2}
    template = json.loads(_template("rate", cluster.prometheus_url, metric, args=[
        {"name": "job"},
        {"name": "token", "valueFrom": {"secretKeyRef": {"name": "prom-token", "key": "token"}}},
    ]))
    template["spec"]["metrics"][0]["provider"]["prometheus"]["headers"] = [
        {"key": "Authorization", "value": "Bearer {{args.token}}"}]
    with running_controller(cluster, namespace, tmp_path) as controller:
        _deploy(cluster, namespace, json.dumps(template), _rollout("rate", exporter.job))
        wait_phase(cluster, namespace, "web", "Healthy", timeout=90)
        log = controller.log.read_text()
    everything = json.dumps([
        json.loads(cluster.kubectl_run("get", kind, "-n", namespace, "-o", "json").stdout)
        for kind in ("analysisruns", "rollouts", "events")]) + json.dumps(
        events(cluster, namespace, "web")) + log
    assert token not in everything
    assert _finished_run(cluster, namespace)["status"]["phase"] == "Successful"


def test_background_analysis_from_its_starting_step_aborts_on_failure(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    exporter.set("demo_success_ratio", 0.99)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    rollout = json.loads(_rollout("rate", exporter.job))
    rollout["spec"]["strategy"]["canary"] = {
        "analysis": {"templates": [{"templateName": "rate"}], "startingStep": 1,
                     "args": [{"name": "job", "value": exporter.job}]},
        "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}],
    }
    with running_controller(cluster, namespace, tmp_path):
        stable = _deploy(cluster, namespace,
                         _template("rate", cluster.prometheus_url,
                                   {"successCondition": "result[0] >= 0.95", "count": 100}),
                         json.dumps(rollout))
        wait_phase(cluster, namespace, "web", "Paused", step=1)

        def background() -> dict[str, Any]:
            canary = rollout_status(cluster, namespace, "web").get("canary") or {}
            return dict(canary.get("currentBackgroundAnalysisRunStatus") or {})

        wait_for(lambda: background().get("status") == "Running", 60,
                 "the background run to be measuring", background)
        exporter.set("demo_success_ratio", 0.3)
        status = wait_phase(cluster, namespace, "web", "Degraded", timeout=60)
        assert status["abort"] is True and "background" in status["message"]
        wait_for(lambda: replica_counts(cluster, namespace).get(stable) == 4, 60,
                 "all replicas back on stable", lambda: replica_counts(cluster, namespace))
    run = _finished_run(cluster, namespace)
    assert run["metadata"]["labels"]["rollout-type"] == "Background"
    assert run["status"]["phase"] == "Failed"


def test_prometheus_stopped_mid_analysis_errors_and_aborts(
    cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter
) -> None:
    """A Prometheus of the test's own (Debian's binary) is stopped while the run measures:
    the measurements become Errors, the run ends in Error and the rollout aborts."""
    exporter.set("demo_success_ratio", 0.99)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": exporter.job, "static_configs": [
            {"targets": [f"127.0.0.1:{exporter.port}"]}]}]}))
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{port}"
    try:
        wait_until_scraped(address, f'demo_success_ratio{{job="{exporter.job}"}}')
        with running_controller(cluster, namespace, tmp_path):
            _deploy(cluster, namespace,
                    _template("rate", address, {"successCondition": "result[0] >= 0.95",
                                                "count": 100, "consecutiveErrorLimit": 2}),
                    _rollout("rate", exporter.job))

            def successful() -> int:
                canary = rollout_status(cluster, namespace, "web").get("canary") or {}
                name = (canary.get("currentStepAnalysisRunStatus") or {}).get("name")
                if not name:
                    return 0
                results = (get(cluster, namespace, "analysisrun", name).get("status")
                           or {}).get("metricResults") or [{}]
                return int(results[0].get("successful") or 0)

            wait_for(lambda: successful() >= 2, 60, "two good measurements")
            prometheus.terminate()
            prometheus.wait(20)
            status = wait_phase(cluster, namespace, "web", "Degraded", timeout=90)
            assert status["abort"] is True
    finally:
        if prometheus.poll() is None:
            prometheus.kill()
            prometheus.wait(10)
    run = _finished_run(cluster, namespace)
    assert run["status"]["phase"] == "Error"
    phases = [m["phase"] for m in run["status"]["metricResults"][0]["measurements"]]
    assert phases[:2] == ["Successful", "Successful"] and phases[-3:] == ["Error"] * 3
