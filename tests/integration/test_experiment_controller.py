"""Experiments on the real control plane: the controller process (rollouts, analysis and
experiments controllers), kwok making pods Ready, Jobs deciding the analyses (a kwok pod
of a Job succeeds after ~1 s unless annotated `rollouts.dev/exit-code: "1"`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import apply, job_template
from tests.integration.support import get, rollouts_cli, running_controller, wait_for


def _template(name: str, *, port: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": f"app:{name}"}
    if port:
        container["ports"] = [{"containerPort": 8080, "name": "http"}]
    return {"name": name, "selector": {"matchLabels": {"app": "exp", "variant": name}},
            "template": {"metadata": {"labels": {"app": "exp", "variant": name}},
                         "spec": {"containers": [container]}}}


def _experiment(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"templates": [_template("baseline"), _template("canary", port=True)],
                            "scaleDownDelaySeconds": 1}
    body["templates"][1]["service"] = {}
    body.update(spec)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name}, "spec": body}


def _status(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(get(cluster, namespace, "experiment", name).get("status") or {})


def _wait_phase(cluster: TestCluster, namespace: str, name: str, phase: str,
                timeout: float = 60) -> dict[str, Any]:
    wait_for(lambda: _status(cluster, namespace, name).get("phase") == phase, timeout,
             f"experiment {name} to be {phase}",
             lambda: {k: v for k, v in _status(cluster, namespace, name).items()
                      if k in ("phase", "message", "templateStatuses", "analysisRuns")})
    return _status(cluster, namespace, name)


def _replicas(cluster: TestCluster, namespace: str) -> dict[str, int]:
    out = cluster.kubectl_run("get", "replicasets", "-n", namespace, "-o", "json").stdout
    return {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in json.loads(out)["items"]}


def test_two_templates_and_a_passing_analysis_end_successful_then_scale_down(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, job_template("smoke-ok"),
          _experiment("good", duration="2s",
                      analyses=[{"name": "smoke", "templateName": "smoke-ok"}]))
    with running_controller(cluster, namespace, tmp_path):
        running = _wait_phase(cluster, namespace, "good", "Running", timeout=30)
        assert running["availableAt"]
        assert _replicas(cluster, namespace) == {"good-baseline": 1, "good-canary": 1}
        service = get(cluster, namespace, "service", "good-canary")
        canary_hash = next(t["podTemplateHash"] for t in running["templateStatuses"]
                           if t["name"] == "canary")
        assert service["spec"]["selector"] == {"app": "exp", "variant": "canary",
                                               "rollouts-pod-template-hash": canary_hash}
        final = _wait_phase(cluster, namespace, "good", "Successful", timeout=30)
        assert {t["name"]: t["status"] for t in final["templateStatuses"]} == {
            "baseline": "Successful", "canary": "Successful"}
        assert final["analysisRuns"][0]["analysisRun"] == "good-smoke"
        run = get(cluster, namespace, "analysisrun", "good-smoke")
        assert run["metadata"]["ownerReferences"][0]["kind"] == "Experiment"
        wait_for(lambda: _replicas(cluster, namespace) == {"good-baseline": 0,
                                                            "good-canary": 0},
                 15, "the ReplicaSets to scale down after scaleDownDelaySeconds",
                 lambda: _replicas(cluster, namespace))
        # the CLI shows it
        shown = rollouts_cli(cluster, "get", "experiment", "good", "-n", namespace)
        assert shown.returncode == 0, shown.stderr
        assert "Phase:         Successful" in shown.stdout
        assert "good-smoke" in shown.stdout


def test_a_failing_analysis_fails_the_experiment_naming_it(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, job_template("smoke-bad", fail=True),
          _experiment("bad", analyses=[{"name": "smoke", "templateName": "smoke-bad"}]))
    with running_controller(cluster, namespace, tmp_path):
        final = _wait_phase(cluster, namespace, "bad", "Failed", timeout=45)
        assert final["message"].startswith("AnalysisRun 'smoke' Failed")
        wait_for(lambda: set(_replicas(cluster, namespace).values()) == {0}, 15,
                 "the ReplicaSets to scale down", lambda: _replicas(cluster, namespace))


def test_terminate_through_the_cli_ends_it_successful_and_stops_its_run(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    slow = job_template("smoke-slow")
    slow["spec"]["metrics"][0].update(count=20, interval="5s")  # stays Running ~100 s
    apply(cluster, namespace, slow,
          _experiment("stop", analyses=[{"name": "smoke", "templateName": "smoke-slow"}]))
    with running_controller(cluster, namespace, tmp_path):
        wait_for(lambda: (_status(cluster, namespace, "stop").get("analysisRuns") or [{}])[0]
                 .get("phase") == "Running", 30, "the analysis run to be running",
                 lambda: _status(cluster, namespace, "stop"))
        done = rollouts_cli(cluster, "terminate", "experiment", "stop", "-n", namespace)
        assert done.returncode == 0, done.stderr
        assert "experiment 'stop' terminated" in done.stdout
        final = _wait_phase(cluster, namespace, "stop", "Successful", timeout=30)
        assert final["message"] == "Experiment terminated"
        wait_for(lambda: get(cluster, namespace, "analysisrun", "stop-smoke")["spec"]
                 .get("terminate") is True, 15, "the run to be terminated",
                 lambda: (get(cluster, namespace, "analysisrun", "stop-smoke").get("status"),
                          _status(cluster, namespace, "stop").get("analysisRuns")))
        wait_for(lambda: set(_replicas(cluster, namespace).values()) == {0}, 15,
                 "the ReplicaSets to scale down", lambda: _replicas(cluster, namespace))
        again = rollouts_cli(cluster, "terminate", "experiment", "stop", "-n", namespace)
        assert "already completed (Successful)" in again.stdout


def test_the_cli_terminates_an_analysis_run_and_refuses_unknown_names(
    cluster: TestCluster, namespace: str
) -> None:
    run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
           "metadata": {"name": "lonely"},
           "spec": {"metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}]}}
    apply(cluster, namespace, run)
    done = rollouts_cli(cluster, "terminate", "analysisrun", "lonely", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert get(cluster, namespace, "analysisrun", "lonely")["spec"]["terminate"] is True
    missing = rollouts_cli(cluster, "get", "experiment", "nope", "-n", namespace)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "nope" in missing.stderr
