"""Helpers for the blue-green integration tests: manifests, and reads of the objects the
controller writes (Service selectors, ReplicaSets, pods, AnalysisRuns, status).

Analyses use the `job` provider: kwok finishes a Job's pod after ~1 s (the annotation
`rollouts.dev/run-milliseconds` changes that), Succeeded unless the pod carries
`rollouts.dev/exit-code: "1"`; with `backoffLimit: 0` one failed pod fails the Job, hence
the measurement and (failureLimit 0) the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from tests.conftest import TestCluster
from tests.integration.support import COMPAT, events, rollout_status, set_image, wait_for

ARGO = COMPAT / "argo-rollouts"
HASH = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
SCALE_DOWN_DEADLINE = "scale-down-deadline"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"


# --- manifests ---------------------------------------------------------------------------

def bluegreen_rollout(name: str, *, replicas: int = 2, image: str = "app:1",
                      preview: bool = True, spec: dict[str, Any] | None = None,
                      **blue_green: Any) -> dict[str, Any]:
    """A blue-green Rollout `name` with Services `<name>-active` (and `<name>-preview`)."""
    strategy: dict[str, Any] = {"activeService": f"{name}-active"}
    if preview:
        strategy["previewService"] = f"{name}-preview"
    strategy.update(blue_green)
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}},
            "strategy": {"blueGreen": strategy},
            **(spec or {}),
        },
    }


def service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}}


def services_for(name: str, preview: bool = True) -> list[dict[str, Any]]:
    names = [f"{name}-active"] + ([f"{name}-preview"] if preview else [])
    return [service(svc, name) for svc in names]


def job_template(name: str, *, fail: bool = False, run_ms: int | None = None
                 ) -> dict[str, Any]:
    """An AnalysisTemplate with one `job` metric that passes (or fails) after ~1 s."""
    annotations: dict[str, str] = {}
    if fail:
        annotations["rollouts.dev/exit-code"] = "1"
    if run_ms is not None:
        annotations["rollouts.dev/run-milliseconds"] = str(run_ms)
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"metrics": [{"name": "smoke", "provider": {"job": {"spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"annotations": annotations},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "check", "image": "busybox"}]}},
        }}}}]},
    }


def analysis(template: str) -> dict[str, Any]:
    return {"templates": [{"templateName": template}]}


def compat_docs(file: str, rollout_name: str | None = None) -> list[dict[str, Any]]:
    """The documents of a compat file, ROLLOUT_NAME replaced (the file is never edited)."""
    text = (ARGO / file).read_text()
    if rollout_name is not None:
        text = text.replace("ROLLOUT_NAME", rollout_name)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def apply(cluster: TestCluster, namespace: str, *docs: dict[str, Any]) -> None:
    for doc in docs:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def patch_rollout(cluster: TestCluster, namespace: str, name: str,
                  patch: dict[str, Any]) -> None:
    cluster.kubectl_run("patch", "rollout", name, "-n", namespace, "--type=merge",
                        "-p", json.dumps(patch))


# --- reads -------------------------------------------------------------------------------

def _items(cluster: TestCluster, namespace: str, kind: str,
           *selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl_run("get", kind, "-n", namespace, "-o", "json", *selector).stdout
    return [item for item in json.loads(out)["items"]
            if not item["metadata"].get("deletionTimestamp")]


def selector_of(cluster: TestCluster, namespace: str, svc: str) -> str:
    """The pod-template hash the Service selects ("" when none)."""
    out = cluster.kubectl_run("get", "service", svc, "-n", namespace, "-o", "json").stdout
    return str((json.loads(out)["spec"].get("selector") or {}).get(HASH, ""))


def selectors(cluster: TestCluster, namespace: str, name: str,
              preview: bool = True) -> tuple[str, str]:
    """(active, preview) hashes selected by `<name>-active` / `<name>-preview`."""
    active = selector_of(cluster, namespace, f"{name}-active")
    return active, selector_of(cluster, namespace, f"{name}-preview") if preview else ""


def replica_sets(cluster: TestCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """ReplicaSets by pod-template hash."""
    return {rs["metadata"]["labels"].get(HASH, rs["metadata"]["name"]): rs
            for rs in _items(cluster, namespace, "replicasets")}


def replicas(cluster: TestCluster, namespace: str) -> dict[str, int]:
    return {h: int(rs["spec"].get("replicas") or 0)
            for h, rs in replica_sets(cluster, namespace).items()}


def available(rs: dict[str, Any]) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def pods_of(cluster: TestCluster, namespace: str, pod_hash: str) -> list[dict[str, Any]]:
    return _items(cluster, namespace, "pods", "-l", f"{HASH}={pod_hash}")


def analysis_runs(cluster: TestCluster, namespace: str) -> dict[str, dict[str, Any]]:
    return {run["metadata"]["name"]: run for run in _items(cluster, namespace, "analysisruns")}


def run_phase(run: dict[str, Any] | None) -> str:
    return str(((run or {}).get("status") or {}).get("phase") or "")


def blue_green(status: dict[str, Any]) -> dict[str, Any]:
    return dict(status.get("blueGreen") or {})


def revision_of(cluster: TestCluster, namespace: str, pod_hash: str) -> int:
    rs = replica_sets(cluster, namespace)[pod_hash]
    return int(rs["metadata"]["annotations"][REVISION])


def reasons(cluster: TestCluster, namespace: str, name: str) -> list[str]:
    return [reason for reason, _ in events(cluster, namespace, name)]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- waits -------------------------------------------------------------------------------

def wait_status(cluster: TestCluster, namespace: str, name: str,
                predicate: Callable[[dict[str, Any]], bool], what: str,
                timeout: float = 60) -> dict[str, Any]:
    """Wait until `predicate(status)` holds and return that status."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.clear()
        seen.update(rollout_status(cluster, namespace, name))
        return predicate(seen)

    def describe() -> object:
        return {k: seen.get(k) for k in ("phase", "message", "stableRS", "currentPodHash",
                                          "blueGreen", "pauseConditions", "abort")}

    wait_for(reached, timeout, what, describe)
    return dict(seen)


