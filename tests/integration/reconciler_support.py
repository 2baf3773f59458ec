"""Helpers of the Application controller's integration tests: the controller process,
Git repositories holding the compat apps, Applications, and waiting on their status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon, TestRepo, free_port
from tests.integration.support import COMPAT, get, wait_for

APPS = COMPAT / "gitops-apps"
SECRET = "webhook-secret-for-tests"
GUESTBOOK_IMAGE = "gcr.io/google-samples/gb-frontend:{tag}"

# -- the controller process ---------------------------------------------------------------


class Reconciler:
    """`rollouts controller --controllers <...>` as a child process."""

    def __init__(self, cluster: TestCluster, namespace: str, tmp: Path, *,
                 controllers: str = "reconciler", resync: float = 3.0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.cluster, self.namespace, self.tmp = cluster, namespace, tmp
        self.controllers, self.resync, self.extra_args = controllers, resync, extra_args
        self.webhook_port = free_port()
        self.log = tmp / "controller.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={self.cluster.kubeconfig}", "-n", self.namespace,
                "--controllers", self.controllers, "--no-leader-elect", "--port", "0",
                "--app-resync", str(self.resync), "--webhook-port", str(self.webhook_port),
                "--repo-cache", str(self.tmp / "git-cache"), "--log-level", "DEBUG",
                *self.extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ROLLOUTS_WEBHOOK_SECRET": SECRET}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a node dies."""
        if self.process is not None:
            self.process.kill()
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

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.webhook_port}/api/webhook", data=body, method="POST",
            headers={"Content-Type": "application/json", **headers})
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read() or b"null")
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextmanager
def running_reconciler(cluster: TestCluster, namespace: str, tmp: Path,
                       **options: Any) -> Iterator[Reconciler]:
    process = Reconciler(cluster, namespace, tmp, **options)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        if os.environ.get("ROLLOUTS_SHOW_CONTROLLER_LOG"):
            print(process.log.read_text()[-30000:])


# -- Git and Applications -----------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    with GitDaemon(tmp_path) as server:
        yield server


def compat_repo(daemon: GitDaemon, *apps: str, name: str = "apps") -> TestRepo:
    """A repository holding the named compat apps at its root (`guestbook/`, ...)."""
    repo = daemon.create_repo(name)
    for app in apps:
        shutil.copytree(APPS / app, repo.path / app)
    repo.commit({}, "the compat apps")
    return repo


def application(name: str, repo_url: str, path: str, destination: str, *,
                automated: bool = True, prune: bool = True, self_heal: bool = True,
                **spec: Any) -> dict[str, Any]:
    policy: dict[str, Any] = dict(spec.pop("syncPolicy", {}))
    if automated:
        policy["automated"] = {"prune": prune, "selfHeal": self_heal}
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path,
                       **spec.pop("source", {})},
            "destination": {"server": "https://kubernetes.default.svc",
                            "namespace": destination},
            "syncPolicy": policy,
            **spec,
        },
    }


def apply(cluster: TestCluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def app_status(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(get(cluster, namespace, "application", name).get("status") or {})


def summary(status: dict[str, Any]) -> dict[str, Any]:
    operation = status.get("operationState") or {}
    return {
        "sync": (status.get("sync") or {}).get("status"),
        "revision": (status.get("sync") or {}).get("revision"),
        "health": status.get("health"),
        "conditions": status.get("conditions"),
        "operation": {k: operation.get(k) for k in ("phase", "message")},
        "resources": [(r.get("kind"), r.get("name"), r.get("status"),
                       (r.get("health") or {}).get("status")) for r in
                      status.get("resources") or []],
    }


def wait_app(cluster: TestCluster, namespace: str, name: str, *, timeout: float = 60,
             check: Callable[[dict[str, Any]], bool] | None = None, sync: str = "Synced",
             health: str | None = "Healthy", revision: str | None = None) -> dict[str, Any]:
    def reached() -> bool:
        status = app_status(cluster, namespace, name)
        if (status.get("sync") or {}).get("status") != sync:
            return False
        if health is not None and (status.get("health") or {}).get("status") != health:
            return False
        if revision is not None and (status.get("sync") or {}).get("revision") != revision:
            return False
        return check is None or check(status)

    wait_for(reached, timeout, f"application {name} to be {sync}/{health}",
             lambda: summary(app_status(cluster, namespace, name)))
    return app_status(cluster, namespace, name)


def image_of(cluster: TestCluster, namespace: str, kind: str, name: str) -> str:
    obj = get(cluster, namespace, kind, name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def guestbook_with(tag: str) -> dict[str, str | None]:
    """The guestbook Deployment file with another image tag."""
    text = (APPS / "guestbook" / "guestbook-ui-deployment.yaml").read_text()
    return {"guestbook/guestbook-ui-deployment.yaml": text.replace(
        GUESTBOOK_IMAGE.format(tag="v5"), GUESTBOOK_IMAGE.format(tag=tag))}


def conditions_of(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["message"] for c in status.get("conditions") or []}
