"""Migration from Argo Rollouts replaces no pod.

The real Argo Rollouts controller (built by `make argo-rollouts` into the cache,
tests/tooling/build_argo_rollouts.sh) brings a canary and a blue-green Rollout to
Healthy, through one image change each, and is stopped. Our controller then takes
over: no pod may be deleted and no ReplicaSet created, and the next image change must
roll out normally under our controller.

What Argo needs to run against the dev cluster:
- flags: `--kubeconfig`, `--namespaced --namespace=<ns>` (namespaced mode takes the
  namespace from the kubeconfig overrides), `--leader-elect=false`;
- it binds its metrics and healthz servers to 0.0.0.0 with no flag for the address,
  so both get the invalid port -1: the listen fails, Argo logs it and runs on (those
  servers run in goroutines whose errors are not fatal), and nothing listens at all;
- `POD_NAMESPACE=<ns>`: where it watches its notification ConfigMap/Secret;
- an Experiment CRD: it waits for its Experiment informer to sync before reconciling
  anything. Ours (manifests/crds/experiments.yaml, installed with the others) serves;
  the test never replaces a CRD, so the tests after it see ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollouts.devcluster.versions import cache_dir
from tests.conftest import TestCluster
from tests.integration.support import get, rollout_status, running_controller, set_image

ARGO_VERSION = "v1.10.2"
ARGO_DIR = cache_dir() / "bin" / f"argo-rollouts-{ARGO_VERSION}"
ARGO_BINARY = ARGO_DIR / "rollouts-controller"

CANARY, BLUEGREEN = "canary", "bluegreen"
HASH_LABEL = "rollouts-pod-template-hash"

pytestmark = pytest.mark.skipif(
    not (ARGO_DIR / ".done").is_file() or not ARGO_BINARY.is_file(),
    reason=f"Argo Rollouts {ARGO_VERSION} is not built: run `make argo-rollouts` "
           f"(tests/tooling/build_argo_rollouts.sh; `make test` builds it first)",
)


class ArgoController:
    """The real Argo Rollouts controller as a child process, scoped to one namespace."""

    def __init__(self, cluster: TestCluster, namespace: str, log: Path) -> None:
        self.cluster, self.namespace, self.log = cluster, namespace, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(ARGO_BINARY), f"--kubeconfig={self.cluster.kubeconfig}",
                "--namespaced", f"--namespace={self.namespace}", "--leader-elect=false",
                # Argo listens on 0.0.0.0:<port>; an invalid port keeps it off the network.
                "--metricsPort=-1", "--healthzPort=-1", "--loglevel=info"]
        env = {**os.environ, "POD_NAMESPACE": self.namespace}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env=env)
        _wait(self._started, 60, "Argo Rollouts to start its controllers",
              self.tail)

    def _started(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"Argo Rollouts exited {self.process.returncode}: "
                                 f"{self.tail()}")
        return "Started controller" in self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM, as a Deployment's rollout or scale-down would; its exit code."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.process = None
        return code

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _wait(predicate: Callable[[], bool], timeout: float, what: str,
          describe: Callable[[], object] | None = None) -> None:
    if not _poll(predicate, timeout):
        detail = f"; last seen: {describe()}" if describe else ""
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def _poll(predicate: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every)


def _service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app},
                     "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}


def _rollout(name: str, replicas: int, strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.local/app:1",
                                         "ports": [{"containerPort": 8080}]}]},
            },
            "strategy": strategy,
        },
    }


MANIFESTS: list[dict[str, Any]] = [
    _service("canary-stable", CANARY),
    _service("canary-preview", CANARY),
    _service("bluegreen-active", BLUEGREEN),
    _service("bluegreen-preview", BLUEGREEN),
    _rollout(CANARY, 3, {"canary": {
        "stableService": "canary-stable", "canaryService": "canary-preview",
        "steps": [{"setWeight": 50}, {"pause": {"duration": 5}}]}}),
    _rollout(BLUEGREEN, 2, {"blueGreen": {
        "activeService": "bluegreen-active", "previewService": "bluegreen-preview"}}),
]
ACTIVE_SERVICE = {CANARY: "canary-stable", BLUEGREEN: "bluegreen-active"}


def _items(cluster: TestCluster, namespace: str, kind: str) -> list[dict[str, Any]]:
    out = cluster.kubectl_run("get", kind, "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def _selector_hash(cluster: TestCluster, namespace: str, service: str) -> str | None:
    selector = get(cluster, namespace, "service", service)["spec"].get("selector") or {}
    value = selector.get(HASH_LABEL)
    return str(value) if value is not None else None


def _rolled_out(cluster: TestCluster, namespace: str, name: str,
                not_hash: str | None = None) -> bool:
    """Healthy for the current generation, on a pod template hash other than `not_hash`,
    with the stable (canary) or active (blue-green) Service selecting that hash."""
    rollout = get(cluster, namespace, "rollout", name)
    status = rollout.get("status") or {}
    current = status.get("currentPodHash")
    return (status.get("phase") == "Healthy"
            and str(status.get("observedGeneration")) == str(rollout["metadata"]["generation"])
            and current is not None and current != not_hash
            and (name != CANARY or status.get("stableRS") == current)
            and _selector_hash(cluster, namespace, ACTIVE_SERVICE[name]) == current)


def _wait_rolled_out(cluster: TestCluster, namespace: str, name: str, not_hash: str | None,
                     timeout: float, what: str, describe: Callable[[], object]) -> None:
    _wait(lambda: _rolled_out(cluster, namespace, name, not_hash), timeout, what, describe)


def _quiet(cluster: TestCluster, namespace: str) -> bool:
    """Only the current ReplicaSet of each Rollout has pods, all Ready, none leaving:
    scale-down delays (blue-green keeps the old side up for 30 s) have run out."""
    current = {name: rollout_status(cluster, namespace, name).get("currentPodHash")
               for name in (CANARY, BLUEGREEN)}
    desired = 0
    for rs in _items(cluster, namespace, "replicasets"):
        owner = (rs["metadata"].get("ownerReferences") or [{}])[0].get("name")
        spec, status = rs["spec"].get("replicas", 0), rs.get("status") or {}
        if rs["metadata"]["labels"].get(HASH_LABEL) == current.get(owner):
            if status.get("readyReplicas", 0) != spec:
                return False
            desired += spec
        elif spec or status.get("replicas", 0):
            return False
    pods = _items(cluster, namespace, "pods")
    return len(pods) == desired and not any(p["metadata"].get("deletionTimestamp")
                                            for p in pods)


def _describe(cluster: TestCluster, namespace: str) -> Callable[[], object]:
    def describe() -> object:
        seen: dict[str, object] = {}
        for name in (CANARY, BLUEGREEN):
            status = rollout_status(cluster, namespace, name)
            seen[name] = {k: status.get(k) for k in (
                "phase", "message", "observedGeneration", "currentPodHash", "stableRS",
                "currentStepIndex")}
        seen["replicasets"] = {rs["metadata"]["name"]: (rs["spec"].get("replicas"),
                                                        (rs.get("status") or {}).get("replicas"))
                               for rs in _items(cluster, namespace, "replicasets")}
        return seen
    return describe


@pytest.mark.timeout(600)
def test_handover_from_argo_rollouts_deletes_no_pod_and_creates_no_replicaset(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    cluster.state.wait_for_crds(["experiments.argoproj.io"])
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-",
                        input=json.dumps({"apiVersion": "v1", "kind": "List",
                                          "items": MANIFESTS}))
    describe = _describe(cluster, namespace)

    # -- Argo Rollouts: first deployment, then one image change (two revisions) ---------
    argo = ArgoController(cluster, namespace, tmp_path / "argo-rollouts.log")
    try:
        argo.start()
        for name in (CANARY, BLUEGREEN):
            _wait_rolled_out(cluster, namespace, name, None, 120,
                             f"Argo to bring {name} to Healthy", lambda: (describe(), argo.tail()))
        first = {name: rollout_status(cluster, namespace, name)["currentPodHash"]
                 for name in (CANARY, BLUEGREEN)}
        for name in (CANARY, BLUEGREEN):
            set_image(cluster, namespace, name, "registry.local/app:2")
        for name in (CANARY, BLUEGREEN):
            _wait_rolled_out(cluster, namespace, name, first[name], 180,
                             f"Argo to roll {name} out to app:2",
                             lambda: (describe(), argo.tail()))
        _wait(lambda: _quiet(cluster, namespace), 120,
              "Argo's old ReplicaSets to be scaled down", describe)
    finally:
        code = argo.stop()
    print(f"Argo Rollouts {ARGO_VERSION} stopped (exit code {code})")
    argo_hash = {name: rollout_status(cluster, namespace, name)["currentPodHash"]
                 for name in (CANARY, BLUEGREEN)}

    pods = {p["metadata"]["uid"]: p["metadata"]["name"]
            for p in _items(cluster, namespace, "pods")}
    replicasets = {rs["metadata"]["uid"]: rs["metadata"]["name"]
                   for rs in _items(cluster, namespace, "replicasets")}
    assert len(pods) == 5 and len(replicasets) == 4, (pods, replicasets)

    # -- our controller takes over -----------------------------------------------------
    seen_replicasets = dict(replicasets)
    deleted_pods: set[str] = set()

    def watch() -> None:
        for rs in _items(cluster, namespace, "replicasets"):
            seen_replicasets[rs["metadata"]["uid"]] = rs["metadata"]["name"]
        live = {p["metadata"]["uid"]: p for p in _items(cluster, namespace, "pods")}
        deleted_pods.update(uid for uid in pods if uid not in live
                            or live[uid]["metadata"].get("deletionTimestamp"))

    with running_controller(cluster, namespace, tmp_path) as ours:
        def reconciled_by_us() -> bool:
            watch()
            text = ours.log.read_text(errors="replace")
            return all(f"reconciled {namespace}/{name} " in text
                       for name in (CANARY, BLUEGREEN))

        def healthy_under_us() -> bool:
            watch()
            return all(_rolled_out(cluster, namespace, name) for name in (CANARY, BLUEGREEN))

        took_over = _poll(reconciled_by_us, 60) and _poll(healthy_under_us, 60)
        settle = time.monotonic() + 5  # a few seconds more, watching
        while time.monotonic() < settle:
            watch()
            time.sleep(0.5)

        created = {uid: name for uid, name in seen_replicasets.items() if uid not in replicasets}
        print(f"hand-over: pods deleted {len(deleted_pods)} of {len(pods)}, "
              f"ReplicaSets created {len(created)} (had {len(replicasets)})")
        log_tail = ours.log.read_text(errors="replace")[-4000:]
        assert took_over, (f"our controller did not reconcile both Rollouts to Healthy: "
                           f"{describe()}\n{log_tail}")
        assert not deleted_pods, f"pods deleted: {sorted(pods[uid] for uid in deleted_pods)}"
        assert not created, f"ReplicaSets created: {sorted(created.values())}"
        live_replicasets = {rs["metadata"]["uid"] for rs in _items(cluster, namespace,
                                                                   "replicasets")}
        assert live_replicasets == set(replicasets), "a ReplicaSet was deleted"

        # -- the next image change rolls out normally under our controller -----------
        for name in (CANARY, BLUEGREEN):
            set_image(cluster, namespace, name, "registry.local/app:3")
        canary_steps: set[tuple[object, object]] = set()

        def canary_done() -> bool:
            status = rollout_status(cluster, namespace, CANARY)
            canary_steps.add((status.get("phase"), status.get("currentStepIndex")))
            return _rolled_out(cluster, namespace, CANARY, argo_hash[CANARY])

        def ours_log() -> object:
            return describe(), ours.log.read_text(errors="replace")[-4000:]

        _wait(canary_done, 180, "our controller to roll canary out to app:3", ours_log)
        assert ("Paused", 1) in canary_steps, f"the canary skipped its pause: {canary_steps}"
        _wait_rolled_out(cluster, namespace, BLUEGREEN, argo_hash[BLUEGREEN], 180,
                         "our controller to roll bluegreen out to app:3", ours_log)
        for name in (CANARY, BLUEGREEN):
            rollout = get(cluster, namespace, "rollout", name)
            new_hash = rollout["status"]["currentPodHash"]
            assert new_hash != argo_hash[name]
            assert _selector_hash(cluster, namespace, ACTIVE_SERVICE[name]) == new_hash
            image = {rs["metadata"]["labels"].get(HASH_LABEL):
                     rs["spec"]["template"]["spec"]["containers"][0]["image"]
                     for rs in _items(cluster, namespace, "replicasets")
                     if rs["metadata"]["ownerReferences"][0]["name"] == name}
            assert image[new_hash] == "registry.local/app:3", image
