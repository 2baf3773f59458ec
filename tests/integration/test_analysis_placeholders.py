"""`{{args.NAME}}` in a metric's count and interval, end to end: the API server stores the
template and the run (the CRDs take placeholders and refuse garbage), the real controller
substitutes the run's arguments and measures exactly `count` times, and an argument value
that is not a number fails the run at once with a message naming metric, field and value
(also when a Rollout's analysis step passes the arguments: the rollout aborts).
A run using a metric provider we do not implement ends in Error before measuring.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.exporter import Reply, ScriptedServer
from tests.integration.support import (
    get,
    rollout_status,
    running_controller,
    set_image,
    wait_for,
    wait_phase,
)

TEMPLATE_SPEC: dict[str, Any] = {
    "args": [{"name": "url"}, {"name": "count"}, {"name": "interval"}],
    "metrics": [{
        "name": "success-rate",
        "count": "{{args.count}}",
        "interval": "{{args.interval}}",
        "successCondition": "result == 1",
        "provider": {"web": {"url": "{{args.url}}", "jsonPath": "{$.ok}",
                             "timeoutSeconds": "{{args.count}}"}},
    }],
}  # fmt: skip


def _apply(cluster: TestCluster, namespace: str, doc: dict[str, Any]) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def _template() -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "success-rate"}, "spec": TEMPLATE_SPEC}


def _run(name: str, **values: str) -> dict[str, Any]:
    """A run of the template, as the Rollout controller creates it: the template's spec
    with the arguments' values filled in (the metrics keep their placeholders)."""
    args = [{"name": arg["name"], "value": values[arg["name"]]} for arg in TEMPLATE_SPEC["args"]]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name}, "spec": {**TEMPLATE_SPEC, "args": args}}


def _finished(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    def status() -> dict[str, Any]:
        return dict(get(cluster, namespace, "analysisrun", name).get("status") or {})

    wait_for(lambda: status().get("phase") in ("Successful", "Failed", "Error",
                                               "Inconclusive"),
             60, f"AnalysisRun {name} to finish", status)
    return status()


def test_count_and_interval_from_args_are_measured_exactly(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with ScriptedServer() as server:
        url = server.reply("/health", Reply(body={"ok": 1}))
        with running_controller(cluster, namespace, tmp_path):
            _apply(cluster, namespace, _template())
            started = time.monotonic()
            _apply(cluster, namespace, _run("from-args", url=url, count="3", interval="1s"))
            status = _finished(cluster, namespace, "from-args")
            elapsed = time.monotonic() - started
        hits = [r for r in server.received if r.path == "/health"]
    assert status["phase"] == "Successful", status
    [result] = status["metricResults"]
    assert (result["count"], result["successful"], result["error"]) == (3, 3, 0), result
    assert len(hits) == 3
    assert elapsed >= 2, elapsed  # three measurements, 1 s apart
    stored = get(cluster, namespace, "analysisrun", "from-args")["spec"]["metrics"][0]
    assert (stored["count"], stored["interval"]) == ("{{args.count}}", "{{args.interval}}")


def _rollout(**values: str) -> dict[str, Any]:
    """A canary whose analysis step runs the template with the given argument values."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {"steps": [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "success-rate"}],
                              "args": [{"name": k, "value": v} for k, v in values.items()]}},
            ]}},
        },
    }  # fmt: skip


def _only_run(cluster: TestCluster, namespace: str) -> dict[str, Any]:
    out = cluster.kubectl_run("get", "analysisruns", "-n", namespace, "-o", "json").stdout
    [run] = json.loads(out)["items"]
    return dict(run)


def test_a_rollout_passes_count_and_interval_to_its_analysis_step(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with ScriptedServer() as server:
        url = server.reply("/health", Reply(body={"ok": 1}))
        with running_controller(cluster, namespace, tmp_path):
            _apply(cluster, namespace, _template())
            _apply(cluster, namespace, _rollout(url=url, count="2", interval="1s"))
            first = wait_phase(cluster, namespace, "web", "Healthy", timeout=60)
            set_image(cluster, namespace, "web", "app:2")
            wait_for(lambda: rollout_status(cluster, namespace, "web").get("stableRS")
                     != first["stableRS"], 90, "the analysed canary to become stable",
                     lambda: rollout_status(cluster, namespace, "web"))
        hits = [r for r in server.received if r.path == "/health"]
    run = _only_run(cluster, namespace)
    assert run["status"]["phase"] == "Successful", run["status"]
    [result] = run["status"]["metricResults"]
    assert (result["count"], result["successful"]) == (2, 2)
    assert len(hits) == 2


def test_a_bad_count_from_the_rollout_errors_the_run_and_aborts_the_rollout(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with ScriptedServer() as server:
        url = server.reply("/health", Reply(body={"ok": 1}))
        with running_controller(cluster, namespace, tmp_path):
            _apply(cluster, namespace, _template())
            _apply(cluster, namespace, _rollout(url=url, count="abc", interval="1s"))
            wait_phase(cluster, namespace, "web", "Healthy", timeout=60)
            set_image(cluster, namespace, "web", "app:2")
            status = wait_phase(cluster, namespace, "web", "Degraded", timeout=60)
        received = list(server.received)
    assert status["abort"] is True
    run = _only_run(cluster, namespace)
    assert run["status"]["phase"] == "Error"
    assert 'metric "success-rate": count "abc" (from {{args.count}}) is not an integer' in (
        run["status"]["message"])
    assert received == []


def test_an_arg_that_is_not_a_number_fails_the_run_at_once(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with ScriptedServer() as server:
        url = server.reply("/health", Reply(body={"ok": 1}))
        with running_controller(cluster, namespace, tmp_path):
            _apply(cluster, namespace, _run("bad-count", url=url, count="abc", interval="1s"))
            status = _finished(cluster, namespace, "bad-count")
        received = list(server.received)
    assert status["phase"] == "Error", status
    assert 'metric "success-rate": count "abc" (from {{args.count}}) is not an integer' in (
        status["message"]), status["message"]
    assert not status.get("metricResults")  # nothing was measured
    assert received == []


def test_the_api_server_refuses_a_setting_that_is_neither_a_value_nor_a_placeholder(
    cluster: TestCluster, namespace: str
) -> None:
    bad = _template()
    bad["metadata"]["name"] = "garbage"
    bad["spec"] = json.loads(json.dumps(TEMPLATE_SPEC))
    bad["spec"]["metrics"][0]["count"] = "three"
    bad["spec"]["metrics"][0]["interval"] = "{{count}}"
    result = cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(bad),
                                 check=False)
    assert result.returncode != 0
    assert "spec.metrics[0].count" in result.stderr and "three" in result.stderr, result.stderr
    assert "spec.metrics[0].interval" in result.stderr, result.stderr


def test_a_run_with_an_unimplemented_provider_ends_in_error_before_measuring(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
           "metadata": {"name": "datadog"},
           "spec": {"metrics": [{"name": "errors", "successCondition": "result < 0.01",
                                 "provider": {"datadog": {"query": "sum:errors{*}"}}}]}}
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, run)  # the CRD declares Argo's providers: stored
        status = _finished(cluster, namespace, "datadog")
    assert status["phase"] == "Error", status
    assert status["message"] == (
        "Analysis spec invalid: spec.metrics[0].provider.datadog: the datadog provider is not "
        "supported; use prometheus, web or job"
    )
    assert not status.get("metricResults")
