"""Helpers for integration tests: run the real controller process, read objects, wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO.parent / "shared" / "compat"


class Controller:
    """`rollouts controller` as a child process, scoped to one namespace."""

    def __init__(self, cluster: TestCluster, namespace: str, log: Path,
                 controllers: str | None = None) -> None:
        self.cluster, self.namespace, self.log = cluster, namespace, log
        self.controllers = controllers  # None: the command's default
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={self.cluster.kubeconfig}", "-n", self.namespace,
                "--no-leader-elect", "--port", "0", "--log-level", "DEBUG"]
        if self.controllers is not None:
            argv += ["--controllers", self.controllers]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None


@contextmanager
def running_controller(cluster: TestCluster, namespace: str, tmp: Path,
                       controllers: str | None = None) -> Iterator[Controller]:
    controller = Controller(cluster, namespace, tmp / "controller.log", controllers)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        if os.environ.get("ROLLOUTS_SHOW_CONTROLLER_LOG"):
            print(controller.log.read_text()[-20000:])


def get(cluster: TestCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl_run("get", kind, name, "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def rollout_status(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(get(cluster, namespace, "rollout", name).get("status") or {})


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             describe: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    detail = f"; last seen: {describe()}" if describe else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def wait_phase(cluster: TestCluster, namespace: str, name: str, phase: str,
               timeout: float = 60, step: int | None = None) -> dict[str, Any]:
    def reached() -> bool:
        rollout = get(cluster, namespace, "rollout", name)
        status = dict(rollout.get("status") or {})
        # A status written for an older spec is not an answer: right after a spec change
        # the last phase (often Healthy) is still there until the controller sees it.
        current = str(status.get("observedGeneration")) == str(
            rollout["metadata"].get("generation"))
        if not current or status.get("phase") != phase:
            return False
        return step is None or status.get("currentStepIndex") == step

    def describe() -> object:
        rollout = get(cluster, namespace, "rollout", name)
        status = dict(rollout.get("status") or {})
        return {"generation": rollout["metadata"].get("generation"),
                **{k: status.get(k) for k in ("observedGeneration", "phase", "message",
                                              "currentStepIndex", "stableRS",
                                              "currentPodHash")}}

    wait_for(reached, timeout, f"rollout {name} to be {phase}"
             + (f" at step {step}" if step is not None else ""), describe)
    return rollout_status(cluster, namespace, name)


def replica_counts(cluster: TestCluster, namespace: str) -> dict[str, int]:
    out = cluster.kubectl_run("get", "replicasets", "-n", namespace, "-o", "json").stdout
    return {rs["metadata"]["labels"].get("rollouts-pod-template-hash", rs["metadata"]["name"]):
            rs["spec"]["replicas"] for rs in json.loads(out)["items"]}


def events(cluster: TestCluster, namespace: str, name: str) -> list[tuple[str, str]]:
    out = cluster.kubectl_run("get", "events", "-n", namespace, "-o", "json",
                              f"--field-selector=involvedObject.name={name}").stdout
    items = json.loads(out)["items"]
    items.sort(key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))
    return [(e["reason"], e["message"]) for e in items]


def set_image(cluster: TestCluster, namespace: str, name: str, image: str) -> None:
    patch = json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                         "value": image}])
    cluster.kubectl_run("patch", "rollout", name, "-n", namespace, "--type=json", "-p", patch)


def patch_status(cluster: TestCluster, namespace: str, kind: str, name: str,
                 status: dict[str, Any]) -> None:
    cluster.kubectl_run("patch", kind, name, "-n", namespace, "--subresource=status",
                        "--type=merge", "-p", json.dumps({"status": status}))


def rollouts_cli(cluster: TestCluster, *args: str, timeout: float = 120
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", *args,
         f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True, text=True, timeout=timeout, check=False)
