"""The local control plane is real: nodes, scheduling, kwok's fake kubelets, Prometheus."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from tests.conftest import TestCluster


def _json(cluster: TestCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl_run(*args, "-o", "json").stdout)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_api_server_reports_the_pinned_kubernetes_version(cluster: TestCluster) -> None:
    version = json.loads(cluster.kubectl_run("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert version["clientVersion"]["gitVersion"] == "v1.37.2"


def test_three_fake_nodes_are_ready(cluster: TestCluster) -> None:
    nodes = _json(cluster, "get", "nodes")["items"]
    ready = [
        n["metadata"]["name"]
        for n in nodes
        for c in n["status"].get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    ]
    assert sorted(ready) == ["kwok-node-0", "kwok-node-1", "kwok-node-2"]
    assert nodes[0]["status"]["allocatable"]["cpu"] == "32"


def test_a_deployment_of_three_gets_three_ready_pods(cluster: TestCluster, namespace: str) -> None:
    cluster.kubectl_run(
        "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "-n", namespace
    )

    def all_ready() -> bool:
        status = _json(cluster, "get", "deployment", "web", "-n", namespace).get("status", {})
        return status.get("readyReplicas") == 3

    _wait(all_ready, 60, "3 ready replicas")
    pods = _json(cluster, "get", "pods", "-n", namespace)["items"]
    assert len(pods) == 3
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)


def _job(name: str, annotations: dict[str, str]) -> str:
    return json.dumps({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    })


def _job_condition(cluster: TestCluster, namespace: str, name: str) -> str | None:
    status = _json(cluster, "get", "job", name, "-n", namespace).get("status", {})
    for condition in status.get("conditions", []):
        if condition["status"] == "True" and condition["type"] in ("Complete", "Failed"):
            return str(condition["type"])
    return None


def test_a_job_completes(cluster: TestCluster, namespace: str) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=_job("ok", {}))
    _wait(lambda: _job_condition(cluster, namespace, "ok") is not None, 60, "job to finish")
    assert _job_condition(cluster, namespace, "ok") == "Complete"


def test_a_job_whose_pod_exits_non_zero_fails(cluster: TestCluster, namespace: str) -> None:
    manifest = _job("bad", {"rollouts.dev/exit-code": "1"})
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)
    _wait(lambda: _job_condition(cluster, namespace, "bad") is not None, 60, "job to finish")
    assert _job_condition(cluster, namespace, "bad") == "Failed"


def test_deleted_pods_go_away(cluster: TestCluster, namespace: str) -> None:
    cluster.kubectl_run("run", "solo", "--image=nginx", "-n", namespace)
    _wait(lambda: _json(cluster, "get", "pod", "solo", "-n", namespace)["status"].get("phase")
          == "Running", 60, "pod running")
    cluster.kubectl_run("delete", "pod", "solo", "-n", namespace, "--timeout=30s")
    remaining = cluster.kubectl_run("get", "pods", "-n", namespace, "-o", "name").stdout
    assert remaining.strip() == ""


def test_prometheus_scrapes_itself(cluster: TestCluster) -> None:
    query = urllib.parse.urlencode({"query": 'up{job="prometheus"}'})

    def scraped() -> bool:
        with urllib.request.urlopen(f"{cluster.prometheus_url}/api/v1/query?{query}") as r:
            body = json.load(r)
        return bool(body["data"]["result"]) and body["data"]["result"][0]["value"][1] == "1"

    _wait(scraped, 30, "prometheus to scrape itself")