def new_revision(cluster: TestCluster, namespace: str, name: str, image: str,
                 timeout: float = 60) -> str:
    """Change the image and return the new pod-template hash once the controller has it."""
    before = rollout_status(cluster, namespace, name).get("currentPodHash")
    set_image(cluster, namespace, name, image)
    status = wait_status(cluster, namespace, name,
                         lambda s: bool(s.get("currentPodHash"))
                         and s.get("currentPodHash") != before,
                         f"a new pod-template hash for {name}", timeout)
    return str(status["currentPodHash"])


def promoted(status: dict[str, Any], pod_hash: str) -> bool:
    """The new RS is active and stable (promotion and post-promotion analysis done)."""
    return (status.get("stableRS") == pod_hash
            and blue_green(status).get("activeSelector") == pod_hash)


def wait_active(cluster: TestCluster, namespace: str, svc: str, pod_hash: str,
                timeout: float = 60) -> float:
    """Wait until Service `svc` selects `pod_hash`; return the time.time() it was seen."""
    wait_for(lambda: selector_of(cluster, namespace, svc) == pod_hash, timeout,
             f"service {svc} to select {pod_hash}",
             lambda: selector_of(cluster, namespace, svc))
    return time.time()


def wait_scale_down_deadline(cluster: TestCluster, namespace: str, pod_hash: str,
                             timeout: float = 15) -> tuple[float, int]:
    """(the `scale-down-deadline` of RS `pod_hash` as a timestamp, its replicas then)."""
    seen: dict[str, Any] = {}

    def marked() -> bool:
        seen.clear()
        seen.update(replica_sets(cluster, namespace)[pod_hash])
        return SCALE_DOWN_DEADLINE in (seen["metadata"].get("annotations") or {})

    wait_for(marked, timeout, f"the {SCALE_DOWN_DEADLINE} annotation on {pod_hash}",
             lambda: seen.get("metadata", {}).get("annotations"))
    text = seen["metadata"]["annotations"][SCALE_DOWN_DEADLINE]
    return parse_time(text).timestamp(), int(seen["spec"].get("replicas") or 0)
